"""The command line; `workbench` alone opens the TUI."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from workbench.errors import UserInputError, WorkbenchError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line with exit code 2, like every input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbench",
        description="Run governed multi-agent crews on AutoGen or CrewAI, in the terminal.",
        epilog="Run `workbench` with no command to open the TUI.",
    )
    p.add_argument("--home", help="data folder (env WORKBENCH_HOME)")
    p.add_argument("--db", help="database URL (env WORKBENCH_DB); default sqlite in the home")
    p.add_argument("--policies", help="policy folder (env WORKBENCH_POLICIES)")
    p.add_argument("--reviewer", dest="app_reviewer", metavar="NAME",
                   help="your name on approval decisions in the TUI (env WORKBENCH_REVIEWER; "
                        "default: the OS user)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a crew headless and print its traffic")
    run.add_argument("crew", metavar="CREW", help="crew file, or the name of a shipped crew")
    run.add_argument("--engine", choices=["autogen", "crewai"])
    run.add_argument("--topology", choices=["star", "layered", "network", "graph"])
    run.add_argument("--task", help="the run's task (default: the crew's description)")
    run.add_argument("--model", help="run every agent on this model (a LiteLLM model string)")
    run.add_argument("--approvals", choices=["wait", "prompt", "deny"],
                     help="how approvals are answered (default: prompt on a terminal, else wait)")
    run.add_argument("--reviewer", help="reviewer name for --approvals prompt (default: OS user)")
    run.add_argument("--json", action="store_true", help="print events as JSON Lines")
    run.add_argument("--input", action="append", metavar="KEY=VALUE",
                     help="a value for one of the crew's inputs, its {placeholders} (repeatable)")

    sessions = sub.add_parser("sessions", help="past sessions").add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    ls = sessions.add_parser("list", help="list sessions, newest first")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--search", default="", help="filter by crew, task, status or id")
    ls.add_argument("--json", action="store_true")
    show = sessions.add_parser("show", help="a session's summary and transcript")
    show.add_argument("id", metavar="ID")
    export = sessions.add_parser("export", help="export a session")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", choices=["md", "json"], default="md")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")

    review = sub.add_parser("review", help="open the approvals queue alone, in the TUI")
    review.add_argument("--reviewer", metavar="NAME",
                        help="your name on the decisions (env WORKBENCH_REVIEWER; "
                             "default: the OS user)")


    crews = sub.add_parser("crews", help="crew files").add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    crews.add_parser("list", help="your crews (the home's), ./crews and the shipped ones; "
                     "yours override the others of the same name")
    validate = crews.add_parser("validate", help="check a crew file")
    validate.add_argument("crew", metavar="CREW")
    validate.add_argument("--engine", choices=["autogen", "crewai"])
    validate.add_argument("--topology", choices=["star", "layered", "network", "graph"])

    for module in COMMAND_MODULES:
        _load_commands(module).register(sub)
    return p


#: Modules adding command groups: each has `register(subparsers)` and sets a `handler` default.
COMMAND_MODULES: list[str] = ["workbench.cli_models", "workbench.cli_governance",
                              "workbench.cli_mcp", "workbench.cli_import"]


def _load_commands(module: str) -> Any:
    from importlib import import_module

    return import_module(module)


# -- helpers -------------------------------------------------------------------------------


def _settings(args: argparse.Namespace):
    from workbench.config import Settings

    settings = Settings.from_args(args.home, args.db, args.policies)
    _log_to_file(settings)
    return settings


def _log_to_file(settings) -> None:
    """Library warnings go to <home>/logs/workbench.log, never onto the user's terminal."""
    import logging

    root = logging.getLogger()
    if any(getattr(h, "_workbench", False) for h in root.handlers):
        return
    try:
        folder = settings.home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "workbench.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._workbench = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)


def _store(settings, read_only: bool = False):
    """The store; `read_only` for commands that only read, so they work on a read-only home."""
    from workbench.store.db import Store

    if read_only:
        return Store.for_reading(settings.database_url)
    settings.ensure_home()
    return Store(settings.database_url)


def resolve_crew(name: str, settings) -> Path:
    """A crew by path, or by name in ./crews, the home's crews folder, or the shipped crews."""
    from workbench.crews import find_crew

    return find_crew(name, settings)


def _print_table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# -- commands ------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from workbench.mesh.session import Session, prepare
    from workbench.printer import RunPrinter

    settings = _settings(args)
    path = resolve_crew(args.crew, settings)
    prepared = prepare(path, args.engine, args.topology, args.task, args.model)
    from workbench.cli_import import fill_run_inputs

    fill_run_inputs(prepared, args.input)
    store = _store(settings)
    store.reap_lapsed_sessions()  # an earlier run killed on this host is told apart now
    from functools import partial

    from workbench.governance.approvals import print_waiting_hint
    from workbench.governance.setup import default_mode, governed

    governance = governed(settings, store, args.approvals, args.reviewer)
    for note in governance.notes(prepared.spec):  # said before the run, not lost in it
        print(f"workbench: warning: {note}", file=sys.stderr)
    if (args.approvals or default_mode()) == "wait":
        # nobody is asked here: say where a request can be decided
        home = f" --home {shlex.quote(args.home)}" if args.home else ""
        governance.approvals.on_waiting = partial(print_waiting_hint,
                                                  command=f"workbench{home}")
    printer = RunPrinter(json_lines=args.json)
    session = Session(prepared, settings, store, subscribers=[printer],
                      **governance.session_kwargs())
    for warning in session.warnings:
        print(f"workbench: warning: {warning}", file=sys.stderr)
    try:
        outcome = asyncio.run(_execute(session))
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    if outcome.status == "completed":
        return EXIT_OK
    if outcome.status == "cancelled":
        return EXIT_CANCELLED
    print(f"workbench: run failed: {outcome.error}", file=sys.stderr)
    return EXIT_FAILED


async def _execute(session):
    """Run a session with Ctrl-C (and SIGTERM) stopping it cleanly; a second Ctrl-C exits."""
    import signal

    loop = asyncio.get_running_loop()
    interrupted = False

    def stop() -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        session.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without it: Ctrl-C still interrupts
    try:
        return await session.execute()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass


def _fmt_time(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def cmd_sessions(args: argparse.Namespace) -> int:
    from workbench.printer import format_cost

    store = _store(_settings(args), read_only=True)
    store.reap_lapsed_sessions()
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
        _print_table(
            [[r["id"][:12], r["crew_name"], r["engine"], r["topology"], r["status"],
              _fmt_time(r["started_at"]), str(r["turns"]),
              f"{r['prompt_tokens'] + r['completion_tokens']:,}",
              format_cost(r["cost_usd"], not r["cost_unknown_calls"])] for r in rows],
            ["ID", "CREW", "ENGINE", "TOPOLOGY", "STATUS", "STARTED", "TURNS", "TOKENS", "COST"],
        )
        return EXIT_OK
    if args.action == "show":
        from workbench.store.export import session_markdown

        print(session_markdown(store, args.id))
        return EXIT_OK
    from workbench.store.export import session_json, session_markdown

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


def cmd_crews(args: argparse.Namespace) -> int:
    from workbench.crews import list_crews
    from workbench.spec.loader import load_crew

    settings = _settings(args)
    if args.action == "list":
        rows = []
        for entry in list_crews(settings):
            rows.append([entry.name, entry.source_label, entry.engine, entry.topology,
                         str(entry.agents), entry.status, str(entry.path)])
        _print_table(rows, ["NAME", "SOURCE", "ENGINE", "TOPOLOGY", "AGENTS", "STATUS", "PATH"])
        return EXIT_OK
    path = resolve_crew(args.crew, settings)
    spec = load_crew(path, engine=args.engine, topology=args.topology)
    engine = args.engine or spec.engine
    topology = args.topology or spec.topology.kind
    from workbench.printer import plural

    print(f"{path}: ok ({spec.name}: {plural(len(spec.agents), 'agent')}, {engine}, {topology})")
    from workbench.gateway.credentials import missing_keys

    for problem in missing_keys(spec, settings.home):  # valid, but a run would stop here
        print(f"  warning: {problem}")
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    from workbench.tui.launch import launch

    return launch(args, review=True)


COMMANDS: dict[str, Any] = {
    "run": cmd_run,
    "review": cmd_review,
    "sessions": cmd_sessions,
    "crews": cmd_crews,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            from workbench.tui.launch import launch

            return launch(args)
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_OK
    except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        # a path the user gave (--home, --db, -o) that cannot be used
        where = f" {exc.filename}" if exc.filename else ""
        print(f"workbench: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {type(exc).__name__}: {exc} "
              "(set WORKBENCH_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
