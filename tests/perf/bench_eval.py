"""Eval concurrency: 32 cases against a loopback provider that answers after 300 ms, run with
`--concurrency 16` and `--concurrency 1` in the same process; the speed-up (target >= 10x)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CASES = 32
DELAY_S = 0.3
TARGET_RATIO = 10.0

CREW = """\
name: bench-eval
model: openai/bench-model
api_base: {api_base}
topology: {{kind: network, max_turns: 2}}
agents:
  - name: analyst
    role: Market analyst
    goal: Answer the question with numbers
"""


#: The loopback provider, in a process of its own as a real provider would be: its HTTP
#: handling does not compete with the eval for this process's interpreter.
SERVER = """
import sys, time
from tests.fakeprovider import FakeProvider, Reply
def answer(payload):
    return Reply(content="Serviceable market: 25 million EUR. GO. TERMINATE",
                 delay_s=float(sys.argv[1]))
with FakeProvider(responder=answer) as fp:
    print(fp.api_base, flush=True)
    sys.stdin.read()  # until the benchmark closes it
    print(len(fp.requests), flush=True)
"""


@contextmanager
def _provider(delay_s: float) -> Iterator[tuple[str, list[int]]]:
    """The loopback provider's api_base; the list gets its request count once it stops."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(delay_s)], cwd=root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    count: list[int] = []
    try:
        yield proc.stdout.readline().strip(), count
    finally:
        out, _ = proc.communicate("", timeout=30)
        if out.strip().isdigit():
            count.append(int(out.strip()))


def _cases(n: int) -> str:
    return "cases:\n" + "".join(
        f"  - id: case-{i}\n    task: question {i}\n    expect:\n"
        f"      - contains: GO\n      - max_turns: 2\n" for i in range(n))


def _eval(crew: Path, cases_text: str, settings, store, concurrency: int) -> tuple[float, int]:
    """Wall seconds of one eval, and how many of its case runs passed."""
    from workbench.mesh.cases import parse_cases
    from workbench.mesh.evaluate import Evaluator

    evaluator = Evaluator(crew, parse_cases(cases_text, "bench.yaml"), settings, store,
                          concurrency=concurrency)
    started = time.perf_counter()
    outcome = asyncio.run(evaluator.run())
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for r in outcome.runs if r.status == "passed")


def measure() -> dict:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from workbench.config import Settings
    from workbench.store.db import Store

    with tempfile.TemporaryDirectory() as tmp, _provider(DELAY_S) as (api_base, requests):
        settings = Settings(home=Path(tmp) / "home")
        settings.ensure_home()
        store = Store(settings.database_url)
        crew = Path(tmp) / "bench-eval.yaml"
        crew.write_text(CREW.format(api_base=api_base))
        # the engine, LiteLLM and the HTTP client are imported and warmed before any timing
        _eval(crew, _cases(2), settings, store, 2)
        cpu = time.process_time()
        serial, serial_ok = _eval(crew, _cases(CASES), settings, store, 1)
        cpu_serial = time.process_time() - cpu
        wide, wide_ok = _eval(crew, _cases(CASES), settings, store, 16)
    ratio = serial / wide
    return {
        "cases": CASES,
        "provider_delay_s": DELAY_S,
        "concurrency_1_s": round(serial, 2),
        "concurrency_16_s": round(wide, 2),
        "per_case_overhead_ms": round((serial / CASES - DELAY_S) * 1000, 1),
        "per_case_cpu_ms": round(cpu_serial / CASES * 1000, 1),
        "passed": [serial_ok, wide_ok],
        "provider_requests": requests[0] if requests else None,
        "speedup": round(ratio, 2),
        "target_speedup": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO and serial_ok == wide_ok == CASES,
    }


if __name__ == "__main__":
    print(measure())
