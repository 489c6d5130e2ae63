"""Enforcement end to end, on both engines: denied actions never happen, secrets never leave,
budgets stop runs, and every decision is recorded."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.config import Settings
from workbench.governance.setup import governed
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

ENGINES = ["autogen", "crewai"]

CREW = """\
name: guarded
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - name: clerk
    role: Records clerk
    goal: Keep the records
    tools: [write_file, send_email]
    domain: records
  - name: reader
    role: Reader
    goal: Read the records
script:
  - {agent: clerk, call: write_file, args: {path: secret.md, content: "top secret"}}
  - {agent: clerk, call: send_email, args: {to: "x@partner.com", subject: s, body: b}}
  - {agent: clerk, say: "Filed. TERMINATE"}
"""
DENY_WRITES = """\
version: 1
rules:
  - {id: no-writes, on: tool_call, when: 'tool.name == "write_file"', effect: deny,
     reason: read-only crew}
"""


def _run(tmp_path: Path, engine: str, policies: Path, crew_text: str, mode: str = "deny",
         gate=None) -> tuple[Store, object, list]:
    crew = tmp_path / "crew.yaml"
    crew.write_text(crew_text)
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    store = Store(settings.database_url)
    gov = governed(settings, store, mode)
    kwargs = gov.session_kwargs()
    if gate is not None:
        kwargs["gate"] = gate
    seen: list = []
    session = Session(prepare(crew, engine=engine, task="File the records"), settings, store,
                      subscribers=[seen.append], **kwargs)
    outcome = asyncio.run(session.execute())
    return store, outcome, seen


@pytest.mark.parametrize("engine", ENGINES)
def test_a_denied_tool_never_runs(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", DENY_WRITES)
    store, outcome, events = _run(tmp_path, engine, policies, CREW)
    assert outcome.status == "completed", outcome.error
    workspace = Path(store.list_sessions()[0]["workspace"])
    assert not (workspace / "secret.md").exists()
    decisions = [e for e in events if e.kind == "policy.decision"]
    assert any(d.data["rule_ids"] == ["no-writes"] and d.data["effect"] == "deny"
               for d in decisions)
    result = next(e for e in events if e.kind == "tool.result" and e.data["tool"] == "write_file")
    assert not result.data["ok"] and "denied by policy: read-only crew" in result.content


class ExplodingGate:
    policy_hash = "exploding"

    def decide(self, action, activation):
        if action == "tool_call":
            raise RuntimeError("policy engine crashed")
        from workbench.governance.gate import Decision
        return Decision("allow", action)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gate_that_fails_denies_the_tool(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", "version: 1\nrules: []\n")
    store, outcome, events = _run(tmp_path, engine, policies, CREW, gate=ExplodingGate())
    workspace = Path(store.list_sessions()[0]["workspace"])
    assert not (workspace / "secret.md").exists()
    outbox = workspace.parent / "outbox"
    assert not outbox.exists() or not any(outbox.iterdir())
    errors = [e for e in events if e.kind == "policy.decision"]
    assert errors and all(e.data["rule_ids"] == ["gate-error"] for e in errors)


LOOPBACK = """\
name: leaky
model: openai/loopback
api_base: {api_base}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: writer, role: Writer, goal: "Write to jane.doe@acme.com, +44 20 7946 0958, key sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456"}}
  - {{name: editor, role: Editor, goal: Edit}}
"""
DENY_MODELS = """\
version: 1
rules:
  - {id: no-openai, on: model_call, when: 'model.provider == "openai"', effect: deny,
     reason: no external models}
"""
REDACT_MODELS = """\
version: 1
rules:
  - {id: redact-external, on: model_call, when: 'model.provider != "scripted"', effect: redact,
     reason: keep secrets in}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_denied_model_call_never_leaves_the_machine(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", DENY_MODELS)
    with FakeProvider(responder=lambda p: Reply(content="hello TERMINATE")) as fp:
        store, outcome, events = _run(tmp_path, engine, policies,
                                      LOOPBACK.format(api_base=fp.api_base))
    assert fp.requests == []
    assert any(e.kind == "policy.decision" and e.data["rule_ids"] == ["no-openai"]
               for e in events)


@pytest.mark.parametrize("engine", ENGINES)
def test_personal_data_and_keys_never_reach_the_provider(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", REDACT_MODELS)
    task_secret = "Bearer abcdefghijklmnopqrstuvwxyz0123"
    crew = tmp_path / "crew.yaml"
    with FakeProvider(responder=lambda p: Reply(content="Done. TERMINATE")) as fp:
        crew.write_text(LOOPBACK.format(api_base=fp.api_base))
        settings = Settings(home=tmp_path / "home", policies=policies)
        settings.ensure_home()
        store = Store(settings.database_url)
        session = Session(prepare(crew, engine=engine, task=f"Use {task_secret}"), settings,
                          store, **governed(settings, store, "deny").session_kwargs())
        outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    sent = json.dumps(fp.requests)
    assert fp.requests
    for planted in ("jane.doe@acme.com", "7946 0958", "sk-proj-ABCDEFGHIJKLMNOP", task_secret):
        assert planted not in sent, planted
    assert "[REDACTED:email]" in sent and "[REDACTED:api_key]" in sent
    import sqlite3
    con = sqlite3.connect(tmp_path / "home" / "workbench.db")
    audit = " ".join(r[0] for r in con.execute("select payload from audit_entry"))
    assert "prompt_sha256" in audit
    for planted in ("jane.doe@acme.com", "sk-proj-ABCDEFGHIJKLMNOP", task_secret):
        assert planted not in audit


@pytest.mark.parametrize("engine", ENGINES)
def test_over_budget_stops_with_a_stored_reason(tmp_path: Path, engine: str, capsys) -> None:
    policies = write_policies(tmp_path / "p",
                              "version: 1\nbudgets: {session: {tokens: 50}}\nrules: []\n")
    home = tmp_path / "home"
    code = main(["--home", str(home), "--policies", str(policies), "run", "market-entry",
                 "--engine", engine, "--approvals", "deny"])
    assert code == 1
    assert "session budget exhausted: tokens" in capsys.readouterr().err
    session = Store(f"sqlite:///{home / 'workbench.db'}").list_sessions()[0]
    assert session["status"] == "failed"
    assert "session budget exhausted: tokens" in session["error"]


def test_shipped_crew_shows_approval_redaction_and_deny(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--approvals", "deny",
                 "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    effects = {e["data"]["effect"] for e in events if e["kind"] == "policy.decision"}
    assert {"redact", "deny", "require_approval"} <= effects
    assert any(e["kind"] == "approval.requested" for e in events)
    assert main(["--home", str(home), "audit", "verify"]) == 0


# -- a reviewer's edited arguments are a new call: judged again, typed ---------------------

EDIT_CENTRAL = """\
version: 1
rules:
  - {id: external-email, on: tool_call, effect: require_approval, reason: mail leaves the company,
     when: 'tool.name == "send_email" && !args.to.endsWith("@example.com")'}
  - {id: urgent-mail, on: tool_call, effect: require_approval, reason: urgent mail is escalated,
     when: 'tool.name == "send_email" && args.subject.contains("URGENT")'}
"""
EDIT_COMMS = """\
version: 1
rules:
  - {id: no-personal-mailboxes, on: tool_call, effect: deny, reason: no personal mailboxes,
     when: 'tool.name == "send_email" && args.to.endsWith("@gmail.com")'}
"""
MAILER = """\
name: mailer
model: scripted/demo
topology: {kind: network, max_turns: 3}
agents:
  - {name: liaison, role: Customer liaison, goal: Inform the customer, tools: [send_email],
     domain: communications}
script:
  - agent: liaison
    call: send_email
    args: {to: it@acme.example.com, subject: Your export issue, body: Fixed.}
  - {agent: liaison, say: "Customer informed. TERMINATE"}
"""
ORIGINAL = {"to": "it@acme.example.com", "subject": "Your export issue", "body": "Fixed."}


class Reviewer:
    """Answers approval requests from a list of (approved, edited args); records each request."""

    def __init__(self, *answers: tuple[bool, dict | None]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[dict, list[str]]] = []

    async def post(self, request) -> float:
        return 0.0

    async def ask(self, request):
        from workbench.governance.brokers import ApprovalOutcome, Verdict

        self.requests.append((dict(request.args), list(request.rule_ids)))
        approved, edited = self.answers.pop(0)
        return ApprovalOutcome(Verdict.APPROVED if approved else Verdict.REJECTED, "rita",
                               "" if approved else "no", edited)

    def close(self, session_id: str, status: str) -> None:
        pass


def _mailer(tmp_path: Path, reviewer: Reviewer):
    from tests.support import make_context
    from workbench.governance.policy import load_policies
    from workbench.governance.policy_gate import PolicyGate
    from workbench.spec.loader import parse_crew

    policies = write_policies(tmp_path / "p", EDIT_CENTRAL, communications=EDIT_COMMS)
    spec = parse_crew(MAILER, "mailer.yaml")
    return make_context(spec, tmp_path, gate=PolicyGate(load_policies(policies)),
                        approvals=reviewer)


def _sent(tmp_path: Path) -> list[str]:
    outbox = tmp_path / "outbox"
    return [p.read_text() for p in outbox.glob("*.eml")] if outbox.exists() else []


def test_edited_arguments_the_policy_denies_never_run(tmp_path: Path) -> None:
    reviewer = Reviewer((True, {**ORIGINAL, "to": "someone@gmail.com"}))
    ctx, events = _mailer(tmp_path, reviewer)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ORIGINAL)))
    assert not outcome.ok
    assert "denied by policy" in outcome.output and "no personal mailboxes" in outcome.output
    assert _sent(tmp_path) == []
    assert [d.data["rule_ids"] for d in events if d.kind == "policy.decision"] == [
        ["external-email"], ["external-email", "no-personal-mailboxes"]]


def test_an_edit_that_raises_a_new_concern_needs_its_own_approval(tmp_path: Path) -> None:
    urgent = {**ORIGINAL, "subject": "URGENT: your export issue"}
    reviewer = Reviewer((True, urgent), (False, None))
    ctx, _ = _mailer(tmp_path, reviewer)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ORIGINAL)))
    assert [r for _, r in reviewer.requests] == [["external-email"],
                                                 ["external-email", "urgent-mail"]]
    assert reviewer.requests[1][0] == urgent
    assert not outcome.ok and "rejected by rita" in outcome.output
    assert _sent(tmp_path) == []


def test_an_edit_with_the_same_concern_is_covered_by_the_approval(tmp_path: Path) -> None:
    reviewer = Reviewer((True, {**ORIGINAL, "to": "ops@acme.example.com"}))
    ctx, _ = _mailer(tmp_path, reviewer)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ORIGINAL)))
    assert outcome.ok, outcome.output
    assert len(reviewer.requests) == 1
    assert outcome.args["to"] == "ops@acme.example.com"
    assert "To: ops@acme.example.com" in _sent(tmp_path)[0]


def test_edited_arguments_of_the_wrong_type_never_run(tmp_path: Path) -> None:
    reviewer = Reviewer((True, {**ORIGINAL, "to": ["it@acme.example.com"]}))
    ctx, _ = _mailer(tmp_path, reviewer)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ORIGINAL)))
    assert not outcome.ok
    assert "do not fit send_email" in outcome.output and "is not of type 'string'" in outcome.output
    assert _sent(tmp_path) == []


def _approval_waiting(home: Path) -> str:
    """A pending send_email approval in the database, as a waiting run leaves it."""
    from workbench.governance.approvals import create
    from workbench.governance.gate import Decision

    settings = Settings(home=home)
    settings.ensure_home()
    store = Store(settings.database_url)
    snapshot = store.snapshot_crew("mailer", "mailer.yaml", MAILER)
    store.create_session(id="s1", crew_name="mailer", crew_snapshot_id=snapshot,
                         engine="autogen", topology="network")
    decision = Decision("require_approval", "tool_call", ["external-email"], ["external"])
    return create(store, "s1", "liaison", "send_email", dict(ORIGINAL), decision, [], 600).id


def test_approve_refuses_arguments_of_the_wrong_type(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    approval = _approval_waiting(home)
    code = main(["--home", str(home), "approvals", "approve", approval, "--args",
                 json.dumps({**ORIGINAL, "to": 5})])
    assert code == 2
    assert "send_email takes to, subject, body: to: 5 is not of type 'string'" \
        in capsys.readouterr().err
    assert main(["--home", str(home), "approvals", "approve", approval, "--args",
                 json.dumps({**ORIGINAL, "to": "ops@acme.example.com"})]) == 0


def test_approve_with_arguments_the_domain_denies_sends_nothing(tmp_path: Path) -> None:
    """The whole path: a run waits in another process, the CLI approves a personal mailbox."""
    import os
    import subprocess
    import sys

    from tests.governance.test_approvals_and_audit import ROOT
    from tests.governance.test_review_cli import _wait_pending
    from tests.pg import Backend

    home = tmp_path / "home"
    crew = tmp_path / "mailer.yaml"
    crew.write_text(MAILER)
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--policies", str(ROOT / "policies"), "run",
         str(crew), "--approvals", "wait", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        # the run makes the database: read it only once its tables are there
        db = Backend("sqlite", f"sqlite:///{home / 'workbench.db'}")
        while proc.poll() is None:
            try:
                db.scalar("select count(*) from approval")
                break
            except Exception:
                time.sleep(0.05)
        approval = _wait_pending(db)
        assert main(["--home", str(home), "approvals", "approve", approval, "--reviewer", "rita",
                     "--args", json.dumps({**ORIGINAL, "to": "someone@gmail.com"})]) == 0
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    result = next(e for e in events if e["kind"] == "tool.result")
    assert not result["data"]["ok"]
    assert "comms-no-personal-mailboxes" in json.dumps(
        [e for e in events if e["kind"] == "policy.decision"])
    assert "Company communications never go to personal mailboxes" in result["content"]
    assert list((home / "sessions").glob("*/outbox/*.eml")) == []


# -- a run whose model calls were blocked says so ------------------------------------------

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_where_every_model_call_was_blocked_fails(tmp_path: Path, engine: str,
                                                        capsys) -> None:
    home = tmp_path / "home"
    code = main(["--home", str(home), "--policies", str(SHIPPED_POLICIES), "run",
                 "market-entry", "--engine", engine, "--model", "nosuch/model",
                 "--approvals", "deny"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "every model call was blocked by policy" in err
    assert "Only vetted model providers may be used" in err
    assert "✔ completed" not in out and "✘ failed" in out
    session = Store(f"sqlite:///{home / 'workbench.db'}").list_sessions()[0]
    assert session["status"] == "failed"
    assert session["error"].startswith("every model call was blocked by policy")


PARTLY_BLOCKED = """\
name: partly-blocked
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - {name: lead, role: Lead, goal: Decide}
  - {name: outsider, role: Outsider, goal: Comment, model: nosuch/model}
script:
  - {agent: lead, say: "Decided."}
"""


def test_a_run_with_some_blocked_calls_says_so_in_its_summary(tmp_path: Path,
                                                              capsys) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(PARTLY_BLOCKED)
    home = tmp_path / "home"
    code = main(["--home", str(home), "--policies", str(SHIPPED_POLICIES), "run", str(crew),
                 "--approvals", "deny", "--json"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    done = events[-1]
    assert done["kind"] == "run.completed" and done["data"]["blocked_calls"] >= 1
    from workbench.cli.printer import RunPrinter
    from workbench.mesh.events import Event

    line = RunPrinter(color=False).summary(Event(done["kind"], content=done.get("content"),
                                                 data=done["data"]))
    assert f"{done['data']['blocked_calls']} blocked by policy" in line


# -- a cost budget cannot count unpriced models: said at the start, tokens still bind --------

UNPRICED = """\
name: unpriced
model: openai/loopback-model
api_base: {api_base}
topology: {{kind: network, max_turns: 12}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
  - {{name: editor, role: Editor, goal: Edit}}
"""
COST_AND_TOKENS = "version: 1\nbudgets: {session: {cost_usd: 0.01, tokens: 30}}\nrules: []\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cost_budget_over_unpriced_models_is_announced_and_tokens_still_bind(
        tmp_path: Path, engine: str, capsys) -> None:
    policies = write_policies(tmp_path / "p", COST_AND_TOKENS)
    crew = tmp_path / "unpriced.yaml"
    home = tmp_path / "home"
    with FakeProvider(responder=lambda p: Reply(content="Let us go on.")) as fp:
        crew.write_text(UNPRICED.format(api_base=fp.api_base))
        code = main(["--home", str(home), "--policies", str(policies), "run", str(crew),
                     "--engine", engine, "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    warning = ("the session budget of $0.01 cannot count calls to openai/loopback-model: "
               "no price is known for it; the tokens budget (30) still stops the run")
    assert f"workbench: warning: {warning}" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["kind"] == "run.started" and events[0]["data"]["warnings"] == [warning]
    assert code == 1 and "session budget exhausted: tokens" in err
    assert events[-1]["kind"] == "run.failed"


def test_budget_warnings_only_where_a_cost_budget_cannot_count() -> None:
    from workbench.gateway.pricing import budget_warnings
    from workbench.gateway.profiles import ModelProfiles
    from workbench.spec.loader import parse_crew

    def crew(model: str):
        return parse_crew(f"name: c\nmodel: {model}\ntopology: {{kind: network}}\n"
                          "agents:\n  - {name: a, role: A, goal: G}\n", "c.yaml")

    none = ModelProfiles()
    assert budget_warnings(crew("scripted/demo"), none, {"cost_usd": 1.0}) == []
    assert budget_warnings(crew("openai/gpt-4o-mini"), none, {"cost_usd": 1.0}) == []
    assert budget_warnings(crew("openai/in-house"), none, {"tokens": 10.0}) == []
    assert budget_warnings(crew("openai/in-house"), none, {"cost_usd": 1.0}) == [
        "the session budget of $1.00 cannot count calls to openai/in-house: no price is "
        "known for it, and no tokens budget is set: nothing limits what they use"]
