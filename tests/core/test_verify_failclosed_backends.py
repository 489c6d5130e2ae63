"""A store that stops taking events or audit entries mid-run stops the run, on SQLite and on
PostgreSQL alike: exit 1 with the reason, the session stored as failed, no tool run after
the failure, and the audit that was kept still verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_store_fail_closed import FILES, _filer, _written
from tests.pg import Backend
from workbench.cli import main


def _refuse(backend: Backend, table: str, after_seq: int) -> None:
    """Inserts into `table` past entry `after_seq` fail inside the database."""
    if backend.is_postgres:
        backend.sql("CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device'; END; "
                    "$$ LANGUAGE plpgsql")
        backend.sql(f"CREATE TRIGGER disk_full BEFORE INSERT ON {table} FOR EACH ROW "
                    f"WHEN (NEW.seq > {after_seq}) EXECUTE FUNCTION disk_full()")
    else:
        backend.sql(f"CREATE TRIGGER disk_full BEFORE INSERT ON {table} "
                    f"WHEN NEW.seq > {after_seq} "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")


@pytest.mark.parametrize("table, what", [("event", "the run's events"),
                                         ("audit_entry", "the audit trail")])
def test_a_store_that_stops_taking_writes_stops_the_run(
        tmp_path: Path, capsys, backend: Backend, table: str, what: str) -> None:
    home = tmp_path / "home"
    _refuse(backend, table, after_seq=12)
    capsys.readouterr()
    code = main(["--home", str(home), "--db", backend.url, "run", str(_filer(tmp_path)),
                 "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{what} could not be stored" in err, err
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert printed[-1]["kind"] == "run.failed"
    [(status, error)] = backend.sql("select status, error from session")
    assert status == "failed" and f"{what} could not be stored" in error
    assert 0 < len(_written(home)) < FILES  # stopped at once, not after every note
    backend.sql("drop trigger disk_full" + (" on " + table if backend.is_postgres else ""))
    capsys.readouterr()
    assert main(["--home", str(home), "--db", backend.url, "audit", "verify"]) == 0
