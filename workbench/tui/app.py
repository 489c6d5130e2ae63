"""The workbench app: seven sections, a pending-approvals badge everywhere, one error handler."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from workbench.config import Settings
from workbench.tui.background import BackgroundFailed, freeze_heap, in_thread
from workbench.tui.clock import Clock

if TYPE_CHECKING:
    from workbench.tui.services import PendingSummary, Services

#: (mode, title, key): the sections, in the order the navigation bar shows them.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "Sessions", "1"),
    ("compose", "Compose", "2"),
    ("run", "Run", "3"),
    ("approvals", "Approvals", "4"),
    ("models", "Models", "5"),
    ("policies", "Policies", "6"),
    ("evals", "Evals", "7"),
)
#: How often the approvals queue is polled (it may be fed by other processes).
POLL_S = 1.0


def _screen_factory(mode: str) -> Callable[[], Screen[Any]]:
    """Each section's module is imported when first shown, not at start-up."""

    def make() -> Screen[Any]:
        if mode == "sessions":
            from workbench.tui.screens.sessions import SessionsScreen

            return SessionsScreen()
        if mode == "compose":
            from workbench.tui.screens.compose import ComposeScreen

            return ComposeScreen()
        if mode == "run":
            from workbench.tui.screens.run import RunScreen

            return RunScreen()
        if mode == "approvals":
            from workbench.tui.screens.approvals import ApprovalsScreen

            return ApprovalsScreen()
        if mode == "models":
            from workbench.tui.screens.models import ModelsScreen

            return ModelsScreen()
        if mode == "evals":
            from workbench.tui.screens.evals import EvalsScreen

            return EvalsScreen()
        from workbench.tui.screens.policies import PoliciesScreen

        return PoliciesScreen()

    return make


class WorkbenchApp(App[int]):
    """`workbench`: compose crews, run and watch them, replay sessions, review approvals."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "workbench"
    ENABLE_COMMAND_PALETTE = True
    #: Narrow terminals (80 columns) drop the brand from the navigation bar.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (96, "-wide")]
    #: Tall terminals give the topology drawing more room.
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"go('{mode}')", title, show=False, id=f"workbench.go.{mode}")
          for mode, title, key in SECTIONS),
        Binding("ctrl+q", "quit", "Quit", show=True, priority=True, id="workbench.quit",
                tooltip="Quit the workbench (a live run is stopped first)"),
        # not priority: a screen's own escape (a dialog, a search box) comes first
        Binding("escape", "leave_field", "Leave field", show=False,
                id="workbench.leave_field", tooltip="Leave the text field or picker"),
    ]

    #: Pending approvals across every session and process on this database.
    pending: reactive[int] = reactive(0)

    def __init__(self, settings: Settings | None = None, review: bool = False,
                 clock: Clock | None = None, services: Services | None = None,
                 cursor_blink: bool = True, poll: bool = True,
                 reviewer: str | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.review = review
        #: The name decisions are recorded under (None: WORKBENCH_REVIEWER or the OS user).
        self._reviewer = reviewer
        self.clock = clock or Clock()
        self._services = services
        self.cursor_blink = cursor_blink
        self._poll = poll
        self._newest_pending: str | None = None
        self._asked_quit = False
        self._polled = False
        self.first_frame_at: float | None = None
        self._after_first_frame: list[Callable[[], object]] = []
        if review:
            self.sub_title = "review"
        for mode, _, _ in self.sections:
            self.add_mode(mode, _screen_factory(mode))

    @property
    def services(self) -> Services:
        """The core's services, built on first use (workers only: they open the database)."""
        if self._services is None:
            from workbench.tui.services import Services

            self._services = Services(self.settings, reviewer=self._reviewer)
        return self._services

    @property
    def sections(self) -> tuple[tuple[str, str, str], ...]:
        """`workbench review` is the approvals queue alone."""
        if self.review:
            return tuple(s for s in SECTIONS if s[0] == "approvals")
        return SECTIONS

    def on_mount(self) -> None:
        self.switch_mode("approvals" if self.review else "sessions")
        self.call_after_refresh(self._first_frame)
        if self._poll:
            # the queue is read in a thread that imports the store: not before the first frame,
            # however long that frame takes on a busy machine
            self.after_first_frame(self._start_polling)

    def _start_polling(self) -> None:
        self.set_interval(POLL_S, self.poll_pending)
        self.poll_pending()

    def _first_frame(self) -> None:
        self.first_frame_at = time.time()
        freeze_heap()
        out = os.environ.get("WORKBENCH_FIRST_FRAME_FILE")
        if out:
            # the start-up benchmark's hook: record the first frame, then leave
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(repr(self.first_frame_at))
            self.exit(0)
            return
        waiting, self._after_first_frame = self._after_first_frame, []
        for callback in waiting:
            callback()

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run `callback` once the first frame is on screen (now, if it already is): work
        that imports heavy modules, even in a thread, must not compete with that frame."""
        if self.first_frame_at is not None:
            callback()
        else:
            self._after_first_frame.append(callback)

    # -- navigation -------------------------------------------------------------------

    def action_go(self, mode: str) -> None:
        if mode not in self._modes:
            return
        if self.current_mode != mode:
            self.switch_mode(mode)  # another section: as it was left (a replay stays open)
            return
        # the key of the section already shown goes to its top (the list), closing what was
        # opened over it (a replay); a dialog that waits for an answer is left alone
        from textual.screen import ModalScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
            self.pop_screen()

    def action_leave_field(self) -> None:
        """Escape leaves a text field or picker (typed keys land in fields; outside one, the
        section keys work): focus moves to the panel around it, or nowhere."""
        from textual.widget import Widget
        from textual.widgets import Input, Select, TextArea

        focused = self.screen.focused
        if not isinstance(focused, Input | TextArea | Select):
            return
        node = focused.parent
        while isinstance(node, Widget):
            if node.focusable:
                node.focus()
                return
            node = node.parent
        self.screen.set_focus(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "go" and parameters and parameters[0] not in self._modes:
            return False
        return True

    def open_replay(self, session_id: str) -> None:
        """Replay a stored session in the run view, over the current section."""
        from workbench.tui.screens.run import RunScreen

        self.push_screen(RunScreen(replay=session_id))

    async def start_run(self, prepared: Any, fork: Any = None) -> None:
        """Run a prepared crew live in the Run section (forking a session, given `fork`)."""
        from workbench.tui.screens.run import RunScreen

        if self.current_mode != "run":
            await self.switch_mode("run")
        screen = self.screen
        if isinstance(screen, RunScreen):
            screen.start_live(prepared, fork)

    async def action_quit(self) -> None:
        """Quit; a live run of this window is stopped first, after asking (like ctrl+x), and
        unsaved edits in Compose are asked about too. A second ctrl+q while the question is
        shown quits."""
        from workbench.tui.screens.run import RunScreen

        screens = [screen for stack in self._screen_stacks.values() for screen in stack]
        runs = [screen for screen in screens if isinstance(screen, RunScreen)]
        # Compose's unsaved edits would be lost as silently as a run would be stopped
        unsaved = [name for screen in screens
                   if (name := getattr(screen, "unsaved_edits", lambda: None)())]
        running = any(r.running for r in runs)
        if (running or unsaved) and not self._asked_quit:
            from workbench.tui.screens.modals import ConfirmModal

            def answered(yes: bool | None) -> None:
                self._asked_quit = False
                if yes:
                    self._stop_and_exit(runs)

            if running and unsaved:
                question = (f"A run is in progress and {unsaved[0]} has unsaved edits. Stop "
                            "the run (it is stored as cancelled), discard the edits and quit?")
            elif running:
                question = "A run is in progress. Stop it (it is stored as cancelled) and quit?"
            else:
                question = f"{unsaved[0]} has unsaved edits. Discard them and quit?"
            button = "Stop and quit" if running else "Discard and quit"
            self._asked_quit = True
            self.push_screen(ConfirmModal(question, button), answered)
            return
        self._stop_and_exit(runs)

    def _stop_and_exit(self, runs: list[Any]) -> None:
        for screen in runs:
            screen.stop_run()
        self.exit(0)

    # -- approvals badge --------------------------------------------------------------

    def poll_pending(self) -> None:
        in_thread(self, self.services.pending_summary, done=PendingPolled,
                  what="checking the approvals queue", group="poll-pending")

    def on_pending_polled(self, message: PendingPolled) -> None:
        summary = message.summary
        first = not self._polled
        self._polled = True
        # what was already waiting when the app opened shows on the badge, without a bell
        if not first and summary.newest_id and summary.newest_id != self._newest_pending:
            self.bell()
            self.notify(summary.newest_text, title="Approval requested", severity="warning",
                        timeout=6)
        self._newest_pending = summary.newest_id
        self.pending = summary.count

    # -- errors -----------------------------------------------------------------------

    def on_background_failed(self, message: BackgroundFailed) -> None:
        self.show_error(message.what, message.error)

    def show_error(self, what: str, error: BaseException) -> None:
        """The one place errors are shown: a notification for a user's mistake (bad crew,
        bad input, provider refusing), an error modal for anything unexpected."""
        from workbench.errors import WorkbenchError

        if isinstance(error, WorkbenchError):
            self.notify(str(error), title=f"Could not finish {what}", severity="error",
                        timeout=10)
            return
        from workbench.tui.screens.modals import ErrorModal

        self.push_screen(ErrorModal(what, f"{type(error).__name__}: {error}",
                                    self.settings.home / "logs" / "workbench.log"))

    # -- command palette --------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every section and every binding of the current screen, reachable by typing."""
        for mode, title, key in self.sections:
            yield SystemCommand(f"Go to {title}", f"Show the {title} section ({key})",
                                partial(self.action_go, mode))
        seen: set[str] = set()
        for node in (screen, *screen.query(".palette")):
            for binding in bindings_of(node):
                if not binding.description or binding.action in seen:
                    continue
                seen.add(binding.action)
                name = binding.action.split("(")[0]
                if node.check_action(name, ()) is False:
                    continue
                yield SystemCommand(binding.description,
                                    binding.tooltip or f"key: {binding.key}",
                                    partial(node.run_action, binding.action))
        yield from super().get_system_commands(screen)


def bindings_of(node: Any) -> list[Binding]:
    """A node's declared bindings, its own first, then its bases'."""
    out: list[Binding] = []
    for cls in type(node).__mro__:
        for b in cls.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding):
                out.append(b)
    return out


@dataclass
class PendingPolled(Message):
    """The approvals queue was polled."""

    summary: PendingSummary
