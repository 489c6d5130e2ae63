"""Library warnings go to <home>/logs/workbench.log, never onto the user's terminal."""

from __future__ import annotations

import logging
from typing import Any


class _QuietFileHandler(logging.FileHandler):
    """A log line that cannot be written (a full disk) is dropped: never a traceback on the
    user's terminal, where the error that matters is already said."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def log_to_file(settings: Any) -> None:
    """Send warnings (and worse) to the home's log file, once per process; a home that
    cannot hold the file gets no log rather than an error."""
    root = logging.getLogger()
    if any(getattr(h, "_workbench", False) for h in root.handlers):
        return
    try:
        folder = settings.home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _QuietFileHandler(folder / "workbench.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._workbench = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
