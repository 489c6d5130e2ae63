"""Hostile input in the other files the workbench reads: cases files, imported CrewAI and
AutoGen files, and the crew a `use:` entry names. Each is refused as file:line, exit 2, in
well under a second, or (Python read for hints only) skipped with a located warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_yaml_limits import HOSTILE, _check, _run_cli
from workbench.cli import main
from workbench.spec.yamlpos import MAX_DEPTH

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "autogen"

AGENTS = "a:\n  role: r\n  goal: g\n  backstory: b\n"
TASKS = "a_task:\n  description: d\n  expected_output: o\n  agent: a\n"


def _project(root: Path, agents: bytes | str = AGENTS, tasks: bytes | str = TASKS,
             crew_py: str | None = None) -> Path:
    config = root / "src" / "x" / "config"
    config.mkdir(parents=True, exist_ok=True)
    for name, body in (("agents.yaml", agents), ("tasks.yaml", tasks)):
        if isinstance(body, str):
            (config / name).write_text(body)
        else:
            (config / name).write_bytes(body)
    if crew_py is not None:
        (root / "src" / "x" / "crew.py").write_text(crew_py)
    return root


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_cases_file(case: str, tmp_path: Path, home: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_bytes(HOSTILE[case][0])
    broken = tmp_path / "broken.yaml"
    broken.write_text("cases: [\n")
    _check(["eval", "support-triage", "--cases", str(cases)], cases, case, capsys,
           lambda: main(["eval", "support-triage", "--cases", str(broken)]))


@pytest.mark.parametrize("which", ["agents.yaml", "tasks.yaml"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_crewai_project(case: str, which: str, tmp_path: Path, home: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    good = _project(tmp_path / "good", tasks="a_task: [\n")
    root = _project(tmp_path / "proj", **{which.split(".")[0]: HOSTILE[case][0]})
    target = Path("proj/src/x/config") / which  # shown from the project's folder
    _check(["import", str(root), "-o", str(tmp_path / "out.yaml")], target, case, capsys,
           lambda: main(["import", str(good), "-o", str(tmp_path / "good.yaml")]))
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize(("source", "where"), [
    ("x = 1" + "+1" * 1_500, ":3: nested more than 200 levels deep"),  # parses, then deep
    ("x = 1" + "+1" * 200_000, ": nested too deeply for Python's parser"),  # RecursionError
    ("x = " + "-" * 200_000 + "1", ": nested too deeply for Python's parser"),  # MemoryError
])
def test_deeply_nested_crew_py_only_loses_its_hints(source: str, where: str, tmp_path: Path,
                                                    home: Path, capsys) -> None:
    root = _project(tmp_path / "proj", crew_py="import crewai\n\n" + source + "\n")
    out = tmp_path / "out.yaml"
    assert main(["import", str(root), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"src/x/crew.py{where}" in err, err
    assert "internal error" not in err and out.is_file()


def _autogen(tmp_path: Path, depth: int, where: str) -> Path:
    data = json.loads((CORPUS / "studio-roundrobin-team.json").read_text())
    config = data["config"]["participants"][0]["config"]
    nested = "[" * depth + "]" * depth
    if where == "field":
        config["zzz_extra"] = "@@"
        text = json.dumps(data, indent=1).replace('"@@"', nested)
    else:  # a workbench export's metadata: JSON inside a JSON string
        config.setdefault("metadata", {})[where] = '{"tools": ' + nested + "}"
        text = json.dumps(data, indent=1)
    path = tmp_path / "team.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("depth", [150, 500, 20_000])
def test_deeply_nested_autogen_json_is_refused_with_its_line(
        depth: int, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _autogen(tmp_path, depth, "field")
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "[[[" in ln)
    main(["import", str(tmp_path / "missing.json")])  # warm the command's imports
    capsys.readouterr()
    code, err, elapsed = _run_cli(["import", str(path), "-o", str(tmp_path / "o.yaml")],
                                  capsys)
    assert code == 2, err
    assert f"team.json:{line}: nested more than {MAX_DEPTH} levels deep" in err, err
    assert "internal error" not in err and "please report" not in err
    assert elapsed < 1.0


@pytest.mark.parametrize("key", ["workbench", "workbench.crew"])
def test_deeply_nested_json_in_autogen_metadata_is_ignored(key: str, tmp_path: Path,
                                                           home: Path, capsys) -> None:
    path = _autogen(tmp_path, 5_000, key)
    assert main(["import", str(path), "-o", str(tmp_path / "o.yaml")]) == 0
    err = capsys.readouterr().err
    assert "internal error" not in err and (tmp_path / "o.yaml").is_file()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_crew_named_by_use(case: str, tmp_path: Path, home: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (home / "crews").mkdir(parents=True)
    evil = home / "crews" / "evil.yaml"
    evil.write_bytes(HOSTILE[case][0])
    user = tmp_path / "user.yaml"
    user.write_text("name: user\nmodel: scripted/demo\ntopology: {kind: network}\n"
                    "agents:\n  - use: evil/a\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    _check(["crews", "validate", str(user)], evil, case, capsys,
           lambda: main(["crews", "validate", str(broken)]))
    # the registry lists every other crew and says which file it could not read
    assert main(["agents", "list"]) == 0
    out, err = capsys.readouterr()
    assert "support-triage/" in out
    assert f"not listed: {evil}:{HOSTILE[case][1]}: " in err, err
