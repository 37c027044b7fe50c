"""Median wall and CPU time of common commands against `python -c "import typer, rich, sqlalchemy"` (target: each <= 0.4 s).

Measured: `tenantctl --help`, and `tenant list` and `flags list` on the SQLite demo data (made once in a
temporary TENANTCTL_HOME). The baseline is the import of the three libraries every command needs, in
the same run and interleaved with the commands (one round runs each once), so the ratio is comparable
across machines and fair when the machine's load changes during the run. CPU time (user + system of the
child) is reported beside wall time: it is what the command costs, less disturbed by other work.
PYTHONDONTWRITEBYTECODE is dropped for the children, as an installed package has its bytecode.

Usage: python bench/cli_startup.py [RUNS]
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.4
COMMANDS = {"--help": ["--help"], "tenant list": ["tenant", "list"], "flags list": ["flags", "list"]}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    beside = Path(sys.executable).parent / "tenantctl"
    tenantctl = str(beside) if beside.exists() else shutil.which("tenantctl")
    if tenantctl is None:
        raise SystemExit("tenantctl is not installed: pip install -e .")
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TENANTCTL_SECRET_KEY", "TENANTCTL_KEY_FILE")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["TENANTCTL_HOME"] = home
        subprocess.run([tenantctl, "demo"], check=True, stdout=subprocess.DEVNULL, env=env)
        runs_of = {"baseline": [sys.executable, "-c", "import typer, rich, sqlalchemy"],
                   **{name: [tenantctl, *args] for name, args in COMMANDS.items()}}
        for cmd in runs_of.values():  # warm the file cache and write bytecode
            timed(cmd, env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs_of}
        for _ in range(runs):
            for name, cmd in runs_of.items():
                samples[name].append(timed(cmd, env))
    wall = {name: statistics.median(w for w, _ in got) for name, got in samples.items()}
    cpu = {name: statistics.median(c for _, c in got) for name, got in samples.items()}
    baseline = wall.pop("baseline")
    baseline_cpu = cpu.pop("baseline")
    result = {
        "bench": "cli_startup",
        "runs": runs,
        "baseline_import_median_s": round(baseline, 4),
        "baseline_import_cpu_median_s": round(baseline_cpu, 4),
        "commands": {name: {"median_s": round(s, 4), "ratio": round(s / baseline, 2), "cpu_median_s": round(cpu[name], 4),
                            "cpu_ratio": round(cpu[name] / baseline_cpu, 2), "target_met": s <= TARGET_S}
                     for name, s in wall.items()},
        "target_s": TARGET_S,
        "load_average": os.getloadavg(),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}".strip(),
    }
    print(json.dumps(result))
    print(f"import typer, rich, sqlalchemy: {baseline * 1000:.0f} ms ({baseline_cpu * 1000:.0f} ms CPU); " + "; ".join(
        f"tenantctl {name}: {s * 1000:.0f} ms ({s / baseline:.2f}x; CPU {cpu[name] / baseline_cpu:.2f}x; "
        f"{'met' if s <= TARGET_S else 'NOT met'})" for name, s in wall.items())
        + f" (median of {runs}, target <= {TARGET_S * 1000:.0f} ms, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
