"""The top-level parser, the one registry of command groups, and `main`."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from workbench.cli import (
    agents,
    crews,
    engines,
    evaluate,
    governance,
    importing,
    mcp,
    models,
    review,
    run,
    sessions,
)
from workbench.cli.common import Parser, guarded

#: Every command group, in --help order. Each module's `register(subparsers)` adds its
#: subparsers and sets their `handler`; nothing else dispatches.
GROUPS: tuple[ModuleType, ...] = (run, sessions, review, crews, engines, models, governance,
                                  mcp, importing, evaluate, agents)


def build_parser() -> argparse.ArgumentParser:
    """`workbench` with its global options and every command group's subcommands."""
    p = Parser(
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
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it; `workbench` alone opens the TUI. The exit code."""
    def call() -> int:
        args = build_parser().parse_args(argv)
        # the process's own command line: a command may end the process itself (run.py)
        args.process_exit = argv is None
        if args.command is None:
            return review.open_tui(args)
        return args.handler(args)

    return guarded(call)


if __name__ == "__main__":
    sys.exit(main())
