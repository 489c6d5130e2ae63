"""Ctrl-C during a CrewAI run: the `workbench` process always exits 130, cleanly, with the
session stored as cancelled, even while the crew's abandoned thread is still busy."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:
    # a background job of a non-interactive shell starts with SIGINT ignored; a terminal's
    # Ctrl-C reaches a process that has Python's own handler
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_and_interrupt(home: Path, after_s: float) -> tuple[int, str]:
    """`workbench run support-triage --engine crewai`, SIGINT `after_s` into the run."""
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("WORKBENCH_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--engine", "crewai",
         "--approvals", "deny", "--json"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["kind"] == "run.started"
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.parametrize("after_s", [0.0, 0.8, 1.6, 2.4, 3.2])
def test_ctrl_c_during_a_crewai_run_exits_130_with_the_session_cancelled(
        tmp_path: Path, after_s: float) -> None:
    home = tmp_path / "home"
    code, err = _run_and_interrupt(home, after_s)
    assert "Fatal Python error" not in err, err
    assert "Traceback" not in err, err
    assert code == 130, err
    con = sqlite3.connect(home / "workbench.db")
    assert con.execute("select status from session").fetchall() == [("cancelled",)]


#: The `workbench` command with one more thread, not a daemon, busy in SQLite calls until
#: the process ends: what an abandoned engine thread looks like at exit, every time.
_WITH_BUSY_THREAD = """\
import runpy, sqlite3, sys, threading

def busy() -> None:
    con = sqlite3.connect(":memory:")
    while True:
        con.execute("with recursive c(x) as (select 1 union all select x + 1 from c "
                    "where x < 20000) select sum(x) from c").fetchall()

threading.Thread(target=busy, name="crew-leftover").start()
sys.argv = ["workbench", *sys.argv[1:]]
runpy.run_module("workbench.cli", run_name="__main__")
"""


def test_ctrl_c_ends_the_process_even_with_a_busy_thread_left_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("WORKBENCH_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WITH_BUSY_THREAD, "run", "support-triage", "--engine",
         "crewai", "--approvals", "deny", "--json"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["kind"] == "run.started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the process did not end after its run was cancelled")
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Fatal Python error" not in err, err
    con = sqlite3.connect(home / "workbench.db")
    assert con.execute("select status from session").fetchall() == [("cancelled",)]
