"""After a full disk: the log file that cannot be written prints no traceback, and sessions
can still be listed though a run left behind cannot be marked interrupted."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.store.db import Store


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_file_on_a_full_disk_prints_no_traceback(tmp_path: Path) -> None:
    logs = tmp_path / "home" / "logs"
    logs.mkdir(parents=True)
    (logs / "workbench.log").symlink_to("/dev/full")  # every write: ENOSPC
    code = ("import logging, pathlib, sys, types\n"
            "from workbench.logs import log_to_file\n"
            "log_to_file(types.SimpleNamespace(home=pathlib.Path(sys.argv[1])))\n"
            "logging.getLogger('workbench.x').warning('could not store the end')\n"
            "logging.getLogger('workbench.x').error('again', exc_info=ValueError('v'))\n"
            "print('went on')\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "went on\n"
    assert done.stderr == ""


def test_sessions_are_listed_when_a_lapsed_run_cannot_be_marked(tmp_path: Path,
                                                                capsys) -> None:
    home = tmp_path / "home"
    db = home / "workbench.db"
    store = Store(f"sqlite:///{db}")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.create_session(id="s" * 32, crew_name="talkers", engine="autogen",
                         topology="network", owner_pid=dead.pid)
    store.close()
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER disk_full BEFORE UPDATE ON session "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    con.close()
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "list"]) == 0
    out, err = capsys.readouterr()
    assert "talkers" in out and "running" in out
    assert "could not be marked interrupted" in err and "disk is full" in err
    assert "internal error" not in err
