"""Export a stored session as Markdown (for people) or JSON (for programs)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.config import inside
from workbench.mesh.events import Kind
from workbench.mesh.format import format_cost
from workbench.store.db import Store


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def export_path(folder: Path, crew_name: str, session_id: str, fmt: str) -> Path:
    """Where a session's export goes by default: `<folder>/<crew>-<id>.<fmt>`, always inside
    `folder` (a crew name stored by an older version may hold '/' or '..': made safe)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", f"{crew_name}-{session_id[:12]}")
    stem = re.sub(r"\.{2,}", "_", stem).lstrip(".") or "session"
    return inside(folder, f"{stem}.{fmt}")


def session_json(store: Store, session_id: str) -> dict[str, Any]:
    session = store.get_session(session_id)
    events = list(store.iter_events(session["id"]))
    return {"session": session, "events": events}


def _md_message(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    return [f"**{e['agent']} → {e['to'] or 'no one'}**", "", e["content"] or "", ""]


def _md_tool_requested(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    return [f"- `{e['agent']}` calls `{d.get('tool')}` with "
            f"`{json.dumps(d.get('args'), ensure_ascii=False)}`"]


def _md_tool_result(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    mark = "ok" if d.get("ok") else "error"
    return [f"- `{d.get('tool')}` ({mark}): {(e['content'] or '')[:500]}", ""]


def _md_handoff(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    return [f"*{e['agent']} hands off to {e['to']}*", ""]


def _md_policy_decision(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    rules = ", ".join(d.get("rule_ids") or []) or "default"
    return [f"> policy: {d.get('action')} by {e['agent']}: **{d.get('effect')}** "
            f"({rules}) {e['content'] or ''}", ""]


def _md_approval(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    return [f"> {e['kind']}: {e['agent'] or ''} {d.get('tool', '')} "
            f"{d.get('decision', '')} {e['content'] or ''}".rstrip(), ""]


def _md_task_posted(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    need = f" (capability `{d['capability']}`)" if d.get("capability") else ""
    return [f"- **{e['agent']}** posts task {d.get('task_id')}{need}: {e['content'] or ''}"]


def _md_task_awarded(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    """The award with its bid table (bids are shown here, not one line each)."""
    head = (f"- task {d.get('task_id')} awarded to **{d['winner']}** by `{d.get('award')}`: "
            if d.get("winner") else f"- task {d.get('task_id')} not awarded: ")
    lines = [head + (e["content"] or ""), "",
             "  | rank | agent | cost | load | record | note |",
             "  |---|---|---|---|---|---|"]
    for b in d.get("bids") or []:
        lines.append(f"  | {b.get('rank') or '-'} | {b.get('agent')} | "
                     f"{format_cost(b.get('cost_usd'))} | {b.get('load', 0)} | "
                     f"{b.get('record', 0):.0%} | {b.get('note', '')} |")
    return [*lines, ""]


def _md_task_done(e: dict[str, Any], d: dict[str, Any]) -> list[str]:
    return [f"- task {d.get('task_id')} done: {e['agent']} reported back to {e['to']}", ""]


#: How each kind reads in the transcript; the kinds not here are left out of it.
TRANSCRIPT: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[str]]] = {
    Kind.MESSAGE: _md_message,
    Kind.TOOL_REQUESTED: _md_tool_requested,
    Kind.TOOL_RESULT: _md_tool_result,
    Kind.HANDOFF: _md_handoff,
    Kind.POLICY_DECISION: _md_policy_decision,
    Kind.APPROVAL_REQUESTED: _md_approval,
    Kind.APPROVAL_DECIDED: _md_approval,
    Kind.TASK_POSTED: _md_task_posted,
    Kind.TASK_AWARDED: _md_task_awarded,
    Kind.TASK_DONE: _md_task_done,
}


def session_markdown(store: Store, session_id: str) -> str:
    s = store.get_session(session_id)
    lines = [
        f"# {s['crew_name']}: session {s['id']}",
        "",
        f"- Engine: {s['engine']}, topology: {s['topology']}",
        f"- Status: {s['status']}",
        f"- Started: {_when(s['started_at'])}; ended: {_when(s['ended_at'])}",
        f"- Turns: {s['turns']}; tokens: {s['prompt_tokens'] + s['completion_tokens']:,}; "
        f"cost: {format_cost(s['cost_usd'], not s['cost_unknown_calls'])}",
        f"- Policy set: {s['policy_hash'] or '-'}",
        "",
        "## Task",
        "",
        s["task"] or "-",
        "",
        "## Transcript",
        "",
    ]
    for e in store.iter_events(s["id"]):
        write = TRANSCRIPT.get(e["kind"])
        if write is not None:
            lines += write(e, e["data"])
    lines += ["## Result", "", s["result"] or s["error"] or "-", ""]
    return "\n".join(lines)
