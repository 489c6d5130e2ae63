"""Forking a replayed session into Compose: where a selected step forks, the crew that
session ran, and the trip from the run view to Compose.

A fork at a step re-does that step live: the model calls before it are answered from the
session's recording (`workbench run --from SESSION@SEQ`, `mesh.replay.ForkSource`), and the
call that produced the step is the first one made live.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from workbench.tui.feed import Entry, RunModel

MODEL_CALL = "model.call"
MESSAGE = "message"


@dataclass
class ForkOpened:
    """What Compose needs to fork a session: the crew it ran (as Compose's `Loaded`), the
    fork point, the session's task and crew name."""

    loaded: Any
    fork: Any
    task: str
    crew: str

    @property
    def label(self) -> str:
        return f"{self.fork.session_id[:12]}@{self.fork.seq}" if self.fork.seq else \
            self.fork.session_id[:12]


def fork_point(model: RunModel, entry: Entry) -> int:
    """The seq to fork `entry`'s step at: the model call that produced it (the same agent's
    last call before it, within its turn), so that call and all after it run live; a step
    no model call produced (a run milestone, a person's turn) forks at its own event."""
    if entry.kind == MODEL_CALL or not entry.agent:
        return max(1, entry.seq)
    found: int | None = None
    for other in reversed(model.entries):
        if other.seq > entry.seq or other.agent != entry.agent:
            continue
        if other.kind == MODEL_CALL:
            found = other.seq
            break
        if other.kind == MESSAGE and other.seq < entry.seq:
            break  # the agent's previous turn: nothing of this step was a model call
    return max(1, found if found is not None else entry.seq)


def load_fork(services: Any, session_id: str, seq: int) -> ForkOpened:
    """The session's stored crew file, read as Compose opens a crew file (blocking: a
    worker's job); a session that kept no copy of its crew is a UserInputError."""
    from workbench.mesh.replay import ForkSource
    from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines
    from workbench.tui.screens.compose import Loaded

    session = services.session(session_id)
    view = services.crew_snapshot(session["id"])
    try:
        data = load_with_lines(view.text)[0]
    except LocatedYAMLError as exc:
        loaded = Loaded(None, view.text, None, str(exc))
    else:
        loaded = Loaded(None, view.text, data if isinstance(data, dict) else None)
    return ForkOpened(loaded, ForkSource(session["id"], seq), session.get("task") or "",
                      session["crew_name"])


def fork_to_compose(app: Any, session_id: str, seq: int) -> None:
    """Open Compose on the crew `session_id` ran, set to fork it at `seq` when run."""

    async def go() -> None:
        try:
            opened = await asyncio.to_thread(load_fork, app.services, session_id, seq)
        except Exception as exc:  # shown as every background failure is
            app.show_error("opening the session's crew to fork it", exc)
            return
        await app.switch_mode("compose")
        screen = app.screen
        if not hasattr(screen, "open_fork"):
            return
        if not screen._dirty():
            screen.open_fork(opened)
            return
        from workbench.tui.screens.modals import ConfirmModal

        def answer(yes: bool | None) -> None:
            if yes:
                screen.open_fork(opened)

        app.push_screen(ConfirmModal(f"{screen._crew_label()} has unsaved edits. Discard "
                                     f"them and fork {opened.label}?", "Discard"), answer)

    app.run_worker(go(), name="opening a fork in Compose", group="fork-open", exclusive=True,
                   exit_on_error=False)
