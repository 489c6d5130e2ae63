"""`audit verify` against an intruder with write access: a reordered entry, and append-only
triggers left in place but disarmed (they exist, yet refuse nothing), on SQLite and
PostgreSQL; and a run whose record fails at its very end is not told as completed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.pg import Backend
from workbench.cli import main
from workbench.store.audit import AuditChain, AuditRecord
from workbench.store.db import Store


def _chain(backend: Backend, n: int = 6) -> AuditChain:
    chain = AuditChain(Store(backend.url))
    chain.append([AuditRecord("s1", "bot", "model.call", {"n": i}, 1796000000.0 + i)
                  for i in range(n)])
    assert chain.verify().ok
    return chain


def test_two_entries_swapped_are_named(backend: Backend, capsys) -> None:
    chain = _chain(backend)
    backend.drop_audit_triggers()
    # each row keeps its own hash: only the order changes
    backend.sql("update audit_entry set seq = -1 where seq = 3")
    backend.sql("update audit_entry set seq = 3 where seq = 4")
    backend.sql("update audit_entry set seq = 4 where seq = -1")
    backend.restore_audit_triggers()
    result = chain.verify()
    assert not result.ok and result.broken_seq == 3
    assert "entry 3 (session s1, model.call) does not match its hash" in result.message


#: Triggers of the right name and event that never refuse anything.
SQLITE_DISARMED = [
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only') WHERE 0; END",
    "BEGIN SELECT 1; /* RAISE(ABORT, 'x') */ END",
]
PG_DISARMED = [
    "BEGIN IF false THEN RAISE EXCEPTION 'the audit trail is append-only'; END IF; "
    "RETURN OLD; END;",
    "BEGIN RETURN OLD; /* RAISE EXCEPTION 'x'; */ END;",
]


@pytest.mark.parametrize("variant", [0, 1])
def test_a_trigger_that_refuses_nothing_is_reported(backend: Backend, capsys,
                                                    variant: int) -> None:
    chain = _chain(backend)
    if backend.is_postgres:
        backend.sql("CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS "
                    f"$$ {PG_DISARMED[variant]} $$ LANGUAGE plpgsql")
    else:
        backend.sql("DROP TRIGGER audit_entry_no_delete")
        backend.sql("CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
                    + SQLITE_DISARMED[variant])
    result = chain.verify()
    assert not result.ok and "no longer append-only" in result.message
    assert "refusing DELETE (audit_entry_no_delete)" in result.message
    # it was disarmed indeed: a delete goes through
    backend.sql("delete from audit_entry where seq = 6")
    assert backend.scalar("select count(*) from audit_entry") == 5


def test_triggers_as_the_migrations_made_them_still_count(backend: Backend) -> None:
    chain = _chain(backend)
    backend.drop_audit_triggers()
    backend.restore_audit_triggers()
    assert chain.verify().ok


def test_a_record_lost_in_the_runs_last_batch_ends_it_as_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The audit of the last model call fails just before the run ends: the run must end
    with run.failed (stream, events, session and exit code agree), not print completed."""
    turns = 6
    crew = {"name": "talkers", "engine": "autogen", "model": "scripted/demo",
            "topology": {"kind": "network", "max_turns": turns},
            "agents": [{"name": n, "role": n.title(), "goal": "Talk"} for n in ("ann", "bob")],
            "script": [{"agent": ("ann", "bob")[i % 2], "say": f"Point {i}"}
                       for i in range(turns)]}
    path = tmp_path / "talkers.yaml"
    path.write_text(yaml.safe_dump(crew))
    home = tmp_path / "home"
    db = home / "workbench.db"
    Store(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER disk_full BEFORE INSERT ON audit_entry "
                "WHEN NEW.kind = 'model.call' AND (SELECT count(*) FROM audit_entry "
                f"WHERE kind = 'model.call') >= {turns - 1} "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    capsys.readouterr()
    code = main(["--home", str(home), "run", str(path), "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "the audit trail could not be stored" in err and "disk is full" in err
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [e["kind"] for e in printed].count("model.call") == turns
    assert printed[-1]["kind"] == "run.failed", printed[-1]
    assert "the audit trail could not be stored" in printed[-1]["content"]
    status, = con.execute("select status from session").fetchone()
    last, = con.execute("select kind from event order by seq desc limit 1").fetchone()
    assert (status, last) == ("failed", "run.failed")
    con.close()


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_request_enters_the_chain_before_its_decision(tmp_path: Path, engine: str) -> None:
    """--approvals deny decides at once: the decision must still follow the request."""
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--engine", engine,
                 "--approvals", "deny"]) == 0
    con = sqlite3.connect(home / "workbench.db")
    rows = con.execute("select seq, kind, payload from audit_entry "
                       "where kind in ('approval.requested', 'approval.decided')").fetchall()
    con.close()
    seqs = {(kind, json.loads(payload)["approval_id"]): seq for seq, kind, payload in rows}
    ids = {a for _, a in seqs}
    assert ids
    for approval in ids:
        assert seqs["approval.requested", approval] < seqs["approval.decided", approval]
