"""Approvals: a flagged tool call waits for a reviewer, in this process or another one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import text

from workbench.errors import UserInputError
from workbench.governance.brokers import (
    ApprovalOutcome,
    ApprovalRequest,
    DenyAllApprovals,
    Verdict,
    new_request_id,
)
from workbench.governance.gate import Decision
from workbench.governance.reviewer import checked_reviewer, default_reviewer
from workbench.store import notify
from workbench.store.audit import AuditChain, AuditRecord
from workbench.store.db import Store

POLL_S = 0.25


@dataclass
class Approval:
    id: str
    session_id: str
    agent: str
    tool: str
    args: dict[str, Any]
    rule_ids: list[str]
    reason: str
    context: list[dict[str, Any]]
    status: str
    reviewer: str | None
    decision_reason: str | None
    edited_args: dict[str, Any] | None
    always: bool
    created_at: float
    decided_at: float | None
    expires_at: float
    #: Who may approve ({"groups", "names"}, from the run's policy); None: anyone.
    reviewers: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, r: Any) -> Approval:
        m = r._mapping
        return cls(
            m["id"], m["session_id"], m["agent"], m["tool"], json.loads(m["args"]),
            json.loads(m["rule_ids"]), m["reason"], json.loads(m["context"]), m["status"],
            m["reviewer"], m["decision_reason"],
            json.loads(m["edited_args"]) if m["edited_args"] else None, bool(m["always"]),
            m["created_at"], m["decided_at"], m["expires_at"],
            json.loads(m["reviewers"]) if m.get("reviewers") else None,
        )


class AlreadyDecided(UserInputError):
    """The approval was decided (or expired) before this decision came: nothing is left."""


def create(store: Store, session_id: str, agent: str, tool: str, args: dict[str, Any],
           decision: Decision, context: list[dict[str, Any]], timeout_s: float,
           reviewers: dict[str, Any] | None = None) -> Approval:
    """Store a pending request; `reviewers` ({"groups", "names"}) limits who may approve."""
    return store_request(store, ApprovalRequest(
        new_request_id(), session_id, agent, tool, args, decision.rule_ids, decision.reason,
        context=context, reviewers=reviewers), timeout_s)


def store_request(store: Store, request: ApprovalRequest, timeout_s: float) -> Approval:
    """Store `request` as pending, for `timeout_s` seconds, under its own id."""
    now = time.time()
    approval = Approval(request.id, request.session_id, request.agent, request.tool,
                        request.args, request.rule_ids, request.reason, request.context,
                        "pending", None, None, None, False, now, None, now + timeout_s,
                        request.reviewers)
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO approval (id, session_id, agent, tool, args, rule_ids, reason, context,"
            " status, always, created_at, expires_at, reviewers) VALUES (:id, :sid, :agent,"
            " :tool, :args, :rules, :reason, :context, 'pending', :always, :created, :expires,"
            " :reviewers)"),
            dict(id=approval.id, sid=approval.session_id, agent=approval.agent,
                 tool=approval.tool, always=False,
                 reviewers=json.dumps(approval.reviewers)
                 if approval.reviewers is not None else None,
                 args=json.dumps(approval.args, default=str),
                 rules=json.dumps(approval.rule_ids), reason=approval.reason,
                 context=json.dumps(approval.context, default=str),
                 created=now, expires=approval.expires_at))
        notify.send(conn, notify.APPROVALS, f"{approval.id} pending {approval.session_id}")
    return approval


def get(store: Store, approval_id: str) -> Approval:
    """An approval by id or unique prefix."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM approval WHERE id LIKE :p LIMIT 2"),
                            {"p": f"{approval_id}%"}).all()
    if not rows:
        raise UserInputError(f"no approval {approval_id!r}; see `workbench approvals list`")
    if len(rows) > 1:
        raise UserInputError(f"approval id {approval_id!r} is ambiguous; give more of it")
    return Approval.from_row(rows[0])


def list_approvals(store: Store, pending_only: bool = True, limit: int = 200) -> list[Approval]:
    if not getattr(store, "read_only", False):  # a read-only database is only read
        expire_overdue(store)
    where = "WHERE status = 'pending'" if pending_only else ""
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT * FROM approval {where} ORDER BY created_at DESC LIMIT :n"), {"n": limit})
        return [Approval.from_row(r) for r in rows]


def count_pending(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM approval WHERE status = 'pending' AND expires_at > :now"),
            {"now": time.time()}).scalar_one()


def decide(store: Store, approval_id: str, decision: str, reviewer: str,
           reason: str | None = None, args: dict[str, Any] | None = None,
           always: bool = False) -> Approval:
    """Approve or reject a pending approval (from any process); the audit names the reviewer.

    `decision` is "approved" or "rejected"; `args` are edited arguments to run with.
    """
    if decision not in ("approved", "rejected", "expired"):
        raise UserInputError(f"a decision is approved or rejected, not {decision!r}")
    reviewer = checked_reviewer(reviewer)  # every decision names who made it
    if decision == "rejected" and not (reason or "").strip():
        raise UserInputError("a rejection needs a reason (the agent is told it)")
    if args is not None and not isinstance(args, dict):
        raise UserInputError("edited arguments must be a JSON object")
    current = get(store, approval_id)
    if decision == "approved":
        _refuse_if_not_a_reviewer(current, reviewer)
    if args is not None:
        check_args(current.tool, args)
    if decision != "expired":
        _refuse_if_run_gone(store, current)
    now = time.time()
    with store.engine.begin() as conn:
        changed = conn.execute(text(
            "UPDATE approval SET status = :status, reviewer = :reviewer, "
            "decision_reason = :reason, edited_args = :args, always = :always, "
            "decided_at = :now WHERE id = :id AND status = 'pending'"),
            dict(status=decision, reviewer=reviewer, reason=reason,
                 args=json.dumps(args) if args is not None else None, always=always, now=now,
                 id=current.id)).rowcount
        if changed:  # the waiting run (and every reviewer's queue) hears of it at once
            notify.send(conn, notify.APPROVALS, f"{current.id} {decision} {current.session_id}")
    if not changed:  # another reviewer won the race: say what they decided, not "pending"
        won = get(store, current.id)
        by = f" by {won.reviewer}" if won.reviewer else ""
        raise AlreadyDecided(f"approval {current.id} was already {won.status}{by}")
    payload = {"approval_id": current.id, "decision": decision, "tool": current.tool,
               "reason": reason, "always": always,
               "edited_args": args if args is not None else None}
    AuditChain(store).append([AuditRecord(current.session_id, reviewer, "approval.decided",
                                          payload, now)])
    return get(store, current.id)


def _refuse_if_not_a_reviewer(a: Approval, reviewer: str) -> None:
    """A rule naming reviewer groups lets only their members approve (anyone may reject:
    that is the safe way, and a run is not held up by who is at hand)."""
    if a.reviewers is None or reviewer in a.reviewers.get("names", []):
        return
    groups = ", ".join(a.reviewers.get("groups", [])) or "?"
    names = ", ".join(a.reviewers.get("names", [])) or "nobody: no one is in every group"
    raise UserInputError(f"{reviewer} may not approve {a.id}: its rules "
                         f"({', '.join(a.rule_ids)}) let only {groups} approve ({names})")


def _refuse_if_run_gone(store: Store, a: Approval) -> None:
    """A decision is only for a run that waits for it: not one that ended or was killed
    (found by its lapsed lease, which also expires the request)."""
    store.reap_lapsed_sessions()
    with store.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT session.status, approval.status, approval.reviewer FROM approval "
            "LEFT JOIN session ON session.id = approval.session_id WHERE approval.id = :id"),
            {"id": a.id}).first()
    run, state, by = row if row else (None, a.status, a.reviewer)
    if run == "running":
        return
    by = f" by {by}" if by and state in ("approved", "rejected") else ""
    why = "cannot be decided:" if state == "pending" else f"was already {state}{by}, and"
    error = UserInputError if state == "pending" else AlreadyDecided
    raise error(f"approval {a.id} {why} its run (session {a.session_id[:12]}) is "
                f"{run or 'gone'}, so nothing waits for a decision")


def check_args(tool_name: str, args: dict[str, Any]) -> None:
    """Edited arguments must fit the tool (names, required ones and JSON types), or the
    approved call would only fail later."""
    from workbench.governance.argcheck import check_tool_args
    from workbench.tools.registry import default_registry

    registry = default_registry()
    if tool_name not in registry.names():
        return  # a custom tool known only to the run: the run checks it against its schema
    check_tool_args(tool_name, registry.get(tool_name).parameters, args)


def expire_overdue(store: Store) -> int:
    """Pending approvals past their time become expired (a rejection), and so do those of
    runs that are gone (their sessions' leases lapsed)."""
    store.reap_lapsed_sessions()
    return _expire(store, "expires_at <= :now", {"now": time.time()},
                   "no reviewer decided in time")


def close_session(store: Store, session_id: str, status: str) -> int:
    """A run that ended leaves nothing to approve: its pending requests expire, so that no
    reviewer approves an action that can no longer happen."""
    return _expire(store, "session_id = :sid", {"sid": session_id},
                   f"the run ended ({status}) before a decision")


def _expire(store: Store, where: str, params: dict[str, Any], reason: str) -> int:
    """Expire the pending approvals that match `where` (SQL over the approval table)."""
    with store.engine.connect() as conn:
        pending = [r[0] for r in conn.execute(text(
            f"SELECT id FROM approval WHERE status = 'pending' AND {where}"), params)]
    for approval_id in pending:
        with contextlib.suppress(UserInputError):  # decided meanwhile
            decide(store, approval_id, "expired", "workbench", reason)
    return len(pending)


class DatabaseApprovals:
    """Stores the request and waits for a decision from any process on the same database
    (`--approvals wait`, the TUI, `workbench approvals approve`). On PostgreSQL the decision
    is pushed (LISTEN/NOTIFY) and reaches the run in milliseconds; on SQLite a cheap indexed
    query runs a few times a second: picked up well within a second, the CPU stays idle.
    Waiting ends with the decision or the expiry; a stopped run cancels it."""

    def __init__(self, store: Store, timeout_s: float, poll_s: float = POLL_S) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        #: Told about each request that starts waiting (the CLI prints how to decide it).
        self.on_waiting: Callable[[Approval], None] | None = None
        #: Requests posted and not yet asked about, by id.
        self._posted: dict[str, Approval] = {}

    async def post(self, request: ApprovalRequest) -> float:
        approval = await asyncio.to_thread(store_request, self.store, request, self.timeout_s)
        self._posted[request.id] = approval
        return approval.expires_at

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        approval = self._posted.pop(request.id, None) \
            or await asyncio.to_thread(get, self.store, request.id)
        if self.on_waiting is not None:
            self.on_waiting(approval)
        return outcome(await self._decided(request, approval))

    async def _decided(self, request: ApprovalRequest, approval: Approval) -> Approval:
        return await self.wait(approval)

    async def wait(self, approval: Approval) -> Approval:
        """The approval once decided (or expired)."""
        # listening before the first look: a decision made in between is not missed
        listener = await asyncio.to_thread(self.store.listen, notify.APPROVALS,
                                           poll_s=self.poll_s)
        try:
            return await self._wait(approval, listener)
        finally:
            await asyncio.to_thread(listener.close)

    async def _wait(self, approval: Approval, listener: notify.Listener) -> Approval:
        look, last_look = True, 0.0
        while True:
            if look or time.monotonic() - last_look >= listener.recheck_s \
                    or time.time() >= approval.expires_at:
                current = await asyncio.to_thread(get, self.store, approval.id)
                last_look = time.monotonic()
                if current.status != "pending":
                    return current
                if time.time() >= current.expires_at:
                    try:
                        return await asyncio.to_thread(
                            decide, self.store, approval.id, "expired", "workbench",
                            "no reviewer decided in time")
                    except UserInputError:
                        continue
            # short waits: the expiry is noticed as before
            notices = await listener.wait_async(
                min(self.poll_s, max(0.0, approval.expires_at - time.time())))
            look = not listener.pushed or any(
                n.payload.startswith(approval.id) for n in notices)

    def close(self, session_id: str, status: str) -> None:
        # a request the run stopped waiting for before asking is void with the rest
        self._posted = {k: a for k, a in self._posted.items() if a.session_id != session_id}
        close_session(self.store, session_id, status)


def outcome(a: Approval) -> ApprovalOutcome:
    """A stored decision as the run is told it."""
    return ApprovalOutcome(Verdict(a.status), a.reviewer or "?", a.decision_reason or "",
                           a.edited_args, a.always)


class PromptApprovals(DatabaseApprovals):
    """`--approvals prompt`: asks on the terminal, while a decision from another process
    (or the TUI) is still picked up; whichever comes first wins."""

    _lock = threading.Lock()

    def __init__(self, store: Store, timeout_s: float, reviewer: str | None = None) -> None:
        super().__init__(store, timeout_s)
        # a blank --reviewer is refused before the run, not when the first decision is stored
        self.reviewer = checked_reviewer(reviewer or default_reviewer())

    async def _decided(self, request: ApprovalRequest, approval: Approval) -> Approval:
        threading.Thread(target=self._ask, args=(approval, request.shown,
                                                 "external" in request.tags),
                         daemon=True).start()
        return await self.wait(approval)

    def _ask(self, a: Approval, printed: Callable[[float], bool] | None = None,
             external: bool = False) -> None:
        """Ask on the terminal; an `external` action (email, the network) is approved with
        `a` or `A` only after a second yes, as in the TUI: one stray key must not send it.
        (An edit is typed out in full as JSON, so it is no stray key; the policy judges the
        edited call again.)"""
        if printed is not None:  # the run's lines so far come before the question
            printed(2.0)
        with self._lock:
            if get(self.store, a.id).status != "pending":
                return
            out = sys.stderr
            out.write(f"\n⏸ {a.agent} wants to call {a.tool} with "
                      f"{json.dumps(a.args, ensure_ascii=False)}\n  flagged: {a.reason} "
                      f"[{', '.join(a.rule_ids)}]\n")
            while True:
                out.write("  [a]pprove once, approve [A]lways, [e]dit arguments, [r]eject: ")
                out.flush()
                answer = sys.stdin.readline()
                if not answer:
                    # end of input: nobody can answer here, and waiting would hold the run
                    with contextlib.suppress(UserInputError):
                        decide(self.store, a.id, "rejected", self.reviewer,
                               "no answer on the terminal (end of input)")
                    out.write("  no answer (end of input): rejected\n")
                    return
                choice = answer.strip()
                approval: dict[str, Any] | None = None  # how it is approved, once sure
                try:
                    if choice == "a":
                        approval = {}
                    elif choice == "A":
                        approval = {"always": True}
                    elif choice == "e":
                        out.write("  arguments as JSON: ")
                        out.flush()
                        line = sys.stdin.readline()
                        if not line:
                            # the reviewer chose to change the call: the call as asked was
                            # not approved, and nobody is left to give the edit
                            with contextlib.suppress(UserInputError):
                                decide(self.store, a.id, "rejected", self.reviewer,
                                       "no edited arguments on the terminal (end of input)")
                            out.write("  no answer (end of input): rejected\n")
                            return
                        args = json.loads(line)
                        if not isinstance(args, dict):
                            # `null` would mean "as asked": an edit is an object
                            out.write("  edited arguments must be a JSON object\n")
                            continue
                        approval = {"args": args}
                    elif choice == "r":
                        why = self._reason(out)
                        if why is None:
                            with contextlib.suppress(UserInputError):
                                decide(self.store, a.id, "rejected", self.reviewer,
                                       "no answer on the terminal (end of input)")
                            out.write("  no answer (end of input): rejected\n")
                            return
                        decide(self.store, a.id, "rejected", self.reviewer, why)
                    else:
                        continue
                    if approval is not None:
                        sure = self._sure(out) if external and choice != "e" else True
                        if sure is None:
                            with contextlib.suppress(UserInputError):
                                decide(self.store, a.id, "rejected", self.reviewer,
                                       "no answer on the terminal (end of input)")
                            out.write("  no answer (end of input): rejected\n")
                            return
                        if not sure:
                            out.write("  not approved: choose again\n")
                            continue
                        decide(self.store, a.id, "approved", self.reviewer, **approval)
                except AlreadyDecided as exc:  # decided elsewhere first: nothing to ask
                    out.write(f"  {exc}\n")
                    return
                except (UserInputError, ValueError) as exc:
                    out.write(f"  {exc}\n")
                    continue
                return

    @staticmethod
    def _sure(out: TextIO) -> bool | None:
        """The second yes an external action needs (y or yes; anything else is no); None
        at end of input."""
        out.write("  this sends outside: approve? [y/N] ")
        out.flush()
        line = sys.stdin.readline()
        if not line:
            return None
        return line.strip().lower() in ("y", "yes")

    @staticmethod
    def _reason(out: TextIO) -> str | None:
        """A rejection's reason, asked until one is given (the agent is told it, as in the
        TUI and `approvals reject --reason`); None at end of input."""
        while True:
            out.write("  reason (the agent is told why): ")
            out.flush()
            line = sys.stdin.readline()
            if not line:
                return None
            if line.strip():
                return line.strip()
            out.write("  a reason is required to reject\n")


def waiting_hint(a: Approval, command: str = "workbench") -> str:
    """What the terminal of a run waiting for a decision says: where to decide it."""
    minutes = max(1, round((a.expires_at - a.created_at) / 60))
    who = ""
    if a.reviewers is not None:
        who = (f"    only {', '.join(a.reviewers.get('groups', []))} may approve "
               f"({', '.join(a.reviewers.get('names', [])) or 'nobody is in every group'})\n")
    return (f"  ⏸ waiting for a reviewer (rejected if nobody decides within {minutes} min): "
            f"decide in `{command} review`,\n    or `{command} approvals approve {a.id}` / "
            f"`{command} approvals reject {a.id} --reason TEXT`\n{who}")


def print_waiting_hint(a: Approval, command: str = "workbench",
                       out: TextIO | None = None) -> None:
    """Write `waiting_hint` to the run's terminal (stderr: stdout may carry JSON Lines)."""
    out = out or sys.stderr
    out.write(waiting_hint(a, command))
    out.flush()



def broker_for(mode: str, store: Store, timeout_s: float,
               reviewer: str | None = None) -> DatabaseApprovals | DenyAllApprovals:
    """Who decides a run's approvals, by `--approvals` mode: deny, prompt, else wait."""
    if mode == "deny":
        return DenyAllApprovals(store, timeout_s, "workbench (--approvals deny)")
    if mode == "prompt":
        return PromptApprovals(store, timeout_s, reviewer)
    return DatabaseApprovals(store, timeout_s)
