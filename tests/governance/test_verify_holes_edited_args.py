"""A reviewer's edited arguments are a new call wherever the decision is made: on the run's
terminal (`--approvals prompt`), with `approvals approve --args`, and in `workbench review`,
on both engines. The edit is judged by the policy again (a domain's deny wins) and nothing
the reviewer did not approve is sent; an edit left unfinished approves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.governance.test_enforcement import MAILER, ORIGINAL
from tests.governance.test_review_cli import _wait_pending
from tests.pg import Backend
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
GMAIL = {**ORIGINAL, "to": "someone@gmail.com"}


def _run(tmp_path: Path, engine: str, approvals: str, answers: str | None = None
         ) -> subprocess.Popen[str]:
    crew = tmp_path / "mailer.yaml"
    crew.write_text(MAILER)
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    env.pop("WORKBENCH_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--policies", str(POLICIES), "run", str(crew),
         "--engine", engine, "--approvals", approvals, "--reviewer", "rita", "--json"],
        stdin=subprocess.PIPE if answers is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _db(home: Path) -> Backend:
    return Backend("sqlite", f"sqlite:///{home / 'workbench.db'}")


def _waiting(proc: subprocess.Popen[str], home: Path) -> str:
    """The id of the approval the run waits for, once its database is there."""
    db = _db(home)
    while proc.poll() is None:
        try:
            db.scalar("select count(*) from approval")
            break
        except Exception:
            time.sleep(0.05)
    return _wait_pending(db)


def _sent(home: Path) -> list[Path]:
    return list((home / "sessions").glob("*/outbox/*.eml"))


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# -- the run's own terminal ----------------------------------------------------------------


def test_an_edit_left_unfinished_at_the_prompt_approves_nothing(tmp_path: Path) -> None:
    """`e` and then the end of input: the reviewer meant to change the call, so the call as
    asked is not approved (it used to be, and the mail went out)."""
    proc = _run(tmp_path, "autogen", "prompt", answers="e\n")
    out, err = proc.communicate("e\n", timeout=120)
    assert proc.returncode == 0, err
    home = tmp_path / "home"
    [(status, edited)] = _db(home).sql("select status, edited_args from approval")
    assert (status, edited) == ("rejected", None)
    result = next(e for e in _events(out) if e["kind"] == "tool.result")
    assert not result["data"]["ok"] and "rejected by rita" in result["content"]
    assert _sent(home) == []


def test_null_at_the_prompt_is_not_an_edit(tmp_path: Path) -> None:
    """`null` would mean "as asked": the prompt wants an object, then judges the edit."""
    answers = f"e\nnull\ne\n{json.dumps(GMAIL)}\n"
    proc = _run(tmp_path, "autogen", "prompt", answers=answers)
    out, err = proc.communicate(answers, timeout=120)
    assert proc.returncode == 0, err
    assert "edited arguments must be a JSON object" in err
    home = tmp_path / "home"
    [(status, edited)] = _db(home).sql("select status, edited_args from approval")
    assert status == "approved" and json.loads(edited) == GMAIL
    result = next(e for e in _events(out) if e["kind"] == "tool.result")
    assert not result["data"]["ok"]
    assert "Company communications never go to personal mailboxes" in result["content"]
    assert _sent(home) == []


# -- another process: the command line and `workbench review` -------------------------------


def test_approve_args_the_domain_denies_sends_nothing_on_crewai(tmp_path: Path,
                                                                capsys) -> None:
    """The AutoGen side of this is test_enforcement's subprocess test. The reviewer is told
    that an approved edit is not yet a sent one."""
    home = tmp_path / "home"
    proc = _run(tmp_path, "crewai", "wait")
    try:
        approval = _waiting(proc, home)
        assert main(["--home", str(home), "approvals", "approve", approval, "--reviewer",
                     "rita", "--args", json.dumps(GMAIL)]) == 0
        assert "the run judges the edited call by its policy again" in capsys.readouterr().out
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = _events(out)
    result = next(e for e in events if e["kind"] == "tool.result")
    assert not result["data"]["ok"] and result["data"]["args"] == GMAIL
    denied = [e["data"]["rule_ids"] for e in events if e["kind"] == "policy.decision"
              and e["data"]["effect"] == "deny"]
    assert denied == [["external-email-needs-approval", "comms-no-personal-mailboxes"]]
    assert _sent(home) == []


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
async def test_an_edit_in_workbench_review_is_judged_again(tmp_path: Path, engine: str,
                                                          memory_keyring) -> None:
    """The queue of `workbench review`, in its own process from the waiting run: `e`, the
    personal mailbox, ctrl+s (and yes: mail is external). The run judges the edit and the domain's deny wins."""
    from textual.widgets import DataTable, TextArea

    from tests.tui.conftest import settle, wait_for
    from workbench.cli import build_parser
    from workbench.tui.launch import make_app
    from workbench.tui.screens.approvals import ApprovalsScreen
    from workbench.tui.screens.modals import ArgsModal, ConfirmModal

    home = tmp_path / "home"
    proc = _run(tmp_path, engine, "wait")
    try:
        approval = _waiting(proc, home)
        app = make_app(build_parser().parse_args(
            ["--home", str(home), "--policies", str(POLICIES), "review", "--reviewer",
             "rita"]), review=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            queue = app.screen
            assert isinstance(queue, ApprovalsScreen)
            await wait_for(pilot, lambda: queue.query_one(DataTable).row_count == 1,
                           what="the request in the queue")
            await pilot.press("e")
            await settle(pilot)
            modal = app.screen
            assert isinstance(modal, ArgsModal)
            modal.query_one(TextArea).text = json.dumps(GMAIL)
            await pilot.press("ctrl+s")
            await settle(pilot)
            if isinstance(app.screen, ConfirmModal):  # an external action asks once more
                await pilot.press("y")
                await settle(pilot)
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=120,
                           what="the run to finish")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    [(status, reviewer, edited)] = _db(home).sql(
        "select status, reviewer, edited_args from approval")
    assert (status, reviewer, json.loads(edited)) == ("approved", "rita", GMAIL)
    assert approval
    result = next(e for e in _events(out) if e["kind"] == "tool.result")
    assert not result["data"]["ok"]
    assert "denied by policy (as edited by rita)" in result["content"]
    assert _sent(home) == []


def test_an_edit_in_a_fork_is_judged_again(tmp_path: Path) -> None:
    """`run --from` with the source's tool results reused: the agent's call is held again
    (approvals are never replayed), and an edit to a personal mailbox is denied there too;
    the only mail is the one the source sent."""
    home = tmp_path / "home"
    ops = {**ORIGINAL, "to": "ops@acme.example.com"}
    proc = _run(tmp_path, "autogen", "wait")
    try:
        first = _waiting(proc, home)
        assert main(["--home", str(home), "approvals", "approve", first, "--reviewer", "rita",
                     "--args", json.dumps(ops)]) == 0
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    source = _events(out)[0]["session_id"]
    assert len(_sent(home)) == 1
    crew = tmp_path / "mailer.yaml"
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("WORKBENCH_DB", None)
    fork = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--policies", str(POLICIES), "run", str(crew),
         "--from", source, "--replay-tools", "--approvals", "wait", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        db = _db(home)
        deadline = time.time() + 90
        while not (second := db.scalar(
                "select id from approval where status = 'pending' and id != :id",
                {"id": first})):
            assert time.time() < deadline and fork.poll() is None, "no approval was requested"
            time.sleep(0.1)
        assert main(["--home", str(home), "approvals", "approve", second, "--reviewer",
                     "rita", "--args", json.dumps(GMAIL)]) == 0
        out, err = fork.communicate(timeout=120)
    finally:
        fork.kill()
    assert fork.returncode == 0, err
    events = _events(out)
    assert events[0]["data"]["forked_from"]["session_id"] == source
    result = next(e for e in events if e["kind"] == "tool.result")
    assert not result["data"]["ok"]
    assert "denied by policy (as edited by rita)" in result["content"]
    assert len(_sent(home)) == 1
