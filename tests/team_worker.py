"""Processes of a team on one database, for the team-mode tests and the PostgreSQL benchmark.

`python -m tests.team_worker runs URL HOME N [CREW]`: N runs of a crew at once in this
process (approvals wait for a reviewer in another process); prints one JSON line per run
with every event it published (seq, kind).

`python -m tests.team_worker review URL NAME EXPECTED`: a reviewer that tries to approve
every approval it learns of, until it has tried EXPECTED of them; prints one JSON line per
attempt: won, or the refusal it was told.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def _runs(url: str, home: str, n: int, crew: str) -> list[dict]:
    from workbench.config import Settings
    from workbench.governance.setup import governed
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    settings = Settings(home=Path(home), db_url=url)
    settings.ensure_home()
    store = Store(url)
    sessions, published = [], []
    for _ in range(n):
        seen: list[tuple[int, str]] = []
        governance = governed(settings, store, "wait")
        session = Session(prepare(ROOT / "crews" / f"{crew}.yaml"), settings, store,
                          subscribers=[lambda e, seen=seen: seen.append((e.seq, e.kind))],
                          **governance.session_kwargs())
        sessions.append(session)
        published.append(seen)
    outcomes = await asyncio.gather(*(s.execute() for s in sessions))
    return [{"session_id": o.session_id, "status": o.status, "error": o.error,
             "events": seen} for o, seen in zip(outcomes, published, strict=True)]


def runs(url: str, home: str, n: int, crew: str = "support-triage") -> None:
    for r in asyncio.run(_runs(url, home, n, crew)):
        print(json.dumps(r), flush=True)


def review(url: str, name: str, expected: int, timeout: float = 300.0) -> None:
    from sqlalchemy import text

    from workbench.errors import UserInputError
    from workbench.governance.approvals import decide
    from workbench.store import notify
    from workbench.store.db import Store

    store = Store(url)
    tried: set[str] = set()
    deadline = time.monotonic() + timeout
    with store.listen(notify.APPROVALS) as listener:
        while len(tried) < expected and time.monotonic() < deadline:
            with store.engine.connect() as conn:
                ids = [r[0] for r in conn.execute(text(
                    "SELECT id FROM approval ORDER BY created_at"))]
            for approval_id in ids:
                if approval_id in tried:
                    continue
                tried.add(approval_id)
                try:
                    decide(store, approval_id, "approved", name)
                    outcome = {"id": approval_id, "won": True, "at": time.time()}
                except UserInputError as exc:
                    outcome = {"id": approval_id, "won": False, "told": str(exc)}
                print(json.dumps(outcome), flush=True)
            if len(tried) < expected:
                listener.wait(listener.recheck_s)


def main(argv: list[str]) -> int:
    what, url = argv[0], argv[1]
    if what == "runs":
        runs(url, argv[2], int(argv[3]), *(argv[4:5]))
    elif what == "review":
        review(url, argv[2], int(argv[3]))
    else:
        raise SystemExit(f"unknown worker {what!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
