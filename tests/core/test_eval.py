"""`workbench eval`: cases files, every kind of check passing, failing and erroring, a judge
on the loopback provider, repeat, concurrency, Ctrl-C, and stored results compared."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.pg import Backend
from workbench.cli import main
from workbench.errors import SpecError
from workbench.gateway.credentials import ENV_VARS
from workbench.mesh.cases import KINDS, parse_cases

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CASES = sorted((ROOT / "crews" / "cases").glob("*.yaml"))

ISSUE_EXAMPLE = """\
cases:
  - id: nordics
    task: "Should we enter the Nordic market?"
    expect:
      - contains: "GO"
      - not_contains: "NO-GO"
      - regex: '\\d+ ?M(illion)? EUR'
      - tool_called: calculator
      - tool_called: {name: send_email, args: {to: board@example.com}}
      - no_tool: http_get
      - approval_requested: send_email
      - max_cost_usd: 0.05
      - max_turns: 12
      - judge: {rubric: "Is the recommendation backed by numbers?", model: fast, pass_at: 0.7}
"""

LOOPBACK_CREW = """\
name: loopback
engine: {engine}
model: {model}
api_base: {api_base}
topology: {{kind: network, max_turns: 2}}
agents:
  - name: analyst
    role: Market analyst
    goal: Answer the question with numbers
"""
JUDGE_SYSTEM_MARK = "impartial evaluator"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own key never reaches a test (and `no key` stays true)."""
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


def _eval(home: Path, *argv: str, policies: Path | None = None
          ) -> tuple[int, list[dict[str, Any]], str]:
    """Run `workbench eval ... --json` in this process: exit code, JSON lines, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    glob = ["--home", str(home)] + (["--policies", str(policies)] if policies else [])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*glob, "eval", *argv, "--json"])
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return code, lines, err.getvalue()


def _cases(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{c['case_id']}#{c['attempt']}": c for c in lines if c.get("type") == "case"}


def _outcomes(case: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["kind"], c["outcome"]) for c in case["checks"]]


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "workbench.db")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _loopback_crew(tmp_path: Path, fp: FakeProvider, model: str = "openai/loopback-model",
                   engine: str = "autogen") -> Path:
    return _write(tmp_path / "crew" / "loopback.yaml",
                  LOOPBACK_CREW.format(engine=engine, model=model, api_base=fp.api_base))


def _system(payload: dict[str, Any]) -> str:
    return " ".join(str(m.get("content")) for m in payload.get("messages", [])
                    if m.get("role") == "system")


def _text(payload: dict[str, Any]) -> str:
    return " ".join(str(m.get("content")) for m in payload.get("messages", []))


# -- cases files ------------------------------------------------------------------------------


def test_a_cases_file_reads_every_kind_of_check() -> None:
    cases = parse_cases(ISSUE_EXAMPLE, "nordics.yaml")
    (case,) = cases.cases
    assert case.id == "nordics" and case.task == "Should we enter the Nordic market?"
    assert [c.kind for c in case.checks] == [
        "contains", "not_contains", "regex", "tool_called", "tool_called", "no_tool",
        "approval_requested", "max_cost_usd", "max_turns", "judge"]
    assert {c.kind for c in case.checks} == set(KINDS)
    assert case.checks[4].value == {"name": "send_email", "args": {"to": "board@example.com"}}
    assert case.checks[9].value == {"rubric": "Is the recommendation backed by numbers?",
                                    "model": "fast", "pass_at": 0.7}
    assert [c.line for c in case.checks] == list(range(5, 15))


@pytest.mark.parametrize(("text", "line", "words"), [
    ("cases: []\n", 1, "at least one case"),
    ("case:\n  - id: a\n", 1, "unknown key 'case'"),
    ("cases:\n  - id: a\n    expect: []\n", 3, "at least one"),
    ("cases:\n  - id: a\n    expect:\n      - contain: GO\n", 4, "unknown check 'contain'"),
    ("cases:\n  - id: a\n    expect:\n      - regex: 'x('\n", 4, "does not compile"),
    ("cases:\n  - id: a\n    expect:\n      - max_turns: -1\n", 4, "must not be negative"),
    ("cases:\n  - id: a\n    expect:\n      - max_turns: 2.5\n", 4, "whole number"),
    ("cases:\n  - id: a\n    expect:\n      - judge: {rubric: r, pass_at: 7}\n", 4,
     "from 0 to 1"),
    ("cases:\n  - id: a\n    expect:\n      - judge: {pass_at: 0.5}\n", 4,
     "'rubric' is required"),
    ("cases:\n  - id: a\n    expect:\n      - tool_called: {name: x, args: [1]}\n", 4,
     "args must be a mapping"),
    ("cases:\n  - id: a\n    expect:\n      - contains: {text: GO, in: notes}\n", 4,
     "in must be one of"),
    ("cases:\n  - id: a\n    expect: [{no_tool: x}]\n  - id: a\n    expect: [{no_tool: y}]\n",
     4, "used twice"),
    ("cases:\n  - id: a\n    expect:\n      - contains: GO\n        regex: x\n", 4,
     "one check"),
    ("cases:\n  - id: 'a b'\n    expect: [{no_tool: x}]\n", 2, "case id 'a b'"),
    ("cases:\n  - id: a\n    task: [1]\n    expect: [{no_tool: x}]\n", 3, "must be text"),
    ("cases:\n  - id: a\n    expect: [{no_tool: x}\n", 4, "invalid YAML"),
])
def test_a_bad_cases_file_is_refused_at_its_line(text: str, line: int, words: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_cases(text, "bad.yaml")
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"bad.yaml:{line}: ") and words in str(err.value)


def test_bad_eval_input_exits_2_in_one_line(home: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", "cases:\n  - id: a\n    expect:\n      - regex: 'x('\n")
    code, _, err = _eval(home, "market-entry", "--cases", str(bad))
    assert code == 2 and f"{bad}:4: regex 'x(' does not compile" in err
    assert "Traceback" not in err
    good = _write(tmp_path / "good.yaml", "cases:\n  - id: a\n    expect: [{no_tool: x}]\n")
    code, _, err = _eval(home, "market-entry")
    assert code == 2 and "needs --cases FILE" in err
    code, _, err = _eval(home, "market-entry", "--cases", str(good), "--concurrency", "0")
    assert code == 2 and "--concurrency must be at least 1" in err
    code, _, err = _eval(home, "market-entry", "--cases", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read the cases file" in err
    inputs = _write(tmp_path / "inputs.yaml",
                    "cases:\n  - id: a\n    inputs: {region: Nordics}\n"
                    "    expect: [{no_tool: x}]\n")
    code, _, err = _eval(home, "market-entry", "--cases", str(inputs))
    assert code == 2 and f"{inputs}:2: case a: the crew market-entry has no input 'region'" \
        in err
    code, _, err = _eval(home, "show", "nosuchid")
    assert code == 2 and "no eval 'nosuchid'" in err
    code, _, err = _eval(home, "compare", "onlyone")
    assert code == 2 and "two eval ids" in err
    # none of it ran or stored anything
    assert not (home / "workbench.db").exists() or \
        _db(home).execute("select count(*) from eval_run").fetchone() == (0,)


@pytest.mark.parametrize("cases", SHIPPED_CASES, ids=[p.stem for p in SHIPPED_CASES])
def test_shipped_cases_pass_offline(cases: Path, home: Path) -> None:
    code, lines, err = _eval(home, cases.stem, "--cases", str(cases))
    summary = lines[-1]
    assert code == 0, (err, [c for c in lines if c.get("status") != "passed"])
    assert summary["type"] == "eval" and summary["all_passed"] and summary["runs"] >= 1


def test_every_shipped_crew_has_a_cases_file_and_cases_are_not_listed_as_crews(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crews = sorted(p.stem for p in (ROOT / "crews").glob("*.yaml"))
    assert [p.stem for p in SHIPPED_CASES] == crews
    assert main(["--home", str(home), "crews", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cases" not in listing and all(name in listing for name in crews)


# -- deterministic checks ---------------------------------------------------------------------

SCRIPTED_CASES = """\
cases:
  - id: holds
    task: Should we enter the Nordic market?
    expect:
      - contains: "GO"
      - not_contains: "NO-GO"
      - regex: '\\d+ ?M(illion)? EUR'
      - tool_called: calculator
      - tool_called: {name: send_email, args: {to: board@example.com}}
      - no_tool: http_get
      - approval_requested: send_email
      - max_cost_usd: 0.05
      - max_turns: 12
  - id: breaks
    task: Should we enter the Nordic market?
    expect:
      - contains: "NO SUCH WORDS"
      - not_contains: "GO"
      - regex: 'NO-GO'
      - tool_called: http_get
      - tool_called: {name: send_email, args: {to: ceo@example.com}}
      - no_tool: calculator
      - approval_requested: calculator
      - max_turns: 2
"""


def test_deterministic_checks_pass_and_fail(home: Path, tmp_path: Path) -> None:
    # the board email needs approval under this policy, so approval_requested can pass
    policies = tmp_path / "policies"
    _write(policies / "central.yaml", """\
version: 1
default: allow
rules:
  - id: board-mail-needs-approval
    on: tool_call
    when: 'tool.name == "send_email"'
    effect: require_approval
    reason: Mail to the board is reviewed
""")
    cases = _write(tmp_path / "cases.yaml", SCRIPTED_CASES)
    code, lines, err = _eval(home, "market-entry", "--cases", str(cases), policies=policies)
    assert code == 1, err
    found = _cases(lines)
    holds, breaks = found["holds#1"], found["breaks#1"]
    assert holds["status"] == "passed" and all(o == "passed" for _, o in _outcomes(holds))
    assert breaks["status"] == "failed"
    assert _outcomes(breaks) == [(k, "failed") for k in (
        "contains", "not_contains", "regex", "tool_called", "tool_called", "no_tool",
        "approval_requested", "max_turns")]
    details = {c["label"]: c["detail"] for c in breaks["checks"]}
    assert "GO" in details['not_contains "GO"'] and "called: calculator" in \
        details["tool_called http_get"]
    assert "never with" in details['tool_called send_email {"to": "ceo@example.com"}']
    assert details["max_turns 2"] == "5 turns > 2"
    # approvals were denied (the default in an eval): the email was requested, never sent
    approval = next(c for c in holds["checks"] if c["kind"] == "approval_requested")
    assert "decided: rejected" in approval["detail"]
    summary = lines[-1]
    assert summary["runs"] == 2 and summary["passed"] == 1 and not summary["all_passed"]
    # stored, linked to each case's session
    db = _db(home)
    rows = db.execute("select c.case_id, c.status, s.status, c.checks_passed, c.checks_total "
                      "from eval_case c join session s on s.id = c.session_id "
                      "order by c.position").fetchall()
    assert rows == [("holds", "passed", "completed", 9, 9),
                    ("breaks", "failed", "completed", 0, 8)]
    assert db.execute("select count(*) from eval_check").fetchone() == (17,)
    assert db.execute("select status, runs, passed from eval_run").fetchall() == \
        [("completed", 2, 1)]


def test_a_failed_run_errors_every_check_and_the_other_cases_still_run(
        home: Path, tmp_path: Path) -> None:
    def responder(payload: dict[str, Any]) -> Reply:
        if "explode" in _text(payload):
            return Reply(status=400, message="this case is broken")
        return Reply(content="Serviceable market: 25 million EUR. GO. TERMINATE")

    every_kind = "\n".join(f"      - {line}" for line in (
        "contains: GO", "not_contains: NO-GO", "regex: 'EUR'", "tool_called: calculator",
        "no_tool: http_get", "approval_requested: send_email", "max_cost_usd: 1",
        "max_turns: 5", "judge: {rubric: 'Has numbers?', model: scripted/demo}"))
    cases = _write(tmp_path / "cases.yaml",
                   f"cases:\n  - id: broken\n    task: please explode\n    expect:\n"
                   f"{every_kind}\n  - id: fine\n    task: size it\n    expect:\n"
                   f"      - contains: GO\n")
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        code, lines, _ = _eval(home, str(crew), "--cases", str(cases), "--concurrency", "2")
    found = _cases(lines)
    assert code == 1
    broken, fine = found["broken#1"], found["fine#1"]
    assert fine["status"] == "passed"
    assert broken["status"] == "error" and "this case is broken" in broken["error"]
    assert [k for k, _ in _outcomes(broken)] == [
        "contains", "not_contains", "regex", "tool_called", "no_tool", "approval_requested",
        "max_cost_usd", "max_turns", "judge"]
    assert all(o == "error" for _, o in _outcomes(broken))
    assert all("the run failed" in c["detail"] for c in broken["checks"])
    assert _db(home).execute("select status from session where id = ?",
                             (broken["session_id"],)).fetchone() == ("failed",)


def test_cost_checks_on_a_priced_and_an_unpriced_model(home: Path, tmp_path: Path) -> None:
    cases = _write(tmp_path / "cases.yaml", "cases:\n  - id: cost\n    expect:\n"
                   "      - max_cost_usd: 1\n      - max_cost_usd: 0.0000001\n")
    with FakeProvider(responder=lambda p: Reply(content="42 EUR. TERMINATE")) as fp:
        priced = _loopback_crew(tmp_path / "priced", fp, model="openai/gpt-4o-mini")
        code, lines, _ = _eval(home, str(priced), "--cases", str(cases))
        assert code == 1
        (case,) = _cases(lines).values()
        assert _outcomes(case) == [("max_cost_usd", "passed"), ("max_cost_usd", "failed")]
        assert case["cost_usd"] > 0
        unpriced = _loopback_crew(tmp_path / "unpriced", fp, model="openai/no-price-model")
        code, lines, _ = _eval(home, str(unpriced), "--cases", str(cases))
    (case,) = _cases(lines).values()
    # a model with no price could have cost anything: the check errs, it never passes
    assert _outcomes(case) == [("max_cost_usd", "error"), ("max_cost_usd", "error")]
    assert "cost unknown" in case["checks"][0]["detail"] and code == 1


# -- the judge --------------------------------------------------------------------------------

JUDGE_CASES = """\
cases:
  - id: judged
    task: How big is the Nordic market?
    expect:
      - judge: {rubric: "Is the answer backed by numbers?", pass_at: 0.8}
      - judge: {rubric: "Is the answer backed by numbers?", pass_at: 0.95}
      - judge: {rubric: "MUMBLE", model: judge}
      - judge: {rubric: "BROKEN", model: judge}
      - judge: {rubric: "Offline?", model: scripted/demo}
      - judge: {rubric: "Keyless?", model: anthropic/claude-3-5-haiku-latest}
"""


def test_a_judge_is_served_by_the_loopback_provider(home: Path, tmp_path: Path) -> None:
    judged: list[dict[str, Any]] = []

    def responder(payload: dict[str, Any]) -> Reply:
        if JUDGE_SYSTEM_MARK not in _system(payload):
            return Reply(content="The Nordic market is worth 25 million EUR a year. TERMINATE")
        judged.append(payload)
        text = _text(payload)
        if "MUMBLE" in text:
            return Reply(content="It reads well, I suppose.")
        if "BROKEN" in text:
            return Reply(status=400, message="judge model is down")
        return Reply(content='{"score": 0.9, "reason": "It gives 25 million EUR."}')

    cases = _write(tmp_path / "cases.yaml", JUDGE_CASES)
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        # an alias for the judge, on the same loopback server
        crew.write_text(crew.read_text() + f"models:\n  judge: {{model: openai/judge-model, "
                                           f"api_base: {fp.api_base}}}\n")
        code, lines, _ = _eval(home, str(crew), "--cases", str(cases))
    (case,) = _cases(lines).values()
    assert code == 1
    assert _outcomes(case) == [("judge", "passed"), ("judge", "failed"), ("judge", "error"),
                               ("judge", "not_scored"), ("judge", "not_scored"),
                               ("judge", "not_scored")]
    first, second, mumble, broken, offline, keyless = case["checks"]
    assert first["score"] == 0.9 and first["reason"] == "It gives 25 million EUR."
    assert second["detail"].startswith("score 0.9 < 0.95")
    assert "no score" in mumble["detail"]
    assert "judge model is down" in broken["detail"]
    assert "scripted offline model" in offline["detail"]
    assert "no API key for anthropic" in keyless["detail"]
    assert case["status"] == "failed"
    # the judge saw the task, the answer and the rubric; the one without a key sent nothing
    assert len(judged) == 4
    prompt = _text(judged[0])
    assert "How big is the Nordic market?" in prompt and "25 million EUR" in prompt
    assert "Is the answer backed by numbers?" in prompt
    assert {p["model"] for p in judged} == {"loopback-model", "judge-model"}
    # each judgement is a stored session of its own, linked from its check
    db = _db(home)
    sid = first["judge_session_id"]
    assert db.execute("select engine, status, model_calls from session where id = ?",
                      (sid,)).fetchone() == ("judge", "completed", 1)
    kinds = [k for (k,) in db.execute("select kind from event where session_id = ? "
                                      "order by seq", (sid,))]
    assert kinds[0] == "run.started" and kinds[-1] == "run.completed"
    assert kinds.count("model.call") == 1 and kinds.count("message") == 1
    stored = db.execute("select score, reason, judge_session_id from eval_check "
                        "where idx = 0").fetchone()
    assert stored == (0.9, "It gives 25 million EUR.", sid)
    assert db.execute("select status from session where id = ?",
                      (broken["judge_session_id"],)).fetchone() == ("failed",)


def test_a_judge_is_governed_like_any_model_call(home: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def responder(payload: dict[str, Any]) -> Reply:
        if JUDGE_SYSTEM_MARK in _system(payload):
            seen.append(payload)
            return Reply(content='{"score": 1, "reason": "fine"}')
        return Reply(content="Write to dana.smith@acme.example.com: 25 million EUR. TERMINATE")

    cases = _write(tmp_path / "cases.yaml",
                   "cases:\n  - id: j\n    expect:\n      - judge: {rubric: 'Numbers?'}\n")
    rule = """\
version: 1
default: allow
rules:
  - id: judges
    on: model_call
    when: 'agent.name == "judge"'
    effect: {effect}
    reason: Judges are governed too
"""
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        redacting = tmp_path / "redacting"
        _write(redacting / "central.yaml", rule.format(effect="redact"))
        code = main(["--home", str(home), "--policies", str(redacting), "eval", str(crew),
                     "--cases", str(cases)])
        assert code == 0 and len(seen) == 1
        prompt = _text(seen[0])
        assert "dana.smith@acme.example.com" not in prompt and "[REDACTED:email]" in prompt
        denying = tmp_path / "denying"
        _write(denying / "central.yaml", rule.format(effect="deny"))
        code = main(["--home", str(home), "--policies", str(denying), "eval", str(crew),
                     "--cases", str(cases)])
        assert code == 1 and len(seen) == 1, "a denied judge reached the provider"
    db = _db(home)
    (outcome, detail, sid), = db.execute(
        "select k.outcome, k.detail, k.judge_session_id from eval_check k join eval_case c "
        "on c.id = k.eval_case_id join eval_run r on r.id = c.eval_id "
        "order by r.started_at desc limit 1").fetchall()
    assert outcome == "not_scored" and "blocked by policy: Judges are governed too" in detail
    decisions = db.execute("select data from event where session_id = ? and kind = "
                           "'policy.decision'", (sid,)).fetchall()
    assert decisions and json.loads(decisions[0][0])["rule_ids"] == ["judges"]


# -- repeat, concurrency, Ctrl-C --------------------------------------------------------------


def test_repeat_runs_each_case_k_times_and_reports_its_pass_rate(
        home: Path, tmp_path: Path) -> None:
    answers = iter(["GO. TERMINATE", "NO. TERMINATE"] * 2)
    lock = threading.Lock()

    def responder(payload: dict[str, Any]) -> Reply:
        with lock:
            return Reply(content=next(answers))

    cases = _write(tmp_path / "cases.yaml",
                   "cases:\n  - id: flaky\n    expect:\n      - contains: GO\n")
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        code, lines, _ = _eval(home, str(crew), "--cases", str(cases), "--repeat", "4",
                               "--concurrency", "1")
    assert code == 1
    runs = _cases(lines)
    assert [runs[f"flaky#{i}"]["status"] for i in range(1, 5)] == \
        ["passed", "failed", "passed", "failed"]
    summary = lines[-1]
    assert summary["cases"] == [{"case_id": "flaky", "runs": 4, "passed": 2, "pass_rate": 0.5}]
    assert summary["pass_rate"] == 0.5 and not summary["all_passed"]
    code, lines, _ = _eval(home, "show", summary["eval_id"][:8])
    stored = lines[0]
    assert stored["repeat"] == 4 and stored["runs"] == 4 and stored["passed"] == 2
    assert [r["attempt"] for r in stored["case_runs"]] == [1, 2, 3, 4]


def _barrier_responder(need: int, timeout: float = 60.0
                       ) -> tuple[Callable[[dict[str, Any]], Reply], dict[str, int]]:
    """Answers once `need` requests are in flight together (or after `timeout`); counts the
    most that ever were."""
    state = {"now": 0, "most": 0}
    cond = threading.Condition()

    def responder(payload: dict[str, Any]) -> Reply:
        with cond:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            cond.notify_all()
            cond.wait_for(lambda: state["most"] >= need, timeout)
        time.sleep(0.05)
        with cond:
            state["now"] -= 1
        return Reply(content="25 million EUR. GO. TERMINATE")

    return responder, state


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_cases_run_concurrently_within_the_bound(home: Path, tmp_path: Path,
                                                 engine: str) -> None:
    cases = _write(tmp_path / "cases.yaml", "cases:\n" + "".join(
        f"  - id: c{i}\n    task: question {i}\n    expect: [{{contains: GO}}]\n"
        for i in range(6)))
    responder, state = _barrier_responder(need=3)
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp, engine=engine)
        code, lines, err = _eval(home, str(crew), "--cases", str(cases), "--concurrency", "3")
    assert code == 0, err
    # three sessions' calls were at the provider at once, never a fourth
    assert state["most"] == 3
    assert len(_cases(lines)) == 6
    responder, state = _barrier_responder(need=2, timeout=0.3)
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path / "one", fp, engine=engine)
        code, lines, _ = _eval(home, str(crew), "--cases", str(cases), "--concurrency", "1")
    assert code == 0 and state["most"] == 1


def test_rate_limits_under_concurrency_are_retried_and_every_case_passes(
        home: Path, tmp_path: Path) -> None:
    limited: set[str] = set()
    lock = threading.Lock()

    def responder(payload: dict[str, Any]) -> Reply:
        question = _text(payload)
        with lock:
            first = question not in limited
            limited.add(question)
        if first:  # every case's first call is rate-limited, all of them at once
            return Reply(status=429, headers={"retry-after-ms": "20"})
        return Reply(content="GO. TERMINATE")

    cases = _write(tmp_path / "cases.yaml", "cases:\n" + "".join(
        f"  - id: c{i}\n    task: question {i}\n    expect: [{{contains: GO}}]\n"
        for i in range(4)))
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        code, lines, err = _eval(home, str(crew), "--cases", str(cases), "--concurrency", "4")
        assert len(fp.requests) == 8
    assert code == 0, (err, lines)
    calls = _db(home).execute("select data from event where kind = 'model.call'").fetchall()
    assert [json.loads(d)["attempts"] for (d,) in calls] == [2] * 4


def test_ctrl_c_stops_every_case_and_stores_what_ran(home: Path, tmp_path: Path) -> None:
    release = threading.Event()
    arrived = threading.Semaphore(0)

    def responder(payload: dict[str, Any]) -> Reply:
        arrived.release()
        release.wait(120)  # hangs: only Ctrl-C ends these cases
        return Reply(content="too late. TERMINATE")

    cases = _write(tmp_path / "cases.yaml", "cases:\n" + "".join(
        f"  - id: c{i}\n    task: question {i}\n    expect: [{{contains: GO}}]\n"
        for i in range(4)))
    with FakeProvider(responder=responder) as fp:
        crew = _loopback_crew(tmp_path, fp)
        env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "eval", str(crew), "--cases", str(cases),
             "--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT)
        try:
            for _ in range(2):  # two cases are at the provider
                assert arrived.acquire(timeout=180), "the cases never reached the provider"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    db = _db(home)
    assert db.execute("select status, runs, passed from eval_run").fetchall() == \
        [("cancelled", 2, 0)]
    rows = db.execute("select c.status, s.status from eval_case c join session s "
                      "on s.id = c.session_id").fetchall()
    assert rows == [("cancelled", "cancelled")] * 2
    assert "2 not run" in out


# -- stored evals -----------------------------------------------------------------------------


def test_eval_list_show_and_compare_regressions_first(home: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      backend: Backend,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """Stored, listed, shown and compared on SQLite and on PostgreSQL."""
    monkeypatch.setenv("WORKBENCH_DB", backend.url)
    shipped = ROOT / "crews" / "market-entry.yaml"
    text = shipped.read_text()
    assert "Decision: GO." in text
    edited = _write(tmp_path / "edited" / "market-entry.yaml",
                    text.replace("Decision: GO.", "Decision: NO-GO."))
    cases = _write(tmp_path / "cases.yaml", """\
cases:
  - id: decision
    expect: [{contains: "GO"}, {not_contains: "NO-GO"}]
  - id: sizing
    expect: [{tool_called: calculator}]
""")
    code, first, _ = _eval(home, str(shipped), "--cases", str(cases))
    assert code == 0
    code, second, _ = _eval(home, str(edited), "--cases", str(cases))
    assert code == 1
    e1, e2 = first[-1]["eval_id"], second[-1]["eval_id"]
    assert main(["--home", str(home), "eval", "list"]) == 0
    listing = capsys.readouterr().out
    assert e1[:12] in listing and e2[:12] in listing and "1/2" in listing
    assert main(["--home", str(home), "eval", "show", e2[:10]]) == 0
    shown = capsys.readouterr().out
    assert "✘ not_contains \"NO-GO\": found in the result" in shown
    assert "decision  0/1 passed (0%)" in shown
    assert main(["--home", str(home), "eval", "compare", e1[:10], e2[:10]]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("regressed", "unchanged"))]
    assert lines == ["regressed  decision  100% → 0%", "unchanged  sizing  100% → 100%"]
    assert '-    say: "Decision: GO.' in out and '+    say: "Decision: NO-GO.' in out
    assert "not_contains \"NO-GO\": 100% → 0%" in out
    assert main(["--home", str(home), "eval", "compare", e2, e1, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["change"] for c in data["cases"]] == ["improved", "unchanged"]
