"""The effective rules of a domain (which central rules it lifts): one definition in
governance, shown by `workbench policies show` and the Policies screen, agreeing with the gate."""

from __future__ import annotations

import json
from pathlib import Path

from tests.governance.test_policies import activation, write_policies
from workbench.cli import main
from workbench.config import Settings
from workbench.governance.effective import effective_rules
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate

ROOT = Path(__file__).resolve().parents[2]

CENTRAL = """\
version: 1
rules:
  - id: email-needs-approval
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: require_approval
    reason: Email leaves the company
    overridable: true
  - id: never-delete
    on: tool_call
    when: 'tool.name == "send_email" && args.to == "all@example.com"'
    effect: deny
    reason: Not to everyone
  - id: redact-messages
    on: message
    when: 'message.text.contains("@")'
    effect: redact
    reason: Addresses
    overridable: true
"""

SALES = """\
version: 1
rules:
  - id: sales-may-email
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: allow
    reason: Sales writes to customers
  - id: sales-no-deny-lift
    on: tool_call
    when: 'true'
    effect: allow
    reason: Tries to lift everything
"""


def test_a_domain_lifts_only_overridable_central_rules_of_the_same_action(tmp_path) -> None:
    policy = load_policies(write_policies(tmp_path / "p", CENTRAL, sales=SALES))
    rows = {e.rule.id: e for e in effective_rules(policy.central, policy.domains["sales"])}
    assert rows["email-needs-approval"].lifted_by == ("sales-may-email", "sales-no-deny-lift")
    assert rows["email-needs-approval"].note == (
        "lifted where sales-may-email, sales-no-deny-lift matches")
    assert rows["never-delete"].lifted_by == () and rows["never-delete"].note == ""
    # overridable, but the domain has no allow rule on messages
    assert rows["redact-messages"].lifted_by == ()
    assert rows["redact-messages"].note == "overridable; this domain does not lift it"
    assert [e.central for e in rows.values()] == [True, True, True, False, False]
    central = effective_rules(policy.central, None)
    assert [(e.rule.id, e.note) for e in central] == [
        ("email-needs-approval", "overridable"), ("never-delete", ""),
        ("redact-messages", "overridable")]


def test_what_is_shown_as_lifted_is_what_the_gate_lifts(tmp_path) -> None:
    policy = load_policies(write_policies(tmp_path / "p", CENTRAL, sales=SALES))
    shown = {e.rule.id: e.lifted_by for e in effective_rules(policy.central,
                                                              policy.domains["sales"])}
    decision = PolicyGate(policy).decide("tool_call", activation("sales", to="x@partner.com"))
    assert decision.lifted == [rid for rid, by in shown.items() if by]
    assert decision.effect == "allow"
    # the rule shown as not liftable still decides
    decision = PolicyGate(policy).decide("tool_call", activation("sales", to="all@example.com"))
    assert decision.effect == "deny" and "never-delete" in decision.rule_ids


def test_policies_show_prints_a_domains_effective_rules(home, capsys) -> None:
    assert main(["--policies", str(ROOT / "policies"), "policies", "show", "support"]) == 0
    out = capsys.readouterr().out
    assert "effective rules for support" in out
    line = next(x for x in out.splitlines() if x.split()[1:2] == ["personal-data-in-messages"])
    assert "lifted where support-may-share-contacts matches" in line
    assert any(x.split()[1:3] == ["support-may-share-contacts", "support"]
               for x in out.splitlines() if x.strip())

    assert main(["--policies", str(ROOT / "policies"), "policies", "show", "Support",
                 "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert by_id["personal-data-in-messages"]["lifted_by"] == ["support-may-share-contacts"]
    assert by_id["support-may-share-contacts"]["source"] == "support"

    assert main(["--policies", str(ROOT / "policies"), "policies", "show", "nosuch"]) == 0
    out = capsys.readouterr().out
    assert "domain 'nosuch' has no policy file" in out
    assert "lifted where" not in out


def test_the_cli_and_the_policies_screen_note_the_same_lifts(home) -> None:
    from workbench.tui.services import Services

    policies = ROOT / "policies"
    policy = load_policies(policies)
    view = Services(Settings.from_args(str(home), None, str(policies))).policy_view()
    for domain in [None, *policy.domains]:
        cli = [(e.rule.id, e.note) for e in
               effective_rules(policy.central, None if domain is None
                               else policy.domains[domain])]
        screen = [(r.id, r.note) for r in view.effective(domain or "central")]
        assert screen == cli, domain
