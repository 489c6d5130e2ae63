"""`workbench sessions follow ID`: a run's events as they land, from any process, until it ends."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from workbench.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK

#: Events read per query; a long backlog is printed in pages of this size.
PAGE = 1000
#: How often a follower checks that a run's owner is still there (a killed run ends).
REAP_S = 5.0


def add_follow_parser(sessions: Any) -> None:
    """Add `sessions follow` to the `sessions` actions."""
    follow = sessions.add_parser(
        "follow", help="print a session's events as they land, until its run ends")
    follow.add_argument("id", metavar="ID")
    follow.add_argument("--json", action="store_true", help="print events as JSON Lines")


def _event(row: dict[str, Any]) -> Any:
    from workbench.mesh.events import Event

    return Event(row["kind"], row["agent"], row["to"], row["content"], row["data"] or {},
                 row["session_id"], row["seq"], row["ts"])


def follow_session(store: Any, args: argparse.Namespace) -> int:
    """Print the session's events so far, then each new one as its run stores it (pushed on
    PostgreSQL, polled on SQLite), until the run ends; exit as `workbench run` would."""
    from workbench.cli.printer import RunPrinter
    from workbench.mesh import events as ev
    from workbench.store import notify

    session = store.get_session(args.id)
    sid = session["id"]
    printer = RunPrinter(json_lines=args.json)
    seq, ended = 0, False
    last_reap = time.monotonic()
    # listening before the first read: nothing stored in between is missed
    with store.listen(notify.EVENTS, notify.SESSIONS) as listener:
        while True:
            rows = store.events_after(sid, seq, PAGE)
            for row in rows:
                event = _event(row)
                printer(event)
                seq = event.seq
                ended = ended or event.kind in (ev.RUN_COMPLETED, ev.RUN_FAILED)
            if len(rows) == PAGE:
                continue
            status = store.get_session(sid)["status"]
            if status != "running":
                # a run stores all its events before its end: one last read, and done
                for row in store.events_after(sid, seq, 10**9):
                    printer(_event(row))
                    ended = ended or row["kind"] in (ev.RUN_COMPLETED, ev.RUN_FAILED)
                break
            if time.monotonic() - last_reap >= REAP_S:
                # a run killed on any machine is marked interrupted by whoever notices
                store.reap_lapsed_sessions()
                last_reap = time.monotonic()
            listener.wait(listener.recheck_s)
    session = store.get_session(sid)
    status = session["status"]
    if not ended:  # killed or lost: no closing event of its own
        if args.json:
            print(json.dumps({"session_id": sid, "kind": "session.ended", "status": status,
                              "error": session.get("error")}), flush=True)
        else:
            why = (session.get("error") or "").removeprefix(f"{status}: ")  # said once
            print(f"■ session {sid} {status}" + (f": {why}" if why else ""), flush=True)
    if status == "completed":
        return EXIT_OK
    if status == "cancelled":
        return EXIT_CANCELLED
    return EXIT_FAILED
