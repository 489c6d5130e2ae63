"""A run whose terminal goes away (SIGHUP) or that is told to stop (SIGTERM, SIGINT) while it
waits for a reviewer ends cancelled, with its end stored and its request expired: nothing
is left running for another command to find."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals and signals")

WAITING = b"waiting for a reviewer"


def _run_in_a_terminal(home: Path) -> tuple[int, int]:
    """`workbench run support-triage --approvals wait` on a pseudo-terminal of its own;
    returns (pid, the terminal's fd) once it waits for a reviewer."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the workbench, as a user would start it in a terminal
        os.environ["WORKBENCH_HOME"] = str(home)
        os.execv(sys.executable, [sys.executable, "-m", "workbench.cli", "run",
                                  "support-triage", "--approvals", "wait"])
    seen = b""
    deadline = time.monotonic() + 120
    while WAITING not in seen:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the run never waited for a reviewer: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child ended: its terminal reads EIO
                raise AssertionError(f"the run ended: {seen[-2000:]!r}") from None
    return pid, fd


def _drain(fd: int) -> None:
    """Read what the child still prints, so it never blocks on a full terminal."""
    try:
        while select.select([fd], [], [], 0.2)[0]:
            if not os.read(fd, 65536):
                return
    except OSError:
        return


@pytest.mark.parametrize("how", ["hangup", "SIGTERM", "SIGINT"])
def test_a_stopped_run_ends_cancelled_with_its_request_expired(tmp_path: Path,
                                                               how: str) -> None:
    home = tmp_path / "home"
    pid, fd = _run_in_a_terminal(home)
    try:
        if how == "hangup":
            os.close(fd)  # the terminal is closed: the kernel hangs up its session
        else:
            os.kill(pid, getattr(signal, how))
            _drain(fd)
        _, status = os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if how != "hangup":
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    con = sqlite3.connect(home / "workbench.db")
    try:
        assert con.execute("select status from session").fetchall() == [("cancelled",)]
        assert con.execute("select status from approval").fetchall() == [("expired",)]
        kinds = [k for (k,) in con.execute("select kind from event order by seq")]
        assert kinds[-3:] == ["approval.requested", "approval.decided", "run.failed"] \
            or kinds[-2:] == ["approval.requested", "run.failed"], kinds[-4:]
        audited = [k for (k,) in con.execute("select kind from audit_entry order by seq")]
        # the run's end, then the expiry of its request (decided as the run closed)
        assert audited[-2:] == ["run.failed", "approval.decided"], audited[-4:]
        assert "approval.requested" in audited
    finally:
        con.close()
