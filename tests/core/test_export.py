"""`workbench export`: a CrewAI project that CrewAI builds a crew from, an AutoGen team that
`Team.load_component` loads, and round trips (import -> export -> import) that give back an
equivalent crew, for every corpus project and every shipped crew."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.cli import main
from workbench.spec.importers import finish, import_path
from workbench.spec.loader import load_crew, parse_crew
from workbench.spec.schema import CrewSpec
from workbench.spec.topology import resolve

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"


def _sources() -> list[tuple[str, Path, str | None]]:
    out: list[tuple[str, Path, str | None]] = []
    for project in sorted((CORPUS / "crewai").iterdir()):
        out.append((f"crewai-{project.name}", project, None))
    for file in sorted((CORPUS / "autogen").glob("*.json")):
        teams = ["roundrobin-team", "selector-team", "web-agent-team-operator",
                 "deep-research-team"] if "gallery" in file.name else [None]
        out += [(f"autogen-{file.stem}{'-' + t if t else ''}", file, t) for t in teams]
    for crew in sorted((ROOT / "crews").glob("*.yaml")):
        out.append((f"shipped-{crew.stem}", crew, None))
    return out


SOURCES = _sources()


def _crew_file(source: Path, team: str | None, folder: Path) -> Path:
    """The crew as a file: a shipped crew as it is, a corpus project imported."""
    if source.suffix == ".yaml":
        return source
    [crew] = import_path(source, team)
    path = folder / f"{crew.name}.yaml"
    path.write_text(finish(crew))
    return path


def equivalent(spec: CrewSpec) -> dict[str, Any]:
    """What a crew does, independent of how it is written: the resolved topology, each agent
    (by name) with its effective model and tools, the tasks with context by index, inputs,
    script. A star's hub delegates whether or not it says so; CrewAI needs a backstory and
    the workbench uses the role for a missing one."""
    t = resolve(spec)
    return {
        "name": spec.name, "engine": spec.engine, "description": spec.description,
        "task": spec.task,
        "topology": (t.kind, t.hub, t.spokes, t.planner, t.executors, t.reviewer,
                     [(e.source, e.target, e.when) for e in t.edges], t.max_turns),
        "agents": sorted((a.name, a.role, a.goal, a.backstory or a.role, spec.model_for(a),
                          spec.api_base_for(a), a.tools, a.capabilities, a.domain, a.human,
                          a.allow_delegation or a.name == t.hub) for a in spec.agents),
        "tasks": [(x.description, x.expected_output, x.agent, x.context, x.output_file,
                   x.human_input) for x in spec.tasks],
        "inputs": spec.inputs,
        "script": [e.model_dump() for e in spec.script],
    }


def _keys(node: Any) -> set[str]:
    """Every mapping key in a JSON document, at any depth."""
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def _load_module(path: Path) -> Any:
    name = f"exported_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # the exporter's own output, in a temp folder
    return module


@pytest.mark.parametrize(("source", "team"), [(s, t) for _, s, t in SOURCES],
                         ids=[i for i, _, _ in SOURCES])
def test_crewai_export_builds_in_crewai_and_round_trips(
        source: Path, team: str | None, home: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(variable, "sk-test-not-real")  # CrewAI's clients want one to exist
    crew_file = _crew_file(source, team, tmp_path)
    spec = load_crew(crew_file)
    out = tmp_path / "project"
    assert main(["--home", str(home), "export", str(crew_file), "--to", "crewai", str(out)]) == 0
    printed = capsys.readouterr()
    for name in ("config/agents.yaml", "config/tasks.yaml", "crew.py", "main.py"):
        assert (out / name).is_file() and f"wrote {out / name}" in printed.out

    # CrewAI reads the YAML as CrewBase does and builds the crew from crew.py
    from crewai import Crew, Process

    module = _load_module(out / "crew.py")
    built = next(v for v in vars(module).values()
                 if isinstance(v, type) and hasattr(v, "agents_config") and v.__module__ ==
                 module.__name__)
    crew = built().crew()
    assert isinstance(crew, Crew)
    topo = resolve(spec)
    hub = topo.hub if topo.kind == "star" else None
    roles = sorted([a.role for a in crew.agents] + ([crew.manager_agent.role] if hub else []))
    assert roles == sorted(a.role for a in spec.agents)
    assert crew.process == (Process.hierarchical if hub else Process.sequential)
    if spec.tasks:
        assert [t.description for t in crew.tasks] == [t.description for t in spec.tasks]
    agents_yaml = yaml.safe_load((out / "config" / "agents.yaml").read_text())
    assert [entry["llm"] for entry in agents_yaml.values()] == [
        spec.model_for(a) for a in spec.agents]

    back = tmp_path / "back.yaml"
    assert main(["--home", str(home), "import", str(out), "-o", str(back)]) == 0
    capsys.readouterr()
    assert equivalent(load_crew(back)) == equivalent(spec)


@pytest.mark.parametrize(("source", "team"), [(s, t) for _, s, t in SOURCES],
                         ids=[i for i, _, _ in SOURCES])
def test_autogen_export_loads_in_autogen_and_round_trips(
        source: Path, team: str | None, home: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    crew_file = _crew_file(source, team, tmp_path)
    spec = load_crew(crew_file)
    out = tmp_path / "team.json"
    assert main(["--home", str(home), "export", str(crew_file), "--to", "autogen",
                 str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    data = json.loads(text)
    # no key is written (a function's source may still name a variable api_key)
    assert "api_key" not in _keys(data)

    from autogen_agentchat.base import Team

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")  # the client wants one to exist
    team_obj = Team.load_component(data)
    names = sorted(p.name for p in team_obj._participants)  # noqa: SLF001
    assert names == sorted(spec.agent_names)
    kind = data["provider"].rsplit(".", 1)[-1]
    topo = resolve(spec)
    expected = {"star": "Swarm", "network": "RoundRobinGroupChat", "layered": "GraphFlow",
                "graph": "GraphFlow"}[topo.kind]
    if topo.kind == "star" and spec.agent(topo.hub or "").human:
        expected = "RoundRobinGroupChat"
    assert kind == expected

    back = tmp_path / "back.yaml"
    assert main(["--home", str(home), "import", str(out), "-o", str(back)]) == 0
    capsys.readouterr()
    assert equivalent(load_crew(back)) == equivalent(spec)


def test_models_map_to_clients_on_the_same_provider_without_keys(tmp_path: Path) -> None:
    from workbench.engines.autogen.export import team_component

    spec = parse_crew("""\
name: mixed
model: openai/gpt-4o-mini
topology: {kind: network}
agents:
  - {name: a, role: A, goal: Do a}
  - {name: b, role: B, goal: Do b, model: openai/llama3.2, api_base: "http://127.0.0.1:11434/v1"}
  - {name: c, role: C, goal: Do c, model: scripted/demo}
script:
  - {agent: c, say: "Hello from c"}
""", "mixed.yaml")
    data, warnings = team_component(spec)
    clients = {p["config"]["name"]: p["config"]["model_client"]
               for p in data["config"]["participants"]}
    assert clients["a"]["provider"].endswith("OpenAIChatCompletionClient")
    assert clients["a"]["config"]["model"] == "gpt-4o-mini"
    assert clients["b"]["config"]["base_url"] == "http://127.0.0.1:11434/v1"
    assert clients["b"]["config"]["model"] == "llama3.2"
    assert clients["c"]["provider"].endswith("ReplayChatCompletionClient")
    assert clients["c"]["config"]["chat_completions"] == ["Hello from c"]
    assert "api_key" not in json.dumps(data)


def test_export_refuses_to_overwrite_and_unknown_formats(home: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    out = tmp_path / "p"
    assert main(["--home", str(home), "export", "market-entry", "--to", "crewai", str(out)]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "export", "market-entry", "--to", "crewai", str(out)]) == 2
    assert "exists: use --force" in capsys.readouterr().err
    assert main(["--home", str(home), "export", "market-entry", "--to", "crewai", str(out),
                 "--force"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "export", "market-entry", "--to", "langgraph",
                 str(tmp_path / "x")]) == 2
    assert "the formats are crewai" in capsys.readouterr().err
    assert main(["--home", str(home), "export", "no-such-crew", "--to", "autogen",
                 str(tmp_path / "x.json")]) == 2


def test_exported_tools_are_placeholders_that_never_act(home: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "team.json"
    assert main(["--home", str(home), "export", "market-entry", "--to", "autogen",
                 str(out)]) == 0
    capsys.readouterr()
    from autogen_agentchat.base import Team
    from autogen_core import CancellationToken

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    team = Team.load_component(json.loads(out.read_text()))
    analyst = next(p for p in team._participants if p.name == "analyst")  # noqa: SLF001
    tools = {t.name: t for wb in analyst._workbench for t in wb._tools}  # noqa: SLF001
    assert set(tools) == {"calculator", "write_file"}
    import asyncio

    result = asyncio.run(tools["write_file"].run_json(
        {"path": "x.md", "content": "hi"}, CancellationToken()))
    assert "workbench tool" in str(result)
    assert not (Path.cwd() / "x.md").exists()


CLASHING = """\
name: clashing
description: Names that CrewBase and Python methods would collide on
model: scripted/demo
topology: {kind: star, hub: crew}
agents:
  - {name: crew, role: Lead, goal: Lead, tools: [calculator]}
  - {name: tasks, role: Helper, goal: Help, tools: [calculator, write_file]}
  - {name: calculator, role: Counter, goal: Count}
tasks:
  - {name: calculator, description: Count things, agent: calculator}
  - {name: agents_config, description: Summarise, agent: tasks, context: [calculator]}
"""


def test_names_that_clash_in_crew_py_are_renamed_and_come_back(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    crew_file = tmp_path / "clashing.yaml"
    crew_file.write_text(CLASHING)
    spec = load_crew(crew_file)
    out = tmp_path / "project"
    assert main(["--home", str(home), "export", str(crew_file), "--to", "crewai", str(out)]) == 0
    assert "manager: CrewAI gives a manager no tools" in capsys.readouterr().err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    module = _load_module(out / "crew.py")
    crew = module.Clashing().crew()
    assert sorted(a.role for a in crew.agents) == ["Counter", "Helper"]
    assert crew.manager_agent.role == "Lead"
    assert [t.description for t in crew.tasks] == ["Count things", "Summarise"]
    back = tmp_path / "back.yaml"
    assert main(["--home", str(home), "import", str(out), "-o", str(back)]) == 0
    assert equivalent(load_crew(back)) == equivalent(spec)
