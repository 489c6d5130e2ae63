"""Start the TUI from the command line (`workbench`, `workbench review`)."""

from __future__ import annotations

import argparse
from typing import Any


def make_app(args: argparse.Namespace, review: bool = False) -> Any:
    """The app as the command line asks for it (home, database, policies, reviewer)."""
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp

    settings = Settings.from_args(getattr(args, "home", None), getattr(args, "db", None),
                                  getattr(args, "policies", None))
    # `workbench review --reviewer NAME` or `workbench --reviewer NAME`; else the app asks
    # WORKBENCH_REVIEWER, then the OS user
    reviewer = getattr(args, "reviewer", None)
    if reviewer is None:
        reviewer = getattr(args, "app_reviewer", None)
    if reviewer is not None:
        from workbench.governance.reviewer import checked_reviewer

        # a blank name is refused before the window opens, not at the first decision
        reviewer = checked_reviewer(reviewer)
    return WorkbenchApp(settings, review=review, reviewer=reviewer)


def launch(args: argparse.Namespace, review: bool = False) -> int:
    """Open the app (or the approvals queue alone); returns the process exit code."""
    from workbench.logs import log_to_file

    app = make_app(args, review)
    # library warnings from runs in worker threads must not scribble over the screen
    log_to_file(app.settings)
    app.run()
    return app.return_code or 0
