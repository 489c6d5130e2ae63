"""Export a stored session as Markdown (for people) or JSON (for programs)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.config import inside
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


def session_markdown(store: Store, session_id: str) -> str:
    s = store.get_session(session_id)
    cost = f"${s['cost_usd']:.4f}" + (" + unknown" if s["cost_unknown_calls"] else "")
    lines = [
        f"# {s['crew_name']}: session {s['id']}",
        "",
        f"- Engine: {s['engine']}, topology: {s['topology']}",
        f"- Status: {s['status']}",
        f"- Started: {_when(s['started_at'])}; ended: {_when(s['ended_at'])}",
        f"- Turns: {s['turns']}; tokens: {s['prompt_tokens'] + s['completion_tokens']:,}; "
        f"cost: {cost}",
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
        d = e["data"]
        kind = e["kind"]
        if kind == "message":
            lines += [f"**{e['agent']} → {e['to'] or 'all'}**", "", e["content"] or "", ""]
        elif kind == "tool.requested":
            lines.append(f"- `{e['agent']}` calls `{d.get('tool')}` with "
                         f"`{json.dumps(d.get('args'), ensure_ascii=False)}`")
        elif kind == "tool.result":
            mark = "ok" if d.get("ok") else "error"
            lines += [f"- `{d.get('tool')}` ({mark}): {(e['content'] or '')[:500]}", ""]
        elif kind == "handoff":
            lines += [f"*{e['agent']} hands off to {e['to']}*", ""]
        elif kind == "policy.decision":
            rules = ", ".join(d.get("rule_ids") or []) or "default"
            lines += [f"> policy: {d.get('action')} by {e['agent']}: **{d.get('effect')}** "
                      f"({rules}) {e['content'] or ''}", ""]
        elif kind in ("approval.requested", "approval.decided"):
            lines += [f"> {kind}: {e['agent'] or ''} {d.get('tool', '')} "
                      f"{d.get('decision', '')} {e['content'] or ''}".rstrip(), ""]
    lines += ["## Result", "", s["result"] or s["error"] or "-", ""]
    return "\n".join(lines)
