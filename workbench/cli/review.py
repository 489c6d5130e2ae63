"""`workbench review` and `workbench` alone: the TUI, imported only when it is opened."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the `review` command."""
    review = sub.add_parser("review", help="open the approvals queue alone, in the TUI")
    review.set_defaults(handler=cmd_review)
    review.add_argument("--reviewer", metavar="NAME",
                        help="your name on the decisions (env WORKBENCH_REVIEWER; "
                             "default: the OS user)")


def cmd_review(args: argparse.Namespace) -> int:
    return open_tui(args, review=True)


def open_tui(args: argparse.Namespace, review: bool = False) -> int:
    """The TUI (or its approvals queue alone); Textual is imported here, never before."""
    from workbench.tui.launch import launch

    return launch(args, review=review)
