"""`workbench run CREW`: a crew headless, its traffic printed as it happens."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from typing import Any

from workbench.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    engine_options,
    open_store,
    resolve_crew,
    settings,
    until_done,
    warn,
)


def register(sub: Any) -> None:
    """Add the `run` command."""
    run = sub.add_parser("run", help="run a crew headless and print its traffic")
    run.set_defaults(handler=cmd_run)
    run.add_argument("crew", metavar="CREW", help="crew file, or the name of a shipped crew")
    engine_options(run)
    run.add_argument("--task", help="the run's task (default: the crew's description)")
    run.add_argument("--model", help="run every agent on this model (a LiteLLM model string)")
    run.add_argument("--approvals", choices=["wait", "prompt", "deny"],
                     help="how approvals are answered (default: prompt on a terminal, else wait)")
    run.add_argument("--reviewer", help="reviewer name for --approvals prompt (default: OS user)")
    run.add_argument("--json", action="store_true", help="print events as JSON Lines")
    run.add_argument("--input", action="append", metavar="KEY=VALUE",
                     help="a value for one of the crew's inputs, its {placeholders} (repeatable)")
    run.add_argument("--from", dest="fork", metavar="SESSION[@SEQ]",
                     help="fork SESSION: model calls before its event SEQ (all of them "
                          "without @SEQ) are answered from its recording, then the run goes "
                          "live, with the crew as it is now")
    run.add_argument("--replay-tools", action="store_true",
                     help="with --from: reuse the recorded results of tool calls the replay "
                          "repeats instead of running the tools (the gate still judges them)")
    run.add_argument("--human-default", metavar="TEXT",
                     help="the answer of a human agent's turn when no person answers (no "
                          "terminal, end of input, or nobody in time); else the turn is skipped")
    otel_option(run)


def cmd_run(args: argparse.Namespace) -> int:
    from functools import partial

    from workbench.cli.printer import RunPrinter
    from workbench.errors import UserInputError
    from workbench.governance.approvals import print_waiting_hint
    from workbench.governance.setup import default_mode, governed
    from workbench.mesh.replay import ForkSource
    from workbench.mesh.session import Session, prepare

    if args.replay_tools and args.fork is None:
        raise UserInputError("--replay-tools reuses a recording: give --from SESSION[@SEQ]")
    fork = ForkSource.parse(args.fork, args.replay_tools) if args.fork is not None else None
    config = settings(args)
    use_otel(args)
    path = resolve_crew(args.crew, config)
    from workbench.spec.inputs import parse_assignments

    prepared = prepare(path, args.engine, args.topology, args.task, args.model,
                       inputs=parse_assignments(args.input))
    fill_run_inputs(prepared)
    store = open_store(config)
    store.reap_lapsed_sessions()  # an earlier run killed on this host is told apart now
    governance = governed(config, store, args.approvals, args.reviewer, args.human_default)
    # said before the run, not lost in it
    warn(list(governance.notes(prepared.spec)))
    if (args.approvals or default_mode()) == "wait":
        # nobody is asked here: say where a request can be decided
        home = f" --home {shlex.quote(args.home)}" if args.home else ""
        if args.db:  # a team's database named on the command line: the hint names it too
            from sqlalchemy.engine import make_url

            shown = make_url(args.db).render_as_string(hide_password=True)
            home += f" --db {shlex.quote(shown)}"
        governance.approvals.on_waiting = partial(print_waiting_hint,
                                                  command=f"workbench{home}")
        if hasattr(governance.humans, "on_waiting"):  # a reviewer answers human turns too
            from workbench.governance.human import print_waiting_hint as human_hint

            governance.humans.on_waiting = partial(human_hint, command=f"workbench{home}")
    printer = RunPrinter(json_lines=args.json)
    session = Session(prepared, config, store, subscribers=[printer], fork=fork,
                      **governance.session_kwargs())
    warn(list(session.warnings))
    try:
        outcome = asyncio.run(until_done(session.execute(), session.cancel))
    except KeyboardInterrupt:
        return cancelled_exit(args)
    if outcome.status == "completed":
        return EXIT_OK
    if outcome.status == "cancelled":
        return cancelled_exit(args)
    print(f"workbench: run failed: {outcome.error}", file=sys.stderr)
    return EXIT_FAILED


def cancelled_exit(args: argparse.Namespace) -> int:
    """Exit code 130 for a cancelled run, its end already stored.

    A cancelled run does not wait for its engine: a CrewAI crew's thread may still be inside
    a call (CrewAI's own SQLite) and wake while the interpreter tears itself down, which
    ends the process with "Fatal Python error: Aborted" (exit 134). So when this process is
    the `workbench` command itself (`main` set `args.process_exit`) and threads other than
    the main one are still alive, output and logs are flushed, this package's trace export
    is closed, and the process ends at once with 130, without that teardown.
    """
    import threading

    if not getattr(args, "process_exit", False):
        return EXIT_CANCELLED  # called in-process (tests, the TUI): never end the caller
    main = threading.main_thread()
    if not any(t is not main and t.is_alive() for t in threading.enumerate()):
        return EXIT_CANCELLED
    _end_process(EXIT_CANCELLED)
    return EXIT_CANCELLED  # not reached


def _end_process(code: int) -> None:
    """Flush what the process wrote and end it with `code`, skipping interpreter teardown."""
    import logging
    import os

    otel = sys.modules.get("workbench.mesh.otel")  # loaded only when tracing is on
    if otel is not None:
        otel.close_all()  # spans of the run still queued: sent, as the exit hooks would
    for handler in list(logging.getLogger().handlers):
        try:
            handler.flush()
        except Exception:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def otel_option(parser: Any) -> None:
    """`--otel [URL]`: export the run's trace to an OTLP/HTTP collector (after CREW)."""
    from workbench.mesh.tracing import DEFAULT_URL

    parser.add_argument("--otel", nargs="?", const=DEFAULT_URL, metavar="URL", type=_otel_url,
                        help="export an OpenTelemetry trace over OTLP/HTTP (default URL "
                             f"{DEFAULT_URL}; the environment's OTEL_EXPORTER_OTLP_ENDPOINT "
                             "does the same)")


def _otel_url(value: str) -> str:
    # `run --otel CREW` would take the crew for the URL: say so rather than miss the crew
    if "://" not in value:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a URL (such as http://localhost:4318); without a URL, give "
            "--otel after the crew")
    return value


def use_otel(args: argparse.Namespace) -> None:
    """Trace this process's runs to `--otel`'s URL, when it was given."""
    if getattr(args, "otel", None):
        from workbench.mesh.tracing import use_endpoint

        use_endpoint(args.otel)


def fill_run_inputs(prepared: Any) -> None:
    """A prepared run's inputs without a value (`prepare` put in the crew's and --input's):
    on a terminal, ask for each, else say which stay as written."""
    from workbench.spec.inputs import apply_inputs

    missing = prepared.missing_inputs
    if missing and sys.stdin.isatty():
        answers: dict[str, str] = {}
        for name in missing:
            try:
                answer = input(f"input {name}: ").strip()
            except EOFError:
                break
            if answer:
                answers[name] = answer
        missing = apply_inputs(prepared.spec, answers)
        prepared.missing_inputs = missing
    if missing:
        warn([f"inputs without a value stay as written: {', '.join(missing)} (give them "
              "with --input KEY=VALUE)"])
