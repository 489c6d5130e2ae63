"""Human turns: a human agent's turn (AutoGen's UserProxyAgent) and a task's human input are
answered by a person (the terminal, a reviewer in another process, the TUI), by
--human-default, or skipped with an event saying so; never a hang. On both engines."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.mesh.events import payload_problems

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ["autogen", "crewai"]

CREW = """\
name: human-chat
description: An assistant drafts, a person answers
model: scripted/demo
topology:
  kind: network
  max_turns: 3
agents:
  - name: assistant
    role: Assistant
    goal: Draft a plan and ask the user
  - name: user_proxy
    role: Human user
    goal: Answer the team's questions
    human: true
script:
  - agent: assistant
    say: "Here is a draft plan. Shall I go on?"
  - agent: assistant
    say: "Done as you said. TERMINATE"
"""


def _crew(tmp_path: Path, text: str = CREW) -> Path:
    path = tmp_path / "crew.yaml"
    path.write_text(text)
    return path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKBENCH_DB", "WORKBENCH_POLICIES", "WORKBENCH_REVIEWER")}
    env["WORKBENCH_HOME"] = str(home)
    return env


def _run(home: Path, crew: Path, *args: str, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", str(crew), "--json", *args],
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, env=_env(home), cwd=ROOT, timeout=180)


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _said(events: list[dict], agent: str) -> list[str]:
    return [e["content"] for e in events if e["kind"] == "message" and e["agent"] == agent]


def _audit(home: Path, kind: str) -> list[tuple[str, dict]]:
    con = sqlite3.connect(home / "workbench.db")
    return [(actor, json.loads(payload)) for actor, payload in con.execute(
        "select actor, payload from audit_entry where kind = ? order by seq", (kind,))]


@pytest.mark.parametrize("engine", ENGINES)
def test_human_default_answers_a_human_turn(tmp_path: Path, engine: str) -> None:
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path), "--engine", engine, "--human-default", "Yes, go on")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert _said(events, "user_proxy") == ["Yes, go on"]
    # the assistant's script goes on after the person's turn: the human took no script entry
    assert _said(events, "assistant") == ["Here is a draft plan. Shall I go on?",
                                          "Done as you said. TERMINATE"]
    answered = [e for e in events if e["kind"] == "human.answered"]
    assert [(e["agent"], e["data"]["by"], e["data"]["how"]) for e in answered] == [
        ("user_proxy", "--human-default", "default")]
    # nobody called a model for the human agent
    assert not [e for e in events if e["kind"] == "model.call" and e["agent"] == "user_proxy"]
    started = next(e for e in events if e["kind"] == "run.started")
    assert {a["name"]: a.get("human", False) for a in started["data"]["agents"]} == {
        "assistant": False, "user_proxy": True}
    (actor, payload), = _audit(home, "human.answered")
    assert actor == "--human-default" and payload["agent"] == "user_proxy"
    assert [p for e in events for p in payload_problems(e["kind"], e.get("data") or {})] == []
    assert main(["--home", str(home), "audit", "verify"]) == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_without_a_terminal_a_human_turn_is_skipped_and_the_run_ends(
        tmp_path: Path, engine: str) -> None:
    home = tmp_path / "home"
    started = time.monotonic()
    done = _run(home, _crew(tmp_path), "--engine", engine)
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    skipped = [e for e in events if e["kind"] == "human.skipped"]
    assert len(skipped) == 1 and skipped[0]["agent"] == "user_proxy"
    assert [p for e in events for p in payload_problems(e["kind"], e.get("data") or {})] == []
    assert "no terminal" in skipped[0]["content"] and "--human-default" in skipped[0]["content"]
    # the team hears that nobody answered, and the run goes on to its end
    said, = _said(events, "user_proxy")
    assert said.startswith("[no answer from a person: ")
    assert events[-1]["kind"] == "run.completed"
    assert time.monotonic() - started < 150  # no wait for a person who is not there
    (_, payload), = _audit(home, "human.skipped")
    assert "no terminal" in payload["reason"]


def test_an_answer_on_the_terminal_piped_with_approvals_prompt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path), "--engine", "crewai", "--approvals", "prompt",
                "--reviewer", "dana", stdin="Add the costs, please\n")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert _said(events, "user_proxy") == ["Add the costs, please"]
    answered, = [e for e in events if e["kind"] == "human.answered"]
    assert (answered["data"]["by"], answered["data"]["how"]) == ("dana", "terminal")
    # the question is on stderr (stdout stays JSON Lines), with what was said to the person
    assert "user_proxy's turn" in done.stderr
    assert "assistant → user_proxy: Here is a draft plan. Shall I go on?" in done.stderr


def test_end_of_input_on_the_terminal_takes_the_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path), "--approvals", "prompt", "--human-default", "fine",
                stdin="")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert _said(events, "user_proxy") == ["fine"]
    assert "end of input" in done.stderr


def _read_until(fd: int, marker: bytes, timeout: float = 120) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} in {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_a_terminal_asks_the_person_by_default(tmp_path: Path) -> None:
    """On a real terminal (a pty) no option is needed: the run asks, the person answers."""
    home = tmp_path / "home"
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", str(_crew(tmp_path)), "--reviewer",
         "erin"], stdin=secondary, stdout=secondary, stderr=secondary, env=_env(home),
        cwd=ROOT, close_fds=True)
    os.close(secondary)
    try:
        _read_until(primary, b"your answer as user_proxy")
        os.write(primary, b"Go ahead with the plan\n")
        out = _read_until(primary, b"session ", 120)
        out += _read_until(primary, b"result:", 60)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode(errors="replace"))
    assert "erin answered for user_proxy (terminal)" in text
    assert "user_proxy → assistant: Go ahead with the plan" in text


def _pending_question(home: Path, timeout: float = 120) -> str:
    db = home / "workbench.db"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                row = sqlite3.connect(db).execute(
                    "select id from human_question where status = 'pending'").fetchone()
            except sqlite3.OperationalError:
                row = None
            if row:
                return row[0]
        time.sleep(0.1)
    raise AssertionError("no question for a person was stored")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_reviewer_answers_from_another_process(tmp_path: Path, engine: str, capsys) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", str(_crew(tmp_path)), "--engine", engine,
         "--approvals", "wait", "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_env(home), cwd=ROOT)
    try:
        question = _pending_question(home)
        # a turn needs words; the list shows the question and how to answer it
        assert main(["--home", str(home), "approvals", "answer", question, "  "]) == 2
        assert main(["--home", str(home), "approvals", "list"]) == 0
        listed = capsys.readouterr().out
        assert f"workbench approvals answer {question} TEXT" in listed
        assert "user_proxy's turn" in listed
        assert main(["--home", str(home), "approvals", "answer", question[:8],
                     "Yes, from review", "--reviewer", "dana"]) == 0
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "as dana" in capsys.readouterr().out
    events = _events(out)
    assert _said(events, "user_proxy") == ["Yes, from review"]
    answered, = [e for e in events if e["kind"] == "human.answered"]
    assert (answered["data"]["by"], answered["data"]["how"]) == ("dana", "reviewer")
    # the waiting run said where to answer
    assert f"approvals answer {question} TEXT" in err
    # a question of a run that ended cannot be answered any more
    assert main(["--home", str(home), "approvals", "answer", question, "late"]) == 2
    assert "already answered" in capsys.readouterr().err


# -- a task's human input: a person reviews its answer ------------------------------------

REVIEWED = """\
name: reviewed-research
description: Research, reviewed by a person, then a report
engine: crewai
model: scripted/demo
topology:
  kind: network
  max_turns: 4
agents:
  - name: researcher
    role: Researcher
    goal: Find the facts
  - name: writer
    role: Writer
    goal: Write the report
tasks:
  - name: research
    description: Research {task}
    expected_output: Findings
    agent: researcher
    human_input: true
  - name: report
    description: Write the report
    expected_output: A report
    agent: writer
    context: [research]
script:
  - agent: researcher
    say: "Draft findings: the market is small."
  - agent: researcher
    say: "Revised findings: the market is small, per two sources."
  - agent: writer
    say: "Report: small market. TERMINATE"
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_feedback_on_a_human_input_task_makes_its_agent_revise(tmp_path: Path,
                                                               engine: str) -> None:
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path, REVIEWED), "--engine", engine, "--approvals", "prompt",
                "--reviewer", "dana", stdin="Add sources\n\n")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    asked = [e for e in events if e["kind"] == "human.requested"]
    assert [(e["agent"], e["data"]["ask"], e["content"]) for e in asked] == [
        ("researcher", "feedback", "Draft findings: the market is small."),
        ("researcher", "feedback", "Revised findings: the market is small, per two sources.")]
    answered = [(e["data"]["by"], e["data"]["accepted"]) for e in events
                if e["kind"] == "human.answered"]
    assert answered == [("dana", False), ("dana", True)]
    # the feedback is a message from the person; the revised answer is what the team hears
    assert _said(events, "human") == ["Add sources"]
    assert _said(events, "researcher") == [
        "Revised findings: the market is small, per two sources."]
    assert _said(events, "writer") == ["Report: small market. TERMINATE"]
    assert [p["ask"] for _, p in _audit(home, "human.answered")] == ["feedback", "feedback"]
    assert [p for e in events for p in payload_problems(e["kind"], e.get("data") or {})] == []


def test_feedback_with_nobody_to_ask_leaves_the_answer_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path, REVIEWED), "--engine", "autogen")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    skipped, = [e for e in events if e["kind"] == "human.skipped"]
    assert skipped["data"]["ask"] == "feedback" and "the answer stands" in skipped["content"]
    assert _said(events, "researcher") == ["Draft findings: the market is small."]


def test_on_crewai_only_the_task_with_human_input_is_reviewed(tmp_path: Path) -> None:
    """An agent with two tasks: the one without human_input is not reviewed."""
    crew = REVIEWED.replace("""tasks:
  - name: research""", """tasks:
  - name: gather
    description: Gather sources on {task}
    expected_output: Sources
    agent: researcher
  - name: research""").replace("""script:
  - agent: researcher""", """script:
  - agent: researcher
    say: "Gathered two sources."
  - agent: researcher""")
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path, crew), "--approvals", "prompt", stdin="\n")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    asked = [e["content"] for e in events if e["kind"] == "human.requested"]
    assert asked == ["Draft findings: the market is small."]
    assert _said(events, "researcher") == ["Gathered two sources.",
                                           "Draft findings: the market is small."]


def test_a_persons_answer_passes_the_message_gate(tmp_path: Path) -> None:
    """The shipped policy redacts contact data in messages: a person's too."""
    home = tmp_path / "home"
    done = _run(home, _crew(tmp_path), "--human-default", "Write to jane.doe@example.org")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    said, = _said(events, "user_proxy")
    assert "jane.doe@example.org" not in said and said.startswith("Write to ")
    decisions = [e for e in events if e["kind"] == "policy.decision"
                 and e["agent"] == "user_proxy" and e["data"]["action"] == "message"]
    assert decisions[0]["data"]["rule_ids"] == ["personal-data-in-messages"]


def test_questions_of_a_run_that_is_gone_are_not_listed(tmp_path: Path, home: Path) -> None:
    from workbench.config import Settings
    from workbench.governance.human import answer, create, list_questions
    from workbench.mesh.human import HumanQuestion
    from workbench.store.db import Store

    settings = Settings(home=home)
    settings.ensure_home()
    store = Store(settings.database_url)
    for sid, status in (("s-running", "running"), ("s-gone", "interrupted")):
        store.create_session(id=sid, crew_name="c", crew_snapshot_id=None, engine="autogen",
                             topology="network", task="t", started_at=time.time())
        store.update_session(sid, status=status)
        create(store, HumanQuestion(f"q-{sid}", sid, "user_proxy", "turn", "?"), 60)
    assert [q.id for q in list_questions(store)] == ["q-s-running"]
    with pytest.raises(Exception, match="its run .* is interrupted"):
        answer(store, "q-s-gone", "late", "dana")
