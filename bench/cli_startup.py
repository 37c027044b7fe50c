"""Median wall time of `tenantctl --help` against `python -c "import typer"` (target: <= 0.4 s).

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
import time
from pathlib import Path


def median_seconds(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    beside = Path(sys.executable).parent / "tenantctl"
    tenantctl = str(beside) if beside.exists() else shutil.which("tenantctl")
    if tenantctl is None:
        raise SystemExit("tenantctl is not installed: pip install -e .")
    median_seconds([tenantctl, "--help"], 2)  # warm the file cache
    help_s = median_seconds([tenantctl, "--help"], runs)
    typer_s = median_seconds([sys.executable, "-c", "import typer"], runs)
    result = {
        "bench": "cli_startup",
        "runs": runs,
        "tenantctl_help_median_s": round(help_s, 4),
        "import_typer_median_s": round(typer_s, 4),
        "ratio": round(help_s / typer_s, 2),
        "target_s": 0.4,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}".strip(),
    }
    print(json.dumps(result))
    print(
        f"tenantctl --help: median {help_s * 1000:.0f} ms over {runs} runs; import typer: {typer_s * 1000:.0f} ms; "
        f"ratio {result['ratio']}x; target <= 400 ms: {'met' if help_s <= 0.4 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
