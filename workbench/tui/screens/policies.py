"""Policies and audit: the effective rules per domain, policy errors, and the audit chain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from workbench.tui.background import in_thread
from workbench.tui.render import EFFECT_STYLE
from workbench.tui.screens.base import SectionScreen


@dataclass
class PoliciesLoaded(Message):
    view: Any
    head: tuple[int, str]


@dataclass
class AuditVerified(Message):
    result: Any


def load(services: Any) -> tuple[Any, tuple[int, str]]:
    return services.policy_view(), services.audit_head()


class PoliciesScreen(SectionScreen):
    SECTION = "policies"
    CSS_PATH = Path(__file__).with_name("policies.tcss")
    AUTO_FOCUS = "#policy-domains"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify audit", id="policies.verify",
                tooltip="Recompute the audit chain's hashes and name the first broken entry"),
        Binding("r", "reload", "Reload", id="policies.reload",
                tooltip="Read the policy files again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: Any = None
        self.domain = "central"
        self.rows: list[Any] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="policy-summary")
        with Horizontal(id="policy-body"):
            domains = OptionList(id="policy-domains", classes="panel")
            domains.border_title = "Domains"
            yield domains
            with Vertical(id="policy-main"):
                table: DataTable[Any] = DataTable(id="policy-rules", cursor_type="row",
                                                  classes="panel")
                table.border_title = "Effective rules"
                yield table
                with VerticalScroll(id="policy-detail", classes="panel") as detail:
                    detail.border_title = "Rule"
                    yield Static("", id="policy-rule")
        yield Static("", id="audit-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in ("Effect", "Rule", "From", "On", "Note"):
            table.add_column(name, key=name)
        self.action_reload()

    def action_reload(self) -> None:
        in_thread(self, load, self.wb.services, done=lambda r: PoliciesLoaded(*r),
                  what="reading the policies", group="policies-load")

    def on_policies_loaded(self, message: PoliciesLoaded) -> None:
        view = self.view = message.view
        seq, head = message.head
        summary = self.query_one("#policy-summary", Static)
        if view.error:
            summary.update(f"[b red]✘ The policy set does not load[/] — runs cannot start "
                           f"until it is fixed:\n{escape(view.error)}")
            summary.set_classes("-error")
        else:
            budgets = ", ".join(f"{k} {v:g}" for k, v in view.budgets.items()) or "none"
            summary.update(
                f"[b]{escape(view.folder)}[/] · default [b]{view.default}[/] · budgets "
                f"{budgets} · policy set {view.hash[:12]}")
            summary.set_classes("")
        domains = self.query_one("#policy-domains", OptionList)
        domains.clear_options()
        domains.add_option(Option(f"central [dim]({len(view.central)})[/]", id="central"))
        for name, rules in view.domains.items():
            domains.add_option(Option(f"{name} [dim]({len(rules)})[/]", id=name))
        ids = ["central", *view.domains]
        if self.domain not in ids:
            self.domain = "central"
        domains.highlighted = ids.index(self.domain)
        self._show_rules()
        self.query_one("#audit-status", Static).update(
            f"Audit chain: [b]{seq:,}[/] {'entry' if seq == 1 else 'entries'} · "
            f"head {head[:16]}… · "
            "[dim]press v to verify every hash[/]")

    @on(OptionList.OptionHighlighted, "#policy-domains")
    def _domain_chosen(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.domain:
            self.domain = event.option.id
            self._show_rules()

    def _show_rules(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        if self.view is None or self.view.error:
            self.rows = []
            self._show_rule()
            return
        self.rows = self.view.effective(self.domain)
        table.border_title = ("Central rules" if self.domain == "central" else
                              f"Effective rules for {self.domain} (central + domain)")
        for r in self.rows:
            effect = Text(r.effect, EFFECT_STYLE.get(r.effect, ""))
            table.add_row(effect, r.id, r.source, r.on, r.note or "")
        self._show_rule()

    @on(DataTable.RowHighlighted)
    def _rule_chosen(self) -> None:
        self._show_rule()

    def _show_rule(self) -> None:
        body = self.query_one("#policy-rule", Static)
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.rows or row is None or not 0 <= row < len(self.rows):
            body.update(Text("No rules." if self.view and not self.view.error else "", "dim"))
            return
        r = self.rows[row]
        text = Text()
        text.append(r.id, "bold")
        text.append(f"  {r.source} · {r.where}", "dim")
        text.append("\nwhen   ", "dim")
        text.append(r.when)
        text.append("\neffect ", "dim")
        text.append(r.effect, EFFECT_STYLE.get(r.effect, ""))
        text.append("\nreason ", "dim")
        text.append(r.reason)
        if r.source == "central":
            text.append("\n" + ("overridable by a domain allow rule" if r.overridable
                                else "not overridable: no domain can lift it"), "dim")
        if r.note:
            text.append(f"\n{r.note}", "yellow")
        body.update(text)

    # -- audit ----------------------------------------------------------------------------

    def action_verify(self) -> None:
        self.query_one("#audit-status", Static).update("Audit chain: verifying…")
        in_thread(self, self.wb.services.audit_verify, done=AuditVerified,
                  what="verifying the audit chain", group="policies-verify")

    def on_audit_verified(self, message: AuditVerified) -> None:
        from workbench.mesh.format import plural

        r = message.result
        entries = plural(r.entries, "entry", "entries")
        status = self.query_one("#audit-status", Static)
        if r.ok:
            status.update(f"Audit chain: [b green]✔ intact[/] · {entries} verified "
                          f"in {r.seconds:.2f}s · head {r.head[:16]}…")
            status.set_classes("")
        else:
            status.update(f"Audit chain: [b red]✘ BROKEN[/] · {escape(r.message)} "
                          f"({entries} verified before it)")
            status.set_classes("-error")
