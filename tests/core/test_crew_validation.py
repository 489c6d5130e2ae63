"""Bad crew files: exit 2 and one clear line naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import SpecError
from workbench.spec.loader import load_crew, parse_crew

GOOD = """\
name: tiny
engine: autogen
topology:
  kind: star
  hub: lead
agents:
  - name: lead
    role: Lead
    goal: Lead the work
  - name: helper
    role: Helper
    goal: Help
    tools: [calculator]
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "crew.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD.replace("hub: lead", "hub: boss"), 5, "unknown agent 'boss' in the topology"),
        (GOOD.replace("tools: [calculator]", "tools: [fax]"), 13, "unknown tool 'fax'"),
        (GOOD.replace("    goal: Help\n", ""), 10, "missing required field 'agents.1.goal'"),
        (GOOD.replace("kind: star", "kind: ring"), 4, "'ring' is not one of"),
        (GOOD.replace("engine: autogen", "engine: crewai").replace(
            "kind: star\n  hub: lead", "kind: graph\n  edges: [{from: lead, to: helper}]"),
         4, "engine 'crewai' does not offer topology 'graph'; use --engine autogen"),
        (GOOD.replace("name: tiny", "name: tiny\nflavour: mint"), 2, "unknown key 'flavour'"),
        (GOOD.replace("  - name: helper", "  - name: lead"), 10, "agent name 'lead' is used twice"),
        (GOOD + "script:\n  - {agent: ghost, say: hi}\n", 15, "unknown agent 'ghost' in the script"),
        (GOOD + "script:\n  - {agent: lead, call: calculator, args: {}}\n", 15,
         "script calls 'calculator', which agent 'lead' does not have"),
        ("name: [broken\n", 2, "invalid YAML"),
    ],
)
def test_each_crew_error_names_file_line_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path,
    text: str, line: int, problem: str,
) -> None:
    path = _write(tmp_path, text)
    code = main(["crews", "validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"{path}:{line}: " in err
    assert problem in err
    assert "Traceback" not in err


def test_missing_crew_file_is_bad_input(tmp_path: Path, capsys, home: Path) -> None:
    code = main(["run", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.yaml: no such crew file" in err


def test_engine_override_is_checked_against_topology(tmp_path: Path) -> None:
    text = GOOD.replace("kind: star\n  hub: lead", "kind: graph\n  edges: [{from: lead, to: helper}]")
    assert parse_crew(text, "c.yaml").topology.kind == "graph"
    with pytest.raises(SpecError, match="does not offer topology 'graph'"):
        parse_crew(text, "c.yaml", engine="crewai")


def test_shipped_crews_validate_on_both_engines() -> None:
    crews = sorted((Path(__file__).parents[2] / "crews").glob("*.yaml"))
    assert len(crews) >= 3
    kinds = set()
    for path in crews:
        spec = load_crew(path)
        kinds.add(spec.topology.kind)
        assert spec.script, f"{path.name} has no script: it would not run meaningfully offline"
        if spec.topology.kind != "graph":
            load_crew(path, engine="crewai")
    assert {"star", "layered", "network"} <= kinds


def test_bad_argument_is_one_line_exit_2(capsys, home: Path) -> None:
    code = main(["run", "market-entry", "--engine", "langgraph"])
    err = capsys.readouterr().err
    assert code == 2
    assert "invalid choice: 'langgraph'" in err
