"""Human questions in the database: a run waits for a person's answer from any process.

A human agent's turn (or a review an answer asks for) is stored as a pending question; the
terminal of the run, the TUI's run view, `workbench review` and `workbench approvals answer`
can answer it, and the run picks the first answer up. A question nobody answers in time is
skipped (or answered by `--human-default`), as is one whose run ended: nothing waits for ever.
"""

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
from sqlalchemy.exc import DBAPIError

from workbench.errors import UserInputError
from workbench.governance.brokers import (
    DefaultAnswers,
    HumanAnswer,
    HumanQuestion,
    HumanResponder,
    NobodyAnswers,
)
from workbench.governance.reviewer import checked_reviewer, default_reviewer
from workbench.store.db import Store

POLL_S = 0.25
#: Most characters of an answer kept (a pasted novel is not an answer).
MAX_ANSWER = 20_000


@dataclass
class Question:
    """A stored question, as reviewers see it."""

    id: str
    session_id: str
    agent: str
    kind: str
    question: str
    context: list[dict[str, Any]]
    status: str
    answer: str | None
    answered_by: str | None
    how: str | None
    reason: str | None
    created_at: float
    answered_at: float | None
    expires_at: float

    @classmethod
    def from_row(cls, r: Any) -> Question:
        m = r._mapping
        return cls(m["id"], m["session_id"], m["agent"], m["kind"], m["question"],
                   json.loads(m["context"]), m["status"], m["answer"], m["answered_by"],
                   m["how"], m["reason"], m["created_at"], m["answered_at"], m["expires_at"])

    @property
    def prompt(self) -> str:
        """One line saying what is asked."""
        return HumanQuestion(self.id, self.session_id, self.agent, self.kind,
                             self.question).prompt


def create(store: Store, q: HumanQuestion, timeout_s: float) -> Question:
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO human_question (id, session_id, agent, kind, question, context, status,"
            " created_at, expires_at) VALUES (:id, :sid, :agent, :kind, :question, :context,"
            " 'pending', :created, :expires)"),
            dict(id=q.id, sid=q.session_id, agent=q.agent, kind=q.kind, question=q.text,
                 context=json.dumps(q.context, default=str), created=now,
                 expires=now + timeout_s))
    return get(store, q.id)


def get(store: Store, question_id: str) -> Question:
    """A question by id or unique prefix."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM human_question WHERE id LIKE :p LIMIT 2"),
                            {"p": f"{question_id}%"}).all()
    if not rows:
        raise UserInputError(f"no question {question_id!r} for a person; see "
                             "`workbench approvals list`")
    if len(rows) > 1:
        raise UserInputError(f"question id {question_id!r} is ambiguous; give more of it")
    return Question.from_row(rows[0])


def list_questions(store: Store, pending_only: bool = True, limit: int = 200) -> list[Question]:
    """Questions, newest first; pending ones only of runs still running (a run that was
    killed waits for nothing)."""
    where = ("WHERE q.status = 'pending' AND q.expires_at > :now AND q.session_id IN "
             "(SELECT id FROM session WHERE status = 'running')") if pending_only else ""
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT q.* FROM human_question q {where} ORDER BY q.created_at DESC "
                "LIMIT :n"), {"n": limit, "now": time.time()}).all()
    except DBAPIError:
        if _has_table(store):
            raise
        return []  # a database read, not migrated, from before questions were kept
    return [Question.from_row(r) for r in rows]


def _has_table(store: Store) -> bool:
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        return inspect(conn).has_table("human_question")


def answer(store: Store, question_id: str, answer_text: str, by: str,
           how: str = "reviewer") -> Question:
    """Answer a pending question (from any process). A turn needs words; feedback may be
    empty, which accepts the answer under review."""
    by = checked_reviewer(by)  # an answer names who gave it, as a decision does
    current = get(store, question_id)
    answer_text = answer_text.strip()
    if not answer_text and current.kind == "turn":
        raise UserInputError(f"question {current.id}: an answer is needed ({current.agent} "
                             "speaks with it)")
    if len(answer_text) > MAX_ANSWER:
        raise UserInputError(f"an answer is at most {MAX_ANSWER:,} characters")
    if current.status != "pending":
        raise UserInputError(f"question {current.id} was already {current.status}")
    _refuse_if_run_gone(store, current)
    with store.engine.begin() as conn:
        changed = conn.execute(text(
            "UPDATE human_question SET status = 'answered', answer = :answer, "
            "answered_by = :by, how = :how, answered_at = :now "
            "WHERE id = :id AND status = 'pending'"),
            dict(answer=answer_text, by=by, how=how, now=time.time(), id=current.id)).rowcount
    if not changed:
        raise UserInputError(f"question {current.id} was already "
                             f"{get(store, current.id).status}")
    return get(store, current.id)


def skip(store: Store, question_id: str, reason: str, how: str = "skipped") -> bool:
    """Mark a pending question skipped with `reason`; False if it was no longer pending."""
    with store.engine.begin() as conn:
        return bool(conn.execute(text(
            "UPDATE human_question SET status = 'skipped', answered_by = 'workbench', "
            "how = :how, reason = :reason, answered_at = :now "
            "WHERE id = :id AND status = 'pending'"),
            dict(how=how, reason=reason, now=time.time(), id=question_id)).rowcount)


def close_session(store: Store, session_id: str, status: str) -> int:
    """A run that ended waits for no answer: its pending questions are skipped."""
    with store.engine.begin() as conn:
        return conn.execute(text(
            "UPDATE human_question SET status = 'skipped', answered_by = 'workbench', "
            "how = 'skipped', reason = :reason, answered_at = :now "
            "WHERE session_id = :sid AND status = 'pending'"),
            dict(reason=f"the run ended ({status}) before an answer", now=time.time(),
                 sid=session_id)).rowcount


def _refuse_if_run_gone(store: Store, q: Question) -> None:
    """An answer is only for a run that waits for it."""
    store.reap_lapsed_sessions()
    with store.engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM session WHERE id = :id"),
                              {"id": q.session_id}).scalar()
    if status != "running":
        raise UserInputError(f"question {q.id} cannot be answered: its run (session "
                             f"{q.session_id[:12]}) is {status or 'gone'}, so nothing waits "
                             "for an answer")


class DatabaseHumans:
    """Stores each question and waits for an answer from any process on the same database
    (the TUI, `workbench review`, `workbench approvals answer`). Unanswered in time, the
    question is answered by `default` if there is one, else skipped."""

    def __init__(self, store: Store, timeout_s: float, default: str | None = None,
                 poll_s: float = POLL_S) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.default = default
        self.poll_s = poll_s
        #: Told about each question that starts waiting (the CLI prints how to answer it).
        self.on_waiting: Callable[[Question], None] | None = None

    async def post(self, question: HumanQuestion) -> None:
        stored = await asyncio.to_thread(create, self.store, question, self.timeout_s)
        if self.on_waiting is not None:
            self.on_waiting(stored)

    async def ask(self, question: HumanQuestion) -> HumanAnswer:
        """The answer, or why there is none; a stopped run cancels the wait."""
        while True:
            current = await asyncio.to_thread(get, self.store, question.id)
            if current.status == "answered":
                return HumanAnswer(current.answer or "", current.answered_by or "?",
                                   current.how or "reviewer")
            if current.status != "pending":
                return HumanAnswer(None, current.answered_by or "workbench",
                                   current.how or "skipped", current.reason or "skipped")
            if time.time() >= current.expires_at:
                minutes = max(1, round(self.timeout_s / 60))
                why = f"nobody answered within {minutes} min"
                if await asyncio.to_thread(skip, self.store, question.id, why, "expired"):
                    if self.default is not None:
                        return DefaultAnswers(self.default).answer_for(question)
                    return HumanAnswer(None, "workbench", "expired", why)
                continue  # answered meanwhile
            await asyncio.sleep(self.poll_s)

    def close(self, session_id: str, status: str) -> None:
        close_session(self.store, session_id, status)


class PromptHumans(DatabaseHumans):
    """Asks on the terminal, while an answer from another process (a reviewer) is still
    picked up; whichever comes first wins. End of input answers with `default`, or skips."""

    def __init__(self, store: Store, timeout_s: float, reviewer: str | None = None,
                 default: str | None = None) -> None:
        super().__init__(store, timeout_s, default)
        self.person = reviewer or default_reviewer()

    async def ask(self, question: HumanQuestion) -> HumanAnswer:
        threading.Thread(target=self._ask, args=(question, question.shown), daemon=True,
                         name="human-prompt").start()
        return await super().ask(question)

    def _ask(self, q: HumanQuestion, printed: Callable[[float], bool] | None = None) -> None:
        from workbench.governance.approvals import PromptApprovals

        if printed is not None:  # the run's lines so far come before the question
            printed(2.0)
        # one question at a time on a terminal, approvals included
        with PromptApprovals._lock:
            if get(self.store, q.id).status != "pending":
                return
            out = sys.stderr
            write_question(out, q, self.default)
            line = sys.stdin.readline()
            if not line:
                self._end_of_input(q, out)
                return
            text_ = line.strip()
            how, by = "terminal", self.person
            if not text_ and self.default is not None and q.kind == "turn":
                text_, how, by = self.default, "default", "--human-default"
            try:
                if text_ or q.kind == "feedback":
                    answer(self.store, q.id, text_, by, how)
                else:
                    skip(self.store, q.id, f"{self.person} passed (an empty answer)")
            except UserInputError as exc:  # answered elsewhere first, or the run ended
                out.write(f"  {exc}\n")

    def _end_of_input(self, q: HumanQuestion, out: TextIO) -> None:
        with contextlib.suppress(UserInputError):
            if self.default is not None and q.kind == "turn":
                answer(self.store, q.id, self.default, "--human-default", "default")
                out.write("  no answer (end of input): the --human-default answers\n")
                return
            skip(self.store, q.id, "no answer on the terminal (end of input)")
            out.write("  no answer (end of input): skipped\n")


def write_question(out: TextIO, q: HumanQuestion, default: str | None = None) -> None:
    """A question on the run's terminal (stderr: stdout may carry JSON Lines)."""
    out.write(f"\n👤 {q.prompt}\n")
    for m in q.context[-3:]:
        said = " ".join(str(m.get("content") or "").split())[:300]
        out.write(f"  {m.get('agent') or '?'} → {m.get('to') or 'no one'}: {said}\n")
    # the answer under review; for a turn, what the agent was asked only when no message
    # shows it (an engine's prompt repeats the conversation)
    if q.text and (q.kind == "feedback" or not q.context):
        label = "answer to review" if q.kind == "feedback" else "asked"
        body = " ".join(q.text.split())
        out.write(f"  {label}: {body[:1000]}{'…' if len(body) > 1000 else ''}\n")
    if q.kind == "feedback":
        out.write("  your feedback (empty: accept the answer): ")
    elif default is not None:
        out.write(f"  your answer as {q.agent} (empty: {default!r}): ")
    else:
        out.write(f"  your answer as {q.agent} (empty: skip the turn): ")
    out.flush()


def waiting_hint(q: Question, command: str = "workbench") -> str:
    """What a run waiting for a person's answer says: where to give it."""
    minutes = max(1, round((q.expires_at - q.created_at) / 60))
    return (f"  👤 waiting for a person to answer for {q.agent} (skipped if nobody does "
            f"within {minutes} min): answer in `{command} review`,\n    or "
            f"`{command} approvals answer {q.id} TEXT`\n")


def print_waiting_hint(q: Question, command: str = "workbench",
                       out: TextIO | None = None) -> None:
    out = out or sys.stderr
    out.write(waiting_hint(q, command))
    out.flush()


def responder(store: Store, timeout_s: float, mode: str | None, reviewer: str | None = None,
              default: str | None = None, interactive: bool | None = None) -> HumanResponder:
    """Who answers human turns, by how approvals are answered (`mode`, None: the default):
    a terminal (prompt), a reviewer through the database (wait, given explicitly), else
    `default` or nobody: without a person, a run never waits for one."""
    if interactive is None:
        interactive = sys.stdin.isatty()
    if mode == "prompt" or (mode is None and interactive):
        return PromptHumans(store, timeout_s, reviewer, default)
    if mode == "wait":
        return DatabaseHumans(store, timeout_s, default)
    if default is not None:
        return DefaultAnswers(default)
    if mode == "deny":
        return NobodyAnswers("approvals are set to deny: no person is asked (give "
                             "--human-default TEXT to answer for them)")
    return NobodyAnswers()
