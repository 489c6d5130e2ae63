"""Marketplace speed: a task posted to 50 bidders, bid, judged by the policy and awarded.

Each award is the whole of it as a run does it: 50 bids computed (price, prompt size, load,
record), each judged as a task_bid (the shipped policies plus a marketplace rule), the award
rule applied (and for a CEL award, evaluated on every bid), the winner judged as a
task_award, and the 52 events published to a session's bus with its store writers attached
(they catch up between rounds, untimed).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.config import SHIPPED_POLICIES, Settings

TARGET_AWARD_MS = 5.0
BIDDERS = 50
ROUNDS = 200
AWARDS = ("cheapest", "best", "balanced", "bid.load < 3 && bidder.domain != \"external\"")

RULE = """
  - id: bench-no-external-translators
    on: task_bid
    when: 'bidder.domain == "external" && task.capability == "legal"'
    effect: deny
    reason: Legal work stays in house
"""


def _crew(award: str) -> str:
    agents = "\n".join(
        f"  - {{name: t{i}, role: Translator, goal: Translate texts, "
        f"capabilities: [translation], domain: {'support' if i % 2 else 'research'}}}"
        for i in range(BIDDERS))
    return (f"name: bench-market\nmodel: scripted/demo\n"
            f"topology: {{kind: star, hub: lead, allocation: marketplace, award: '{award}'}}\n"
            f"agents:\n  - {{name: lead, role: Lead, goal: Post tasks}}\n{agents}\n")


def _policies(folder: Path) -> Path:
    import shutil

    shutil.copytree(SHIPPED_POLICIES, folder)
    central = folder / "central.yaml"
    central.write_text(central.read_text().rstrip("\n") + "\n" + RULE.lstrip("\n"))
    return folder


def _award_ms(tmp: Path, award: str) -> dict[str, Any]:
    from workbench.governance.setup import governed
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    crew = tmp / f"crew-{abs(hash(award))}.yaml"
    crew.write_text(_crew(award))
    settings = Settings(home=tmp / "home", policies=tmp / "policies")
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(crew), settings, store,
                      **governed(settings, store, "deny").session_kwargs())
    market = session.ctx.market
    times = []
    for i in range(ROUNDS + 10):
        started = time.perf_counter()
        market.post(f"Translate document {i}", "translation")
        elapsed = (time.perf_counter() - started) * 1000
        market.open.clear()  # every round awards among idle bidders
        # the store's writers catch up between awards (as between a run's rare posts): the
        # figure is the award's, not that of a backlog of earlier rounds' rows
        for writer in (session.writer, *session.writers):
            writer.flush()
        if i >= 10:  # the first rounds warm the price and plan caches
            times.append(elapsed)
    session.bus.close()
    session.writer.close()
    store.close()
    times.sort()
    return {"median_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 3)}


def measure() -> dict:
    out: dict[str, Any] = {"bidders": BIDDERS, "rounds": ROUNDS,
                           "award_target_ms": TARGET_AWARD_MS}
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        _policies(Path(tmp) / "policies")
        for award in AWARDS:
            name = award if award in ("cheapest", "best", "balanced") else "cel"
            figures = _award_ms(Path(tmp), award)
            out[f"award_{name}_median_ms"] = figures["median_ms"]
            out[f"award_{name}_p95_ms"] = figures["p95_ms"]
            worst = max(worst, figures["median_ms"])
    out["award_meets_target"] = worst <= TARGET_AWARD_MS
    return out


if __name__ == "__main__":
    print(measure())
