"""Live output of a run on a terminal: who spoke to whom, tools and results, a closing summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from workbench.mesh import events as ev
from workbench.mesh.events import Event
from workbench.mesh.format import (
    cost_breakdown,
    edited_arguments,
    format_cost,
    outcome_words,
    plural,
    seconds,
    short_text,
    spelled_args,
    tokens,
)

_COLORS = ["36", "35", "33", "32", "34", "31", "96", "95"]


_short = short_text
_args = spelled_args


class RunPrinter:
    """Subscribes to the bus and prints each event as one readable line (or JSON Lines).

    It writes to a terminal, which may block (a pager, a paused terminal): `blocking` tells
    the session to give it a thread of its own, so a run never waits on the screen; the
    session waits for its last line before the run ends.
    """

    blocking = True

    def __init__(self, out: TextIO | None = None, json_lines: bool = False,
                 color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.json_lines = json_lines
        self.color = self.out.isatty() if color is None else color
        self._agent_colors: dict[str, str] = {}
        #: The model each agent's routed alias chose last: a route is shown when it changes.
        self._routed: dict[tuple[str | None, str], str] = {}
        #: The arguments each pending approval asked with: a decision that changed them says so.
        self._asked: dict[str, dict[str, Any]] = {}

    def _c(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _agent(self, name: str | None) -> str:
        if not name:
            return "?"
        code = self._agent_colors.setdefault(
            name, _COLORS[len(self._agent_colors) % len(_COLORS)]
        )
        return self._c(name, "1;" + code)

    def __call__(self, event: Event) -> None:
        if self.json_lines:
            if event.kind not in ev.TRANSIENT_KINDS:
                self.out.write(json.dumps(event.to_dict(), default=str) + "\n")
                self.out.flush()
            return
        line = self.render(event)
        if line is not None:
            self.out.write(line + "\n")
            self.out.flush()

    def render(self, e: Event) -> str | None:
        """The event as the terminal shows it; None for a kind it does not show."""
        line = _LINES.get(e.kind)
        return None if line is None else line(self, e, e.data)

    # -- one method per kind shown (the table `_LINES` below) ------------------------------

    def _run_started(self, e: Event, d: dict[str, Any]) -> str:
        agents = ", ".join(f"{a['name']} ({'a person' if a.get('human') else a['model']})"
                           for a in d.get("agents", []))
        return (self._c(f"▶ {d.get('crew')} · {d.get('engine')} · {d.get('topology')}", "1")
                + f" · session {e.session_id[:12]}\n  task: {_short(e.content)}"
                + f"\n  agents: {agents}")

    def _message(self, e: Event, d: dict[str, Any]) -> str:
        # no recipients: a graph message whose edges' conditions all failed, or an end
        return f"{self._agent(e.agent)} → {e.to or 'no one'}: {_short(e.content)}"

    def _handoff(self, e: Event, d: dict[str, Any]) -> str:
        return self._c(f"  ↪ {e.agent} hands off to {e.to}", "2")

    def _tool_requested(self, e: Event, d: dict[str, Any]) -> str:
        return f"  ⚙ {e.agent} calls {d.get('tool')}({_args(d.get('args') or {})})"

    def _tool_result(self, e: Event, d: dict[str, Any]) -> str:
        mark = self._c("✓", "32") if d.get("ok") else self._c("✗", "31")
        return f"  {mark} {d.get('tool')} → {_short(e.content, 200)}"

    # -- the star's marketplace (mesh/market.py) --

    def _task_posted(self, e: Event, d: dict[str, Any]) -> str:
        need = f" ({d['capability']})" if d.get("capability") else ""
        return self._c(f"  ◆ {e.agent} posts {d.get('task_id')}{need}: {_short(e.content, 160)}"
                       f" · {plural(len(d.get('bidders') or []), 'bidder')}", "1")

    def _task_bid(self, e: Event, d: dict[str, Any]) -> str:
        facts = (f"{format_cost(d.get('cost_usd'))} · load {d.get('load', 0)} · "
                 f"record {d.get('record', 0):.0%}")
        if not d.get("eligible", True):
            return self._c(f"    bid {e.agent}: {facts} · {d.get('barred') or 'barred'}", "33")
        return self._c(f"    bid {e.agent}: {facts}", "2")

    def _task_awarded(self, e: Event, d: dict[str, Any]) -> str:
        if not d.get("winner"):
            return self._c(f"  ★ {d.get('task_id')} not awarded: {_short(e.content, 200)}",
                           "33")
        return self._c(f"  ★ {d.get('task_id')} → {e.agent} ({_short(e.content, 200)})", "1;32")

    def _task_done(self, e: Event, d: dict[str, Any]) -> str:
        return self._c(f"  ✓ {d.get('task_id')} done: {e.agent} reported to {e.to}", "32")

    def _policy_decision(self, e: Event, d: dict[str, Any]) -> str:
        rules = ", ".join(d.get("rule_ids") or []) or "default"
        return self._c(f"  ⚖ {d.get('action')} by {e.agent}: {d.get('effect')} [{rules}] "
                       f"{_short(e.content, 160)}", "33")

    def _approval_requested(self, e: Event, d: dict[str, Any]) -> str:
        if isinstance(d.get("args"), dict):
            self._asked[str(d.get("approval_id"))] = d["args"]
        return self._c(f"  ⏸ approval {d.get('approval_id')} requested: {e.agent} wants "
                       f"{d.get('tool')} ({_short(e.content, 120)})", "1;33")

    def _approval_decided(self, e: Event, d: dict[str, Any]) -> str:
        asked = self._asked.pop(str(d.get("approval_id")), None)
        args = d.get("args")
        how = " (always for this session)" if d.get("always") else ""
        changed = edited_arguments(asked, args) if d.get("decision") == "approved" else None
        if changed is not None:  # the reviewer changed what runs: the terminal shows what
            how += f" with edited arguments: {_args(changed)}"
        return self._c(f"  ▶ approval {d.get('approval_id')} {d.get('decision')} by "
                       f"{d.get('reviewer')}{how}{': ' + e.content if e.content else ''}",
                       "33")

    def _human_answered(self, e: Event, d: dict[str, Any]) -> str:
        if d.get("ask") == "feedback":
            what = (f"accepted {e.agent}'s answer" if d.get("accepted") else
                    f"gave {e.agent} feedback")
        else:
            what = f"answered for {e.agent}"
        return self._c(f"  👤 {d.get('by')} {what} ({d.get('how')})", "36")

    def _human_skipped(self, e: Event, d: dict[str, Any]) -> str:
        return self._c(f"  👤 {e.agent}: no person answered: {_short(e.content, 200)}", "33")

    def _route(self, e: Event, steps: list[dict[str, Any]]) -> str | None:
        """`⤳ lead on smart: careful (route 2: agent.domain == "legal")`, when it changes."""
        chosen = steps[-1].get("use", "")
        key = (e.agent, steps[0].get("alias", ""))
        if self._routed.get(key) == chosen:
            return None
        self._routed[key] = chosen
        hops = " → ".join(
            f"{s.get('use')} (route {s.get('index')}"
            f"{': ' + _short(s.get('when'), 80) if s.get('when') else ', the default'})"
            for s in steps)
        return self._c(f"  ⤳ {e.agent} on {key[1]}: {hops}", "2")

    def _model_call(self, e: Event, d: dict[str, Any]) -> str | None:
        routed = self._route(e, d["route"]) if d.get("route") else None
        if not (d.get("fallback_from") or d.get("attempts", 1) > 1):
            return routed  # an ordinary call shows in the summary's counts only
        used = d.get("requested") or d.get("model")
        how = f"answered by {d.get('model')} after {plural(d.get('attempts', 1), 'attempt')}"
        if d.get("fallback_from"):
            how += f" (fell back from {d['fallback_from']})"
        if d.get("ok") is False:
            how = f"failed after {plural(d.get('attempts', 1), 'attempt')}"
        line = self._c(f"  ↻ {e.agent} on {used}: {how}", "2")
        return f"{routed}\n{line}" if routed else line

    def _fork_diverged(self, e: Event, d: dict[str, Any]) -> str:
        return self._c(f"  ⑂ replay stopped after {plural(d.get('replayed', 0), 'call')} "
                       f"from the recording; live from here: {_short(e.content, 200)}", "1;35")

    def _ended(self, e: Event, d: dict[str, Any]) -> str:
        return self.summary(e)

    def summary(self, e: Event) -> str:
        d = e.data
        cost = format_cost(d.get("cost_usd"), d.get("cost_known", True))
        status = d.get("status", "")
        cancelled = status == "cancelled"
        blocked = f"{d['blocked_calls']:,} blocked by policy · " if d.get("blocked_calls") else ""
        head = {"completed": self._c("✔ completed", "1;32"),
                # `cancelled by the user` in one phrase, not a reason line repeating it
                "cancelled": self._c(f"■ {outcome_words(status, e.content)}", "1;33")}.get(
            status, self._c("✘ failed", "1;31"))
        lines = [f"{head} in {seconds(d.get('elapsed_s'))} · "
                 f"{plural(d.get('turns', 0), 'turn')}"
                 f" · {tokens(d.get('prompt_tokens'), d.get('completion_tokens'))} · {cost} · "
                 f"{plural(d.get('model_calls', 0), 'model call')} · {blocked}"
                 f"{plural(d.get('tool_calls', 0), 'tool call')} · session {e.session_id}"]
        for what in ("agent", "domain"):
            breakdown = cost_breakdown(d.get(f"cost_by_{what}"))
            if breakdown:
                lines.append(f"  cost by {what}: {breakdown}")
        if cancelled:
            pass  # why it stopped is in the first line already
        elif e.kind == ev.RUN_FAILED and e.content:
            lines.append(f"  reason: {e.content}")
        elif e.content:
            lines.append(f"  result: {_short(e.content, 600)}")
        return "\n".join(lines)


#: How each kind reads on the terminal; the kinds not here are not printed.
_LINES: dict[str, Callable[[RunPrinter, Event, dict[str, Any]], str | None]] = {
    ev.RUN_STARTED: RunPrinter._run_started,
    ev.MESSAGE: RunPrinter._message,
    ev.HANDOFF: RunPrinter._handoff,
    ev.TOOL_REQUESTED: RunPrinter._tool_requested,
    ev.TOOL_RESULT: RunPrinter._tool_result,
    ev.TASK_POSTED: RunPrinter._task_posted,
    ev.TASK_BID: RunPrinter._task_bid,
    ev.TASK_AWARDED: RunPrinter._task_awarded,
    ev.TASK_DONE: RunPrinter._task_done,
    ev.POLICY_DECISION: RunPrinter._policy_decision,
    ev.APPROVAL_REQUESTED: RunPrinter._approval_requested,
    ev.APPROVAL_DECIDED: RunPrinter._approval_decided,
    ev.HUMAN_ANSWERED: RunPrinter._human_answered,
    ev.HUMAN_SKIPPED: RunPrinter._human_skipped,
    ev.MODEL_CALL: RunPrinter._model_call,
    ev.FORK_DIVERGED: RunPrinter._fork_diverged,
    ev.RUN_COMPLETED: RunPrinter._ended,
    ev.RUN_FAILED: RunPrinter._ended,
}
