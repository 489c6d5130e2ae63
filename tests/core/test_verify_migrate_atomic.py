"""Migrations are atomic: an upgrade that stops half-way leaves the database as it was, and
the next open finishes it (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from workbench.errors import UserInputError
from workbench.store.db import HEAD_REVISION, Store, make_engine, revision

ROOT = Path(__file__).resolve().parents[2]

#: An index that migration 0001 creates last: a table holding an index of that name makes
#: 0001 fail after its tables were created.
_LAST_INDEX_OF_0001 = "ix_event_session_kind"


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("select name from sqlite_master where type='table'")}


def test_a_first_migration_failing_half_way_leaves_no_table_and_the_next_open_finishes(
        tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    con = sqlite3.connect(db)
    con.execute("create table obstacle (x integer)")
    con.execute(f"create index {_LAST_INDEX_OF_0001} on obstacle (x)")
    con.commit()
    with pytest.raises(UserInputError, match="already exists"):
        Store(f"sqlite:///{db}")
    # nothing of the failed upgrade is left: no table, no revision
    assert _tables(con) == {"obstacle"}
    con.execute("drop table obstacle")
    con.commit()
    Store(f"sqlite:///{db}").close()
    assert con.execute("select version_num from alembic_version").fetchall() == \
        [(HEAD_REVISION,)]
    assert {"crew_snapshot", "session", "event", "audit_entry", "exchange"} <= _tables(con)


def test_a_later_migration_failing_half_way_keeps_the_previous_revision(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from workbench.store.db import MIGRATIONS

    db = tmp_path / "wb.db"
    engine = make_engine(f"sqlite:///{db}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    engine.dispose()
    con = sqlite3.connect(db)
    before = _tables(con)
    # 0006 creates human_question, then its index: an index of that name elsewhere fails it
    con.execute("create index ix_human_question_status on session (status)")
    con.commit()
    with pytest.raises(UserInputError):
        Store(f"sqlite:///{db}")
    assert con.execute("select version_num from alembic_version").fetchall() == [("0005",)]
    assert _tables(con) == before
    con.execute("drop index ix_human_question_status")
    con.commit()
    Store(f"sqlite:///{db}").close()
    assert con.execute("select version_num from alembic_version").fetchall() == \
        [(HEAD_REVISION,)]


_CHILD = ("import sys\n"
          "import alembic.command, alembic.config, sqlmodel\n"
          "from workbench.store.db import Store\n"
          "print('ready', flush=True)\n"
          "Store('sqlite:///' + sys.argv[1]).close()\n"
          "print('done', flush=True)\n")


def test_a_process_killed_while_migrating_a_new_database_never_leaves_it_broken(
        tmp_path: Path) -> None:
    """SIGKILL at random moments of the first migration; every next open reaches head."""
    rng = random.Random(1234)
    # how long a whole migration takes in such a process, to spread the kills over it
    probe = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "probe.db")],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert probe.stdout is not None
    assert probe.stdout.readline().strip() == "ready"
    started = time.monotonic()
    assert probe.stdout.readline().strip() == "done"
    span = time.monotonic() - started
    probe.communicate(timeout=60)
    interrupted = 0
    for attempt in range(12):
        db = tmp_path / f"wb{attempt}.db"
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05 * span, 0.8 * span))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
        if "done" not in out and db.exists():
            interrupted += 1
        Store(f"sqlite:///{db}").close()  # must not fail, whatever the kill left
        con = sqlite3.connect(db)
        assert con.execute("select version_num from alembic_version").fetchall() == \
            [(HEAD_REVISION,)], f"attempt {attempt}"
        con.close()
    assert interrupted >= 3, interrupted  # the kills did land during migrations


def test_a_failing_postgres_migration_leaves_the_previous_revision(blank_pg: str) -> None:
    engine = make_engine(blank_pg)
    with engine.begin() as conn:
        conn.execute(text("create table obstacle (x integer)"))
        conn.execute(text(f"create index {_LAST_INDEX_OF_0001} on obstacle (x)"))
    with pytest.raises(UserInputError):
        Store(blank_pg)
    assert revision(engine) is None
    assert set(inspect(engine).get_table_names()) == {"obstacle"}
    with engine.begin() as conn:
        conn.execute(text("drop table obstacle"))
    store = Store(blank_pg)
    assert revision(store.engine) == HEAD_REVISION
    store.close()
    engine.dispose()
