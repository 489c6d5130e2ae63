"""How a run's numbers and outcomes read, the same in the CLI, the TUI and exports: counts,
tokens, costs, durations, outcomes."""

from __future__ import annotations

import json
from typing import Any


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 turn`, `2 turns`, `1,648 tokens`: a count and its noun, agreeing."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def outcome_words(status: str, reason: str | None) -> str:
    """How a run's end reads: `completed`, `failed: <reason>`, `cancelled by the user`; a
    reason that only says the status again is not repeated (never `cancelled: cancelled`)."""
    reason = " ".join((reason or "").split())
    if not reason or reason.lower() == status:
        return status
    if reason.lower().startswith(f"{status} "):
        return reason
    return f"{status}: {reason}"


def format_cost(cost: float | None, known: bool = True) -> str:
    """`$0.0012`; `cost unknown` when nothing is priced, `$0.0012 + unknown` when part is."""
    if cost is None or not known:
        return "cost unknown" if not cost else f"${cost:.4f} + unknown"
    return f"${cost:.4f}"


def cost_breakdown(costs: dict[str, dict[str, Any]] | None) -> str | None:
    """`lead $0.0012 · critic cost unknown`; None when there is nothing worth a line (one
    entry, or an offline run where every call was free)."""
    if not costs or len(costs) < 2:
        return None
    if all(not c.get("cost_usd") and not c.get("unknown_calls") for c in costs.values()):
        return None
    return " · ".join(
        f"{name} {format_cost(c.get('cost_usd'), not c.get('unknown_calls'))}"
        for name, c in sorted(costs.items(), key=lambda kv: -(kv[1].get("cost_usd") or 0))
    )


def tokens(prompt: int | None, completion: int | None) -> str:
    """`1,648 tokens`: a call's or a run's prompt and completion tokens together."""
    return plural((prompt or 0) + (completion or 0), "token")


def tokens_in_out(prompt: int | None, completion: int | None) -> str:
    """`1,200 in · 448 out`."""
    return f"{prompt or 0:,} in · {completion or 0:,} out"


def seconds(value: float | None) -> str:
    """`2.35 s`: a run's exact elapsed time, as the CLI's summary says it."""
    return f"{value or 0:.2f} s"


def milliseconds(value: float | None) -> str:
    """`412 ms`: a model call's latency."""
    return f"{value or 0:.0f} ms"


def duration(value: float) -> str:
    """`0.04s`, `4.2s`, `42s`, `5m 03s`, `3h 12m`, `2d 4h`: short, for screens."""
    if value < 1:
        return f"{value:.2f}s"
    if value < 10:
        return f"{value:.1f}s"
    s = int(value)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def short_text(text: str | None, width: int = 400) -> str:
    """`text` on one line, cut to `width` characters with one "…"."""
    text = " ".join((text or "").split())
    # a piece already cut (an argument's value) ending where this cut falls keeps one "…"
    return text if len(text) <= width else text[: width - 1].rstrip("… ") + "…"


def spelled_args(args: dict[str, Any]) -> str:
    """Tool arguments as a line reads them: `to='a@b.example', n=3` (long text cut)."""
    def spelled(v: Any) -> str:
        return repr(short_text(v, 60)) if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return ", ".join(f"{k}={spelled(v)}" for k, v in args.items())


def edited_arguments(asked: Any, args: Any) -> dict[str, Any] | None:
    """What a reviewer changed of the arguments an approval asked with (None: nothing)."""
    if not isinstance(asked, dict) or not isinstance(args, dict) or args == asked:
        return None
    return {k: v for k, v in args.items() if asked.get(k) != v} or args

