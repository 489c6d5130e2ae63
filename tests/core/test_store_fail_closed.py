"""A store that stops taking writes stops the run: nothing goes on unrecorded (fail closed).

The failures are real SQLite errors on the real database: a trigger that refuses inserts
past a point (as a full disk would), and a database file capped with max_page_count.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event

from workbench.cli import main
from workbench.config import Settings
from workbench.mesh.bus import EventBus
from workbench.mesh.events import Event
from workbench.mesh.session import Session, prepare
from workbench.store.audit import AuditChain, AuditWriter
from workbench.store.db import Store
from workbench.store.writer import EventWriter

FILES = 30


def _filer(tmp_path: Path) -> Path:
    """A crew whose clerk writes FILES notes, one tool call per turn."""
    script = [{"agent": "clerk", "call": "write_file",
               "args": {"path": f"f{i:02d}.md", "content": f"note {i}"}}
              for i in range(1, FILES + 1)]
    script.append({"agent": "clerk", "say": "All filed. TERMINATE"})
    crew = {"name": "filer", "description": "File the notes", "engine": "autogen",
            "model": "scripted/demo", "topology": {"kind": "network", "max_turns": 80},
            "agents": [{"name": "clerk", "role": "Clerk", "goal": "File the notes",
                        "tools": ["write_file"]},
                       {"name": "checker", "role": "Checker", "goal": "Check the notes"}],
            "script": script}
    path = tmp_path / "filer.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    return path


def _refuse_inserts(db: Path, table: str, after_seq: int) -> None:
    """From entry `after_seq` on, inserts into `table` fail inside SQLite, as on a full disk."""
    Store(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute(f"CREATE TRIGGER disk_full BEFORE INSERT ON {table} WHEN NEW.seq > {after_seq} "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    con.close()


def _run(home: Path, crew: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list, str]:
    capsys.readouterr()
    code = main(["--home", str(home), "run", str(crew), "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def _written(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "sessions").glob("*/workspace/*.md"))


def test_a_failing_event_store_stops_the_run_before_the_next_tool(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    db = home / "workbench.db"
    _refuse_inserts(db, "event", after_seq=20)
    code, printed, err = _run(home, _filer(tmp_path), capsys)

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "run failed" in lines[0], err
    assert "the run's events could not be stored" in lines[0]
    assert "database or disk is full" in lines[0]

    con = sqlite3.connect(db)
    status, error = con.execute("select status, error from session").fetchone()
    assert status == "failed" and "could not be stored" in error
    stored = {seq: (kind, data) for seq, kind, data in
              con.execute("select seq, kind, data from event")}
    assert max(stored) <= 20
    # every tool that ran was asked for in a stored event; none ran after the failure
    requested = {json.loads(d)["args"]["path"] for k, d in stored.values()
                 if k == "tool.requested"}
    written = _written(home)
    assert 0 < len(written) < FILES
    assert set(written) <= requested
    # the run stopped at once: at most the turn in flight was published past the failure
    assert max(e["seq"] for e in printed) <= 20 + 6
    assert printed[-1]["kind"] == "run.failed"
    # the audit (which did not fail) holds the failure, and verifies
    kinds = [k for (k,) in con.execute("select kind from audit_entry order by seq")]
    assert kinds[-1] == "run.failed"
    capsys.readouterr()
    assert main(["--home", str(home), "audit", "verify"]) == 0


def test_a_failing_audit_trail_stops_the_run_and_keeps_a_valid_chain(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    db = home / "workbench.db"
    _refuse_inserts(db, "audit_entry", after_seq=9)
    code, printed, err = _run(home, _filer(tmp_path), capsys)

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the audit trail could not be stored" in lines[0], err

    con = sqlite3.connect(db)
    assert con.execute("select status from session").fetchone()[0] == "failed"
    audited = [k for (k,) in con.execute("select kind from audit_entry order by seq")]
    assert len(audited) <= 9
    written = _written(home)
    assert 0 < len(written) < FILES
    # a tool runs only once what led to it is in the chain: its result may be what failed
    assert audited.count("tool.result") <= len(written) <= audited.count("tool.result") + 1
    # the events (still stored) end with the failure, and no tool ran after it
    kinds = [k for (k,) in con.execute("select kind from event order by seq")]
    assert kinds[-1] == "run.failed" and kinds.count("tool.result") <= len(written) + 1
    capsys.readouterr()
    assert main(["--home", str(home), "audit", "verify"]) == 0
    assert f"ok: {len(audited)} entries" in capsys.readouterr().out


def test_a_full_database_file_fails_the_run_instead_of_completing(tmp_path: Path) -> None:
    """The reported case: a long run on a full disk went on and 'completed'."""
    turns = 400
    crew = {"name": "talkers", "engine": "autogen", "model": "scripted/demo",
            "topology": {"kind": "network", "max_turns": turns},
            "agents": [{"name": n, "role": n.title(), "goal": "Talk"} for n in ("ann", "bob")],
            "script": [{"agent": ("ann", "bob")[i % 2], "say": f"Point {i}: " + "x" * 100}
                       for i in range(turns)]}
    path = tmp_path / "talkers.yaml"
    path.write_text(yaml.safe_dump(crew))
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    prepared = prepare(path)
    store.snapshot_crew(prepared.spec.name, prepared.source, prepared.text)
    pages = sqlite3.connect(store.sqlite_path).execute("pragma page_count").fetchone()[0]

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_conn, _record) -> None:  # the disk has room for a few pages more
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 12}")

    store.engine.dispose()
    audit = AuditWriter(store, lambda text: (text, []))
    session = Session(prepared, settings, store, writers=[audit])
    outcome = asyncio.run(session.execute())

    assert outcome.status == "failed"
    assert "database or disk is full" in outcome.error
    assert outcome.totals.model_calls < turns / 2
    store.engine.dispose()
    event.remove(store.engine, "connect", _cap)
    assert AuditChain(store).verify().ok


def test_a_writer_reports_its_first_failure_once_and_retries_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    store = Store(f"sqlite:///{db}")
    store.create_session(id="s1", crew_name="c", engine="autogen", topology="star")
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER refuse BEFORE INSERT ON event "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    errors: list[BaseException] = []
    writer = EventWriter(store, on_error=errors.append)
    bus = EventBus("s1")
    bus.subscribe(writer.put)
    for i in range(5):
        bus.publish(Event("message", "a", "b", f"m{i}"))
    assert writer.flush() is False
    bus.publish(Event("message", "a", "b", "m5"))
    assert writer.flush() is False
    assert len(errors) == 1 and "database or disk is full" in str(errors[0])
    con.execute("DROP TRIGGER refuse")
    con.commit()
    bus.publish(Event("message", "a", "b", "m6"))
    assert writer.flush() is True  # the store is back: nothing was lost, in order
    writer.close()
    assert [e["content"] for e in store.iter_events("s1")] == [f"m{i}" for i in range(7)]
    assert writer.written == 7


def test_a_fast_run_never_gets_far_ahead_of_its_record(tmp_path: Path) -> None:
    """However slow the store, a model call waits once its writer is MAX_BACKLOG behind:
    what a crash loses, and how far a run goes past a full disk, stay bounded."""
    from workbench.mesh import session as session_mod

    turns = 200
    crew = {"name": "talkers", "engine": "autogen", "model": "scripted/demo",
            "topology": {"kind": "network", "max_turns": turns},
            "agents": [{"name": n, "role": n.title(), "goal": "Talk"} for n in ("ann", "bob")],
            "script": [{"agent": ("ann", "bob")[i % 2], "say": f"Point {i}"}
                       for i in range(turns)]}
    path = tmp_path / "talkers.yaml"
    path.write_text(yaml.safe_dump(crew))
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(path), settings, store)
    sink = session.writer.sink

    def slow_sink(rows: list) -> None:  # a store that takes 2 ms a row
        time.sleep(0.002 * len(rows))
        sink(rows)

    session.writer.sink = slow_sink
    lags: list[int] = []
    session.bus.subscribe(lambda e: lags.append(session.writer.backlog)
                          if e.kind == "model.call" else None)
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed"
    assert outcome.totals.model_calls == turns
    # a model call's own events come on top of the bound, nothing more
    assert max(lags) <= session_mod.MAX_BACKLOG + 8, max(lags)


def test_an_event_that_cannot_become_a_row_is_reported_not_raised_into_the_bus(
        tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    store.create_session(id="s1", crew_name="c", engine="autogen", topology="star")
    errors: list[BaseException] = []
    writer = EventWriter(store, on_error=errors.append)
    seen: list[int] = []
    bus = EventBus("s1")
    bus.subscribe(writer.put)
    bus.subscribe(lambda e: seen.append(e.seq))  # a later subscriber still gets every event
    circular: dict = {}
    circular["self"] = circular
    bus.publish(Event("message", "a", "b", "m0"))
    bus.publish(Event("message", "a", "b", "bad", {"loop": circular}))
    bus.publish(Event("message", "a", "b", "m2"))
    assert seen == [1, 2, 3]
    assert writer.flush() is False  # something was lost: the run must not go on as if not
    assert len(errors) == 1 and isinstance(errors[0], (RecursionError, ValueError))
    writer.close()
    assert [e["content"] for e in store.iter_events("s1")] == ["m0", "m2"]
