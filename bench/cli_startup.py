"""Median wall time of common commands against `python -c "import typer, rich, sqlalchemy"` (target: each <= 0.4 s).

Measured: `tenantctl --help`, and `tenant list` and `flags list` on the SQLite demo data (made once in a
temporary TENANTCTL_HOME). The baseline is the import of the three libraries every command needs, in
the same run, so the ratio is comparable across machines.

Usage: python bench/cli_startup.py [RUNS]
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.4
COMMANDS = {"--help": ["--help"], "tenant list": ["tenant", "list"], "flags list": ["flags", "list"]}


def median_seconds(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    beside = Path(sys.executable).parent / "tenantctl"
    tenantctl = str(beside) if beside.exists() else shutil.which("tenantctl")
    if tenantctl is None:
        raise SystemExit("tenantctl is not installed: pip install -e .")
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TENANTCTL_SECRET_KEY", "TENANTCTL_KEY_FILE")}
        env["TENANTCTL_HOME"] = home
        subprocess.run([tenantctl, "demo"], check=True, stdout=subprocess.DEVNULL, env=env)
        baseline = median_seconds([sys.executable, "-c", "import typer, rich, sqlalchemy"], runs, env)
        figures = {}
        for name, args in COMMANDS.items():
            median_seconds([tenantctl, *args], 2, env)  # warm the file cache
            figures[name] = median_seconds([tenantctl, *args], runs, env)
    result = {
        "bench": "cli_startup",
        "runs": runs,
        "baseline_import_median_s": round(baseline, 4),
        "commands": {name: {"median_s": round(s, 4), "ratio": round(s / baseline, 2), "target_met": s <= TARGET_S}
                     for name, s in figures.items()},
        "target_s": TARGET_S,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}".strip(),
    }
    print(json.dumps(result))
    print(f"import typer, rich, sqlalchemy: {baseline * 1000:.0f} ms; " + "; ".join(
        f"tenantctl {name}: {s * 1000:.0f} ms ({s / baseline:.2f}x, {'met' if s <= TARGET_S else 'NOT met'})" for name, s in figures.items())
        + f" (median of {runs}, target <= {TARGET_S * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
