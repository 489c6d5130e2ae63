"""`workbench sessions compare A B [--json]`: two sessions side by side, fitted to the terminal."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from typing import TYPE_CHECKING, Any

from workbench.cli.common import EXIT_OK

if TYPE_CHECKING:
    from workbench.mesh.compare import Comparison, SessionSide, Turn
    from workbench.store.db import Store

#: Narrower than this, two columns would hold a word or two a line: wrap at this anyway.
MIN_WIDTH = 60
#: How a row's mark reads: the same, different, or a turn only one session has.
MARKS = {"same": "=", "differs": "≠", "only in A": "<", "only in B": ">"}


def add_compare_parser(actions: Any) -> None:
    """Add `compare` to the `sessions` group's actions (it dispatches on `args.action`)."""
    cmp = actions.add_parser("compare", help="two sessions side by side: the crew change, "
                                              "turns aligned by agent, totals per agent")
    cmp.add_argument("a", metavar="A", help="a session id (or a unique prefix)")
    cmp.add_argument("b", metavar="B", help="another session id (or a unique prefix)")
    cmp.add_argument("--json", action="store_true", help="print the comparison as one JSON "
                                                         "object")
    cmp.add_argument("--width", type=int, help="wrap at this many columns (default: the "
                                               "terminal's width)")


def compare_sessions(store: Store, args: argparse.Namespace) -> int:
    """Print the comparison of sessions `args.a` and `args.b`."""
    from workbench.mesh.compare import load_comparison

    comparison = load_comparison(store, args.a, args.b)
    if args.json:
        print(json.dumps(comparison.to_dict(), ensure_ascii=False, default=str))
        return EXIT_OK
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    print("\n".join(render(comparison, max(MIN_WIDTH, width))))
    return EXIT_OK


# -- rendering ------------------------------------------------------------------------------


def _cost(cost: float, unknown: int) -> str:
    from workbench.mesh.format import format_cost

    return format_cost(cost, not unknown)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _wrap(text: str, width: int) -> list[str]:
    """`text` wrapped to `width`, its own line breaks kept (an empty text is no line)."""
    out: list[str] = []
    for para in text.splitlines() or [""]:
        out += textwrap.wrap(para, width, replace_whitespace=False, drop_whitespace=True,
                             break_long_words=True, break_on_hyphens=False) or [""]
    while out and not out[-1]:
        out.pop()
    return out


def _side_by_side(left: list[str], right: list[str], col: int, lead: str,
                  blank_lead: str) -> list[str]:
    lines = []
    for i in range(max(len(left), len(right), 1)):
        lt = left[i] if i < len(left) else ""
        rt = right[i] if i < len(right) else ""
        lines.append(f"{lead if i == 0 else blank_lead}{lt.ljust(col)} │ {rt}".rstrip())
    return lines


def _turn_lines(t: Turn | None, col: int) -> list[str]:
    """One turn as lines of at most `col` characters."""
    from workbench.mesh.compare import short_args

    if t is None:
        return ["(no turn)"]
    head = f"{t.agent} → {t.to}" if t.to else t.agent
    if t.handoff:
        head += f" (hands off to {t.handoff})"
    lines = _wrap(head, col)
    for use in t.tools:
        state = "…" if use.ok is None else "ok" if use.ok else "failed"
        line = f"⚙ {use.tool}({short_args(use.args, col)}) {state}"
        if use.ok is False and use.output:
            line += f": {use.output}"
        lines += _wrap(line, col)
    for a in t.approvals:
        decided = a.decision or "undecided"
        by = f" by {a.reviewer}" if a.reviewer else ""
        lines += _wrap(f"⏸ approval for {a.tool}: {decided}{by}", col)
    for d in t.decisions:
        lines += _wrap(f"§ policy: {d}", col)
    if t.content is None:
        lines.append("(no message: the run ended first)")
    else:
        lines += _wrap(t.content, col)
    from workbench.mesh.format import plural

    figures = f"{plural(t.tokens, 'token')} · {_cost(t.cost_usd, t.cost_unknown_calls)} · " \
              f"{_secs(t.elapsed_s)}"
    lines += _wrap(figures, col)
    return lines


def _summary_rows(a: SessionSide, b: SessionSide) -> list[tuple[str, str, str]]:
    from workbench.mesh.format import outcome_words

    return [
        ("session", a.id, b.id),
        ("crew", a.crew_name, b.crew_name),
        ("engine", f"{a.engine} / {a.topology}", f"{b.engine} / {b.topology}"),
        ("status", outcome_words(a.status, a.error), outcome_words(b.status, b.error)),
        ("turns", f"{a.turns:,}", f"{b.turns:,}"),
        ("tokens", f"{a.tokens:,}", f"{b.tokens:,}"),
        ("cost", _cost(a.cost_usd, a.cost_unknown_calls), _cost(b.cost_usd, b.cost_unknown_calls)),
        ("time", _secs(a.elapsed_s), _secs(b.elapsed_s)),
        ("model calls", f"{a.model_calls:,}", f"{b.model_calls:,}"),
        ("tool calls", f"{a.tool_calls:,}", f"{b.tool_calls:,}"),
    ]


def render(c: Comparison, width: int) -> list[str]:
    """The comparison as text lines no wider than `width` (messages wrap)."""
    from workbench.mesh.format import plural

    label_w = 12
    col = (width - label_w - 3) // 2
    out: list[str] = [f"Comparing A {c.a.id[:12]} with B {c.b.id[:12]}", ""]

    # the crew change first: it is what the designer edited
    if c.same_crew:
        out += ["Crew: the same crew file", ""]
    else:
        out.append("Crew change (A → B):")
        for line in c.crew_diff:
            out += ["  " + part for part in _wrap(line, width - 2)] or ["  "]
        out.append("")

    out.append(f"{'':{label_w}}{'A'.ljust(col)} │ B")
    for label, left, right in [*_summary_rows(c.a, c.b)]:
        out += _side_by_side(_wrap(left, col), _wrap(right, col), col,
                             label.ljust(label_w), " " * label_w)
    out += _side_by_side(_wrap(c.a.result or "-", col), _wrap(c.b.result or "-", col), col,
                         "result".ljust(label_w), " " * label_w)
    out.append("")

    out.append("Per agent (A | B):")
    for name in c.agents:
        ta, tb = c.a.agents.get(name), c.b.agents.get(name)

        def figures(t: Any) -> str:
            if t is None:
                return "(not in this crew)"
            return (f"{plural(t.turns, 'turn')} · {plural(t.tokens, 'token')} · "
                    f"{_cost(t.cost_usd, t.cost_unknown_calls)} · {plural(t.tool_calls, 'tool')}"
                    + (f" ({t.tools_failed} failed)" if t.tools_failed else "")
                    + (f" · {plural(t.approvals, 'approval')}" if t.approvals else "")
                    + f" · {_secs(t.model_s)}")

        out += _side_by_side(_wrap(figures(ta), col), _wrap(figures(tb), col), col,
                             name[: label_w - 1].ljust(label_w), " " * label_w)
    out.append("")

    if not c.rows:
        out.append("Neither session has a turn.")
        return out
    same = sum(1 for r in c.rows if r.same)
    out.append(f"Turns ({same} of {len(c.rows)} the same; = same, ≠ differs, < only in A, "
               "> only in B):")
    for i, row in enumerate(c.rows):
        if i == c.first_divergence:
            what = ", ".join(row.differences)
            out.append(f"{'── first divergence: ' + what + ' ':─<{width}}"[:width])
        if row.same:
            mark = MARKS["same"]
        elif row.a is None or row.b is None:
            mark = MARKS[row.differences[0]]
        else:
            mark = MARKS["differs"]
        lead = f"{mark} {i + 1:>4}".ljust(label_w)
        out += _side_by_side(_turn_lines(row.a, col), _turn_lines(row.b, col), col, lead,
                             " " * label_w)
        if not row.same and row.a is not None and row.b is not None:
            out.append(" " * label_w + f"differs in: {', '.join(row.differences)}")
    if c.first_divergence is None:
        out.append("The transcripts agree turn for turn.")
    return out
