"""The store: migrations from an empty file, batched events in order, sessions survive a crash.

On SQLite and on PostgreSQL (the `backend` fixture, tests/pg.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.pg import Backend
from workbench.mesh.bus import EventBus
from workbench.mesh.events import Event
from workbench.store.db import HEAD_REVISION, Store
from workbench.store.writer import EventWriter


def _store(backend: Backend) -> Store:
    return Store(backend.url)


def test_new_database_is_migrated_to_head_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    store.close()
    con = sqlite3.connect(tmp_path / "wb.db")
    assert con.execute("select version_num from alembic_version").fetchone()[0] == HEAD_REVISION
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"session", "event", "crew_snapshot"} <= tables


def test_a_new_postgres_database_is_migrated_to_head(blank_pg: str) -> None:
    from sqlalchemy import inspect

    from workbench.store.db import revision

    store = Store(blank_pg)
    assert revision(store.engine) == HEAD_REVISION
    tables = set(inspect(store.engine).get_table_names())
    assert {"session", "event", "crew_snapshot", "audit_entry", "approval"} <= tables
    Store(blank_pg).close()  # opened again: nothing to do


def test_writer_batches_events_in_seq_order_and_skips_deltas(backend: Backend) -> None:
    store = _store(backend)
    store.create_session(id="s1", crew_name="c", engine="autogen", topology="star")
    writer = EventWriter(store)
    bus = EventBus("s1")
    bus.subscribe(writer.put)
    for i in range(2500):
        bus.publish(Event("message", "a", "b", f"m{i}", {"i": i}))
        bus.publish(Event("message.delta", "a", None, "tok"))
    writer.close()
    events = list(store.iter_events("s1", batch=1000))
    assert [e["seq"] for e in events] == list(range(1, 5001, 2))
    assert events[-1]["data"] == {"i": 2499} and events[0]["to"] == "b"
    assert writer.written == 2500 and writer.error is None


def test_crew_snapshots_are_deduplicated_by_content(backend: Backend) -> None:
    store = _store(backend)
    a = store.snapshot_crew("c", "c.yaml", "name: c\n")
    assert store.snapshot_crew("c", "other.yaml", "name: c\n") == a
    assert store.snapshot_crew("c", "c.yaml", "name: c2\n") != a
    assert store.crew_text(a) == "name: c\n"


def test_session_lookup_by_prefix_and_search(backend: Backend) -> None:
    store = _store(backend)
    store.create_session(id="abc123", crew_name="market-entry", engine="autogen",
                         topology="star", task="Nordics")
    store.create_session(id="abd999", crew_name="support-triage", engine="crewai",
                         topology="network")
    assert store.get_session("abc")["crew_name"] == "market-entry"
    assert [s["id"] for s in store.list_sessions(search="Nordic")] == ["abc123"]
    import pytest

    from workbench.errors import UserInputError
    with pytest.raises(UserInputError, match="ambiguous"):
        store.get_session("ab")
    with pytest.raises(UserInputError, match="no session"):
        store.get_session("zzz")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_old_database_is_upgraded_in_place_keeping_its_sessions(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from workbench.store.db import MIGRATIONS, make_engine, revision

    url = f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite" else \
        request.getfixturevalue("blank_pg")
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        from sqlalchemy import text
        conn.execute(text(
            "insert into session (id, crew_name, engine, topology, task, status, started_at,"
            " turns, prompt_tokens, completion_tokens, cost_usd, cost_unknown_calls,"
            " model_calls, tool_calls, policy_hash, workspace) values ('old1', 'c', 'autogen',"
            " 'star', 't', 'completed', 1.0, 3, 0, 0, 0, 0, 0, 0, '', '')"))
    engine.dispose()
    store = Store(url)
    assert store.get_session("old1")["turns"] == 3
    assert revision(store.engine) == HEAD_REVISION
    assert {"audit_entry", "approval"} <= set(inspect(store.engine).get_table_names())


# -- leases of running sessions ------------------------------------------------------------


def _pending_approval(store: Store, session_id: str) -> None:
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO approval (id, session_id, agent, tool, args, rule_ids, reason, context,"
            " status, always, created_at, expires_at) VALUES ('ap1', :sid, 'a', 'send_email',"
            " '{}', '[]', 'r', '[]', 'pending', false, 1.0, 9999999999.0)"), {"sid": session_id})


def test_a_session_on_another_host_is_interrupted_once_its_lease_lapses(
        backend: Backend) -> None:
    import time

    from workbench.store.audit import AuditChain

    store = _store(backend)
    now = time.time()
    store.create_session(id="far", crew_name="c", engine="autogen", topology="star",
                         owner_pid=4242, owner_host="another-host", lease_expires_at=now + 30)
    _pending_approval(store, "far")
    assert store.reap_lapsed_sessions(now) == []
    assert store.renew_lease("far")  # renewed: now good for another minute
    assert store.reap_lapsed_sessions(now + 31) == []
    assert store.reap_lapsed_sessions(now + 61) == ["far"]
    assert store.reap_lapsed_sessions(now + 62) == []  # exactly once
    session = store.get_session("far")
    assert session["status"] == "interrupted" and "lease" in session["error"]
    assert not store.renew_lease("far")  # the run, should it still exist, learns it lost it
    assert backend.sql("select status, reviewer from approval") == [("expired", "workbench")]
    kinds = [k for (k,) in backend.sql("select kind from audit_entry order by seq")]
    assert kinds == ["session.interrupted", "approval.decided"]
    assert AuditChain(store).verify().ok


def test_a_dead_owner_on_this_host_is_noticed_at_once(tmp_path: Path, backend: Backend) -> None:
    import subprocess
    import sys

    from workbench.config import Settings
    from workbench.tui.services import Services

    store = _store(backend)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.create_session(id="dead", crew_name="c", engine="autogen", topology="star",
                             owner_pid=int(gone.stdout))
        store.create_session(id="live", crew_name="c", engine="autogen", topology="star",
                             owner_pid=alive.pid)
        store.create_session(id="mine", crew_name="c", engine="autogen", topology="star")
        # the TUI's sessions list finds it as it loads
        services = Services(Settings(home=tmp_path / "home", db_url=store.url))
        rows = {r["id"]: r["status"] for r in services.list_sessions()}
        assert rows == {"dead": "interrupted", "live": "running", "mine": "running"}
        assert f"process {gone.stdout.strip()} ended" in store.get_session("dead")["error"]
    finally:
        alive.kill()
        alive.wait()
    assert store.reap_lapsed_sessions() == ["live"]


def test_a_run_holds_and_renews_its_lease(tmp_path: Path, monkeypatch, backend: Backend) -> None:
    import asyncio
    import os

    from tests.support import CREWS
    from workbench.config import Settings
    from workbench.governance.setup import governed
    from workbench.mesh import session as session_module
    from workbench.mesh.session import Session, prepare

    monkeypatch.setattr(session_module, "RENEW_S", 0.05)
    monkeypatch.setenv("WORKBENCH_APPROVAL_TIMEOUT", "1")
    settings = Settings(home=tmp_path / "home", db_url=backend.url)
    settings.ensure_home()
    store = Store(settings.database_url)
    leases: dict[str, float] = {}

    def watch(event) -> None:  # the lease as the approval is asked for, and as it expires
        if event.kind in ("approval.requested", "approval.decided"):
            leases[event.kind] = store.get_session(event.session_id)["lease_expires_at"]

    session = Session(prepare(CREWS / "support-triage.yaml"), settings, store,
                      subscribers=[watch], **governed(settings, store, "wait").session_kwargs())
    outcome = asyncio.run(session.execute())
    row = store.get_session(outcome.session_id)
    assert row["owner_pid"] == os.getpid() and row["owner_host"]
    assert leases["approval.decided"] - leases["approval.requested"] >= 0.8
    assert outcome.status == "completed" and row["status"] == "completed"


def test_odd_text_round_trips_through_the_writer(backend: Backend) -> None:
    """PostgreSQL takes events by binary COPY: tabs, backslashes, newlines, quotes, no `to`,
    non-ASCII text and JSON data come back exactly as they went in."""
    store = _store(backend)
    store.create_session(id="s1", crew_name="c", engine="autogen", topology="star")
    odd = ["tab\there", "back\\slash \\N", "line\nbreak\r\n", "quote ' \" ,", "", "naïve ☃ 日本",
           "\\.", "€ \U0001f600"]
    writer = EventWriter(store)
    bus = EventBus("s1")
    bus.subscribe(writer.put)
    for i, text in enumerate(odd):
        bus.publish(Event("message", text or None, None if i % 2 else text, text,
                          {"text": text, "n": i} if i % 3 else {}))
    writer.close()
    assert writer.error is None
    events = list(store.iter_events("s1"))
    assert [(e["agent"], e["to"], e["content"], e["data"]) for e in events] == [
        (text or None, None if i % 2 else text, text, {"text": text, "n": i} if i % 3 else {})
        for i, text in enumerate(odd)]
