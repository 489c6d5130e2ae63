"""A CrewAI agents.yaml or tasks.yaml nested too deep for the crew it becomes (the import keeps
unused fields a few levels further in) is refused at its file:line like any too-deep YAML
(exit 2), never reported as an import defect; one that fits imports and validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.spec.yamlpos import MAX_DEPTH

#: An agent's unused field is kept under unmapped.agents.<name>.agents.yaml.<field>: 3
#: levels deeper in the crew than in agents.yaml.
IMPORT_MAX_DEPTH = MAX_DEPTH - 3

TASKS = "write:\n  description: D\n  expected_output: E\n  agent: writer\n"
AGENTS = "writer:\n  role: W\n  goal: G\n  backstory: B\n"


def _nested(levels: int, flow: bool) -> str:
    """A value `levels` lists deep, in flow style or in block style (one level a line)."""
    if flow:
        return " " + "[" * levels + "x" + "]" * levels
    return "".join("\n" + "  " * (i + 2) + "-" for i in range(levels)) + " x"


def _project(tmp_path: Path, depth: int, in_tasks: bool, flow: bool) -> Path:
    """A project whose agents.yaml or tasks.yaml nests `depth` levels in all: the file's
    mapping, the entry's mapping, then its `extra` field."""
    root = tmp_path / f"deep{depth}"
    root.mkdir()
    field = f"  extra:{_nested(depth - 2, flow)}\n"
    (root / "agents.yaml").write_text(AGENTS + ("" if in_tasks else field))
    (root / "tasks.yaml").write_text(TASKS + (field if in_tasks else ""))
    return root


def _import(home: Path, root: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(["--home", str(home), "import", str(root), "-o", str(out)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("flow", [True, False])
@pytest.mark.parametrize("in_tasks", [False, True])
@pytest.mark.parametrize("depth", [MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH, MAX_DEPTH + 1])
def test_too_deep_for_the_crew_is_refused_at_its_line(
        depth: int, in_tasks: bool, flow: bool, home: Path, tmp_path: Path, capsys) -> None:
    root = _project(tmp_path, depth, in_tasks, flow)
    out = tmp_path / "out.yaml"
    code, err = _import(home, root, out, capsys)
    if depth <= IMPORT_MAX_DEPTH:
        assert code == 0, err
        assert main(["--home", str(home), "crews", "validate", str(out)]) == 0
        return
    name = "tasks.yaml" if in_tasks else "agents.yaml"
    assert code == 2, err
    assert "please report" not in err and "Traceback" not in err
    assert re.search(rf"{name}:\d+: nested more than {MAX_DEPTH} levels deep once imported",
                     err), err
    assert f"so {IMPORT_MAX_DEPTH} is the most here" in err
    assert not out.exists()

