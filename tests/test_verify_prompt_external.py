"""`workbench run --approvals prompt`: an action tagged `external` (an email) is approved
only after a second yes on the terminal, as the TUI asks on a/A; other actions take one key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.governance.test_enforcement import MAILER
from tests.pg import Backend

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
SECOND = "this sends outside: approve? [y/N]"


def _run(tmp_path: Path, crew_text: str, answers: str) -> subprocess.CompletedProcess[str]:
    crew = tmp_path / "crew.yaml"
    crew.write_text(crew_text)
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKBENCH_DB", "WORKBENCH_POLICIES", "WORKBENCH_REVIEWER")}
    env["WORKBENCH_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--policies", str(POLICIES), "run", str(crew),
         "--approvals", "prompt", "--reviewer", "rita", "--json"],
        input=answers, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)


def _approval(tmp_path: Path) -> tuple[str, str, int]:
    db = Backend("sqlite", f"sqlite:///{tmp_path / 'home' / 'workbench.db'}")
    [row] = db.sql("select status, decision_reason, always from approval")
    return row


def _sent(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "home" / "sessions").glob("*/outbox/*.eml"))


def _result(out: str) -> dict:
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return next(e for e in events if e["kind"] == "tool.result")


def test_a_single_a_on_an_email_sends_nothing(tmp_path: Path) -> None:
    """`a`, then the end of input: the second question is not answered, so no yes."""
    done = _run(tmp_path, MAILER, "a\n")
    assert done.returncode == 0, done.stderr
    assert SECOND in done.stderr
    status, reason, _ = _approval(tmp_path)
    assert status == "rejected" and "end of input" in reason
    assert not _result(done.stdout)["data"]["ok"]
    assert _sent(tmp_path) == []


def test_no_to_the_second_question_asks_again(tmp_path: Path) -> None:
    done = _run(tmp_path, MAILER, "a\nn\nA\n\nr\nnot to customers yet\n")
    assert done.returncode == 0, done.stderr
    # a no (n, or just enter) approves nothing and puts the first question again
    assert done.stderr.count(SECOND) == 2
    assert done.stderr.count("not approved: choose again") == 2
    assert _approval(tmp_path)[:2] == ("rejected", "not to customers yet")
    assert _sent(tmp_path) == []


def test_a_then_yes_sends_the_email(tmp_path: Path) -> None:
    done = _run(tmp_path, MAILER, "a\ny\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(SECOND) == 1
    assert _approval(tmp_path)[0] == "approved"
    assert _result(done.stdout)["data"]["ok"]
    assert len(_sent(tmp_path)) == 1


def test_always_then_yes_approves_for_the_session(tmp_path: Path) -> None:
    done = _run(tmp_path, MAILER, "A\nyes\n")
    assert done.returncode == 0, done.stderr
    status, _, always = _approval(tmp_path)
    assert (status, bool(always)) == ("approved", True)
    assert len(_sent(tmp_path)) == 1


def test_an_action_that_stays_inside_takes_one_key(tmp_path: Path) -> None:
    """A trusted function is a custom tool (the shipped policy asks a reviewer for it), not
    an external one: `a` alone approves it."""
    crew = yaml.safe_dump({
        "name": "fn-crew", "description": "Uses a function from the file",
        "model": "scripted/demo", "topology": {"kind": "network", "max_turns": 2},
        "agents": [{"name": "assistant", "role": "Assistant", "goal": "Compute",
                    "tools": ["function:add"]}],
        "functions": {"add": {"description": "Add two numbers", "trusted": True,
                              "source_code": "def add(a: float, b: float) -> str:\n"
                                             "    return str(a + b)\n"}},
        "script": [{"agent": "assistant", "call": "add", "args": {"a": 2, "b": 3}},
                   {"agent": "assistant", "say": "5. TERMINATE"}],
    }, sort_keys=False)
    done = _run(tmp_path, crew, "a\n")
    assert done.returncode == 0, done.stderr
    assert "[a]pprove once" in done.stderr and SECOND not in done.stderr
    assert _approval(tmp_path)[0] == "approved"
    assert _result(done.stdout)["content"] == "5.0"
