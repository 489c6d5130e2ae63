"""Functions kept in a crew file (AutoGen FunctionTools): never run on import or validation,
unavailable until trusted, and then a custom tool the policy judges (the shipped policy asks
a reviewer), compiled at the run's start into a fresh module, run off the loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.cli import main
from workbench.errors import UserInputError
from workbench.spec.loader import load_crew
from workbench.tools.registry import ToolRegistry

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "autogen"
ENGINES = ["autogen", "crewai"]


def _crew(tmp_path: Path, trusted: bool, marker: Path, source: str | None = None,
          imports: list | None = None) -> Path:
    source = source or (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r} + '.loaded').write_text('loaded')\n"
        "def calc(a: float, b: float, operator: str) -> str:\n"
        f"    pathlib.Path({str(marker)!r}).write_text('called')\n"
        "    return str(a + b if operator == '+' else a * b)\n")
    data = {
        "name": "fn-crew", "description": "Uses a function from the file",
        "model": "scripted/demo", "topology": {"kind": "network", "max_turns": 2},
        "agents": [{"name": "assistant", "role": "Assistant", "goal": "Compute",
                    "tools": ["calculator", "function:calc"]}],
        "functions": {"calc": {"description": "Add or multiply two numbers",
                               "source_code": source, "trusted": trusted,
                               **({"global_imports": imports} if imports else {})}},
        "script": [{"agent": "assistant", "call": "calc",
                    "args": {"a": 2, "b": 3, "operator": "+"}},
                   {"agent": "assistant", "say": "The answer. TERMINATE"}],
    }
    path = tmp_path / "crew.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(home: Path, crew: Path, *args: str, stdin: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("WORKBENCH_DB", "WORKBENCH_POLICIES", "WORKBENCH_REVIEWER")}
    full.update(WORKBENCH_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", str(crew), "--json", *args],
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, env=full, cwd=ROOT, timeout=180)


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_untrusted_function_is_not_offered_and_never_runs(tmp_path: Path,
                                                             engine: str) -> None:
    marker = tmp_path / "ran"
    crew = _crew(tmp_path, False, marker)
    home = tmp_path / "home"
    done = _run(home, crew, "--engine", engine, "--approvals", "prompt", stdin="a\n")
    assert done.returncode == 0, done.stderr
    # said before the run, with how to let it run
    assert "function 'calc' is not trusted, so it does not run" in done.stderr
    assert "set trusted: true" in done.stderr and "functions.calc" in done.stderr
    events = _events(done.stdout)
    # never offered, never judged, never run: no approval was even asked
    assert not [e for e in events if e["kind"] in ("tool.result", "approval.requested")]
    assert not marker.exists() and not Path(f"{marker}.loaded").exists()


def test_validation_reads_a_trusted_function_without_running_it(tmp_path: Path, capsys,
                                                                home: Path) -> None:
    marker = tmp_path / "ran"
    crew = _crew(tmp_path, True, marker)
    assert main(["crews", "validate", str(crew)]) == 0
    assert not Path(f"{marker}.loaded").exists()
    broken = _crew(tmp_path, True, marker, source="def calc(a:\n    return a\n")
    assert main(["crews", "validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:" in err and "functions.calc.source_code: line 1: not valid Python" in err
    # an untrusted function is kept as text: its source is not even parsed
    assert main(["crews", "validate", str(_crew(tmp_path, False, marker,
                                                 source="def calc(a:\n"))]) == 0
    assert "is not trusted" in capsys.readouterr().out


def test_an_untrusted_function_is_refused_by_name(tmp_path: Path) -> None:
    spec = load_crew(_crew(tmp_path, False, tmp_path / "ran"))
    registry = ToolRegistry(functions=spec.functions)
    assert registry.resolve("function:calc") == []
    for name in ("calc", "function:calc"):
        with pytest.raises(UserInputError, match="function 'calc' is not trusted"):
            registry.get(name)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_trusted_function_runs_through_the_gate_and_needs_approval(tmp_path: Path,
                                                                     engine: str) -> None:
    marker = tmp_path / "ran"
    crew = _crew(tmp_path, True, marker)
    home = tmp_path / "home"
    # rejected: judged and stopped before it runs (its module was loaded at the start)
    denied = _run(home, crew, "--engine", engine, "--approvals", "deny")
    assert denied.returncode == 0, denied.stderr
    events = _events(denied.stdout)
    decision, = [e for e in events if e["kind"] == "policy.decision"
                 and e["data"]["action"] == "tool_call"]
    assert decision["data"]["rule_ids"] == ["custom-tools-need-approval"]
    requested, = [e for e in events if e["kind"] == "approval.requested"]
    assert requested["data"]["tool"] == "calc"
    assert {"custom", "function"} <= set(requested["data"]["tags"])
    assert "trusted" not in requested["data"]["tags"]  # trusted: true lets it run, no more
    result, = [e for e in events if e["kind"] == "tool.result"]
    assert not result["data"]["ok"] and not marker.exists()
    # approved on the terminal: it runs
    approved = _run(home, crew, "--engine", engine, "--approvals", "prompt", stdin="a\n")
    assert approved.returncode == 0, approved.stderr
    result, = [e for e in _events(approved.stdout) if e["kind"] == "tool.result"]
    assert result["data"]["ok"] and result["content"] == "5.0"
    assert marker.read_text() == "called"


def test_a_function_gets_a_fresh_module_its_structured_imports_and_its_own_loop(
        tmp_path: Path) -> None:
    source = ("async def calc(a: float, b: float, operator: str) -> str:\n"
              "    import asyncio\n"
              "    await asyncio.sleep(0)\n"
              "    return f'{sqrt(a * a + b * b):.1f} in {__name__} {dumps(operator)}'\n")
    crew = _crew(tmp_path, True, tmp_path / "ran", source=source,
                 imports=[{"module": "math", "imports": ["sqrt"]},
                          {"module": "json", "imports": [{"name": "dumps", "alias": "dumps"}]}])
    text = crew.read_text().replace("trusted: true", "trusted: true\n")
    crew.write_text(text)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "central.yaml").write_text("version: 1\ndefault: allow\nrules: []\n")
    done = _run(tmp_path / "home", crew, "--approvals", "deny",
                env={"WORKBENCH_POLICIES": str(policies)})
    assert done.returncode == 0, done.stderr
    result, = [e for e in _events(done.stdout) if e["kind"] == "tool.result"]
    assert result["content"] == '3.6 in workbench_function_calc "+"'


def test_a_function_that_cannot_load_is_bad_input_at_its_line(tmp_path: Path) -> None:
    crew = _crew(tmp_path, True, tmp_path / "ran",
                 source="def calc(a: float) -> str:\n    return str(a)\n",
                 imports=["workbench_no_such_module"])
    done = _run(tmp_path / "home", crew)
    assert done.returncode == 2
    line = next(i for i, text in enumerate(crew.read_text().splitlines(), 1)
                if text.strip() == "calc:")
    assert f"{crew}:{line}:" in done.stderr
    assert "function 'calc' could not be loaded: ModuleNotFoundError" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_function_past_the_tool_time_limit_is_abandoned(tmp_path: Path) -> None:
    source = "def calc(a: float, b: float, operator: str) -> str:\n" \
             "    import time\n    time.sleep(30)\n    return 'late'\n"
    crew = _crew(tmp_path, True, tmp_path / "ran", source=source)
    done = _run(tmp_path / "home", crew, "--approvals", "prompt", stdin="a\n",
                env={"WORKBENCH_TOOL_TIMEOUT": "1"})
    assert done.returncode == 0, done.stderr
    result, = [e for e in _events(done.stdout) if e["kind"] == "tool.result"]
    assert not result["data"]["ok"] and "timed out after 1 s" in result["content"]


def test_an_imported_autogen_function_tool_end_to_end(tmp_path: Path, home: Path,
                                                      capsys) -> None:
    """studio-roundrobin-team.json (AutoGen Studio's own file): its calculator FunctionTool
    is imported untrusted, the crew runs offline without it; trusted, it runs once a
    reviewer approves."""
    out = tmp_path / "rr.yaml"
    assert main(["import", str(CORPUS / "studio-roundrobin-team.json"), "-o", str(out)]) == 0
    assert "never run" in capsys.readouterr().err
    data = yaml.safe_load(out.read_text())
    function = data["functions"]["calculator_function"]  # calculator is a built-in's name
    assert "trusted" not in function and "def calculator(" in function["source_code"]
    assert data["agents"][0]["tools"] == ["function:calculator_function"]
    untrusted = _run(home, out, "--model", "scripted/demo")
    assert untrusted.returncode == 0, untrusted.stderr
    assert "function 'calculator_function' is not trusted" in untrusted.stderr

    function["trusted"] = True
    data["script"] = [{"agent": "assistant_agent", "call": "calculator_function",
                       "args": {"a": 6, "b": 7, "operator": "*"}},
                      {"agent": "assistant_agent", "say": "It is 42. TERMINATE"}]
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    for engine in ENGINES:
        done = _run(home, out, "--model", "scripted/demo", "--engine", engine,
                    "--approvals", "prompt", stdin="a\n")
        assert done.returncode == 0, done.stderr
        events = _events(done.stdout)
        assert [e["data"]["tool"] for e in events if e["kind"] == "approval.decided"] == [
            "calculator_function"]
        result, = [e for e in events if e["kind"] == "tool.result"]
        assert result["data"]["ok"] and result["content"] == "42.0"
