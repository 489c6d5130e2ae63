"""Start the TUI from the command line (`workbench`, `workbench review`)."""

from __future__ import annotations

import argparse


def launch(args: argparse.Namespace, review: bool = False) -> int:
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp

    settings = Settings.from_args(getattr(args, "home", None), getattr(args, "db", None),
                                  getattr(args, "policies", None))
    app = WorkbenchApp(settings, review=review)
    app.run()
    return app.return_code or 0
