"""Benchmark: in-process .env extraction (parse + catalogue), median of N runs after warm-up.

Usage: python bench/flags_extract.py [PATH] [--runs N]
PATH defaults to the bedolaga fixture, found via $TENANTCTL_FIXTURES_DIR or a `shared/fixtures/env`
directory in an ancestor of this file. Prints one JSON line, then a readable line. Target: <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tenantctl.core.errors import TenantctlError  # noqa: E402
from tenantctl.flags.catalogue import extract_feature_flags_from_env  # noqa: E402

FIXTURE = "bedolaga-4.1.0.env.example"
TARGET_MS = 50.0


def default_path() -> Path | None:
    configured = os.environ.get("TENANTCTL_FIXTURES_DIR")
    candidates = [Path(configured) / "env", Path(configured)] if configured else []
    candidates += [parent / "shared" / "fixtures" / "env" for parent in Path(__file__).resolve().parents]
    return next((path / FIXTURE for path in candidates if (path / FIXTURE).is_file()), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help=".env file (default: the bedolaga fixture)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    path = Path(args.path) if args.path else default_path()
    if path is None:
        print(f"{FIXTURE} not found: pass PATH or set TENANTCTL_FIXTURES_DIR", file=sys.stderr)
        return 2
    try:
        for _ in range(args.warmup):
            catalogue = extract_feature_flags_from_env(path)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            catalogue = extract_feature_flags_from_env(path)
            timings.append((time.perf_counter() - started) * 1000)
    except TenantctlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    median = statistics.median(timings)
    result = {
        "bench": "flags_extract",
        "median_ms": round(median, 3),
        "runs": args.runs,
        "lines": len(path.read_text(encoding="utf-8").splitlines()),
        "features": len(catalogue.features),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "system": platform.system(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "cpus": os.cpu_count(),
        },
    }
    print(json.dumps(result, ensure_ascii=False))
    verdict = "within" if median <= TARGET_MS else "OVER"
    print(
        f"flags_extract: median {median:.2f} ms over {args.runs} runs "
        f"(min {min(timings):.2f}, max {max(timings):.2f}) for {result['lines']} lines, "
        f"{result['features']} features; {verdict} the {TARGET_MS:.0f} ms target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
