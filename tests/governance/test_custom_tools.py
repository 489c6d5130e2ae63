"""Custom `module:function` tools: tagged `custom`, approved by a reviewer under the shipped
central policy unless the crew vouches for them (`tool_tags: {...: [trusted]}`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.config import SHIPPED_POLICIES
from workbench.store.db import Store
from workbench.tools.registry import ToolRegistry

STAMPED: list[str] = []


def stamp(text: str) -> str:
    """Stamp a document (a side effect the gate cannot see into)."""
    STAMPED.append(text)
    return f"stamped {text}"


REF = "tests.governance.test_custom_tools:stamp"
CREW = f"""\
name: stamping
model: scripted/demo
topology: {{kind: network, max_turns: 3}}
agents:
  - {{name: clerk, role: Clerk, goal: Stamp the papers, tools: ["{REF}"]}}
  - {{name: reader, role: Reader, goal: Read the papers}}
script:
  - {{agent: clerk, call: stamp, args: {{text: invoice-7}}}}
  - {{agent: clerk, say: "Done. TERMINATE"}}
"""


def run(tmp_path: Path, home: Path, crew_text: str, *extra: str,
        engine: str = "autogen") -> list[dict]:
    crew = tmp_path / "crew.yaml"
    crew.write_text(crew_text)
    STAMPED.clear()
    assert main(["--home", str(home), *extra, "run", str(crew), "--engine", engine,
                 "--approvals", "deny"]) == 0
    store = Store(f"sqlite:///{home / 'workbench.db'}")
    events = list(store.iter_events(store.list_sessions()[0]["id"]))
    store.close()
    return events


def test_custom_tools_are_tagged_custom_and_take_a_crews_tags() -> None:
    assert ToolRegistry().get(REF).tags == {"custom"}
    tagged = ToolRegistry(tags={REF: ["trusted", "finance"]}).get(REF)
    assert tagged.tags == {"custom", "trusted", "finance"}
    assert ToolRegistry(tags={REF: ["trusted"]}).get("write_file").tags == \
        ToolRegistry().get("write_file").tags


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_the_shipped_policy_holds_a_custom_tool_for_a_reviewer(tmp_path: Path, home: Path,
                                                              engine: str) -> None:
    events = run(tmp_path, home, CREW, "--policies", str(SHIPPED_POLICIES), engine=engine)
    decision = next(e for e in events if e["kind"] == "policy.decision"
                    and e["data"]["action"] == "tool_call")
    assert decision["data"]["rule_ids"] == ["custom-tools-need-approval"]
    assert decision["data"]["effect"] == "require_approval"
    result = next(e for e in events if e["kind"] == "tool.result")
    assert not result["data"]["ok"] and "approvals are set to deny" in result["content"]
    assert STAMPED == []


def test_a_tool_the_crew_marks_trusted_runs_without_a_reviewer(tmp_path: Path,
                                                               home: Path) -> None:
    crew = CREW + f'tool_tags: {{"{REF}": [trusted]}}\n'
    events = run(tmp_path, home, crew, "--policies", str(SHIPPED_POLICIES))
    result = next(e for e in events if e["kind"] == "tool.result")
    assert result["data"]["ok"] and result["content"] == "stamped invoice-7"
    assert not any(e["kind"] == "approval.requested" for e in events)
    assert STAMPED == ["invoice-7"]


def test_policies_see_the_tags_a_crew_gives(tmp_path: Path, home: Path) -> None:
    policies = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: no-finance-tools, on: tool_call, when: '"finance" in tool.tags', effect: deny,
     reason: finance tools are off today}
""")
    crew = CREW + f'tool_tags: {{"{REF}": [finance]}}\n'
    events = run(tmp_path, home, crew, "--policies", str(policies))
    result = next(e for e in events if e["kind"] == "tool.result")
    assert not result["data"]["ok"]
    assert result["content"] == "denied by policy: finance tools are off today"
    assert STAMPED == []


@pytest.mark.parametrize(("tags", "problem"), [
    ('{write_file: [trusted]}', "'write_file' is not a custom tool"),
    ('{"tests.governance.test_custom_tools:other": [trusted]}', "no agent has the tool"),
    (f'{{"{REF}": ["not a tag"]}}', "'not a tag' is not a tag"),
])
def test_tool_tags_are_checked(tmp_path: Path, capsys, home: Path, tags: str,
                               problem: str) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW + f"tool_tags: {tags}\n")
    assert main(["crews", "validate", str(crew)]) == 2
    err = capsys.readouterr().err
    assert problem in err and "crew.yaml:" in err and "Traceback" not in err
