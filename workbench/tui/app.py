"""The workbench app: sessions, compose, live runs, approvals, models and policies."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from workbench.config import Settings
from workbench.tui.services import Services

PENDING_POLL_S = 1.0


class WorkbenchApp(App):
    """Everything slow (the store, frameworks, the model catalog) loads in workers after the
    first frame; workers post results, screens own their widgets."""

    CSS_PATH = "app.tcss"
    TITLE = "workbench"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("s", "sessions", "Sessions", id="app.sessions"),
        Binding("n", "compose", "New run", id="app.compose"),
        Binding("a", "approvals", "Approvals", id="app.approvals"),
        Binding("m", "models", "Models", id="app.models"),
        Binding("p", "policies", "Policies", id="app.policies"),
    ]

    def __init__(self, settings: Settings | None = None, review: bool = False,
                 poll_pending: bool = True) -> None:
        super().__init__()
        self.services = Services(settings or Settings())
        self.review = review
        self._poll = poll_pending
        self.pending = 0

    def on_mount(self) -> None:
        if self.review:
            from workbench.tui.screens.approvals import ApprovalsScreen

            self.push_screen(ApprovalsScreen(standalone=True))
        else:
            from workbench.tui.screens.sessions import SessionsScreen

            self.push_screen(SessionsScreen())
        if self._poll:
            self.set_interval(PENDING_POLL_S, self.poll_pending)
            self.call_after_refresh(self.poll_pending)

    # -- the pending-approvals badge on every screen --------------------------------------

    @work(thread=True, exclusive=True, group="pending", exit_on_error=False)
    def poll_pending(self) -> None:
        count = self.services.pending_count()
        if count != self.pending:
            self.call_from_thread(self._set_pending, count)

    def _set_pending(self, count: int) -> None:
        grew = count > self.pending
        self.pending = count
        self.sub_title = f"⏸ {count} pending approval{'s' if count != 1 else ''}" if count \
            else ""
        if grew:
            self.bell()
            self.notify(f"{count} approval{'s' if count != 1 else ''} waiting: press a",
                        title="approvals", severity="warning")
        screen = self.screen
        refresh = getattr(screen, "refresh_queue", None)
        if refresh is not None:
            refresh()

    def refresh_sessions(self) -> None:
        for screen in self.screen_stack:
            reload = getattr(screen, "action_reload", None)
            if reload is not None and type(screen).__name__ == "SessionsScreen":
                reload()

    # -- navigation -----------------------------------------------------------------------

    def _open(self, screen: Screen, name: str) -> None:
        if type(self.screen).__name__ == name:
            return
        self.push_screen(screen)

    def action_sessions(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if type(self.screen).__name__ != "SessionsScreen":
            from workbench.tui.screens.sessions import SessionsScreen

            self.switch_screen(SessionsScreen())

    def action_compose(self) -> None:
        from workbench.tui.screens.compose import ComposeScreen

        self._open(ComposeScreen(), "ComposeScreen")

    def action_approvals(self) -> None:
        from workbench.tui.screens.approvals import ApprovalsScreen

        self._open(ApprovalsScreen(), "ApprovalsScreen")

    def action_models(self) -> None:
        from workbench.tui.screens.models import ModelsScreen

        self._open(ModelsScreen(), "ModelsScreen")

    def action_policies(self) -> None:
        from workbench.tui.screens.policies import PoliciesScreen

        self._open(PoliciesScreen(), "PoliciesScreen")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Sessions", "Past runs: open, replay, export", self.action_sessions)
        yield SystemCommand("New run", "Compose a crew and run it", self.action_compose)
        yield SystemCommand("Approvals", "Review flagged actions", self.action_approvals)
        yield SystemCommand("Models and keys", "Providers, keys, the model catalog",
                            self.action_models)
        yield SystemCommand("Policies and audit", "Effective policies; verify the audit trail",
                            self.action_policies)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(binding.description, f"{screen.title or ''} ({binding.key})",
                                    lambda a=action, s=screen: self.call_later(
                                        s.run_action, a))

    # -- one place for worker failures ----------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{error}", title=type(error).__name__ if error else "error",
                        severity="error", timeout=10)
