"""`workbench sessions list | show | export | purge`: past sessions from the store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from workbench.cli.common import EXIT_OK, actions, print_table, store_for, warn
from workbench.cli.compare import add_compare_parser, compare_sessions
from workbench.cli.follow import add_follow_parser, follow_session


def register(sub: Any) -> None:
    """Add the `sessions` command group."""
    group = sub.add_parser("sessions", help="past sessions")
    group.set_defaults(handler=cmd_sessions)
    sessions = actions(group)
    ls = sessions.add_parser("list", help="list sessions, newest first")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--search", default="", help="filter by crew, task, status or id")
    ls.add_argument("--json", action="store_true")
    show = sessions.add_parser("show", help="a session's summary and transcript")
    show.add_argument("id", metavar="ID")
    show.add_argument("--steps", action="store_true",
                      help="also list its model calls as steps to fork from "
                           "(`workbench run CREW --from ID@STEP`)")
    export = sessions.add_parser("export", help="export a session")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", choices=["md", "json"], default="md")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    purge = sessions.add_parser(
        "purge", help="delete a session's recorded model exchanges (its events and audit "
                      "entries stay)")
    purge.add_argument("id", metavar="ID")
    add_follow_parser(sessions)
    add_compare_parser(sessions)


def _fmt_time(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def cmd_sessions(args: argparse.Namespace) -> int:
    from workbench.mesh.format import format_cost

    if args.action == "purge":
        return purge_session(args)
    store = store_for(args, read_only=True)
    try:
        store.reap_lapsed_sessions()
    except Exception as exc:  # a store that takes no writes (a full disk) is still read
        from workbench.store.db import describe_error

        warn([f"runs whose process is gone could not be marked interrupted: "
              f"{describe_error(exc)}"])
    if args.action == "follow":
        return follow_session(store, args)
    if args.action == "compare":
        return compare_sessions(store, args)
    if args.action == "list":
        rows = store.list_sessions(limit=args.limit, search=args.search)
        if args.json:
            for r in rows:
                print(json.dumps(r, default=str))
            return EXIT_OK
        if not rows:
            if args.search:
                print(f"no sessions match {args.search!r}")
            else:
                print("no sessions yet; run one with `workbench run CREW`")
            return EXIT_OK
        print_table(
            [[r["id"][:12], r["crew_name"], r["engine"], r["topology"], r["status"],
              _fmt_time(r["started_at"]), str(r["turns"]),
              f"{r['prompt_tokens'] + r['completion_tokens']:,}",
              format_cost(r["cost_usd"], not r["cost_unknown_calls"])] for r in rows],
            ["ID", "CREW", "ENGINE", "TOPOLOGY", "STATUS", "STARTED", "TURNS", "TOKENS", "COST"],
        )
        return EXIT_OK
    from workbench.store.export import session_json, session_markdown

    if args.action == "show":
        text = session_markdown(store, args.id)
        origin = forked_from(store, args.id)
        if origin:
            # after the heading, where the session's other facts are
            head, sep, rest = text.partition("\n")
            text = f"{head}\n\n{origin}{sep}{rest}" if sep else f"{text}\n\n{origin}"
        print(text)
        if args.steps:
            print_steps(store, args.id)
        return EXIT_OK
    if args.format == "json":
        text = json.dumps(session_json(store, args.id), indent=2, default=str)
    else:
        text = session_markdown(store, args.id)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"exported to {args.output}")
    else:
        print(text)
    return EXIT_OK


def forked_from(store: Any, session_id: str) -> str:
    """"Forked from SESSION at step SEQ" for a fork (its run.started says), else ""."""
    sid = store.get_session(session_id)["id"]
    first = next(iter(store.events_after(sid, 0, limit=1)), None)
    origin = (first or {}).get("data", {}).get("forked_from") if first else None
    if not origin:
        return ""
    where = f" before step {origin['seq']}" if origin.get("seq") else ""
    tools = "; recorded tool results reused" if origin.get("replay_tools") else ""
    return (f"Forked from session {origin['session_id']}: its recording answered the model "
            f"calls{where}{tools}.")


def print_steps(store: Any, session_id: str) -> None:
    """The session's model calls as steps to fork from."""
    from workbench.mesh.replay import fork_points

    points = fork_points(store, session_id)
    sid = store.get_session(session_id)["id"]
    print("\n## Steps to fork from\n")
    if not points:
        print("No model calls: nothing to fork from.")
        return
    print(f"`workbench run CREW --from {sid[:12]}@STEP` answers the model calls before STEP "
          "from the recording and makes the call at STEP live.\n")
    print_table([[str(p.seq), p.agent, f"call {p.call}" + ("" if p.purpose == "agent"
                                                           else f" ({p.purpose})"),
                  p.preview] for p in points], ["STEP", "AGENT", "CALL", "LED TO"])


def purge_session(args: argparse.Namespace) -> int:
    """Delete a session's recorded exchanges; the purge is itself audited."""
    import getpass

    from workbench.store.recordings import purge

    store = store_for(args)
    sid = store.get_session(args.id)["id"]
    try:
        actor = getpass.getuser()
    except Exception:  # no user name to be had (a container without one)
        actor = "workbench"
    deleted = purge(store, sid, actor)
    print(f"purged {deleted:,} recorded exchange{'s' if deleted != 1 else ''} of session "
          f"{sid}; its events and audit entries stay")
    return EXIT_OK
