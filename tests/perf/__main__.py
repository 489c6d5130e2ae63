"""Run every benchmark under tests/perf and print its figures: `python -m tests.perf [NAME ...]`."""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    if names:
        modules = [m for m in modules if any(n in m for n in names)]
    failed = 0
    for name in modules:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"tests.perf.{name}")
            figures = module.measure()
        except Exception:
            failed += 1
            traceback.print_exc()
            continue
        for key, value in figures.items():
            shown = json.dumps(value) if not isinstance(value, float) else f"{value:.4g}"
            print(f"   {key}: {shown}")
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
