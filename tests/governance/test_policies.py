"""Policy files and the gate: federated layering, defaults, budgets, fail-closed, file:line errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.governance.policy import PolicyError, load_policies
from workbench.governance.policy_gate import PolicyGate

ROOT = Path(__file__).resolve().parents[2]


def write_policies(folder: Path, central: str, **domains: str) -> Path:
    (folder / "domains").mkdir(parents=True, exist_ok=True)
    (folder / "central.yaml").write_text(central)
    for name, text in domains.items():
        (folder / "domains" / f"{name}.yaml").write_text(text)
    return folder


def activation(domain: str = "default", tool: str = "send_email", **args) -> dict:
    return {
        "agent": {"name": "a", "role": "r", "domain": domain, "model": "scripted/x"},
        "model": {"provider": "scripted", "name": "x"},
        "session": {"cost_usd": 0.0, "tokens": 0, "turns": 0},
        "crew": {"name": "c"},
        "tool": {"name": tool, "tags": ["external"]},
        "args": args or {"to": "x@partner.com"},
        "message": {"text": "", "from": "a", "to": "b"},
    }


CENTRAL_DENY = """\
version: 1
rules:
  - id: no-email
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: deny
    reason: no mail
    overridable: {overridable}
"""
DOMAIN_ALLOW = """\
version: 1
rules:
  - id: sales-may-email
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: allow
"""


@pytest.mark.parametrize(("overridable", "expected"), [("false", "deny"), ("true", "allow")])
def test_domain_allow_lifts_only_an_overridable_central_rule(tmp_path: Path, overridable: str,
                                                             expected: str) -> None:
    folder = write_policies(tmp_path, CENTRAL_DENY.format(overridable=overridable),
                            sales=DOMAIN_ALLOW)
    gate = PolicyGate(load_policies(folder))
    decision = gate.decide("tool_call", activation("sales"))
    assert decision.effect == expected
    assert gate.decide("tool_call", activation("default")).effect == "deny"
    if expected == "allow":
        assert decision.lifted == ["no-email"]


def test_a_domain_can_tighten_the_central_policy(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, "version: 1\nrules: []\n", legal="""\
version: 1
rules:
  - id: legal-review-mail
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: require_approval
    reason: counsel reviews mail
""")
    gate = PolicyGate(load_policies(folder))
    assert gate.decide("tool_call", activation("legal")).effect == "require_approval"
    assert gate.decide("tool_call", activation("sales")).effect == "allow"


def test_most_restrictive_effect_wins(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, """\
version: 1
rules:
  - {id: r1, on: tool_call, when: 'true', effect: redact}
  - {id: r2, on: tool_call, when: 'true', effect: require_approval}
  - {id: r3, on: tool_call, when: 'tool.name == "nothing"', effect: deny}
""")
    decision = PolicyGate(load_policies(folder)).decide("tool_call", activation())
    assert decision.effect == "require_approval" and decision.rule_ids == ["r1", "r2"]


@pytest.mark.parametrize("default", ["deny", "allow", "require_approval"])
def test_default_effect_applies_when_nothing_matches(tmp_path: Path, default: str) -> None:
    folder = write_policies(tmp_path, f"version: 1\ndefault: {default}\nrules: []\n")
    assert PolicyGate(load_policies(folder)).decide("tool_call", activation()).effect == default


def test_messages_across_domains(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, """\
version: 1
rules:
  - id: legal-stays-in-legal
    on: message
    when: 'agent.domain == "legal" && message.to != "counsel"'
    effect: deny
    reason: legal output may reach only legal agents
""")
    gate = PolicyGate(load_policies(folder))
    act = activation("legal")
    act["message"] = {"text": "privileged", "from": "a", "to": "marketing"}
    assert gate.decide("message", act).effect == "deny"
    act["message"]["to"] = "counsel"
    assert gate.decide("message", act).effect == "allow"


def test_a_condition_that_cannot_be_evaluated_denies(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, """\
version: 1
rules:
  - id: needs-to
    on: tool_call
    when: 'args.to.endsWith("@example.com")'
    effect: allow
""")
    decision = PolicyGate(load_policies(folder)).decide(
        "tool_call", activation(tool="write_file", path="x.md"))
    assert decision.effect == "deny" and decision.rule_ids == ["needs-to"]


def test_budget_exhausted_stops_the_run(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, "version: 1\nbudgets: {session: {tokens: 100}}\nrules: []\n")
    gate = PolicyGate(load_policies(folder))
    act = activation()
    assert not gate.decide("model_call", act).stop_run
    act["session"]["tokens"] = 150
    decision = gate.decide("model_call", act)
    assert decision.effect == "deny" and decision.stop_run
    assert decision.rule_ids == ["budget.session.tokens"]
    assert "tokens 150 of 100" in decision.reason


def test_policy_hash_changes_with_any_file(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, CENTRAL_DENY.format(overridable="false"), sales=DOMAIN_ALLOW)
    first = load_policies(folder).hash
    (folder / "domains" / "sales.yaml").write_text(DOMAIN_ALLOW.replace("allow", "deny", 1))
    assert load_policies(folder).hash != first


BAD = [
    ("version: 1\nrules:\n  - id: r\n    on: tool_call\n    when: 'agnet.name == \"a\"'\n"
     "    effect: deny\n", 5, "rule 'r': unknown name 'agnet'"),
    ("version: 1\nrules:\n  - id: r\n    on: tool_call\n    when: 'tool.nmae == \"a\"'\n"
     "    effect: deny\n", 5, "unknown name 'tool.nmae'"),
    ("version: 1\nrules:\n  - id: r\n    on: tool_call\n    when: 'tool.name =='\n"
     "    effect: deny\n", 5, "CEL syntax error"),
    ("version: 1\nrules:\n  - id: r\n    on: tool_call\n    when: 'true'\n"
     "    effect: block\n", 6, "`effect` must be one of"),
    ("version: 1\nrules:\n  - id: r\n    on: tool_use\n    when: 'true'\n"
     "    effect: deny\n", 4, "`on` must be one of"),
    ("version: 1\nrules:\n  - {id: r, on: message, effect: deny}\n  - {id: r, on: message, "
     "effect: deny}\n", 4, "rule 'r': duplicate rule id"),
    ("version: 1\nbudgets: {session: {dollars: 5}}\nrules: []\n", 2, "budget 'dollars'"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD)
def test_policies_check_names_file_line_and_rule(tmp_path: Path, capsys, home: Path,
                                                 text: str, line: int, problem: str) -> None:
    folder = write_policies(tmp_path / "p", text)
    assert main(["policies", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"central.yaml:{line}:" in err and problem in err, err
    assert "Traceback" not in err


def test_policies_check_reports_every_problem_at_once(tmp_path: Path, capsys,
                                                      home: Path) -> None:
    folder = write_policies(tmp_path / "p", BAD[2][0] + "  - {id: ok, on: message, "
                            "effect: allow}\n  - {id: s, on: message, effect: nope}\n",
                            support=BAD[0][0])
    assert main(["policies", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if ".yaml:" in line]
    assert len(problems) == 3, err
    assert "central.yaml:5: rule 'r': CEL syntax error" in problems[0]
    assert "central.yaml:8: rule 's': `effect` must be one of" in problems[1]
    assert "support.yaml:5: rule 'r': unknown name 'agnet'" in problems[2]


def test_overridable_is_refused_in_a_domain_file(tmp_path: Path) -> None:
    folder = write_policies(tmp_path, "version: 1\nrules: []\n", sales="""\
version: 1
rules:
  - {id: r, on: message, effect: allow, overridable: true}
""")
    with pytest.raises(PolicyError, match=r"sales.yaml:3: rule 'r': unknown key 'overridable'"):
        load_policies(folder)


def test_a_run_refuses_to_start_under_a_broken_policy_set(tmp_path: Path, home: Path,
                                                          capsys) -> None:
    folder = write_policies(tmp_path / "p", BAD[0][0])
    code = main(["--policies", str(folder), "run", "market-entry", "--approvals", "deny"])
    assert code == 2
    assert "central.yaml:5" in capsys.readouterr().err
    db = home / "workbench.db"  # no session was started
    assert not db.exists() or sqlite3.connect(db).execute(
        "select count(*) from session").fetchone() == (0,)


def test_shipped_policies_check_clean(capsys, home: Path) -> None:
    assert main(["policies", "check", str(ROOT / "policies")]) == 0
    assert "ok" in capsys.readouterr().out
