"""Team mode: on a shared PostgreSQL the registry holds the agents of every crew the team has
run (the latest snapshot of each name), says so, and a crew may `use:` them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.spec.registry import use_settings


@pytest.fixture(autouse=True)
def _forget_settings():
    """The command line leaves its settings for `use:` lookups; no test inherits them."""
    yield
    use_settings(None)


CREW = """\
name: tax-desk
model: scripted/demo
agents:
  - {name: advisor, role: Tax advisor, goal: Answer tax questions, capabilities: [tax]}
  - {name: checker, role: Checker, goal: Check the answer, capabilities: [{cap}]}
script:
  - {agent: advisor, say: "VAT is 25%."}
  - {agent: checker, say: "Checked. TERMINATE"}
"""


def _agents(home: Path, url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    assert main(["--home", str(home), "--db", url, "agents", "list", "--json"]) == 0
    return {r["ref"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}


def test_the_team_registry_holds_the_crews_the_team_ran(tmp_path: Path, pg_url: str,
                                                         capsys) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    crew = alice / "crews" / "tax-desk.yaml"
    crew.parent.mkdir(parents=True)
    crew.write_text(CREW.replace("{cap}", "review"))
    run = ["--home", str(alice), "--db", pg_url, "run", "tax-desk", "--approvals", "deny"]
    assert main(run) == 0
    capsys.readouterr()

    # bob has no such file: the team's store has it
    seen = _agents(bob, pg_url, capsys)
    checker = seen["tax-desk/checker"]
    assert checker["source"] == "team" and checker["capabilities"] == ["review"]
    assert checker["file"].startswith("team:tax-desk@")
    assert seen["market-entry/analyst"]["source"] == "shipped"
    # without the team's database, only what bob's machine holds
    assert main(["--home", str(bob), "agents", "list", "--json"]) == 0
    assert "tax-desk" not in capsys.readouterr().out

    # alice changes the crew and runs it again: the latest snapshot is the team's
    crew.write_text(CREW.replace("{cap}", "audit"))
    assert main(run) == 0
    capsys.readouterr()
    assert _agents(bob, pg_url, capsys)["tax-desk/checker"]["capabilities"] == ["audit"]
    assert main(["--home", str(bob), "--db", pg_url, "agents", "list", "-c", "audit"]) == 0
    assert "tax-desk/checker" in capsys.readouterr().out

    # bob's crew takes alice's agent from the team's store
    mine = bob / "crews" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("name: mine\nagents:\n  - {use: tax-desk/advisor, domain: finance}\n"
                    "  - {name: me, role: Me, goal: Ask}\n")
    assert main(["--home", str(bob), "--db", pg_url, "crews", "validate", "mine"]) == 0
    capsys.readouterr()
    mine_rows = _agents(bob, pg_url, capsys)
    assert mine_rows["mine/advisor"]["uses"] == "tax-desk/advisor"
    assert mine_rows["mine/advisor"]["domain"] == "finance"
    assert mine_rows["mine/advisor"]["source"] == "yours"
    # on bob's own database the team's crew is unknown, said at the line
    assert main(["--home", str(bob), "crews", "validate", "mine"]) == 2
    assert f"{mine}:3: use: tax-desk/advisor: no crew named 'tax-desk'" in \
        capsys.readouterr().err
