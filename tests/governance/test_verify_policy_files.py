"""The policy folder a run picks is the one `policies check` reads, in every spelling the
loader accepts: a ./policies folder whose central file is `central.yml` is not passed over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import SHIPPED_POLICIES, Settings

DENY_TOOLS = """\
version: 1
rules:
  - {id: local-no-tools, on: tool_call, effect: deny, reason: no tools here}
"""

CREW = """\
name: calc
model: scripted/demo
topology: {kind: network, max_turns: 2}
agents:
  - {name: solo, role: Solo, goal: Count, tools: [calculator]}
script:
  - {agent: solo, call: calculator, args: {expression: "1+1"}}
  - {agent: solo, say: "Done. TERMINATE"}
"""


@pytest.mark.parametrize("name", ["central.yml", "Central.yaml", "CENTRAL.YML"])
def test_a_local_policy_folder_is_used_whatever_the_central_files_spelling(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys,
        name: str) -> None:
    work = tmp_path / "work"
    (work / "policies").mkdir(parents=True)
    (work / "policies" / name).write_text(DENY_TOOLS)
    (work / "calc.yaml").write_text(CREW)
    monkeypatch.chdir(work)
    assert Settings().policy_dir() == work / "policies"
    assert main(["policies", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{work / 'policies'}: ok · 1 central rules"), out
    # the run is judged by the same folder: its one rule denies the tool call
    assert main(["run", "calc.yaml", "--approvals", "deny", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    decisions = [e["data"] for e in events if e["kind"] == "policy.decision"
                 and e["data"]["action"] == "tool_call"]
    assert decisions and all(d["effect"] == "deny" and d["rule_ids"] == ["local-no-tools"]
                             for d in decisions), decisions


def test_a_policies_folder_without_a_central_file_is_not_taken(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "policies" / "notes").mkdir(parents=True)
    (work / "policies" / "central.yaml.bak").write_text(DENY_TOOLS)
    monkeypatch.chdir(work)
    assert Settings().policy_dir() == SHIPPED_POLICIES


GROUPS = """\
version: 1
groups: {legal-leads: [alice]}
rules: []
"""
LEGAL_REVIEW = """\
version: 1
rules:
  - {id: mail-review, on: tool_call, when: 'tool.name == "send_email"',
     effect: require_approval, reviewers: [legal-leads]}
"""
SUPPORT_REVIEW = """\
version: 1
rules:
  - {id: mail-review, on: tool_call, when: 'tool.name == "calculator"',
     effect: require_approval}
"""


@pytest.mark.parametrize("where", ["central", "support"])
def test_one_rule_id_in_two_files_is_refused(tmp_path: Path, home: Path, capsys,
                                             where: str) -> None:
    # approvals look a flagged rule up by id: a second rule of that id without reviewers
    # would let anyone approve what legal-leads must approve
    from tests.governance.test_policies import write_policies

    central = GROUPS
    domains = {"legal": LEGAL_REVIEW}
    if where == "central":
        central = GROUPS.replace("rules: []", SUPPORT_REVIEW.split("\n", 1)[1])
    else:
        domains["support"] = SUPPORT_REVIEW
    folder = write_policies(tmp_path / "p", central, **domains)
    assert main(["policies", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "rule 'mail-review': duplicate rule id (also at " in err, err
    assert "Traceback" not in err


SELF_TAGGED = '''\
def stamp(text: str) -> str:
    """Stamp a document."""
    STAMPED.append(text)
    return f"stamped {text}"


STAMPED: list = []
stamp.tags = {"trusted"}
'''


def test_a_custom_tool_cannot_vouch_for_itself(tmp_path: Path, home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # the module sets stamp.tags = {"trusted"}; only the crew's tool_tags may say that
    import importlib

    from tests.governance.test_custom_tools import CREW, REF, run

    (tmp_path / "wb_selftagged.py").write_text(SELF_TAGGED)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("wb_selftagged")
    events = run(tmp_path, home, CREW.replace(REF, "wb_selftagged:stamp"),
                 "--policies", str(SHIPPED_POLICIES))
    decision = next(e for e in events if e["kind"] == "policy.decision"
                    and e["data"]["action"] == "tool_call")
    assert decision["data"]["rule_ids"] == ["custom-tools-need-approval"]
    assert decision["data"]["effect"] == "require_approval"
    assert module.STAMPED == []
