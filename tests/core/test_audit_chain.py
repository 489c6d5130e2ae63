"""The audit chain's hash input is unambiguous, old chains still verify, ranges join right.

On SQLite and on PostgreSQL (the `backend` fixture, tests/pg.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text as sql_text

from tests.pg import Backend
from workbench.cli import main
from workbench.store.audit import (
    FORMAT_JSON,
    FORMAT_PIPE,
    GENESIS,
    AuditChain,
    AuditRecord,
    canonical,
    entry_hash,
    hash_input,
)
from workbench.store.db import MIGRATIONS, Store, make_engine

ODD = ["plain", "a|b", 'quote " and \\ backslash', "line\nbreak\ttab\x00nul\x1f\x7f",
       "naïve ☃ 日本 \U0001f600", "", "]", '"],["x', "\u2028\u2029"]


def _records(n: int, session: str | None = "s1", nul: bool = True) -> list[AuditRecord]:
    """Entries full of odd text; `nul=False` leaves NUL out of the columns that hold it
    as text (PostgreSQL's text cannot; in the JSON payload it is escaped either way)."""
    odd = ODD if nul else [t.replace("\x00", "") for t in ODD]
    return [AuditRecord(session, odd[i % len(odd)], f"kind.{odd[(i + 3) % len(odd)]}",
                        {"text": ODD[(i + 5) % len(ODD)], "n": i, "cost": 0.1 * i,
                         "nested": {"z": [1, None, True], "a": ODD[i % len(ODD)]}},
                        1796000000.0 + i / 7)
            for i in range(n)]


def test_the_hash_input_is_the_canonical_json_of_the_entry() -> None:
    for i, text in enumerate(ODD):
        payload = canonical({"x": text, "n": i, "f": 1 / 3})
        args = ("ab" * 32, i + 1, 1796000000.123456 + i, text or None, text, text, payload)
        expected = json.dumps([*args[:6], json.loads(payload)], sort_keys=True,
                              separators=(",", ":"), ensure_ascii=False)
        assert hash_input(*args) == expected


def test_moving_a_bar_between_kind_and_payload_is_caught(backend: Backend) -> None:
    """The old input joined fields with '|': the same text after moving a '|'. Not now."""
    a = entry_hash(GENESIS, 1, 1.5, "s", "bot", "tool.result", '{"x":"a|b"}', FORMAT_PIPE)
    b = entry_hash(GENESIS, 1, 1.5, "s", "bot", 'tool.result|{"x":"a', 'b"}', FORMAT_PIPE)
    assert a == b  # the ambiguity being fixed
    store = Store(backend.url)
    chain = AuditChain(store)
    chain.append([AuditRecord("s", "bot", "tool.result", {"x": "a|b"}, 1.5),
                  AuditRecord("s", "bot", "model.call", {"n": 1}, 2.5)])
    assert chain.verify().ok
    backend.drop_audit_triggers()
    backend.sql("""update audit_entry set kind = 'tool.result|{"x":"a', payload = 'b"}'
                   where seq = 1""")
    result = chain.verify()
    assert not result.ok and result.broken_seq == 1 and "does not match its hash" in result.message


def test_odd_text_round_trips_through_append_and_verify(backend: Backend) -> None:
    store = Store(backend.url)
    chain = AuditChain(store)
    nul = not backend.is_postgres
    head = chain.append(_records(40, nul=nul) + _records(5, session=None, nul=nul))
    result = chain.verify()
    assert result.ok and result.entries == 45 and result.head == head
    formats = {f for (f,) in backend.sql("select hash_format from audit_entry")}
    assert formats == {FORMAT_JSON}


def _old_database(url: str, entries: int) -> str:
    """A database at revision 0002 whose chain was written the old way ('|'-joined)."""
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    rows, prev = [], GENESIS
    for seq in range(1, entries + 1):
        ts, payload = 1790000000.25 + seq, canonical({"tool": "write_file", "n": seq})
        h = entry_hash(prev, seq, ts, "old", "clerk", "tool.result", payload, FORMAT_PIPE)
        rows.append({"seq": seq, "ts": ts, "payload": payload, "prev": prev, "hash": h})
        prev = h
    with engine.begin() as conn:
        conn.execute(sql_text(
            "insert into audit_entry (seq, ts, session_id, actor, kind, payload, prev_hash, "
            "hash) values (:seq, :ts, 'old', 'clerk', 'tool.result', :payload, :prev, :hash)"),
            rows)
    engine.dispose()
    return url


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_old_chain_still_verifies_and_grows_in_the_new_format(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite" else \
        request.getfixturevalue("blank_pg")
    db = Backend(kind, _old_database(url, 30))
    store = Store(db.url)  # upgraded in place
    chain = AuditChain(store)
    assert chain.verify().ok and chain.verify().entries == 30
    chain.append(_records(10, nul=not db.is_postgres))
    result = chain.verify()
    assert result.ok and result.entries == 40
    formats = [f for (f,) in db.sql("select hash_format from audit_entry order by seq")]
    assert formats == [FORMAT_PIPE] * 30 + [FORMAT_JSON] * 10
    # an entry may not be passed off as an old-format one once the new format began
    db.drop_audit_triggers()
    db.sql("update audit_entry set hash_format = 1 where seq = 35")
    result = chain.verify()
    assert not result.ok and result.broken_seq == 35
    assert "hash format 1 after format 2" in result.message


def test_verify_names_a_missing_append_only_trigger(tmp_path: Path, capsys,
                                                   backend: Backend) -> None:
    home = tmp_path / "home"
    cli = ["--home", str(home), "--db", backend.url, "audit", "verify"]
    store = Store(backend.url)
    AuditChain(store).append(_records(3, nul=False))
    backend.sql("drop trigger audit_entry_no_delete"
                + (" on audit_entry" if backend.is_postgres else ""))
    capsys.readouterr()
    assert main(cli) == 1
    err = capsys.readouterr().err
    assert "no longer append-only" in err and "refusing DELETE (audit_entry_no_delete)" in err
    # a trigger of the same name that lets some deletes through is no better
    if backend.is_postgres:
        backend.sql("create trigger audit_entry_no_delete before delete on audit_entry "
                    "for each row when (old.seq > 100) "
                    "execute function audit_entry_append_only()")
    else:
        backend.sql("create trigger audit_entry_no_delete before delete on audit_entry "
                    "when old.seq > 100 begin select raise(abort, 'no'); end")
    assert main(cli) == 1
    assert "refusing DELETE" in capsys.readouterr().err


def test_postgres_refuses_update_delete_and_truncate_on_the_audit(pg_url: str, capsys) -> None:
    import psycopg
    from sqlalchemy.exc import DBAPIError

    db = Backend("postgres", pg_url)
    chain = AuditChain(Store(pg_url))
    chain.append(_records(5, nul=False))
    for statement in ("update audit_entry set actor = 'mallory' where seq = 3",
                      "delete from audit_entry where seq = 3",
                      "truncate audit_entry"):
        with pytest.raises(DBAPIError, match="append-only") as caught:
            db.sql(statement)
        assert isinstance(caught.value.orig, psycopg.errors.RaiseException)
    # a superuser skipping ordinary triggers (as replication does) is refused all the same
    with pytest.raises(DBAPIError, match="append-only"):
        db.sql("set local session_replication_role = replica; "
               "delete from audit_entry where seq = 3")
    assert chain.verify().ok and chain.verify().entries == 5


@pytest.mark.parametrize("tamper, missing", [
    ("alter table audit_entry disable trigger audit_entry_no_update", "UPDATE"),
    ("drop trigger audit_entry_no_truncate on audit_entry", "TRUNCATE"),
    ("create or replace function audit_entry_append_only() returns trigger as $$ "
     "begin return old; end; $$ language plpgsql", "UPDATE"),
], ids=["disabled", "no-truncate-guard", "function-neutered"])
def test_verify_names_a_disarmed_postgres_trigger(pg_url: str, tamper: str,
                                                  missing: str) -> None:
    db = Backend("postgres", pg_url)
    chain = AuditChain(Store(pg_url))
    chain.append(_records(3, nul=False))
    assert chain.verify().ok
    db.sql(tamper)
    result = chain.verify()
    assert not result.ok and "no longer append-only" in result.message
    assert f"refusing {missing} " in result.message


@pytest.fixture
def long_chain(backend: Backend) -> tuple[Store, Backend]:
    store = Store(backend.url)
    AuditChain(store).append(_records(900, nul=not backend.is_postgres))
    return store, backend


def test_a_chain_checked_in_parallel_ranges_gives_the_serial_answer(long_chain) -> None:
    """(PostgreSQL streams the chain in one pass: the answers must be the same.)"""
    store, db = long_chain
    chain = AuditChain(store)
    serial = chain.verify(workers=1)
    for workers in (2, 3, 7):
        parallel = chain.verify(workers=workers)
        assert (parallel.ok, parallel.entries, parallel.head) == (True, 900, serial.head)
    db.drop_audit_triggers()
    # the first entry of the third range of three, then one at the start of the second
    db.sql("update audit_entry set actor = 'mallory' where seq = 601")
    for workers in (1, 3):
        result = chain.verify(workers=workers)
        assert (result.ok, result.broken_seq, result.entries) == (False, 601, 600)
        assert "entry 601 (session s1, " in result.message
    db.sql("delete from audit_entry where seq = 301")
    for workers in (1, 3):
        result = chain.verify(workers=workers)
        assert (result.broken_seq, result.message) == (301, "entry 301 is missing (next is 302)")
    db.sql("delete from audit_entry where seq = 300")
    assert chain.verify(workers=3).message == "entry 300 is missing (next is 302)"
