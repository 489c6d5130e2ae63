"""Policies and audit: the effective policy per domain, policy errors, the audit chain's state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

EFFECT_STYLE = {"deny": "bold red", "require_approval": "bold yellow", "redact": "bold magenta",
                "allow": "bold green"}


class PoliciesScreen(Screen):
    CSS_PATH = "policies.tcss"
    BINDINGS = [
        Binding("v", "verify", "Verify audit", id="policies.verify"),
        Binding("ctrl+r", "reload", "Reload", id="policies.reload"),
        Binding("escape", "back", "Back", id="policies.back"),
    ]

    class Loaded(Message):
        def __init__(self, policy: Any, error: str | None) -> None:
            super().__init__()
            self.policy, self.error = policy, error

    class Verified(Message):
        def __init__(self, text: Text) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__()
        self.policy: Any = None
        self.domains: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="policy-source")
        with Horizontal(id="policies-body"):
            yield OptionList(id="domains")
            with VerticalScroll(id="effective-box"):
                yield Static("", id="effective")
        yield Static("audit: press v to verify the chain", id="audit")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "policies and audit"
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="policies", exit_on_error=False)
    def _load(self) -> None:
        from workbench.governance.policy import PolicyError, load_policies

        folder = self.app.services.settings.policy_dir()
        try:
            self.post_message(self.Loaded(load_policies(folder), None))
        except PolicyError as exc:
            self.post_message(self.Loaded(None, str(exc)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        source = self.query_one("#policy-source", Static)
        domains = self.query_one("#domains", OptionList)
        domains.clear_options()
        if message.error:
            self.policy = None
            source.update(Text(f"✗ {message.error}\nRuns refuse to start until this is fixed.",
                               style="bold red"))
            self.query_one("#effective", Static).update("")
            return
        p = message.policy
        self.policy = p
        budgets = ", ".join(f"{k} {v:g}" for k, v in p.budgets.items()) or "none"
        source.update(Text.assemble(("✓ ", "bold green"), f"{p.source} · default {p.default}"
                                    f" · budgets {budgets} · set {p.hash[:12]}"))
        self.domains = ["(central only)", *sorted(p.domains)]
        domains.add_options(self.domains)
        domains.highlighted = 0
        domains.focus()

    @on(OptionList.OptionHighlighted, "#domains")
    def _domain(self, event: OptionList.OptionHighlighted) -> None:
        if self.policy is None or event.option_index is None:
            return
        name = self.domains[event.option_index]
        domain = None if name.startswith("(") else name
        self.query_one("#effective", Static).update(effective_text(self.policy, domain))

    def action_verify(self) -> None:
        self.query_one("#audit", Static).update("verifying the audit chain…")
        self._verify()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def _verify(self) -> None:
        from workbench.store.audit import AuditChain

        r = AuditChain(self.app.services.store).verify()
        if r.ok:
            text = Text.assemble(("✓ audit chain intact", "bold green"),
                                 f" · {r.entries:,} entries · head {r.head[:16]}…")
        else:
            text = Text.assemble(("✗ audit chain BROKEN", "bold red"), f" · {r.message}")
        self.post_message(self.Verified(text))

    @on(Verified)
    def _verified(self, message: Verified) -> None:
        self.query_one("#audit", Static).update(message.text)

    def action_back(self) -> None:
        self.app.pop_screen()


def effective_text(policy: Any, domain: str | None) -> Text:
    """Central plus domain rules, and which central rules the domain's allow rules lift."""
    local = policy.domains.get(domain, []) if domain else []
    allow_on = {r.on for r in local if r.effect == "allow"}
    out = Text()
    out.append(f"{domain or 'every agent'}\n", style="bold underline")
    out.append("central rules\n", style="bold")
    for r in policy.central:
        lifted = r.overridable and r.on in allow_on
        out.append(f"  {r.id}", style="strike dim" if lifted else "")
        out.append(f"  {r.on}  ", style="dim")
        out.append(r.effect, style=EFFECT_STYLE.get(r.effect, ""))
        if r.overridable:
            out.append("  overridable", style="italic dim")
        if lifted:
            out.append(f"  ← lifted by {domain} when its allow rule matches", style="green")
        out.append(f"\n    when {r.when}\n", style="dim")
    if domain:
        out.append(f"{domain} rules\n", style="bold")
        if not local:
            out.append("  none\n", style="dim")
        for r in local:
            out.append(f"  {r.id}  ")
            out.append(f"{r.on}  ", style="dim")
            out.append(r.effect, style=EFFECT_STYLE.get(r.effect, ""))
            out.append(f"\n    when {r.when}\n", style="dim")
    return out
