"""Crew names and where crews come from: safe file names, paths kept inside their folders,
your crew overriding a shipped one everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import SHIPPED_CREWS, Settings
from workbench.crews import find_crew, list_crews, user_crew_path
from workbench.errors import UserInputError

ROOT = Path(__file__).resolve().parents[2]

CREW = """\
name: {name}
description: {description}
topology: {{kind: network, max_turns: 2}}
agents:
  - name: a
    role: Writer
    goal: Write
    tools: {tools}
  - name: b
    role: Reader
    goal: Read
"""


def _crew(name: str = "tiny", description: str = "A tiny crew", tools: str = "[]") -> str:
    return CREW.format(name=name, description=description, tools=tools)


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return err


# -- crew names are safe file names -------------------------------------------------------


@pytest.mark.parametrize("name", ["../../evil", "/etc/evil", "a/b", "..", "a..b", ".hidden",
                                  "-flag", "x" * 65, "tab\tname", "white space"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_unsafe_crew_name_is_refused_with_the_rule(
        name: str, command: str, tmp_path: Path, home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(json.dumps(name)))
    argv = ["crews", "validate", str(crew)] if command == "validate" else ["run", str(crew)]
    assert main(argv) == 2
    err = _err(capsys)
    assert f"{crew}:1: name: crew name " in err
    assert "is not a safe file name: use 1 to 64 letters, digits" in err
    assert not (home / "sessions").exists() or not any((home / "sessions").iterdir())


@pytest.mark.parametrize("name", ["market-entry", "a", "v1.2_final", "A" * 64])
def test_safe_crew_names_pass(name: str, tmp_path: Path, home: Path) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(name))
    assert main(["crews", "validate", str(crew)]) == 0


def test_compose_save_path_stays_in_the_crews_folder(home: Path) -> None:
    from workbench.tui.services import Services

    settings = Settings(home=home)
    services = Services(settings)
    saved = services.save_crew("mine", _crew("mine"))
    assert saved == home / "crews" / "mine.yaml" and saved.read_text() == _crew("mine")
    for bad in ["../../evil", "../evil", "/tmp/evil", "a/../../b", ".."]:
        with pytest.raises(UserInputError, match="not a safe file name"):
            services.save_crew(bad, _crew())
        with pytest.raises(UserInputError, match="not a safe file name"):
            user_crew_path(settings, bad)
    assert sorted(p.name for p in home.rglob("*.yaml")) == ["mine.yaml"]
    assert not (home.parent / "evil.yaml").exists()


def test_a_session_export_stays_in_the_exports_folder(home: Path) -> None:
    """A session stored (by an older version) under a crew name with '..' and '/'."""
    from workbench.store.export import export_path
    from workbench.tui.services import Services

    services = Services(Settings(home=home))
    services.store.create_session(id="f" * 32, crew_name="../../evil", engine="autogen",
                                  topology="network")
    for fmt in ("md", "json"):
        path = services.export_session("f" * 32, fmt)
        assert path.parent == home / "exports"
        assert path.resolve().is_relative_to((home / "exports").resolve())
        assert path.is_file() and ".." not in path.name
    assert not list(home.parent.parent.glob("evil*"))
    folder = home / "exports"
    for crew in ("/etc/passwd", "..", "...", "a/../../../b", ""):
        assert export_path(folder, crew, "0123456789abcdef", "md").parent == folder


def test_session_folders_stay_in_the_sessions_folder(home: Path) -> None:
    settings = Settings(home=home)
    assert settings.session_dir("abc") == home / "sessions" / "abc"
    for bad in ("../x", "/tmp/x", "..", "a/../../x"):
        with pytest.raises(UserInputError, match="would lead outside"):
            settings.session_dir(bad)


def test_a_crew_looked_up_by_an_unsafe_name_is_refused(home: Path) -> None:
    with pytest.raises(UserInputError, match="not a safe file name"):
        find_crew("..", Settings(home=home))


# -- your crew overrides the shipped one, everywhere ----------------------------------------


def _mine(home: Path, name: str = "market-entry", text: str | None = None) -> Path:
    folder = home / "crews"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text or _crew(name, "MY OWN VERSION"))
    return path


def test_your_crew_overrides_the_shipped_one_in_run_list_validate_and_compose(
        home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # run from the workbench's own checkout: ./crews is the shipped folder
    monkeypatch.chdir(ROOT)
    mine = _mine(home)
    settings = Settings(home=home)
    assert find_crew("market-entry", settings) == mine

    entries = {e.name: e for e in list_crews(settings)}
    assert entries["market-entry"].path == mine
    assert entries["market-entry"].source_label == "yours (overrides shipped)"
    assert entries["support-triage"].source_label == "shipped"
    assert entries["support-triage"].path.parent.resolve() == SHIPPED_CREWS.resolve()

    assert main(["crews", "list"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("market-entry "))
    assert "yours (overrides shipped)" in row and str(mine) in row
    assert "SOURCE" in out.splitlines()[0]

    assert main(["crews", "validate", "market-entry"]) == 0
    assert str(mine) in capsys.readouterr().out

    from workbench.tui.screens.compose import list_crews as compose_list
    from workbench.tui.services import Services

    listed, _ = compose_list(Services(settings))
    assert {e.name: e.path for e in listed}["market-entry"] == mine

    assert main(["run", "market-entry", "--approvals", "deny", "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["kind"] == "run.started" and first["content"] == "MY OWN VERSION"


def test_order_is_yours_then_local_then_shipped(home: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "crews").mkdir(parents=True)
    (project / "crews" / "support-triage.yaml").write_text(_crew("support-triage", "LOCAL"))
    (project / "crews" / "both.yaml").write_text(_crew("both", "LOCAL"))
    monkeypatch.chdir(project)
    mine = _mine(home, "both")
    settings = Settings(home=home)
    entries = {e.name: e for e in list_crews(settings)}
    assert entries["both"].path == mine
    assert entries["both"].source_label == "yours (overrides ./crews)"
    assert entries["support-triage"].source_label == "./crews (overrides shipped)"
    assert entries["market-entry"].source_label == "shipped"
    assert find_crew("support-triage", settings).parent == Path("crews").absolute()
    assert find_crew("both", settings) == mine
