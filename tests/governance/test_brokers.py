"""The approval path is linear: the run posts a typed request, says so, awaits the broker's
typed outcome and says what was decided; a broker knows nothing of the run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from workbench.governance.brokers import (
    ApprovalOutcome,
    ApprovalRequest,
    DenyAllApprovals,
    Verdict,
)

CENTRAL = """\
version: 1
rules:
  - {id: external-email, on: tool_call, effect: require_approval, reason: mail leaves the company,
     when: 'tool.name == "send_email" && !args.to.endsWith("@example.com")'}
"""
CREW = """\
name: mailer
model: scripted/demo
topology: {kind: network, max_turns: 3}
agents:
  - {name: liaison, role: Customer liaison, goal: Inform the customer, tools: [send_email]}
"""
ARGS = {"to": "it@acme.example.com", "subject": "Your export issue", "body": "Fixed."}


def _context(tmp_path: Path, approvals=None):
    from tests.support import make_context
    from workbench.governance.policy import load_policies
    from workbench.governance.policy_gate import PolicyGate
    from workbench.spec.loader import parse_crew

    policies = write_policies(tmp_path / "p", CENTRAL)
    kwargs = {"approvals": approvals} if approvals is not None else {}
    return make_context(parse_crew(CREW, "mailer.yaml"), tmp_path,
                        gate=PolicyGate(load_policies(policies)), **kwargs)


class Recorder:
    """A broker that answers with `outcome` and notes what it was given and when."""

    def __init__(self, outcome: ApprovalOutcome, events: list) -> None:
        self.outcome = outcome
        self.events = events
        self.posted: list[ApprovalRequest] = []
        self.kinds_when_asked: list[str] = []

    async def post(self, request: ApprovalRequest) -> float:
        self.posted.append(request)
        return 1234.5

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        self.kinds_when_asked = [e.kind for e in self.events]
        return self.outcome

    def close(self, session_id: str, status: str) -> None:
        pass


def test_the_context_emits_the_approval_events_around_the_brokers_answer(tmp_path: Path) -> None:
    broker = Recorder(ApprovalOutcome(Verdict.APPROVED, "rita", "fine", None, always=True), [])
    ctx, emitted = _context(tmp_path, broker)
    broker.events = emitted
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ARGS)))
    assert outcome.ok, outcome.output
    [request] = broker.posted
    assert (request.agent, request.tool, request.args, request.rule_ids) == \
        ("liaison", "send_email", ARGS, ["external-email"])
    assert request.session_id == "test-session" and request.reason == "mail leaves the company"
    # the request is announced before the broker is asked, the decision after it answers
    assert broker.kinds_when_asked[-1] == "approval.requested"
    asked = next(e for e in emitted if e.kind == "approval.requested")
    assert asked.data["approval_id"] == request.id and asked.data["expires_at"] == 1234.5
    decided = next(e for e in emitted if e.kind == "approval.decided")
    assert decided.data == {"approval_id": request.id, "decision": "approved",
                            "reviewer": "rita", "tool": "send_email", "args": None,
                            "always": True}
    assert decided.content == "fine"
    # approved always: the next call needs no reviewer
    asyncio.run(ctx.call_tool("liaison", "send_email", dict(ARGS)))
    assert len(broker.posted) == 1


def test_an_expired_request_is_a_rejection(tmp_path: Path) -> None:
    broker = Recorder(ApprovalOutcome(Verdict.EXPIRED, "workbench",
                                      "no reviewer decided in time"), [])
    ctx, emitted = _context(tmp_path, broker)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ARGS)))
    assert not outcome.ok
    assert outcome.output == "rejected by workbench: no reviewer decided in time"
    decided = next(e for e in emitted if e.kind == "approval.decided")
    assert decided.data["decision"] == "expired"


def test_a_run_given_no_broker_denies_and_says_so(tmp_path: Path) -> None:
    ctx, emitted = _context(tmp_path)
    assert isinstance(ctx.approvals, DenyAllApprovals)
    outcome = asyncio.run(ctx.call_tool("liaison", "send_email", dict(ARGS)))
    assert outcome.output == "rejected by workbench: approvals are set to deny for this run"
    kinds = [e.kind for e in emitted]
    assert kinds.index("approval.requested") < kinds.index("approval.decided") \
        < kinds.index("tool.result")


class NeverDecides:
    """A broker whose reviewer never comes: only stopping the run ends the wait."""

    async def post(self, request: ApprovalRequest) -> float:
        return 0.0

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def close(self, session_id: str, status: str) -> None:
        pass


def test_stopping_the_run_ends_a_wait_for_a_reviewer(tmp_path: Path) -> None:
    from workbench.mesh.context import RunAborted

    ctx, emitted = _context(tmp_path, NeverDecides())

    async def run() -> None:
        ctx.loop = asyncio.get_running_loop()
        call = asyncio.ensure_future(ctx.call_tool("liaison", "send_email", dict(ARGS)))
        while not any(e.kind == "approval.requested" for e in emitted):
            await asyncio.sleep(0)
        ctx.fail("over budget")
        with pytest.raises(RunAborted, match="over budget"):
            await call

    asyncio.run(run())
    assert not any(e.kind == "approval.decided" for e in emitted)


def test_a_decision_on_a_decided_request_is_already_decided(tmp_path: Path) -> None:
    from workbench.config import Settings
    from workbench.errors import UserInputError
    from workbench.governance.approvals import AlreadyDecided, create, decide
    from workbench.governance.gate import Decision
    from workbench.store.db import Store

    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    store.create_session(id="s1", crew_name="mailer", engine="autogen", topology="network")
    approval = create(store, "s1", "liaison", "send_email", dict(ARGS),
                      Decision("require_approval", "tool_call", ["external-email"], ["x"]), [],
                      600)
    decide(store, approval.id, "approved", "rita")
    with pytest.raises(AlreadyDecided, match="was already approved by rita"):
        decide(store, approval.id, "rejected", "sam", "too late")
    # a check that only refuses (not a reviewer, bad arguments) is not this
    assert issubclass(AlreadyDecided, UserInputError)
    store.close()
