"""Approvals decided from another process, expiry, and a tamper-evident audit trail.

On SQLite and on PostgreSQL (the `backend` fixture, tests/pg.py): every test's home has its
database at `backend.url`, given to the CLI as WORKBENCH_DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from tests.pg import Backend
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _database(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, in this process and in the runs it starts, uses the backend's database."""
    monkeypatch.setenv("WORKBENCH_DB", backend.url)


def _start_run(home: Path, *extra: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(home), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait",
         "--json", *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)


def _wait_pending(db: Backend, proc: subprocess.Popen | None = None,
                  timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            row = db.scalar("select id from approval where status='pending'")
        except DBAPIError:  # not created yet
            row = None
        if row:
            return row
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) without asking for an "
                                 f"approval: {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    raise AssertionError("no approval was requested")


def _wait_stored(db: Backend, kind: str, timeout: float = 60) -> None:
    """Until the run's writer has stored an event of `kind`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.sql("select 1 from event where kind = :k", {"k": kind}):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event was stored")


def _finish(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def _outbox(home: Path) -> list[Path]:
    return list((home / "sessions").glob("*/outbox/*.eml"))


def _audit(db: Backend) -> list[tuple]:
    return db.sql("select actor, kind, payload from audit_entry order by seq")


@pytest.mark.parametrize("edit", [False, True], ids=["approve", "edit-and-approve"])
def test_a_second_process_approves_and_the_run_goes_on(tmp_path: Path, capsys, edit: bool,
                                                       backend: Backend) -> None:
    home = tmp_path / "home"
    proc = _start_run(home)
    try:
        approval = _wait_pending(backend, proc)
        # approving succeeds only while the run still waits (a run that moved on or ended
        # leaves a request that cannot be decided): exit 0 here proves the run waited
        args = ["--home", str(home), "approvals", "approve", approval[:6], "--reviewer", "rita"]
        if edit:
            args += ["--args", json.dumps({"to": "it@acme.example.com", "subject": "Edited",
                                           "body": "Reviewed text."})]
        decided_at = time.time()
        assert main(args) == 0
        events = _finish(proc)
    finally:
        proc.kill()
    decided = next(e for e in events if e["kind"] == "approval.decided")
    assert decided["data"]["reviewer"] == "rita" and decided["data"]["decision"] == "approved"
    # the run polls every 0.25 s and promises a pickup within a second; the bound is ten
    # times that, so a loaded machine passes and a run that stops polling does not
    assert decided["ts"] - decided_at < 10, "the decision was not picked up in time"
    mails = _outbox(home)
    assert len(mails) == 1
    assert ("Subject: Edited" in mails[0].read_text()) == edit
    audit = _audit(backend)
    assert ("rita", "approval.decided") in [(a, k) for a, k, _ in audit]
    assert main(["--home", str(home), "audit", "verify"]) == 0


def test_a_rejection_reaches_the_agent_with_its_reason(tmp_path: Path, backend: Backend) -> None:
    home = tmp_path / "home"
    proc = _start_run(home)
    try:
        approval = _wait_pending(backend, proc)
        assert main(["--home", str(home), "approvals", "reject", approval, "--reason",
                     "customer asked for phone only", "--reviewer", "sam"]) == 0
        events = _finish(proc)
    finally:
        proc.kill()
    assert _outbox(home) == []
    result = next(e for e in events if e["kind"] == "tool.result"
                  and e["data"]["tool"] == "send_email")
    assert not result["data"]["ok"]
    assert "rejected by sam: customer asked for phone only" in result["content"]
    assert events[-1]["kind"] == "run.completed"
    payloads = [json.loads(p) for a, k, p in _audit(backend) if k == "approval.decided"]
    assert payloads[0]["reason"] == "customer asked for phone only"


def test_a_pending_approval_expires_as_rejected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = _start_run(home, env_extra={"WORKBENCH_APPROVAL_TIMEOUT": "1"})
    try:
        events = _finish(proc)
    finally:
        proc.kill()
    decided = next(e for e in events if e["kind"] == "approval.decided")
    assert decided["data"]["decision"] == "expired"
    assert _outbox(home) == []


def test_deciding_twice_is_a_clear_error(tmp_path: Path, capsys, backend: Backend) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--approvals", "deny"]) == 0
    approval = backend.scalar("select id from approval")
    capsys.readouterr()
    assert main(["--home", str(home), "approvals", "approve", approval]) == 2
    assert "already rejected" in capsys.readouterr().err
    assert main(["--home", str(home), "approvals", "reject", "nope", "--reason", "x"]) == 2


def test_edited_arguments_must_fit_the_tool(tmp_path: Path, capsys, backend: Backend) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--approvals", "deny"]) == 0
    approval = backend.scalar("select id from approval")
    # pending again, as if the run still waited
    backend.sql("update approval set status='pending', decided_at=null, expires_at=:t",
                {"t": time.time() + 600})
    capsys.readouterr()
    code = main(["--home", str(home), "approvals", "approve", approval, "--args",
                 '{"too": "it@acme.example.com"}'])
    err = capsys.readouterr().err
    assert code == 2
    assert "send_email takes to, subject, body: no argument 'too'; 'body', 'subject', 'to' missing" \
        in err
    assert backend.scalar("select status from approval") == "pending"


def test_prompt_without_a_terminal_answer_rejects_at_end_of_input(tmp_path: Path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals",
         "prompt", "--reviewer", "dana"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no answer (end of input): rejected" in done.stderr
    assert "rejected by dana" in done.stdout or "rejected by dana" in done.stderr


# -- tamper evidence ------------------------------------------------------------------------


@pytest.fixture
def audited_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for crew in ("market-entry", "support-triage"):
        assert main(["--home", str(home), "run", crew, "--approvals", "deny"]) == 0
    return home


def test_triggers_refuse_update_and_delete(audited_home: Path, backend: Backend) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        backend.sql("update audit_entry set actor = 'mallory' where seq = 3")
    with pytest.raises(DBAPIError, match="append-only"):
        backend.sql("delete from audit_entry where seq = 3")
    assert main(["--home", str(audited_home), "audit", "verify"]) == 0


def test_an_edited_entry_is_named(audited_home: Path, capsys, backend: Backend) -> None:
    backend.drop_audit_triggers()
    backend.sql("update audit_entry set actor = 'mallory' "
                "where seq = (select min(seq) from audit_entry where kind='policy.decision')")
    seq = backend.scalar("select min(seq) from audit_entry where kind='policy.decision'")
    capsys.readouterr()
    assert main(["--home", str(audited_home), "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"entry {seq} " in err and "does not match its hash" in err


def test_a_deleted_entry_is_named(audited_home: Path, capsys, backend: Backend) -> None:
    backend.drop_audit_triggers()
    backend.sql("delete from audit_entry where seq = 5")
    capsys.readouterr()
    assert main(["--home", str(audited_home), "audit", "verify"]) == 1
    assert "entry 5 is missing" in capsys.readouterr().err


def test_a_truncated_tail_is_caught_with_the_expected_head(audited_home: Path, capsys,
                                                           backend: Backend) -> None:
    capsys.readouterr()
    assert main(["--home", str(audited_home), "audit", "head"]) == 0
    head = capsys.readouterr().out.strip()
    backend.drop_audit_triggers()
    backend.sql("delete from audit_entry where seq = (select max(seq) from audit_entry)")
    assert main(["--home", str(audited_home), "audit", "verify"]) == 1  # triggers missing
    backend.restore_audit_triggers()
    assert main(["--home", str(audited_home), "audit", "verify"]) == 0
    capsys.readouterr()
    assert main(["--home", str(audited_home), "audit", "verify", "--expect-head", head]) == 1
    assert "not the expected" in capsys.readouterr().err


def test_the_audit_keeps_no_secret_and_no_prompt_text(audited_home: Path,
                                                      backend: Backend) -> None:
    text = " ".join(p for _, _, p in _audit(backend))
    assert "dana.smith@acme.example.com" not in text and "7946 0958" not in text
    assert "Serviceable market is about" not in text  # messages enter only as digests
    kinds = {k for _, k, _ in _audit(backend)}
    assert {"run.started", "model.call", "tool.result", "policy.decision",
            "approval.requested", "approval.decided", "run.completed"} <= kinds


def test_a_kept_head_still_verifies_after_later_runs(audited_home: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["--home", str(audited_home), "audit", "head"]) == 0
    head = capsys.readouterr().out.strip()
    assert main(["--home", str(audited_home), "run", "support-triage", "--approvals", "deny"]) == 0
    assert main(["--home", str(audited_home), "audit", "verify", "--expect-head", head]) == 0
    assert main(["--home", str(audited_home), "audit", "verify", "--expect-head", "ab" * 32]) == 1


# -- a run that dies -----------------------------------------------------------------------


def test_a_killed_run_is_interrupted_and_its_approval_cannot_be_decided(
        tmp_path: Path, capsys, backend: Backend) -> None:
    import signal

    home = tmp_path / "home"
    proc = _start_run(home)
    try:
        approval = _wait_pending(backend, proc)
        _wait_stored(backend, "approval.requested")  # the last event before the run waits
        events_before = backend.scalar("select count(*) from event")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "list"]) == 0
    assert " interrupted " in capsys.readouterr().out
    [(status, error)] = backend.sql("select status, error from session")
    assert status == "interrupted" and f"process {proc.pid} ended" in error
    assert backend.scalar("select count(*) from event") == events_before > 0
    assert backend.scalar("select status from approval") == "expired"

    assert main(["--home", str(home), "approvals", "approve", approval]) == 2
    err = capsys.readouterr().err
    assert f"approval {approval} was already expired, and its run" in err
    assert "is interrupted, so nothing waits for a decision" in err
    assert main(["--home", str(home), "approvals", "reject", approval, "--reason", "x"]) == 2
    assert main(["--home", str(home), "sessions", "list"]) == 0  # marked once, not again
    kinds = [k for _, k, _ in _audit(backend)]
    assert kinds.count("session.interrupted") == 1
    assert kinds[-2:] == ["session.interrupted", "approval.decided"]
    assert main(["--home", str(home), "audit", "verify"]) == 0


def test_an_ended_runs_request_is_refused_not_approved(tmp_path: Path, capsys,
                                                       backend: Backend) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--approvals", "deny"]) == 0
    approval = backend.scalar("select id from approval")
    # pending again, as if the run had left it waiting when it ended
    backend.sql("update approval set status='pending', decided_at=null, expires_at=:t",
                {"t": time.time() + 600})
    capsys.readouterr()
    assert main(["--home", str(home), "approvals", "approve", approval]) == 2
    err = capsys.readouterr().err
    assert "cannot be decided: its run (session" in err and "is completed" in err
    assert backend.scalar("select status from approval") == "pending"
