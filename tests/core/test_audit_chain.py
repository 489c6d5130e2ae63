"""The audit chain's hash input is unambiguous, old chains still verify, ranges join right."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

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


def _records(n: int, session: str | None = "s1") -> list[AuditRecord]:
    return [AuditRecord(session, ODD[i % len(ODD)], f"kind.{ODD[(i + 3) % len(ODD)]}",
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


def test_moving_a_bar_between_kind_and_payload_is_caught(tmp_path: Path) -> None:
    """The old input joined fields with '|': the same text after moving a '|'. Not now."""
    a = entry_hash(GENESIS, 1, 1.5, "s", "bot", "tool.result", '{"x":"a|b"}', FORMAT_PIPE)
    b = entry_hash(GENESIS, 1, 1.5, "s", "bot", 'tool.result|{"x":"a', 'b"}', FORMAT_PIPE)
    assert a == b  # the ambiguity being fixed
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    chain = AuditChain(store)
    chain.append([AuditRecord("s", "bot", "tool.result", {"x": "a|b"}, 1.5),
                  AuditRecord("s", "bot", "model.call", {"n": 1}, 2.5)])
    assert chain.verify().ok
    con = sqlite3.connect(tmp_path / "wb.db")
    con.execute("drop trigger audit_entry_no_update")
    con.execute("""update audit_entry set kind = 'tool.result|{"x":"a', payload = 'b"}'
                   where seq = 1""")
    con.commit()
    result = chain.verify()
    assert not result.ok and result.broken_seq == 1 and "does not match its hash" in result.message


def test_odd_text_round_trips_through_append_and_verify(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    chain = AuditChain(store)
    head = chain.append(_records(40) + _records(5, session=None))
    result = chain.verify()
    assert result.ok and result.entries == 45 and result.head == head
    formats = {f for (f,) in sqlite3.connect(tmp_path / "wb.db").execute(
        "select hash_format from audit_entry")}
    assert formats == {FORMAT_JSON}


def _old_database(path: Path, entries: int) -> str:
    """A database at revision 0002 whose chain was written the old way ('|'-joined)."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    engine.dispose()
    con = sqlite3.connect(path)
    prev = GENESIS
    for seq in range(1, entries + 1):
        ts, payload = 1790000000.25 + seq, canonical({"tool": "write_file", "n": seq})
        h = entry_hash(prev, seq, ts, "old", "clerk", "tool.result", payload, FORMAT_PIPE)
        con.execute("insert into audit_entry (seq, ts, session_id, actor, kind, payload, "
                    "prev_hash, hash) values (?, ?, 'old', 'clerk', 'tool.result', ?, ?, ?)",
                    (seq, ts, payload, prev, h))
        prev = h
    con.commit()
    con.close()
    return url


def test_an_old_chain_still_verifies_and_grows_in_the_new_format(tmp_path: Path) -> None:
    url = _old_database(tmp_path / "old.db", 30)
    store = Store(url)  # upgraded in place
    chain = AuditChain(store)
    assert chain.verify().ok and chain.verify().entries == 30
    chain.append(_records(10))
    result = chain.verify()
    assert result.ok and result.entries == 40
    con = sqlite3.connect(tmp_path / "old.db")
    formats = [f for (f,) in con.execute("select hash_format from audit_entry order by seq")]
    assert formats == [FORMAT_PIPE] * 30 + [FORMAT_JSON] * 10
    # an entry may not be passed off as an old-format one once the new format began
    con.execute("drop trigger audit_entry_no_update")
    con.execute("update audit_entry set hash_format = 1 where seq = 35")
    con.commit()
    result = chain.verify()
    assert not result.ok and result.broken_seq == 35
    assert "hash format 1 after format 2" in result.message


def test_verify_names_a_missing_append_only_trigger(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'workbench.db'}")
    AuditChain(store).append(_records(3))
    con = sqlite3.connect(home / "workbench.db")
    con.execute("drop trigger audit_entry_no_delete")
    con.commit()
    capsys.readouterr()
    assert main(["--home", str(home), "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "no longer append-only" in err and "refusing DELETE (audit_entry_no_delete)" in err
    # a trigger of the same name that lets some deletes through is no better
    con.execute("create trigger audit_entry_no_delete before delete on audit_entry "
                "when old.seq > 100 begin select raise(abort, 'no'); end")
    con.commit()
    assert main(["--home", str(home), "audit", "verify"]) == 1
    assert "refusing DELETE" in capsys.readouterr().err


@pytest.fixture
def long_chain(tmp_path: Path) -> tuple[Store, Path]:
    db = tmp_path / "wb.db"
    store = Store(f"sqlite:///{db}")
    AuditChain(store).append(_records(900))
    return store, db


def test_a_chain_checked_in_parallel_ranges_gives_the_serial_answer(long_chain) -> None:
    store, db = long_chain
    chain = AuditChain(store)
    serial = chain.verify(workers=1)
    for workers in (2, 3, 7):
        parallel = chain.verify(workers=workers)
        assert (parallel.ok, parallel.entries, parallel.head) == (True, 900, serial.head)
    con = sqlite3.connect(db)
    con.execute("drop trigger audit_entry_no_update")
    con.execute("drop trigger audit_entry_no_delete")
    # the first entry of the third range of three, then one at the start of the second
    con.execute("update audit_entry set actor = 'mallory' where seq = 601")
    con.commit()
    for workers in (1, 3):
        result = chain.verify(workers=workers)
        assert (result.ok, result.broken_seq, result.entries) == (False, 601, 600)
        assert "entry 601 (session s1, " in result.message
    con.execute("delete from audit_entry where seq = 301")
    con.commit()
    for workers in (1, 3):
        result = chain.verify(workers=workers)
        assert (result.broken_seq, result.message) == (301, "entry 301 is missing (next is 302)")
    con.execute("delete from audit_entry where seq = 300")
    con.commit()
    assert chain.verify(workers=3).message == "entry 300 is missing (next is 302)"
