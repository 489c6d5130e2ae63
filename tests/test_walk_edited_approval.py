"""A reviewer who approves with edited arguments: the run's terminal says what they became."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.pg import wait_for
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_run_prints_the_arguments_a_reviewer_edited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("WORKBENCH_DB", None)
    run = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "support-triage",
                            "--approvals", "wait"], cwd=ROOT, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        def pending() -> tuple[str, str] | None:
            if run.poll() is not None:
                raise AssertionError(f"the run ended: {run.communicate()[1]}")
            db = home / "workbench.db"
            if not db.exists():
                return None
            with sqlite3.connect(db) as con:
                try:
                    row = con.execute("select id, args from approval "
                                      "where status = 'pending'").fetchone()
                except sqlite3.OperationalError:  # tables not there yet
                    return None
            return row
        approval, asked = wait_for(pending, timeout=120)
        args = {**json.loads(asked), "to": "help@acme.example.com"}
        assert main(["--home", str(home), "approvals", "approve", approval,
                     "--args", json.dumps(args), "--reviewer", "rita"]) == 0
        out, err = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, err
    decided = next(line for line in out.splitlines() if f"approval {approval} approved" in line)
    # only what changed is shown, in the spelling of the tool call lines
    assert decided.strip() == (f"▶ approval {approval} approved by rita with edited arguments: "
                               "to='help@acme.example.com'")
    assert "queued email to help@acme.example.com" in out
