"""Policies that would fail open: non-boolean conditions, empty or rule-less files, `.yml`
domain files, domain names in another case, unread files and domains with no file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.governance.test_policies import activation, write_policies
from workbench.cli import main
from workbench.governance.policy import PolicyError, load_policies
from workbench.governance.policy_gate import PolicyGate

RULE = """\
version: 1
rules:
  - id: r
    on: tool_call
    when: {when}
    effect: deny
"""


@pytest.mark.parametrize(("when", "kind"), [
    ("'\"yes\"'", "a string"),
    ("'1 + 2'", "a number"),
    ("'agent.name'", "a string"),
    ("'tool.tags'", "a list"),
    ("'null'", "null"),
    ("'session.cost_usd * 2.0'", "a number"),
    ("'tool.name == \"x\" ? \"deny\" : \"allow\"'", "a string"),
])
def test_a_condition_that_is_not_true_or_false_is_refused_by_the_check(
        tmp_path: Path, capsys, home: Path, when: str, kind: str) -> None:
    folder = write_policies(tmp_path / "p", RULE.format(when=when))
    assert main(["policies", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"central.yaml:5: rule 'r': the condition gives {kind}, not true or false" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("when", ["'true'", "true", "'args.to.endsWith(\"@x.com\")'",
                                  "'\"custom\" in tool.tags'", "'has(args.flag) && args.flag'"])
def test_boolean_conditions_and_conditions_on_arguments_pass_the_check(
        tmp_path: Path, home: Path, when: str) -> None:
    folder = write_policies(tmp_path / "p", RULE.format(when=when))
    assert main(["policies", "check", str(folder)]) == 0
    assert [(r.id, r.effect) for r in load_policies(folder).central] == [("r", "deny")]


def test_a_non_boolean_result_at_run_time_denies_and_names_the_rule(tmp_path: Path) -> None:
    # the type of `args.flag` is known only when the tool is called
    folder = write_policies(tmp_path / "p", RULE.format(when="'args.flag'").replace(
        "effect: deny", "effect: allow"))
    gate = PolicyGate(load_policies(folder))
    decision = gate.decide("tool_call", activation(flag="yes"))
    assert decision.effect == "deny" and decision.rule_ids == ["r"]
    assert "policy rule 'r' gave str, not true or false" in decision.reason
    assert gate.decide("tool_call", activation(flag=True)).effect == "allow"
    # a deny rule is not skipped either: a non-boolean is never read as "does not match"
    folder = write_policies(tmp_path / "q", RULE.format(when="'args.flag'"))
    assert PolicyGate(load_policies(folder)).decide(
        "tool_call", activation(flag=1)).effect == "deny"


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("", 1, "the file is empty"),
    ("# nothing here yet\n", 1, "the file is empty"),
    ("version: 1\n", 1, "no `rules`; write `rules: []`"),
    ("version: 1\ndefault: allow\nrules:\n", 3, "`rules` is empty; write `rules: []`"),
    ("version: 1\nrule:\n  - {id: r, on: message, effect: deny}\n", 2, "unknown key 'rule'"),
])
def test_an_empty_or_rule_less_central_file_is_an_error(tmp_path: Path, capsys, home: Path,
                                                        text: str, line: int,
                                                        problem: str) -> None:
    folder = write_policies(tmp_path / "p", text)
    assert main(["policies", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"central.yaml:{line}:" in err and problem in err, err
    assert "Traceback" not in err


def test_rules_empty_list_is_an_explicit_empty_policy(tmp_path: Path) -> None:
    policy = load_policies(write_policies(tmp_path / "p", "version: 1\nrules: []\n"))
    assert policy.central == [] and policy.default == "allow"


def test_an_empty_domain_file_is_an_error_too(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n", legal="")
    with pytest.raises(PolicyError, match=r"legal.yaml:1: the file is empty"):
        load_policies(folder)


LEGAL_DENY = """\
version: 1
rules:
  - {id: legal-no-mail, on: tool_call, when: 'tool.name == "send_email"', effect: deny}
"""


def test_a_yml_domain_file_is_read(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n")
    (folder / "domains" / "legal.yml").write_text(LEGAL_DENY)
    gate = PolicyGate(load_policies(folder))
    assert gate.decide("tool_call", activation("legal")).rule_ids == ["legal-no-mail"]
    assert gate.decide("tool_call", activation("legal")).effect == "deny"


@pytest.mark.parametrize("second", ["legal.yml", "Legal.yaml"])
def test_two_files_for_one_domain_are_refused(tmp_path: Path, second: str) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n", legal=LEGAL_DENY)
    (folder / "domains" / second).write_text(LEGAL_DENY)
    with pytest.raises(PolicyError, match="domain 'legal' has two files"):
        load_policies(folder)


@pytest.mark.parametrize("domain", ["Legal", "LEGAL", " legal"])
def test_domain_names_match_whatever_their_case(tmp_path: Path, domain: str) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n", legal=LEGAL_DENY)
    assert PolicyGate(load_policies(folder)).decide(
        "tool_call", activation(domain)).effect == "deny"
    folder = write_policies(tmp_path / "q", "version: 1\nrules: []\n", Legal=LEGAL_DENY)
    assert PolicyGate(load_policies(folder)).decide(
        "tool_call", activation("legal")).effect == "deny"


def test_files_that_are_not_read_are_reported_by_the_check(tmp_path: Path, capsys,
                                                           home: Path) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n")
    (folder / "domains" / "legal.yaml.bak").write_text(LEGAL_DENY)
    (folder / "finance.yaml").write_text(LEGAL_DENY)
    (folder / "domains" / ".legal.yaml.swp").write_text("editor state")
    assert main(["policies", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "legal.yaml.bak: not read" in out
    assert "finance.yaml: not read (domain files go in domains/)" in out
    assert ".swp" not in out


CREW = """\
name: mixed
model: scripted/demo
topology: {kind: network, max_turns: 2}
agents:
  - {name: counsel, role: Counsel, goal: Advise, domain: Legal}
  - {name: scout, role: Scout, goal: Look around, domain: marketing}
script:
  - {agent: counsel, say: "Noted. TERMINATE"}
"""


def test_domains_without_a_policy_file_are_reported_by_the_check(tmp_path: Path, capsys,
                                                                 home: Path) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n", legal=LEGAL_DENY)
    (home / "crews").mkdir(parents=True)
    (home / "crews" / "mixed.yaml").write_text(CREW)
    assert main(["policies", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "domain 'marketing' has no policy file (mixed/scout)" in out
    assert "'Legal'" not in out and "'legal' has no" not in out


def test_a_run_says_which_domains_have_no_policy_file(tmp_path: Path, capsys,
                                                      home: Path) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules: []\n", legal=LEGAL_DENY)
    (folder / "domains" / "notes.txt").write_text("-")
    crew = tmp_path / "mixed.yaml"
    crew.write_text(CREW)
    assert main(["--policies", str(folder), "run", str(crew), "--approvals", "deny"]) == 0
    err = capsys.readouterr().err
    assert "warning: domain 'marketing' (agent scout) has no policy file" in err
    assert "only the central rules apply" in err
    assert "notes.txt: not read" in err
    assert "Legal" not in err
