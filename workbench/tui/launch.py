"""Start the TUI from the command line (`workbench`, `workbench review`)."""

from __future__ import annotations

import argparse


def launch(args: argparse.Namespace, review: bool = False) -> int:
    """Open the app (or the approvals queue alone); returns the process exit code."""
    from workbench.cli import _log_to_file
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp

    settings = Settings.from_args(getattr(args, "home", None), getattr(args, "db", None),
                                  getattr(args, "policies", None))
    # library warnings from runs in worker threads must not scribble over the screen
    _log_to_file(settings)
    app = WorkbenchApp(settings, review=review)
    app.run()
    return app.return_code or 0
