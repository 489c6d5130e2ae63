"""`workbench import`: every project of the corpus (real CrewAI projects and AutoGen component
files from public repositories, see tests/corpus/*/SOURCE.md) imports with the warnings it
should give, validates, and runs offline on the scripted model through the CLI; bad input is
exit 2 with file:line; nothing a project or file holds is ever run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.fakeprovider import FakeProvider, Reply
from workbench.cli import main
from workbench.spec.loader import load_crew
from workbench.store.db import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CREWAI = CORPUS / "crewai"
AUTOGEN = CORPUS / "autogen"
GALLERY = AUTOGEN / "studio-default-gallery.json"

#: What each CrewAI project must import as, and warnings that must name what was left behind.
CREWAI_EXPECT: dict[str, dict] = {
    "advanced-engineering-team": {"kind": "layered", "agents": 8, "tasks": 8,
                                  "warn": ["3 crews are built", "allow_code_execution"]},
    "crewai-template": {"kind": "layered", "agents": 2, "tasks": 2,
                        "warn": ["crew.py:7: not valid Python", "CrewAI's default",
                                 "topic, current_year"]},
    "debate": {"kind": "layered", "agents": 2, "tasks": 3, "warn": ["motion"]},
    "debate-bedrock": {"kind": "layered", "agents": 3, "tasks": 3, "warn": []},
    "dev-team": {"kind": "layered", "agents": 4, "tasks": 0,
                 "warn": ["'runtime_task_generation' has no description",
                          "a task made in code"]},
    "engineering-team": {"kind": "layered", "agents": 4, "tasks": 4,
                         "warn": ["sandbox_tools", "mcps"]},
    "marketing-strategy": {"kind": "layered", "agents": 4, "tasks": 5,
                           "warn": ["SerperDevTool, ScrapeWebsiteTool", "read from",
                                    "agents no task uses: chief_creative_director"]},
    "meta-quest-knowledge": {"kind": "network", "agents": 1, "tasks": 1,
                             "warn": ["knowledge_sources"]},
    "screenplay-writer": {"kind": "layered", "agents": 5, "tasks": 3,
                          "warn": ["task 'task0'", "task 'task4'", "spamfilter, scorer"]},
    "stock-picker": {"kind": "star", "hub": "manager", "agents": 4, "tasks": 3,
                     "warn": ["SerperDevTool", "send_push_notification", "memory",
                              "current_date"]},
    "swe-team": {"kind": "star", "hub": "manager", "agents": 5, "tasks": 4,
                 "warn": ["expected_output kept", "guardrails"]},
}
#: (file, --team) -> what it must import as.
AUTOGEN_EXPECT: dict[tuple[str, str | None], dict] = {
    ("studio-default-gallery.json", "roundrobin-team"): {
        "kind": "network", "agents": 1, "warn": ["FunctionTool 'calculator'"]},
    ("studio-default-gallery.json", "selector-team"): {
        "kind": "network", "agents": 2, "warn": ["SelectorGroupChat", "no participant"]},
    ("studio-default-gallery.json", "web-agent-team-operator"): {
        "kind": "network", "agents": 3, "warn": ["MultimodalWebSurfer", "UserProxyAgent"]},
    ("studio-default-gallery.json", "deep-research-team"): {
        "kind": "network", "agents": 3, "warn": ["temperature", "google_search"]},
    ("studio-roundrobin-team.json", None): {"kind": "network", "agents": 1,
                                            "warn": ["FunctionTool 'calculator'"]},
    ("studio-travel-team.json", None): {"kind": "network", "agents": 4, "warn": []},
    ("docs-swarm-travel.json", None): {"kind": "star", "hub": "travel_agent", "agents": 2,
                                       "warn": ["hand off to 'user'", "refund_flight"]},
    ("docs-swarm-stock-research.json", None): {"kind": "star", "hub": "planner", "agents": 4,
                                               "warn": ["get_stock_data", "get_news"]},
    ("docs-graphflow-edit.json", None): {"kind": "graph", "agents": 4, "warn": []},
    ("docs-graphflow-loop.json", None): {"kind": "graph", "agents": 4,
                                         "warn": ["activation group"]},
}
CASES = ([(CREWAI / name, None, exp) for name, exp in CREWAI_EXPECT.items()]
         + [(AUTOGEN / file, team, exp) for (file, team), exp in AUTOGEN_EXPECT.items()])
IDS = [f"crewai-{n}" for n in CREWAI_EXPECT] + [
    f"autogen-{f.removesuffix('.json')}{'-' + t if t else ''}" for f, t in AUTOGEN_EXPECT]


def _import(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), "import", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_corpus_is_what_the_issue_asks_for() -> None:
    assert len(CREWAI_EXPECT) >= 8 and {p.name for p in CREWAI.iterdir()} == set(CREWAI_EXPECT)
    kinds = {e["kind"] for e in CREWAI_EXPECT.values()}
    assert {"star", "layered"} <= kinds  # hierarchical and sequential projects
    files = {f for f, _ in AUTOGEN_EXPECT}
    assert len(files) >= 4 and {p.name for p in AUTOGEN.glob("*.json")} == files
    for folder in [*CREWAI.iterdir(), AUTOGEN]:
        source = (folder / "SOURCE.md").read_text()
        assert "commit" in source.lower() and "license" in source.lower()
        assert "github.com" in source


@pytest.mark.parametrize(("path", "team", "expect"), CASES, ids=IDS)
def test_corpus_project_imports_validates_and_runs_offline(
        path: Path, team: str | None, expect: dict, home: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "imported.yaml"
    code, stdout, err = _import(home, capsys, str(path), "-o", str(out),
                                *(["--team", team] if team else []))
    assert code == 0, err
    assert f"-> {out}" in stdout and "run it offline" in stdout
    for needle in expect["warn"]:
        assert needle in err, f"no warning mentions {needle!r}:\n{err}"
    assert "Traceback" not in err
    spec = load_crew(out)
    assert spec.topology.kind == expect["kind"]
    if "hub" in expect:
        assert spec.topology.hub == expect["hub"]
    assert len(spec.agents) == expect["agents"]
    if "tasks" in expect:
        assert len(spec.tasks) == expect["tasks"]
    # what could not be mapped is in the file, with the warnings on top
    text = out.read_text()
    if err.count("kept under unmapped"):
        assert "\nunmapped:\n" in text
    assert text.startswith("# Imported by `workbench import`")
    assert main(["--home", str(home), "crews", "validate", str(out)]) == 0
    capsys.readouterr()

    code = main(["--home", str(home), "run", str(out), "--model", "scripted/demo",
                 "--approvals", "deny", "--task", "Offline check"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "✔ completed" in printed
    session = Store(f"sqlite:///{home / 'workbench.db'}").list_sessions()[0]
    assert session["status"] == "completed" and session["engine"] == spec.engine


def test_hierarchical_project_is_a_star_around_its_manager(home: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    out = tmp_path / "sp.yaml"
    assert _import(home, capsys, str(CREWAI / "stock-picker"), "-o", str(out))[0] == 0
    data = yaml.safe_load(out.read_text())
    manager = data["agents"][0]
    assert manager["name"] == "manager" and manager["role"] == "Manager"
    assert manager["allow_delegation"] is True and manager["model"] == "openai/gpt-5.4-mini"
    tasks = {t["name"]: t for t in data["tasks"]}
    assert tasks["pick_best_company"]["context"] == ["research_trending_companies"]
    assert tasks["research_trending_companies"]["output_file"] == "output/research_report.json"
    assert data["inputs"] == {"sector": "Technology", "current_date": ""}
    # the Python tools are declared, not available
    assert data["unmapped"]["agents"]["trending_company_finder"]["tools"] == ["SerperDevTool"]
    assert all("tools" not in a for a in data["agents"])
    spec = load_crew(out)
    assert spec.tasks[2].context == [1]  # names became indexes


def test_manager_llm_without_a_manager_agent_gets_crewai_default_manager(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "proj"
    shutil.copytree(CREWAI / "debate", project)
    crew_py = project / "src" / "debate" / "crew.py"
    crew_py.write_text(crew_py.read_text().replace(
        "process=Process.sequential,",
        "process=Process.hierarchical, manager_llm=\"anthropic/claude-sonnet-4\","))
    out = tmp_path / "d.yaml"
    code, _, err = _import(home, capsys, str(project), "-o", str(out))
    assert code == 0, err
    data = yaml.safe_load(out.read_text())
    assert data["topology"] == {"kind": "star", "hub": "manager"}
    assert data["agents"][0]["role"] == "Crew Manager"
    assert data["agents"][0]["model"] == "anthropic/claude-sonnet-4"
    assert "manager_llm anthropic/claude-sonnet-4" in err


def test_context_that_exists_only_in_crew_py_is_read(home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.yaml"
    assert _import(home, capsys, str(CREWAI / "marketing-strategy"), "-o", str(out))[0] == 0
    tasks = {t["name"]: t for t in yaml.safe_load(out.read_text())["tasks"]}
    assert tasks["copy_creation_task"]["context"] == ["marketing_strategy_task",
                                                      "campaign_idea_task"]
    assert tasks["copy_creation_task"]["agent"] == "creative_content_creator"


def test_three_crews_sharing_one_pair_of_files(home: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    project = CREWAI / "advanced-engineering-team"
    one = tmp_path / "breakdown.yaml"
    code, _, err = _import(home, capsys, str(project), "--team", "breakdown", "-o", str(one))
    assert code == 0, err
    spec = load_crew(one)
    assert [t.name for t in spec.tasks] == ["breakdown_task"]
    assert spec.tasks[0].agent == "system_architect"
    folder = tmp_path / "all"
    code, stdout, err = _import(home, capsys, str(project), "--all", "-o", str(folder))
    assert code == 0, err
    made = sorted(p.name for p in folder.iterdir())
    assert len(made) == 3 and any("feature_engineering" in n for n in made)
    feature = load_crew(next(p for p in folder.iterdir() if "feature" in p.name))
    assert [t.name for t in feature.tasks] == [
        "design_task", "write_test_cases_task", "code_task", "frontend_task", "test_task",
        "execute_unit_tests_task"]
    code, _, err = _import(home, capsys, str(project), "--team", "nope", "-o",
                           str(tmp_path / "x.yaml"))
    assert code == 2 and "breakdown" in err


UNTIDY_AGENTS = """\
"Research Lead":
  "role ": Lead researcher
  goal: Find the facts about {topic}
  backstory: Careful.
  llm: ollama/llama3.2
writer:
  role: Writer
  goal: Write it up for {audience}
  verbose: true
notes: just a string, not an agent
"""
UNTIDY_TASKS = """\
0research:
  description: Research {topic}
  expected_output: ""
  agent: Research Lead
write:
  description: Write the report
  expected_output: A report
  agent: writer
  context: [0research, missing_task]
  human_input: true
"""


def test_untidy_yaml_imports_with_warnings(home: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "untidy"
    project.mkdir()
    (project / "agents.yaml").write_text(UNTIDY_AGENTS)
    (project / "tasks.yaml").write_text(UNTIDY_TASKS)
    out = tmp_path / "u.yaml"
    code, _, err = _import(home, capsys, str(project), "-o", str(out))
    assert code == 0, err
    spec = load_crew(out)
    assert [a.name for a in spec.agents] == ["Research_Lead", "writer"]
    assert spec.agents[0].role == "Lead researcher"  # "role " read as role
    assert spec.tasks[0].name == "task_0research" and spec.tasks[0].agent == "Research_Lead"
    assert spec.tasks[0].expected_output == "A clear, complete answer."
    assert spec.tasks[1].context == [0] and spec.tasks[1].human_input is True
    assert spec.inputs == {"topic": "", "audience": ""}
    for needle in ("'Research Lead' is not a unique identifier", "blanks around it",
                   "'notes' is not a mapping", "empty expected_output", "'missing_task'",
                   "human input", "verbose kept"):
        assert needle in err, needle
    assert yaml.safe_load(out.read_text())["unmapped"]["yaml"] == {
        "notes": "just a string, not an agent"}


def test_project_python_is_read_never_run(home: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "proj"
    shutil.copytree(CREWAI / "debate", project)
    marker = tmp_path / "ran.txt"
    for name in ("crew.py", "main.py", "__init__.py"):
        path = project / "src" / "debate" / name
        path.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                        + (path.read_text() if path.exists() else ""))
    crew_py = project / "src" / "debate" / "crew.py"
    crew_py.write_text(crew_py.read_text().replace("process=Process.sequential",
                                                   "process=Process.hierarchical"))
    out = tmp_path / "d.yaml"
    code, _, err = _import(home, capsys, str(project), "-o", str(out))
    assert code == 0, err
    assert load_crew(out).topology.kind == "star"  # crew.py was read ...
    assert main(["--home", str(home), "crews", "validate", str(out)]) == 0
    assert not marker.exists()  # ... and never run


def _gallery_with(tmp_path: Path, change) -> Path:
    data = json.loads(GALLERY.read_text())
    change(data["components"]["teams"][0]["config"]["participants"][0]["config"])
    path = tmp_path / "gallery.json"
    path.write_text(json.dumps(data))
    return path


def test_keys_in_the_json_are_dropped_with_a_warning(home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def add_keys(agent: dict) -> None:
        agent["model_client"]["config"].update(api_key="sk-live-0123456789abcdef",
                                               base_url="http://127.0.0.1:9/v1",
                                               max_tokens=512)
        agent["model_client"]["config"]["default_headers"] = {
            "Authorization": "Bearer sk-header-secret"}

    path = _gallery_with(tmp_path, add_keys)
    out = tmp_path / "k.yaml"
    code, _, err = _import(home, capsys, str(path), "--team", "RoundRobin Team", "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "sk-live" not in text and "sk-header-secret" not in text and "sk-" not in err
    assert "api_key: a credential in the file was dropped" in err
    assert "Authorization: a credential in the file was dropped" in err
    assert "max_tokens: a credential" not in err  # a setting, kept for the user
    kept = yaml.safe_load(text)["unmapped"]["agents"]["assistant_agent"]["model_client"]
    assert kept["max_tokens"] == 512
    agent = load_crew(out).agents[0]
    assert agent.model == "openai/gpt-4o-mini" and agent.api_base == "http://127.0.0.1:9/v1"


def test_function_tool_source_is_kept_but_never_run(home: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran.txt"
    evil = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
            "def calculator(expression: str) -> str:\n    return expression\n")

    def poison(agent: dict) -> None:
        for wb in agent["workbench"]:
            for tool in wb["config"]["tools"]:
                tool["config"]["source_code"] = evil

    path = _gallery_with(tmp_path, poison)
    out = tmp_path / "f.yaml"
    code, _, err = _import(home, capsys, str(path), "--team", "1", "-o", str(out))
    assert code == 0, err
    kept = yaml.safe_load(out.read_text())["functions"]["calculator_function"]
    assert kept["source_code"] == evil and "trusted" not in kept
    # listed, but untrusted: not offered, never compiled
    assert load_crew(out).agents[0].tools == ["function:calculator_function"]
    assert main(["--home", str(home), "run", str(out), "--model", "scripted/demo",
                 "--approvals", "deny"]) == 0
    assert not marker.exists()


def test_gallery_lists_its_teams_until_one_is_chosen(home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(home, capsys, str(GALLERY))
    assert code == 2
    for name in ("roundrobin-team", "selector-team", "web-agent-team-operator",
                 "deep-research-team"):
        assert name in out
    assert "--team NAME" in err and "Traceback" not in err
    code, _, err = _import(home, capsys, str(GALLERY), "--team", "Selector Team")
    assert code == 0, err
    assert (home / "crews" / "selector-team.yaml").is_file()  # default: your crews
    code, _, err = _import(home, capsys, str(GALLERY), "--team", "Selector Team")
    assert code == 2 and "exists: use --force" in err
    assert _import(home, capsys, str(GALLERY), "--team", "selector-team", "--force")[0] == 0
    code, _, err = _import(home, capsys, str(GALLERY), "--team", "nine")
    assert code == 2 and "no team 'nine'" in err


def test_autogen_teams_map_to_topologies(home: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.yaml"
    assert _import(home, capsys, str(AUTOGEN / "docs-graphflow-loop.json"), "-o", str(out))[0] == 0
    edges = {(e.source, e.target): e.when for e in load_crew(out).topology.edges}
    assert edges == {("A", "B"): None, ("B", "C"): 'message.text.contains("CONTINUE")',
                     ("B", "E"): 'message.text.contains("STOP")', ("C", "B"): None}
    assert load_crew(out).topology.max_turns == 9  # MaxMessageTermination(10), less the task
    out = tmp_path / "w.yaml"
    assert _import(home, capsys, str(GALLERY), "--team", "3", "-o", str(out))[0] == 0
    spec = load_crew(out)
    human = spec.agent("user_proxy")
    assert human.human is True and human.role == "Human user"
    assert spec.agent("websurfer_agent").role == "an agent that solves tasks by browsing the web"
    selector = yaml.safe_load(out.read_text())["unmapped"]["team"]["selector"]
    assert "selector_prompt" in selector


@pytest.mark.parametrize(("make", "where", "problem"), [
    (lambda d: (d / "agents.yaml").write_text("a:\n  role: x\n  - b\n"), "agents.yaml:3",
     "invalid YAML"),
    (lambda d: (d / "agents.yaml").write_text("- just\n- a list\n"), "agents.yaml:1",
     "expected a mapping of names to agents"),
    (lambda d: (d / "team.json").write_text('{"provider": "x",\n "config": }'), "team.json:2",
     "invalid JSON"),
    (lambda d: (d / "team.json").write_text('{"hello": 1}'), "team.json:1",
     "not an AutoGen team"),
    (lambda d: (d / "notes.txt").write_text("hi"), "no CrewAI project here", ""),
])
def test_bad_input_is_exit_2_with_file_and_line(make, where: str, problem: str, home: Path,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    make(folder)
    target = folder / "team.json" if (folder / "team.json").exists() else folder
    code, _, err = _import(home, capsys, str(target))
    assert code == 2
    assert where in err and problem in err
    assert "Traceback" not in err
    code, _, err = _import(home, capsys, str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err


def test_run_input_fills_placeholders_before_the_model_sees_them(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "debate.yaml"
    assert _import(home, capsys, str(CREWAI / "debate"), "-o", str(out))[0] == 0
    assert load_crew(out).inputs == {"motion": ""}
    code = main(["--home", str(home), "run", str(out), "--model", "scripted/demo",
                 "--approvals", "deny", "--input", "topic=x"])
    assert code == 2 and "no input 'topic'" in capsys.readouterr().err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    with FakeProvider(responder=lambda payload: Reply(content="Done. TERMINATE")) as fp:
        crew = yaml.safe_load(out.read_text())
        crew["api_base"] = fp.api_base
        out.write_text(yaml.safe_dump(crew))
        code = main(["--home", str(home), "run", str(out), "--model", "openai/fake",
                     "--approvals", "deny", "--input", "motion=Cats should vote"])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        sent = json.dumps(fp.requests)
    assert "Cats should vote" in sent and "{motion}" not in sent


def test_crew_file_context_may_name_earlier_tasks(home: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "ctx.yaml"
    crew.write_text("name: ctx\nagents:\n  - {name: a, role: A, goal: Do a}\ntasks:\n"
                    "  - {name: first, description: One}\n"
                    "  - {description: Two, context: [first, 0]}\n")
    assert load_crew(crew).tasks[1].context == [0, 0]
    crew.write_text(crew.read_text().replace("[first, 0]", "[frist]"))
    assert main(["--home", str(home), "crews", "validate", str(crew)]) == 2
    assert "ctx.yaml:6: tasks.1.context: context names 'frist', but no task has that name" \
        in capsys.readouterr().err


def test_a_graph_the_workbench_refuses_is_kept_and_imported_as_a_network(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((AUTOGEN / "docs-graphflow-loop.json").read_text())
    b_edges = data["config"]["graph"]["nodes"]["B"]["edges"]
    b_edges[1].pop("condition")  # B -> C on CONTINUE, B -> E always: mixed, so refused
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "mixed.yaml"
    code, _, err = _import(home, capsys, str(path), "-o", str(out))
    assert code == 0, err
    assert load_crew(out).topology.kind == "network"
    assert "the graph topology was refused" in err and "imported as network" in err
    kept = yaml.safe_load(out.read_text())["unmapped"]["crew"]["topology"]
    assert kept["kind"] == "graph" and len(kept["edges"]) == 4
