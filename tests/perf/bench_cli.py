"""Start-up: `workbench --help` wall time in a fresh process (no framework import on that path)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

TARGET_S = 0.5


def _time(cmd: list[str], runs: int = 7) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def measure() -> dict:
    exe = shutil.which("workbench")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "workbench.cli", "--help"]
    bare = _time([sys.executable, "-c", "pass"])
    times = _time(cmd)
    median = statistics.median(times)
    return {
        "help_median_s": round(median, 3),
        "help_max_s": round(max(times), 3),
        "bare_python_median_s": round(statistics.median(bare), 3),
        "target_s": TARGET_S,
        "meets_target": median < TARGET_S,
    }


if __name__ == "__main__":
    print(measure())
