"""Blocking work off the UI loop: a thread worker that posts its result as a message.

Workers never touch widgets. A failure becomes one `BackgroundFailed` message to the app,
which shows it (a notification for a user's mistake, an error modal otherwise).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker, get_current_worker

log = logging.getLogger("workbench.tui")


@dataclass
class BackgroundFailed(Message):
    """A worker raised: `what` names the job in words a person understands."""

    what: str
    error: BaseException


def in_thread(
    node: DOMNode,
    fn: Callable[..., Any],
    *args: Any,
    done: Callable[[Any], Message] | None = None,
    what: str = "background work",
    group: str = "default",
    exclusive: bool = True,
) -> Worker[None]:
    """Run `fn(*args)` in a thread; post `done(result)` to `node` unless superseded."""

    def body() -> None:
        worker = get_current_worker()
        try:
            result = fn(*args)
            message = done(result) if done is not None else None
        except Exception as exc:
            log.exception("%s failed", what)
            if not worker.is_cancelled:
                node.app.post_message(BackgroundFailed(what, exc))
            return
        if message is not None and not worker.is_cancelled:
            node.post_message(message)

    return node.run_worker(body, name=what, group=group, exclusive=exclusive, thread=True,
                           exit_on_error=False)


def freeze_heap() -> None:
    """Exempt everything alive now (imported modules, the app's widgets) from future garbage
    collections.

    A full collection scans every tracked object: with Textual, SQLAlchemy and an engine
    loaded that is a 100-200 ms stall of the UI, several times a minute under a busy run.
    What exists after start-up or after a heavy import lives as long as the process anyway.
    """
    gc.freeze()
