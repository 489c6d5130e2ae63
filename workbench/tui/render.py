"""How stream entries read: one line per entry in the list, everything about one in the detail.

One function per event kind for each (the tables `LINES` and `DETAILS`); a kind without one
reads as its name and text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from workbench.mesh import events as ev
from workbench.mesh.format import (
    duration,
    edited_arguments,
    format_cost,
    milliseconds,
    outcome_words,
    plural,
    short_text,
    spelled_args,
    tokens_in_out,
)
from workbench.tui.clock import Clock
from workbench.tui.feed import NOTE, Entry, RunModel
from workbench.tui.topology_art import agent_colour

EFFECT_STYLE = {"deny": "bold red", "require_approval": "bold yellow", "redact": "magenta",
                "allow": "green"}
DIM = Style(dim=True)


def one_line(text: str | None, limit: int = 400) -> str:
    return short_text(text, limit)


def crop_line(line: Text, width: int) -> None:
    """Cut `line` to `width` cells with one "…", even where the cut falls after a cut value."""
    if line.cell_len <= width:
        return
    kept = line.copy()
    kept.truncate(max(0, width - 1), overflow="crop")
    # the "…" takes the place (and style) of the first character after what is kept
    line.truncate(cell_len(kept.plain.rstrip("… ")) + 1, overflow="ellipsis")


def short_args(args: dict[str, Any] | None, limit: int = 120) -> str:
    parts = []
    for k, v in (args or {}).items():
        value = repr(one_line(v, 40)) if isinstance(v, str) else json.dumps(v, default=str)
        parts.append(f"{k}={value}")
    return one_line(", ".join(parts), limit)


def agent_style(model: RunModel, name: str | None, bold: bool = True) -> Style:
    info = model.agents.get(name or "")
    if info is None:
        return Style(bold=bold)
    return Style(color=agent_colour(info.colour), bold=bold)


def _recipients(model: RunModel, to: str | None) -> Text:
    out = Text()
    if not to:  # routed to no one (a graph's end, or no edge's `when` held)
        out.append("no one", DIM)
        return out
    for i, name in enumerate(to.split(",")):
        if i:
            out.append(",", DIM)
        out.append(name, agent_style(model, name, bold=False))
    return out


# -- one line per entry ----------------------------------------------------------------------

LineWriter = Callable[[Text, Entry, RunModel], None]


def _line_message(line: Text, entry: Entry, model: RunModel) -> None:
    who = agent_style(model, entry.agent)
    line.append(entry.agent or "?", who)
    line.append(" → ", DIM)
    if entry.streaming or (entry.to is None and entry.result is None and not entry.seq):
        line.append("…", DIM)
    else:
        line.append_text(_recipients(model, entry.to))
    line.append("  ")
    line.append(one_line(entry.text))
    if entry.streaming:
        line.append(" ▍", who)


def _line_tool_requested(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    line.append("⚙ ", "bold")
    line.append(entry.agent or "?", agent_style(model, entry.agent))
    line.append(f" {d.get('tool')}", "bold")
    line.append(f"({short_args(d.get('args'))})", DIM)
    if entry.result is None:
        line.append("  …", DIM)
    else:
        ok, text, _ = entry.result
        line.append("  ✓ " if ok else "  ✗ ", "bold green" if ok else "bold red")
        line.append(one_line(text, 200), "" if ok else "red")


def _line_tool_result(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    ok = bool(d.get("ok"))
    line.append("✓ " if ok else "✗ ", "bold green" if ok else "bold red")
    line.append(f"{d.get('tool')} → ", DIM)
    line.append(one_line(entry.text, 200))


def _line_handoff(line: Text, entry: Entry, model: RunModel) -> None:
    line.append("↪ ", DIM)
    line.append(entry.agent or "?", agent_style(model, entry.agent))
    line.append(" hands off to ", Style(dim=True, italic=True))
    line.append(entry.to or "?", agent_style(model, entry.to))


def _line_policy_decision(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    effect = d.get("effect", "?")
    line.append("⚖ ", "bold")
    line.append(effect, EFFECT_STYLE.get(effect, "bold"))
    line.append(f" {d.get('action', '')} by ", DIM)
    line.append(entry.agent or "?", agent_style(model, entry.agent))
    rules = ", ".join(d.get("rule_ids") or []) or "default"
    line.append(f" [{rules}] ", "yellow")
    line.append(one_line(entry.text, 200), DIM)


def _line_approval_requested(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    line.append("⏸ approval ", "bold yellow")
    line.append(str(d.get("approval_id", "")), "yellow")
    line.append(": ", DIM)
    line.append(entry.agent or "?", agent_style(model, entry.agent))
    line.append(f" wants {d.get('tool')}", "bold")
    line.append(f" · {one_line(entry.text, 160)}", "yellow")


def _asked_args(model: RunModel, decided: Entry) -> dict[str, Any] | None:
    """The arguments the approval `decided` answers was requested with (its requested row)."""
    approval = decided.data.get("approval_id")
    entries = model.entries
    for i in range(min(decided.index, len(entries) - 1), -1, -1):
        e = entries[i]
        if e.kind == ev.APPROVAL_REQUESTED and e.data.get("approval_id") == approval:
            args = e.data.get("args")
            return args if isinstance(args, dict) else None
    return None


def _line_approval_decided(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    decision = d.get("decision", "?")
    line.append("▶ approval ", "yellow")
    line.append(str(d.get("approval_id", "")), "yellow")
    line.append(f" {decision}", "bold green" if decision == "approved" else "bold red")
    line.append(f" by {d.get('reviewer') or '?'}", DIM)
    if d.get("always"):
        line.append(" (always for this session)", DIM)
    if decision == "approved":
        changed = edited_arguments(_asked_args(model, entry), d.get("args"))
        if changed is not None:  # the reviewer changed what runs: the line says what
            line.append(" with edited arguments: ", "bold yellow")
            line.append(spelled_args(changed), "yellow")
    if entry.text:
        line.append(f": {one_line(entry.text, 160)}")


def _line_human(line: Text, entry: Entry, model: RunModel) -> None:
    """A person asked (a human agent's turn, or a review of an answer), answering or not."""
    d = entry.data
    review = d.get("ask") == "feedback"
    line.append("👤 ", "bold cyan")
    if entry.kind == ev.HUMAN_REQUESTED:
        line.append("a person is asked ", "cyan")
        line.append("to review " if review else "to speak for ", DIM)
        line.append(entry.agent or "?", agent_style(model, entry.agent))
    elif entry.kind == ev.HUMAN_ANSWERED:
        line.append(str(d.get("by") or "?"), "bold cyan")
        if review:
            line.append(" accepted the answer of " if d.get("accepted") else
                        " gave feedback to ", "cyan")
        else:
            line.append(" answered for ", "cyan")
        line.append(entry.agent or "?", agent_style(model, entry.agent))
        line.append(f" ({d.get('how')})", DIM)
    else:
        line.append("no person answered for " if not review else "no review of ", "yellow")
        line.append(entry.agent or "?", agent_style(model, entry.agent))
        line.append(f": {one_line(entry.text, 160)}", DIM)


def _line_model_call(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    line.append("◇ ", DIM)
    line.append(entry.agent or "?", agent_style(model, entry.agent, bold=False))
    line.append(f" {d.get('model', '?')}", DIM)
    if d.get("ok") is False:
        line.append(f"  ✗ {one_line(d.get('error'), 160)}", "red")
    else:
        tokens = (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
        line.append(f"  {tokens:,} tok · {format_cost(d.get('cost_usd'))} · "
                    f"{milliseconds(d.get('latency_ms'))}", DIM)
        if d.get("replayed"):
            line.append(" · replayed", "magenta")  # from the recording, no provider asked


def _line_run_started(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    line.append("▶ run started ", "bold")
    line.append(f"{d.get('crew', '')} · {d.get('engine', '')} · {d.get('topology', '')}",
                "bold")
    line.append(f"  {one_line(entry.text, 200)}", DIM)


def _line_run_ended(line: Text, entry: Entry, model: RunModel) -> None:
    d = entry.data
    status = d.get("status") or ("completed" if entry.kind == ev.RUN_COMPLETED else "failed")
    mark = {"completed": ("✔ completed", "bold green"),
            "cancelled": (f"■ {outcome_words(status, entry.text)}", "bold yellow")}.get(
        status, ("✘ failed", "bold red"))
    line.append(mark[0], mark[1])
    tokens = (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
    line.append(f" in {duration(d.get('elapsed_s') or 0)} · "
                f"{plural(d.get('turns', 0), 'turn')} · {plural(tokens, 'token')}  ", DIM)
    if d.get("blocked_calls"):  # some of its model calls never left: the run says so
        line.append(f"{plural(d['blocked_calls'], 'model call')} blocked by policy  ",
                    "bold yellow")
    if status != "cancelled":  # its reason is already in the mark
        line.append(one_line(entry.text, 200))


def _line_note(line: Text, entry: Entry, model: RunModel) -> None:
    """Said as the run starts: the line the CLI prints after `workbench: warning:`."""
    line.append("⚠ warning: ", "bold yellow")
    line.append(one_line(entry.text, 400), "yellow")


def _line_fork_diverged(line: Text, entry: Entry, model: RunModel) -> None:
    """A fork's replay stopped: from here on the run is live."""
    line.append("⑂ live from here ", "bold magenta")
    line.append(f"after {plural(entry.data.get('replayed', 0), 'recorded call')}: ", DIM)
    line.append(one_line(entry.text, 200))


def _without_task_prefix(report: str, task: str) -> str:
    """A report that opens with its own "T3 done:" says it once: the line already did."""
    m = re.match(rf"\s*{re.escape(task)}(\s+done)?\s*[:\-–—]\s*", report, re.IGNORECASE)
    return report[m.end():] if m else report


def _line_task(line: Text, entry: Entry, model: RunModel) -> None:
    """The marketplace: a task posted, a bid on it, its award, its report."""
    d = entry.data
    task = str(d.get("task_id") or "?")
    if entry.kind == ev.TASK_POSTED:
        line.append("◆ ", "bold")
        line.append(entry.agent or "?", agent_style(model, entry.agent))
        line.append(f" posts {task}", "bold")
        if d.get("capability"):
            line.append(f" [{d['capability']}]", "cyan")
        line.append(f" {one_line(entry.text, 160)}")
        line.append(f" · {plural(len(d.get('bidders') or []), 'bidder')}", DIM)
    elif entry.kind == ev.TASK_BID:
        line.append("  bid ", DIM)
        line.append(entry.agent or "?", agent_style(model, entry.agent, bold=False))
        line.append(f" on {task}: {format_cost(d.get('cost_usd'))} · load {d.get('load', 0)}"
                    f" · record {float(d.get('record') or 0):.0%}", DIM)
        if not d.get("eligible", True):
            line.append(f"  {d.get('barred') or 'barred'}", "red")
    elif entry.kind == ev.TASK_AWARDED:
        if d.get("winner"):
            line.append("★ ", "bold yellow")
            line.append(f"{task} → ", "bold")
            line.append(entry.agent or "?", agent_style(model, entry.agent))
        else:
            line.append(f"★ {task} not awarded", "bold red")
        line.append(f"  {one_line(entry.text, 200)}", DIM)
    else:
        line.append("✓ ", "bold green")
        line.append(f"{task} done by ", DIM)
        line.append(entry.agent or "?", agent_style(model, entry.agent))
        report = _without_task_prefix(one_line(entry.text, 160), task)
        if report:
            line.append(f": {report}", DIM)


def _line_other(line: Text, entry: Entry, model: RunModel) -> None:
    line.append(f"{entry.kind} ", DIM)
    line.append(one_line(entry.text, 200))


LINES: dict[str, LineWriter] = {
    ev.MESSAGE: _line_message,
    ev.TOOL_REQUESTED: _line_tool_requested,
    ev.TOOL_RESULT: _line_tool_result,
    ev.HANDOFF: _line_handoff,
    ev.POLICY_DECISION: _line_policy_decision,
    ev.APPROVAL_REQUESTED: _line_approval_requested,
    ev.APPROVAL_DECIDED: _line_approval_decided,
    ev.HUMAN_REQUESTED: _line_human,
    ev.HUMAN_ANSWERED: _line_human,
    ev.HUMAN_SKIPPED: _line_human,
    ev.MODEL_CALL: _line_model_call,
    ev.TASK_POSTED: _line_task,
    ev.TASK_BID: _line_task,
    ev.TASK_AWARDED: _line_task,
    ev.TASK_DONE: _line_task,
    ev.RUN_STARTED: _line_run_started,
    ev.RUN_COMPLETED: _line_run_ended,
    ev.RUN_FAILED: _line_run_ended,
    ev.FORK_DIVERGED: _line_fork_diverged,
    NOTE: _line_note,
}


def entry_line(entry: Entry, model: RunModel, clock: Clock) -> Text:
    """The entry as one line of the stream (cropped by the view)."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(clock.time_of_day(entry.ts), DIM)
    line.append(" ")
    LINES.get(entry.kind, _line_other)(line, entry, model)
    return line


# -- everything about one entry --------------------------------------------------------------

DetailWriter = Callable[[list[RenderableType], Entry, RunModel, Clock], None]


def _kv(rows: list[tuple[str, Any]]) -> Text:
    out = Text()
    for key, value in rows:
        if value in (None, "", [], {}):
            continue
        if out:
            out.append("\n")
        out.append(f"{key:<10}", DIM)
        out.append(str(value))
    return out


def _json(value: Any) -> Text:
    return Text(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _detail_message(parts: list[RenderableType], entry: Entry, model: RunModel,
                    clock: Clock) -> None:
    parts.append(Text(entry.text + (" ▍" if entry.streaming else "")))


def _detail_tool(parts: list[RenderableType], entry: Entry, model: RunModel,
                 clock: Clock) -> None:
    d = entry.data
    parts.append(Text(f"tool {d.get('tool')}  call {d.get('call_id') or '-'}", "bold"))
    parts.append(Text("arguments", DIM))
    parts.append(_json(d.get("args") or {}))
    if entry.result is not None:
        ok, text, rdata = entry.result
        parts.append(Text("result " + ("ok" if ok else "error"),
                          "bold green" if ok else "bold red"))
        parts.append(Text(text))
        if rdata.get("args") not in (None, d.get("args")):
            parts.append(Text("ran with (edited by a reviewer)", DIM))
            parts.append(_json(rdata.get("args")))
    elif entry.kind == ev.TOOL_REQUESTED:
        parts.append(Text("waiting for the result…", DIM))


def _detail_policy_decision(parts: list[RenderableType], entry: Entry, model: RunModel,
                            clock: Clock) -> None:
    d = entry.data
    parts.append(_kv([
        ("effect", d.get("effect")), ("action", d.get("action")),
        ("rules", ", ".join(d.get("rule_ids") or []) or "none (default)"),
        ("lifted", ", ".join(d.get("lifted") or [])),
        ("policy", (d.get("policy_hash") or "")[:16]),
    ]))
    for reason in d.get("reasons") or [entry.text]:
        parts.append(Text(f"• {reason}"))


def _detail_approval(parts: list[RenderableType], entry: Entry, model: RunModel,
                     clock: Clock) -> None:
    d = entry.data
    parts.append(_kv([
        ("approval", d.get("approval_id")), ("tool", d.get("tool")),
        ("rules", ", ".join(d.get("rule_ids") or [])), ("decision", d.get("decision")),
        ("reviewer", d.get("reviewer")), ("always", "yes" if d.get("always") else ""),
        ("expires", clock.time_of_day(d["expires_at"]) if d.get("expires_at") else ""),
    ]))
    if entry.text:
        parts.append(Text(entry.text))
    if d.get("args") is not None:
        parts.append(Text("arguments", DIM))
        parts.append(_json(d.get("args")))


def _detail_model_call(parts: list[RenderableType], entry: Entry, model: RunModel,
                       clock: Clock) -> None:
    parts.append(_model_info(entry.data))


def _detail_run_started(parts: list[RenderableType], entry: Entry, model: RunModel,
                        clock: Clock) -> None:
    parts.append(Text(entry.text))
    for a in entry.data.get("agents") or []:
        line = Text("• ")
        line.append(a.get("name", "?"), agent_style(model, a.get("name")))
        line.append(f" {a.get('role', '')} · {a.get('model', '')} · domain "
                    f"{a.get('domain', '')}", DIM)
        if a.get("capabilities"):
            line.append(f" · can {', '.join(a['capabilities'])}", DIM)
        parts.append(line)


def _detail_run_ended(parts: list[RenderableType], entry: Entry, model: RunModel,
                      clock: Clock) -> None:
    d = entry.data
    tokens = (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
    parts.append(_kv([
        ("status", d.get("status")), ("elapsed", duration(d.get("elapsed_s") or 0)),
        ("turns", d.get("turns")), ("tokens", f"{tokens:,}"),
        ("cost", format_cost(d.get("cost_usd"), d.get("cost_known", True))),
        ("calls", f"{d.get('model_calls', 0)} model · {d.get('tool_calls', 0)} tool"
                  + (f" · {d['blocked_calls']} blocked by policy"
                     if d.get("blocked_calls") else "")),
    ]))
    parts.append(Text(entry.text))


def bid_table(bids: list[dict[str, Any]], model: RunModel, winner: str | None) -> Table:
    """The bids on one task, in the award's order: the detail pane's bid table."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    for name, justify in (("#", "right"), ("agent", "left"), ("cost", "right"),
                          ("load", "right"), ("record", "right"), ("", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "")  # type: ignore[arg-type]
    for b in bids:
        agent = str(b.get("agent") or "?")
        note = b.get("note") or ("winner" if agent == winner else "")
        if b.get("score") is not None:
            note = f"score {b['score']:.3f}" + (f" · {note}" if note else "")
        table.add_row(str(b.get("rank") or "-"),
                      Text(("★ " if agent == winner else "") + agent,
                           agent_style(model, agent, bold=agent == winner)),
                      format_cost(b.get("cost_usd")), str(b.get("load", 0)),
                      f"{float(b.get('record') or 0):.0%}",
                      Text(note, "red" if b.get("eligible") is False else DIM))
    return table


def _detail_task(parts: list[RenderableType], entry: Entry, model: RunModel,
                 clock: Clock) -> None:
    d = entry.data
    if entry.kind == ev.TASK_AWARDED:
        # the table first: it is what this entry is about, and the pane is short
        head = Text(f"{d.get('task_id')}", "bold")
        if d.get("capability"):
            head.append(f" [{d['capability']}]", "cyan")
        head.append(f" {d.get('title') or ''}")
        parts.append(head)
        parts.append(Text(entry.text, DIM))  # the rule, the winner and why
        parts.append(Text(f"bids ({len(d.get('bids') or [])})", "bold"))
        parts.append(bid_table(list(d.get("bids") or []), model, d.get("winner")))
        return
    if entry.kind == ev.TASK_BID:
        parts.append(_kv([
            ("task", d.get("task_id")), ("model", d.get("model")),
            ("cost", format_cost(d.get("cost_usd"))),
            ("tokens", tokens_in_out(d.get("prompt_tokens"), d.get("completion_tokens"))),
            ("load", d.get("load", 0)),
            ("record", f"{float(d.get('record') or 0):.0%} of "
                       f"{plural(d.get('past_tasks', 0), 'past task')}"),
            ("barred", d.get("barred")),
        ]))
        return
    if entry.kind == ev.TASK_POSTED:
        parts.append(_kv([("task", d.get("task_id")), ("needs", d.get("capability") or "any"),
                          ("bidders", ", ".join(d.get("bidders") or []) or "none")]))
    else:
        parts.append(_kv([("task", d.get("task_id")), ("title", d.get("title")),
                          ("turn", d.get("turn"))]))
    parts.append(Text(entry.text))


def _detail_other(parts: list[RenderableType], entry: Entry, model: RunModel,
                  clock: Clock) -> None:
    parts.append(Text(entry.text))


DETAILS: dict[str, DetailWriter] = {
    ev.MESSAGE: _detail_message,
    ev.TOOL_REQUESTED: _detail_tool,
    ev.TOOL_RESULT: _detail_tool,
    ev.POLICY_DECISION: _detail_policy_decision,
    ev.APPROVAL_REQUESTED: _detail_approval,
    ev.APPROVAL_DECIDED: _detail_approval,
    ev.MODEL_CALL: _detail_model_call,
    ev.TASK_POSTED: _detail_task,
    ev.TASK_BID: _detail_task,
    ev.TASK_AWARDED: _detail_task,
    ev.TASK_DONE: _detail_task,
    ev.RUN_STARTED: _detail_run_started,
    ev.RUN_COMPLETED: _detail_run_ended,
    ev.RUN_FAILED: _detail_run_ended,
}


def entry_detail(entry: Entry, model: RunModel, clock: Clock) -> RenderableType:
    """Everything about one entry: full content, model, tokens, cost, latency, rules."""
    head = Text()
    head.append(entry.kind, "bold")
    head.append(f"  #{entry.seq}  {clock.time_of_day(entry.ts)}", DIM)
    if entry.agent:
        head.append("  ")
        head.append(entry.agent, agent_style(model, entry.agent))
        info = model.agents.get(entry.agent)
        if info and info.role:
            head.append(f" ({info.role})", DIM)
    if entry.to:
        head.append(" → ", DIM)
        head.append_text(_recipients(model, entry.to))
    parts: list[RenderableType] = [head]
    DETAILS.get(entry.kind, _detail_other)(parts, entry, model, clock)
    if entry.model and entry.kind != ev.MODEL_CALL:
        parts.append(Text("model call", DIM))
        parts.append(_model_info(entry.model))
    return Group(*parts)


def _model_info(d: dict[str, Any]) -> Text:
    scripted = str(d.get("provider") or "") == "scripted"
    model = f"{d.get('model', '?')}" + (" (scripted, offline)" if scripted else "")
    return _kv([
        ("model", model), ("provider", d.get("provider")),
        ("tokens", tokens_in_out(d.get("prompt_tokens"), d.get("completion_tokens"))),
        ("cost", format_cost(d.get("cost_usd"))),
        ("latency", milliseconds(d.get("latency_ms"))),
        ("attempts", d.get("attempts")), ("fallback", d.get("fallback_from")),
        ("error", d.get("error")),
    ])
