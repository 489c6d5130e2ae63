"""Shipped crews run end to end through the command line on both engines, offline, and
`sessions list/show/export` read them back: on SQLite and on PostgreSQL (the `db` fixture
below, over tests/pg.py's `backend`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.pg import Backend
from workbench.cli import main
from workbench.spec.loader import load_crew
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[1]
CREWS = sorted((ROOT / "crews").glob("*.yaml"))
CASES = [
    (engine, crew)
    for crew in CREWS
    for engine in ("autogen", "crewai")
    if not (engine == "crewai" and load_crew(crew).topology.kind == "graph")
]


@pytest.fixture
def db(home: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The test's database (a SQLite file, or a fresh PostgreSQL database) as WORKBENCH_DB,
    for the CLI in this process and in the ones it starts."""
    monkeypatch.setenv("WORKBENCH_DB", backend.url)
    return backend


def _store(db: Backend) -> Store:
    return Store(db.url)


@pytest.mark.parametrize(("engine", "crew"), CASES, ids=[f"{e}-{c.stem}" for e, c in CASES])
def test_shipped_crew_runs_to_completion(engine: str, crew: Path, home: Path, db: Backend,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(home), "run", str(crew), "--engine", engine,
                 "--approvals", "deny", "--task", "Quarterly review"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✔ completed" in out
    store = _store(db)
    session = store.list_sessions()[0]
    assert session["status"] == "completed" and session["engine"] == engine
    events = list(store.iter_events(session["id"]))
    assert events[0]["kind"] == "run.started" and events[-1]["kind"] == "run.completed"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    spec = load_crew(crew)
    speakers = {e["agent"] for e in events if e["kind"] == "message"}
    assert speakers == set(spec.agent_names), f"silent agents: {set(spec.agent_names) - speakers}"
    requested = [e["data"]["call_id"] for e in events if e["kind"] == "tool.requested"]
    results = [e["data"]["call_id"] for e in events if e["kind"] == "tool.result"]
    assert requested and sorted(requested) == sorted(results)
    assert session["turns"] == sum(1 for e in events if e["kind"] == "message")
    assert session["model_calls"] == sum(1 for e in events if e["kind"] == "model.call")
    workspace = Path(session["workspace"])
    assert any(workspace.iterdir()), "the crew wrote nothing"


def test_json_lines_carry_the_contract_fields(home: Path, db: Backend, capsys) -> None:
    code = main(["--home", str(home), "run", "support-triage", "--json", "--approvals", "deny"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["kind"] == "run.started" and lines[-1]["kind"] == "run.completed"
    for obj in lines:
        assert {"session_id", "seq", "ts", "kind", "agent"} <= obj.keys()
    messages = [o for o in lines if o["kind"] == "message"]
    assert messages and all("to" in m and m["content"] for m in messages)


def test_sessions_list_show_and_export(home: Path, db: Backend, tmp_path: Path,
                                       capsys) -> None:
    assert main(["--home", str(home), "run", "market-entry", "--approvals", "deny"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "list"]) == 0
    listing = capsys.readouterr().out
    assert "market-entry" in listing and "completed" in listing
    # a search ignores case on both backends, and a typed % is not a wildcard
    assert main(["--home", str(home), "sessions", "list", "--search", "MARKET"]) == 0
    assert "market-entry" in capsys.readouterr().out
    assert main(["--home", str(home), "sessions", "list", "--search", "market%entry"]) == 0
    assert "no sessions match" in capsys.readouterr().out
    sid = _store(db).list_sessions()[0]["id"]
    assert main(["--home", str(home), "sessions", "show", sid[:8]]) == 0
    shown = capsys.readouterr().out
    assert "lead → analyst" in shown and "calculator" in shown
    out = tmp_path / "s.json"
    assert main(["--home", str(home), "sessions", "export", sid, "--format", "json",
                 "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["session"]["id"] == sid and data["events"][0]["kind"] == "run.started"
    assert main(["--home", str(home), "sessions", "export", sid, "--format", "md"]) == 0
    assert "market-entry" in capsys.readouterr().out
    assert main(["--home", str(home), "audit", "verify"]) == 0
    assert "audit trail ok" in capsys.readouterr().out


def test_unknown_session_is_bad_input(home: Path, db: Backend, capsys) -> None:
    assert main(["--home", str(home), "sessions", "show", "nope"]) == 2
    assert "no session 'nope'" in capsys.readouterr().err


def test_ctrl_c_stores_the_session_as_cancelled_with_what_it_had(home: Path, db: Backend,
                                                                tmp_path: Path) -> None:
    with FakeProvider(responder=lambda payload: Reply(content="thinking slowly", delay_s=30)) as fp:
        crew = tmp_path / "slow.yaml"
        crew.write_text(
            "name: slow\nmodel: openai/slow-model\n"
            f"api_base: {fp.api_base}\n"
            "topology: {kind: network, max_turns: 4}\n"
            "agents:\n  - {name: a, role: Analyst, goal: Think}\n"
            "  - {name: b, role: Critic, goal: Doubt}\n"
        )
        env = {**os.environ, "WORKBENCH_HOME": str(home)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "run", str(crew), "--json",
             "--approvals", "deny"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert first["kind"] == "run.started"
        deadline = time.time() + 60
        while not fp.requests and time.time() < deadline:
            time.sleep(0.05)
        assert fp.requests, "the model call never reached the provider"
        proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    [(status, error)] = db.sql("select status, error from session")
    kinds = [r[0] for r in db.sql("select kind from event order by seq")]
    assert status == "cancelled"
    assert kinds[0] == "run.started" and kinds[-1] == "run.failed"



CUSTOM_CREW = """\
name: custom-tools
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - name: a
    role: Caller
    goal: Use the custom tool
    tools: ["tests.core.test_tools:shout"]
  - name: b
    role: Second caller
    goal: Use it too
    tools: ["tests.core.test_tools:shout"]
script:
  - {agent: a, call: "tests.core.test_tools:shout", args: {text: hello, times: 2}}
  - {agent: a, say: "Shouted."}
  - {agent: b, call: shout, args: {text: again}}
  - {agent: b, say: "Tried."}
"""

CUSTOM_POLICY = """\
version: 1
default: allow
rules:
  - id: b-no-custom-tools
    on: tool_call
    when: 'agent.name == "b" && "custom" in tool.tags'
    effect: deny
    reason: b may not use custom tools
"""


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_custom_tool_runs_through_the_gate_by_path_or_by_name(engine: str, home: Path,
                                                                 db: Backend,
                                                                 tmp_path: Path) -> None:
    crew = tmp_path / "custom.yaml"
    crew.write_text(CUSTOM_CREW)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "central.yaml").write_text(CUSTOM_POLICY)
    code = main(["--home", str(home), "--policies", str(policies), "run", str(crew),
                 "--engine", engine])
    assert code == 0
    store = _store(db)
    events = list(store.iter_events(store.list_sessions()[0]["id"]))
    results = [(e["agent"], e["data"]["tool"], e["data"]["ok"], e["content"])
               for e in events if e["kind"] == "tool.result"]
    # peers may take their turns in either order on CrewAI
    assert sorted(results) == [("a", "shout", True, "HELLO HELLO "),
                               ("b", "shout", False, "denied by policy: b may not use custom tools")]


def test_paths_and_urls_that_cannot_be_used_are_bad_input(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert main(["--home", str(a_file / "home"), "sessions", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: cannot use") and "Traceback" not in err
    code = main(["--home", str(tmp_path / "h"), "--db",
                 "postgresql://ann:s3cret-pw@127.0.0.1:1/db", "sessions", "list"])
    err = capsys.readouterr().err
    assert code == 2 and "s3cret-pw" not in err and "ann:***@" in err


def test_a_running_session_row_keeps_its_totals_current(home: Path, db: Backend,
                                                        monkeypatch) -> None:
    """Another terminal listing sessions sees a live run's turns, not zeros."""
    import asyncio

    import workbench.mesh.session as session_module
    from workbench.config import Settings

    monkeypatch.setattr(session_module, "PROGRESS_S", 0.0)
    settings = Settings(home=home, db_url=db.url)
    settings.ensure_home()
    store = Store(settings.database_url)
    seen: list[int] = []

    def at_last_message(event) -> None:
        if event.kind == "message" and event.content and "TERMINATE" in event.content:
            session.flush_progress()  # the row is updated from a thread of its own
            seen.append(store.get_session(event.session_id)["turns"])

    session = session_module.Session(
        session_module.prepare(ROOT / "crews" / "support-triage.yaml", task="PDF export fails"),
        settings, store,
        subscribers=[at_last_message])
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed"
    # written while the run was still going: every turn before the last one
    assert seen == [outcome.totals.turns - 1]
    store.close()
