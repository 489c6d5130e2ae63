"""The store: migrations from an empty file, batched events in order, sessions survive a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workbench.mesh.bus import EventBus
from workbench.mesh.events import Event
from workbench.store.db import HEAD_REVISION, Store
from workbench.store.writer import EventWriter


def _store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'wb.db'}")


def test_new_database_is_migrated_to_head_in_wal_mode(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    con = sqlite3.connect(tmp_path / "wb.db")
    assert con.execute("select version_num from alembic_version").fetchone()[0] == HEAD_REVISION
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"session", "event", "crew_snapshot"} <= tables


def test_writer_batches_events_in_seq_order_and_skips_deltas(tmp_path: Path) -> None:
    store = _store(tmp_path)
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


def test_crew_snapshots_are_deduplicated_by_content(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = store.snapshot_crew("c", "c.yaml", "name: c\n")
    assert store.snapshot_crew("c", "other.yaml", "name: c\n") == a
    assert store.snapshot_crew("c", "c.yaml", "name: c2\n") != a
    assert store.crew_text(a) == "name: c\n"


def test_session_lookup_by_prefix_and_search(tmp_path: Path) -> None:
    store = _store(tmp_path)
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


def test_an_old_database_is_upgraded_in_place_keeping_its_sessions(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from workbench.store.db import MIGRATIONS, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
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
    con = sqlite3.connect(tmp_path / "old.db")
    assert con.execute("select version_num from alembic_version").fetchone()[0] == HEAD_REVISION
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"audit_entry", "approval"} <= tables
