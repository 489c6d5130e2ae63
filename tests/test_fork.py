"""Recording every model exchange, forks and deterministic re-runs (`run --from`), purge.

Real runs through the command line, real SQLite (and PostgreSQL where the store is the
point), and the loopback provider (tests/fakeprovider.py) for the provider path.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.fakeprovider import FakeProvider, Reply, tool_call
from workbench.cli.app import main
from workbench.store.db import Store
from workbench.store.recordings import iter_exchanges

CREW = """\
name: forky
model: openai/fake-model
api_base: {api_base}
topology: {{kind: network, max_turns: 6}}
agents:
  - {{name: a, role: {role_a}, goal: Size the market}}
  - {{name: b, role: {role_b}, goal: Doubt the sizing}}
"""


def _numbered() -> Any:
    """A responder whose every answer differs (answer 1, answer 2, ...)."""
    n = itertools.count(1)
    return lambda payload: Reply(content=f"answer {next(n)}")


def _write(path: Path, api_base: str, role_a: str = "Analyst", role_b: str = "Critic") -> Path:
    path.write_text(CREW.format(api_base=api_base, role_a=role_a, role_b=role_b),
                    encoding="utf-8")
    return path


def _run(home: Path, *args: str) -> int:
    return main(["--home", str(home), "run", *args, "--approvals", "deny"])


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "workbench.db")


def _last_session(home: Path) -> str:
    return _db(home).execute("select id from session order by started_at desc limit 1"
                             ).fetchone()[0]


def _events(home: Path, sid: str, kind: str | None = None) -> list[dict[str, Any]]:
    rows = _db(home).execute(
        "select seq, kind, agent, to_agent, content, data from event where session_id = ? "
        "order by seq", (sid,)).fetchall()
    out = [{"seq": r[0], "kind": r[1], "agent": r[2], "to": r[3], "content": r[4],
            "data": json.loads(r[5]) if r[5] else {}} for r in rows]
    return [e for e in out if kind is None or e["kind"] == kind]


def _transcript(home: Path, sid: str, before: int | None = None) -> list[tuple[Any, ...]]:
    return [(e["agent"], e["to"], e["content"]) for e in _events(home, sid, "message")
            if before is None or e["seq"] < before]


def test_a_fork_of_an_unchanged_crew_reproduces_the_run_with_no_provider_request(
        home: Path, tmp_path: Path, capsys) -> None:
    with FakeProvider(responder=_numbered()) as fp:
        crew = _write(tmp_path / "forky.yaml", fp.api_base)
        assert _run(home, str(crew)) == 0
        asked = len(fp.requests)
    source = _last_session(home)
    assert asked >= 4
    # every call was recorded, with the seq of its model.call event
    calls = _events(home, source, "model.call")
    with _store(home) as store:
        recorded = list(iter_exchanges(store, source))
    assert [x["seq"] for x in recorded] == [c["seq"] for c in calls]
    # the request as the provider got it: the messages, whole again from their deltas
    assert [x["request"]["messages"] for x in recorded] == [r["messages"] for r in fp.requests]
    assert [x["response"]["content"] for x in recorded] == [f"answer {i}"
                                                            for i in range(1, asked + 1)]
    assert {x["provider"] for x in recorded} == {"openai"}

    # the provider is stopped: a single request would fail the run
    capsys.readouterr()
    assert _run(home, str(crew), "--from", source[:10]) == 0, capsys.readouterr().err
    fork = _last_session(home)
    assert fork != source
    assert _transcript(home, fork) == _transcript(home, source)
    fork_calls = _events(home, fork, "model.call")
    assert len(fork_calls) == asked
    assert [c["data"]["replayed"] for c in fork_calls] == [f"{source}@{c['seq']}"
                                                           for c in calls]
    assert not _events(home, fork, "fork.diverged")
    started = _events(home, fork, "run.started")[0]["data"]
    assert started["forked_from"] == {"session_id": source, "seq": None,
                                      "replay_tools": False}
    # the fork is recorded in turn (a fork of a fork works), marked as replayed
    with _store(home) as store:
        assert [x["replayed"] for x in iter_exchanges(store, fork)] == [
            f"{source}@{c['seq']}" for c in calls]
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "show", fork[:10]]) == 0
    assert f"Forked from session {source}" in capsys.readouterr().out


def test_a_fork_at_a_middle_step_with_an_edited_role_asks_only_after_the_step(
        home: Path, tmp_path: Path) -> None:
    with FakeProvider(responder=_numbered()) as fp:
        crew = _write(tmp_path / "forky.yaml", fp.api_base)
        assert _run(home, str(crew)) == 0
        total = len(fp.requests)
    source = _last_session(home)
    calls = _events(home, source, "model.call")
    step = calls[2]["seq"] + 1  # the first three calls come from the recording
    with FakeProvider(responder=lambda p: Reply(content="live answer")) as fp2:
        _write(crew, fp2.api_base, role_b="Devil's advocate")
        assert _run(home, str(crew), "--from", f"{source}@{step}") == 0
        live = fp2.requests
    fork = _last_session(home)
    assert len(live) == total - 3
    # the edited role is in what is sent after the step
    assert any("Devil's advocate" in json.dumps(r["messages"]) for r in live)
    assert not any("answer" == m.get("content") for r in live for m in r["messages"])
    diverged = _events(home, fork, "fork.diverged")
    assert len(diverged) == 1
    d = diverged[0]["data"]
    assert d["replayed"] == 3 and d["source"] == source and d["source_seq"] == calls[3]["seq"]
    assert f"step {step}" in diverged[0]["content"]
    # the first three answers are the recording's; the others, the live provider's
    said = [m[2] for m in _transcript(home, fork)]
    assert said[:3] == [m[2] for m in _transcript(home, source)][:3] == [
        "answer 1", "answer 2", "answer 3"]
    assert said[3:] == ["live answer"] * (total - 3)
    fork_calls = _events(home, fork, "model.call")
    assert [bool(c["data"].get("replayed")) for c in fork_calls] == [True] * 3 + [False] * (
        total - 3)
    # the audit chain tells replayed calls from live ones, and where the fork came from
    audit = [(k, json.loads(p)) for k, p in _db(home).execute(
        "select kind, payload from audit_entry where session_id = ? order by seq", (fork,))]
    assert audit[0][1]["forked_from"]["session_id"] == source
    audited_calls = [p for k, p in audit if k == "model.call"]
    assert [bool(p.get("replayed")) for p in audited_calls] == [True] * 3 + [False] * (
        total - 3)
    assert [p["source_seq"] for k, p in audit if k == "fork.diverged"] == [calls[3]["seq"]]


def test_a_replayed_call_still_passes_the_gate(home: Path, tmp_path: Path) -> None:
    with FakeProvider(responder=_numbered()) as fp:
        crew = _write(tmp_path / "forky.yaml", fp.api_base)
        assert _run(home, str(crew)) == 0
    source = _last_session(home)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "central.yaml").write_text(
        "version: 1\ndefault: allow\nrules:\n  - id: no-b\n    on: model_call\n"
        "    when: 'agent.name == \"b\"'\n    effect: deny\n    reason: b is benched\n")
    code = main(["--home", str(home), "--policies", str(policies), "run", str(crew),
                 "--from", source, "--approvals", "deny"])
    assert code == 0
    fork = _last_session(home)
    b_said = [m[2] for m in _transcript(home, fork) if m[0] == "b"]
    assert b_said and all("blocked by policy" in text for text in b_said)
    assert any(e["data"].get("rule_ids") == ["no-b"]
               for e in _events(home, fork, "policy.decision"))
    assert all(c["agent"] != "b" for c in _events(home, fork, "model.call"))


def _store(home: Path) -> Any:
    import contextlib

    @contextlib.contextmanager
    def opened() -> Any:
        store = Store(f"sqlite:///{home / 'workbench.db'}")
        try:
            yield store
        finally:
            store.close()

    return opened()


def _tool_results(home: Path, sid: str) -> list[tuple[Any, ...]]:
    return [(e["data"]["tool"], e["data"]["ok"], e["content"])
            for e in _events(home, sid, "tool.result")]


def test_replay_tools_reuses_recorded_results_and_the_tool_does_not_run(home: Path,
                                                                         tmp_path: Path) -> None:
    # market-entry: scripted; its analyst writes sizing.md, its writer a file and an email
    assert _run(home, "market-entry") == 0
    source = _last_session(home)
    source_ws = home / "sessions" / source / "workspace"
    assert (source_ws / "sizing.md").is_file()

    assert _run(home, "market-entry", "--from", source, "--replay-tools") == 0
    reused = _last_session(home)
    assert _tool_results(home, reused) == _tool_results(home, source)
    assert _transcript(home, reused) == _transcript(home, source)
    # nothing ran: no file written, no email queued
    assert not (home / "sessions" / reused / "workspace" / "sizing.md").exists()
    assert not list((home / "sessions" / reused).glob("outbox/*"))
    assert _events(home, reused, "run.started")[0]["data"]["forked_from"]["replay_tools"]

    # without --replay-tools the tools run again, through the gate
    assert _run(home, "market-entry", "--from", source) == 0
    rerun = _last_session(home)
    assert (home / "sessions" / rerun / "workspace" / "sizing.md").is_file()
    assert _transcript(home, rerun) == _transcript(home, source)


def test_a_reused_tool_result_is_still_judged_by_the_gate(home: Path, tmp_path: Path) -> None:
    assert _run(home, "market-entry") == 0
    source = _last_session(home)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "central.yaml").write_text(
        "version: 1\ndefault: allow\nrules:\n  - id: no-files\n    on: tool_call\n"
        "    when: 'tool.name == \"write_file\"'\n    effect: deny\n    reason: read-only day\n")
    assert main(["--home", str(home), "--policies", str(policies), "run", "market-entry",
                 "--from", source, "--replay-tools", "--approvals", "deny"]) == 0
    fork = _last_session(home)
    writes = [r for r in _tool_results(home, fork) if r[0] == "write_file"]
    assert writes and all(not ok and "denied by policy" in text for _, ok, text in writes)
    # the email (allowed) was reused as recorded
    emails = [r for r in _tool_results(home, fork) if r[0] == "send_email"]
    assert emails == [r for r in _tool_results(home, source) if r[0] == "send_email"]


def test_purge_deletes_the_recording_and_the_audit_chain_still_verifies(home: Path,
                                                                        capsys) -> None:
    assert _run(home, "market-entry") == 0
    sid = _last_session(home)
    con = _db(home)
    assert con.execute("select count(*) from exchange where session_id = ?", (sid,)
                       ).fetchone()[0] == 9
    messages = con.execute("select count(*) from event where session_id = ?", (sid,)
                           ).fetchone()[0]
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "purge", sid[:8]]) == 0
    assert "purged 9 recorded exchanges" in capsys.readouterr().out
    con = _db(home)
    assert con.execute("select count(*) from exchange where session_id = ?", (sid,)
                       ).fetchone()[0] == 0
    assert con.execute("select count(*) from event where session_id = ?", (sid,)
                       ).fetchone()[0] == messages
    kinds = [r[0] for r in con.execute(
        "select kind from audit_entry where session_id = ? order by seq", (sid,))]
    assert kinds[-1] == "recording.purged"
    assert main(["--home", str(home), "audit", "verify"]) == 0
    # nothing is left to fork from
    capsys.readouterr()
    assert _run(home, "market-entry", "--from", sid) == 2
    err = capsys.readouterr().err
    assert "no recorded exchanges" in err and "Traceback" not in err


def test_recording_off_records_nothing(home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKBENCH_RECORD", "0")
    assert _run(home, "market-entry") == 0
    sid = _last_session(home)
    assert _db(home).execute("select count(*) from exchange").fetchone()[0] == 0
    monkeypatch.setenv("WORKBENCH_RECORD", "1")
    capsys.readouterr()
    assert _run(home, "market-entry", "--from", sid) == 2
    assert "recording was off" in capsys.readouterr().err


def test_a_fork_from_an_unknown_session_or_a_bad_step_is_bad_input(home: Path,
                                                                   capsys) -> None:
    assert _run(home, "market-entry", "--from", "feedface") == 2
    err = capsys.readouterr().err
    assert "--from: no session 'feedface'" in err and "Traceback" not in err
    assert _run(home, "market-entry", "--from", "feedface@x") == 2
    assert "whole number" in capsys.readouterr().err
    assert _run(home, "market-entry", "--replay-tools") == 2
    assert "--from" in capsys.readouterr().err
    assert not (home / "sessions").exists() or not list((home / "sessions").iterdir())


def test_no_key_reaches_the_recording(home: Path, tmp_path: Path, monkeypatch) -> None:
    key = "sk-planted-0123456789abcdefSECRET"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    crew = tmp_path / "keyed.yaml"
    with FakeProvider(replies=[tool_call("calculator", expression="2+2"),
                               Reply(content="4. TERMINATE")]) as fp:
        crew.write_text(
            "name: keyed\nmodel: careful\n"
            "models:\n  careful: {model: openai/fake-model, "
            f"api_base: '{fp.api_base}', temperature: 0.3, max_tokens: 200}}\n"
            "topology: {kind: network, max_turns: 2}\n"
            "agents:\n  - {name: a, role: Analyst, goal: Add, tools: [calculator]}\n")
        assert _run(home, str(crew)) == 0
        # the key was in play: the provider got it
        assert any(key in h.get("authorization", "") for h in fp.headers)
    sid = _last_session(home)
    with _store(home) as store:
        recorded = list(iter_exchanges(store, sid))
    assert recorded and recorded[0]["request"]["tools"][0]["function"]["name"] == "calculator"
    # the parameters as sent, with the model that answered
    assert fp.requests[0]["temperature"] == 0.3 and fp.requests[0]["max_tokens"] == 200
    assert recorded[0]["request"]["params"] == {"temperature": 0.3, "max_tokens": 200}
    assert recorded[0]["model"] == "openai/fake-model"
    assert recorded[0]["response"]["tool_calls"][0]["arguments"] == {"expression": "2+2"}
    assert recorded[1]["response"]["usage"]["completion_tokens"] > 0
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_a_recording_that_cannot_be_written_stops_the_run(home: Path, capsys) -> None:
    Store(f"sqlite:///{home / 'workbench.db'}").close()
    con = _db(home)
    con.execute("CREATE TRIGGER no_exchanges BEFORE INSERT ON exchange "
                "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
    con.commit()
    assert _run(home, "market-entry") == 1
    err = capsys.readouterr().err
    assert "model exchanges could not be stored" in err and "the disk says no" in err
    status = _db(home).execute("select status from session").fetchone()[0]
    assert status == "failed"


def test_recording_and_a_fork_on_each_database(backend, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "h"))
    base = ["--db", backend.url]
    assert main([*base, "run", "market-entry", "--approvals", "deny"]) == 0
    store = Store(backend.url)
    try:
        sid = store.list_sessions(limit=1)[0]["id"]
        recorded = list(iter_exchanges(store, sid))
        assert len(recorded) == 9
        assert all(x["request"]["messages"] for x in recorded)
        assert main([*base, "run", "market-entry", "--from", sid, "--approvals", "deny"]) == 0
        fork = store.list_sessions(limit=1)[0]["id"]
        assert fork != sid
        said = [e["content"] for e in store.iter_events(fork) if e["kind"] == "message"]
        assert said == [e["content"] for e in store.iter_events(sid) if e["kind"] == "message"]
        assert main([*base, "sessions", "purge", sid]) == 0
        assert not list(iter_exchanges(store, sid))
        assert main([*base, "audit", "verify"]) == 0
    finally:
        store.close()


def test_a_session_forks_through_the_api_the_tui_uses(home: Path, tmp_path: Path) -> None:
    import asyncio

    import pytest

    from workbench.config import Settings
    from workbench.errors import UserInputError
    from workbench.mesh.replay import ForkSource
    from workbench.mesh.session import Session, prepare

    assert _run(home, "market-entry") == 0
    source = _last_session(home)
    step = _events(home, source, "model.call")[4]["seq"]
    settings = Settings(home=home)
    with _store(home) as store:
        with pytest.raises(UserInputError, match="no session 'nothere'"):
            Session(prepare(_crew_path(home)),
                    settings, store, fork=ForkSource("nothere"))
        session = Session(prepare(_crew_path(home)), settings, store,
                          fork=ForkSource(source[:12], step))
        outcome = asyncio.run(session.execute())
        assert outcome.status == "completed", outcome.error
        assert session.replay.replayed == 4 and session.replay.diverged
    assert ForkSource.parse(f"{source[:8]}@{step}") == ForkSource(source[:8], step, False)
    # the steps to fork from are the model calls, each with what it led to
    from workbench.mesh.replay import fork_points

    with _store(home) as store:
        points = fork_points(store, source[:10])
    assert [p.seq for p in points] == [c["seq"] for c in _events(home, source, "model.call")]
    assert [(p.agent, p.call) for p in points[:3]] == [("lead", 1), ("analyst", 1),
                                                        ("analyst", 2)]
    assert points[1].preview == "calls calculator"
    assert points[0].preview.startswith("Analyst, size the Nordic")


def test_sessions_show_lists_the_steps_to_fork_from(home: Path, capsys) -> None:
    assert _run(home, "market-entry") == 0
    source = _last_session(home)
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "show", source[:8], "--steps"]) == 0
    out = capsys.readouterr().out
    assert f"--from {source[:12]}@STEP" in out
    for call in _events(home, source, "model.call"):
        assert f"\n{call['seq']:<4}  {call['agent']}" in out


def _crew_path(home: Path) -> Path:
    from workbench.config import Settings
    from workbench.crews import find_crew

    return find_crew("market-entry", Settings(home=home))


def test_recorded_messages_are_whole_again_however_a_conversation_changes(
        tmp_path: Path) -> None:
    from workbench.store.recordings import Exchange, Recorder, safe_params

    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    store.create_session(id="s", crew_name="c", engine="autogen", topology="network")
    m = [{"role": "system", "content": "You are A"}, {"role": "user", "content": "task"}]
    lists = [
        ("a", "agent", m),
        ("a", "agent", [*m, {"role": "assistant", "content": "one"}]),
        ("a", "selector", [{"role": "user", "content": "who next?"}]),
        # an earlier message changed (redacted differently): kept only up to it
        ("a", "agent", [m[0], {"role": "user", "content": "[redacted]"},
                        {"role": "assistant", "content": "one"}]),
        ("a", "agent", []),
        ("a", "agent", [m[0]]),
    ]
    recorder = Recorder(store, "s")
    for seq, (agent, purpose, messages) in enumerate(lists, 1):
        recorder.put(Exchange(seq, 0.0, agent, purpose, seq - 1, "scripted/x", "scripted",
                              None, list(messages), {"tools": []}, {"content": str(seq)}))
    recorder.close()
    assert recorder.error is None
    got = list(iter_exchanges(store, "s"))
    assert [x["request"]["messages"] for x in got] == [x[2] for x in lists]
    # the long conversation was stored once: later rows keep what came before
    rows = sqlite3.connect(tmp_path / "wb.db").execute(
        "select seq, base_seq, keep from exchange order by seq").fetchall()
    assert rows == [(1, None, 0), (2, 1, 2), (3, None, 0), (4, 2, 1), (5, None, 0),
                    (6, None, 0)]
    store.close()
    # at any depth, in any spelling
    assert safe_params({"extra_body": {"api_key": "sk-1", "seed": 3}, "api-key": "sk-2",
                        "X-Auth-Token": "t", "passphrase": "p", "stop": ["a"]}) == {
        "extra_body": {"seed": 3}, "stop": ["a"]}
    assert safe_params({"temperature": 0.2, "api_key": "k", "extra_headers": {"x": 1},
                        "Authorization": "b", "max_tokens": 9, "api_base": "u"}) == {"temperature": 0.2,
                                                                    "max_tokens": 9}


def test_a_fork_reproduces_a_crewai_run_too(home: Path) -> None:
    # CrewAI calls models from its worker threads: the recording still matches each call
    assert _run(home, "market-entry", "--engine", "crewai") == 0
    source = _last_session(home)
    assert _run(home, "market-entry", "--engine", "crewai", "--from", source) == 0
    fork = _last_session(home)
    assert _transcript(home, fork) == _transcript(home, source)
    # the tools ran again (an email's file name carries its time)
    assert [r[:2] for r in _tool_results(home, fork)] == [r[:2] for r in
                                                          _tool_results(home, source)]
    calls = _events(home, fork, "model.call")
    assert calls and all(c["data"].get("replayed") for c in calls)
    assert not _events(home, fork, "fork.diverged")


def test_replay_tools_never_reuses_a_marketplace_post(home: Path) -> None:
    """Posting a task acts on the run itself (bids, the award, their policies): a fork with
    --replay-tools posts it again rather than telling the hub of an award made elsewhere."""
    assert _run(home, "translation-desk") == 0
    source = _last_session(home)
    assert _run(home, "translation-desk", "--from", source, "--replay-tools") == 0
    fork = _last_session(home)
    kinds = [e["kind"] for e in _events(home, fork) if e["kind"].startswith("task.")]
    assert kinds == [e["kind"] for e in _events(home, source) if e["kind"].startswith("task.")]
    assert kinds.count("task.awarded") == 3
    # the file the lead writes is still taken from the recording (it did not run)
    assert not (home / "sessions" / fork / "workspace" / "release-4.2.fr.md").exists()
    assert _transcript(home, fork) == _transcript(home, source)


def test_a_session_id_is_taken_as_typed_never_as_a_pattern(home: Path, capsys) -> None:
    """`%`, `_` and an empty id match no session: a careless `sessions purge %` or
    `--from ''` must not pick the only session there is."""
    assert _run(home, "market-entry") == 0
    only = _last_session(home)
    for typed in ("%", "_", "%@1", ""):
        capsys.readouterr()
        assert _run(home, "market-entry", "--from", typed) == 2, typed
        assert "Traceback" not in capsys.readouterr().err
    for typed in ("%", "_" * 32, ""):
        assert main(["--home", str(home), "sessions", "purge", typed]) == 2, typed
    with _store(home) as store:
        assert store.get_session(only[:8])["id"] == only
        assert iter_exchanges(store, only) and list(iter_exchanges(store, only))
