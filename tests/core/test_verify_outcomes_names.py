"""Crew names checked again as an attacker would spell them (a trailing newline, a device
name, a name too long for the file system), and your crew of a shipped name in force in
the places not covered elsewhere (`use:`, evals, `policies` domains)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import Settings
from workbench.crews import find_crew, user_crew_path
from workbench.errors import UserInputError

ROOT = Path(__file__).resolve().parents[2]

CREW = """\
name: {name}
description: {description}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: analyst, role: {role}, goal: Size the market}}
  - {{name: b, role: Reader, goal: Read}}
script:
  - {{agent: analyst, say: "{say}"}}
"""


def _crew(name: str, description: str = "A crew", role: str = "Analyst",
          say: str = "Done.") -> str:
    return CREW.format(name=name, description=description, role=role, say=say)


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return err


# -- names as an attacker spells them -------------------------------------------------------


@pytest.mark.parametrize("name", ['"evil\\n"', '"evil\\r"', "con", "NUL", "aux.notes",
                                  "com1", "lpt9.x"])
def test_a_crew_name_with_a_newline_or_a_device_name_is_refused(
        name: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(name))
    assert main(["crews", "validate", str(crew)]) == 2
    err = _err(capsys)
    assert f"{crew}:1: name: crew name " in err and "is not a safe file name" in err
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    _err(capsys)
    assert not (home / "sessions").exists() or not any((home / "sessions").iterdir())


@pytest.mark.parametrize("name", ["evil\n", "con", "Prn.notes"])
def test_compose_cannot_save_under_a_newline_or_device_name(name: str, home: Path) -> None:
    with pytest.raises(UserInputError, match="not a safe file name"):
        user_crew_path(Settings(home=home), name)
    with pytest.raises(UserInputError, match="not a safe file name"):
        find_crew(name, Settings(home=home))


@pytest.mark.parametrize("name", ["console", "con1", "null", "auxiliary", "com", "market-entry"])
def test_names_that_only_start_like_a_device_pass(name: str, tmp_path: Path,
                                                  home: Path) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(json.dumps(name)))
    assert main(["crews", "validate", str(crew)]) == 0


@pytest.mark.parametrize("argv", [
    ["run", "x" * 300], ["crews", "validate", "x" * 300], ["run", "x/" * 3000],
    ["export", "x" * 300, "--to", "autogen", "out.json"], ["mcp", "tools", "x" * 300],
    ["import", "x" * 300],
])
def test_a_name_too_long_for_the_file_system_is_bad_input(
        argv: list[str], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = _err(capsys)
    assert err.startswith("workbench: error: ")


# -- your crew of a shipped name, where it is used ------------------------------------------


def _mine(home: Path) -> Path:
    folder = home / "crews"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "market-entry.yaml"
    path.write_text(_crew("market-entry", "MY OWN VERSION", role="My own analyst",
                          say="MINE"))
    return path


def test_use_takes_the_agent_from_your_crew_of_a_shipped_name(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    _mine(home)
    crew = tmp_path / "reuser.yaml"
    crew.write_text("""\
name: reuser
model: scripted/demo
topology: {kind: network, max_turns: 2}
agents:
  - {use: market-entry/analyst}
  - {name: c, role: C, goal: C}
""")
    assert main(["run", str(crew), "--approvals", "deny", "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    roles = {a["name"]: a["role"] for a in first["data"]["agents"]}
    assert roles["analyst"] == "My own analyst"


def test_an_eval_runs_your_crew_of_a_shipped_name(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    _mine(home)
    cases = tmp_path / "cases.yaml"
    cases.write_text("""\
cases:
  - id: mine
    task: Size it
    expect:
      - contains: {text: MINE, in: transcript}
""")
    code = main(["eval", "market-entry", "--cases", str(cases), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    case = next(line for line in lines if line.get("type") == "case")
    assert case["status"] == "passed", case
    assert code == 0


def test_policies_check_reads_the_domains_of_your_crew_not_the_shipped_one(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli.governance import _crew_domains

    monkeypatch.chdir(ROOT)
    path = _mine(home)
    path.write_text(path.read_text().replace("goal: Size the market}",
                                             "goal: Size the market, domain: mine}"))
    domains = _crew_domains(Settings(home=home))
    assert domains["mine"] == ["market-entry/analyst"]
    # the shipped market-entry's agents are hidden by yours
    assert not any(a.startswith("market-entry/") for d, agents in domains.items()
                   if d != "mine" for a in agents)


def test_an_mcp_server_name_with_a_trailing_newline_is_refused(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its name becomes a log file's name (mcp-<name>.log) and a tool prefix."""
    crew = tmp_path / "crew.yaml"
    crew.write_text('name: m\nmcp_servers:\n  "t\\n": {command: mcp-server-time}\n'
                    "topology: {kind: network, max_turns: 2}\n"
                    'agents:\n  - {name: a, role: A, goal: G, tools: ["mcp:t"]}\n')
    assert main(["crews", "validate", str(crew)]) == 2
    assert f"{crew}:3: MCP server name 't\\n' must be letters" in _err(capsys)
