"""Deciding from the terminal: `--approvals prompt` needs a reason to reject, a waiting run
says where it can be decided, and a run's summary reads as English. The runs are on SQLite
and on PostgreSQL (the `backend` fixture, tests/pg.py)."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.pg import Backend
from workbench.cli import main
from workbench.cli.printer import RunPrinter
from workbench.mesh import events as ev
from workbench.mesh.events import Event

ROOT = Path(__file__).resolve().parents[2]


def _prompted_run(home: Path, db: Backend, answers: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_DB": db.url}
    env.pop("WORKBENCH_REVIEWER", None)
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals",
         "prompt", "--reviewer", "dana"],
        input=answers, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _decision(db: Backend) -> tuple[str, str, str]:
    [row] = db.sql("select status, reviewer, decision_reason from approval")
    return row


def test_prompt_asks_again_until_a_rejection_has_a_reason(tmp_path: Path,
                                                          backend: Backend) -> None:
    home = tmp_path / "home"
    done = _prompted_run(home, backend, "r\n\n   \nnot to customers yet\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("a reason is required to reject") == 2
    assert _decision(backend) == ("rejected", "dana", "not to customers yet")
    assert "rejected by dana: not to customers yet" in done.stdout
    # someone is asked at this terminal: no hint about deciding elsewhere
    assert "waiting for a reviewer" not in done.stderr


def test_prompt_rejects_at_end_of_input_while_asking_the_reason(tmp_path: Path,
                                                               backend: Backend) -> None:
    home = tmp_path / "home"
    done = _prompted_run(home, backend, "r\n\n")
    assert done.returncode == 0, done.stderr
    assert "no answer (end of input): rejected" in done.stderr
    status, reviewer, reason = _decision(backend)
    assert (status, reviewer) == ("rejected", "dana") and "end of input" in reason


def _wait_pending(db: Backend, timeout: float = 90) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if row := db.scalar("select id from approval where status='pending'"):
            return row
        time.sleep(0.1)
    raise AssertionError("no approval was requested")


def _with_password(url: str) -> str:
    """The URL with a password in it (the test server trusts every local login)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)


def test_a_waiting_run_says_how_to_decide(tmp_path: Path, backend: Backend) -> None:
    """The command it prints reaches the run's database: the home, and the database when
    one was named on the command line (its password masked)."""
    home = tmp_path / "my home"
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_HOME", "WORKBENCH_DB")}
    url = _with_password(backend.url) if backend.is_postgres else backend.url
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), "--db", url, "run",
         "support-triage", "--approvals", "wait", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        approval_id = _wait_pending(backend)
        assert main(["--home", str(home), "--db", url, "approvals", "approve",
                     approval_id]) == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "s3cret-pw" not in err
    shown = url.replace("s3cret-pw", "***")
    command = f"workbench --home '{home}' --db {shlex.quote(shown)}"
    assert f"decide in `{command} review`" in err
    assert f"`{command} approvals approve {approval_id}`" in err
    assert f"`{command} approvals reject {approval_id} --reason TEXT`" in err
    # stdout stays JSON Lines
    assert all(line.startswith("{") for line in out.splitlines())


def test_the_reviewer_comes_from_the_environment(tmp_path: Path, monkeypatch, capsys,
                                                 backend: Backend) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_DB", backend.url)
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env, cwd=ROOT)
    try:
        approval_id = _wait_pending(backend)
        monkeypatch.setenv("WORKBENCH_REVIEWER", "erin")
        assert main(["--home", str(home), "approvals", "reject", approval_id, "--reason",
                     "not yet"]) == 0
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "as erin" in capsys.readouterr().out
    assert _decision(backend) == ("rejected", "erin", "not yet")


# -- how a run's end reads ----------------------------------------------------------------


def _summary(kind: str, content: str, **data) -> str:
    out = io.StringIO()
    printer = RunPrinter(out=out, color=False)
    base = {"status": "completed", "turns": 1, "prompt_tokens": 1, "completion_tokens": 0,
            "cost_usd": 0.0, "cost_known": True, "model_calls": 1, "tool_calls": 1,
            "elapsed_s": 0.5}
    printer(Event(kind, None, None, content, {**base, **data}, session_id="s1", seq=9))
    return out.getvalue()


def test_a_summary_agrees_in_number() -> None:
    one = _summary(ev.RUN_COMPLETED, "done")
    assert "· 1 turn · 1 token · $0.0000 · 1 model call · 1 tool call ·" in one
    many = _summary(ev.RUN_COMPLETED, "done", turns=4, prompt_tokens=1200, model_calls=7,
                    tool_calls=0)
    assert "· 4 turns · 1,200 tokens · $0.0000 · 7 model calls · 0 tool calls ·" in many


def test_a_cancelled_run_does_not_say_cancelled_twice() -> None:
    plain = _summary(ev.RUN_FAILED, "cancelled", status="cancelled")
    assert plain.startswith("■ cancelled in 0.50 s")
    assert "reason" not in plain and plain.count("cancelled") == 1
    by_user = _summary(ev.RUN_FAILED, "cancelled by the user", status="cancelled")
    assert by_user.startswith("■ cancelled by the user in 0.50 s")
    assert by_user.count("cancelled") == 1
    failed = _summary(ev.RUN_FAILED, "provider openai: rate limited", status="failed")
    assert failed.startswith("✘ failed in") and "  reason: provider openai: rate limited" \
        in failed


def test_a_one_agent_crew_validates_as_one_agent(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    crew = tmp_path / "solo.yaml"
    crew.write_text("name: solo\nmodel: scripted/demo\ntopology: {kind: network}\n"
                    "agents:\n  - {name: only, role: Analyst, goal: Answer}\n")
    assert main(["crews", "validate", str(crew)]) == 0
    assert "(solo: 1 agent, autogen, network)" in capsys.readouterr().out
