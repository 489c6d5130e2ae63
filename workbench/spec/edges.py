"""Graph crews' edges: `when` conditions in CEL over the message, and the shapes a graph may take.

The checks here mirror what AutoGen's GraphFlow (agentchat 0.7) accepts, so that a graph
that validates also runs: every cycle has a conditional edge to leave it by, at least one
agent ends the run (no outgoing edges), an agent's edges are all conditional or none, and
every agent in the graph can be reached from where the run starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def facts(text: str, sender: str) -> dict[str, dict[str, str]]:
    """What an edge condition sees: the message that just left the edge's source. The one
    definition of these names: the checker's NAMES and the run's context both come from it."""
    return {"message": {"text": text, "from": sender}}


#: The names an edge condition may use, and their fields.
NAMES: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in facts("", "").items()}
_FIELD = re.compile(rf"(?<![\w.\"'])({'|'.join(NAMES)})\s*\.\s*([A-Za-z_]\w*)")
_STRINGS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"'
                      r"|'(?:\\.|[^'\\\n])*'")


@dataclass(slots=True)
class EdgeCondition:
    """A compiled `when`: true when the message may travel along the edge."""

    source: str
    program: Any

    def __call__(self, text: str, sender: str) -> bool:
        import cel

        try:
            result = self.program.execute(cel.Context(facts(text, sender)))
        except Exception:
            # fail closed: a condition that cannot be evaluated does not route the message
            return False
        return result is True


def compile_when(expr: str) -> EdgeCondition:
    """Compile and check an edge's `when`; raises ValueError saying what is wrong."""
    import cel

    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("`when` must be a CEL expression over the message, "
                         "e.g. message.text.contains(\"APPROVE\")")
    try:
        program = cel.compile(expr)
    except ValueError as exc:
        detail = str(exc).split("ERROR: <input>:", 1)[-1].splitlines()[0]
        raise ValueError(f"CEL syntax error at {detail.strip()}") from None
    for name in program.variables():
        if name not in NAMES:
            hint = (f'; to match text write message.text.contains("{name}")'
                    if name.isupper() else "")
            raise ValueError(f"unknown name {name!r} in `when`: an edge condition sees "
                             f"{_listed()}{hint}")
    for obj, attr in _FIELD.findall(_STRINGS.sub('""', expr)):
        if attr not in NAMES[obj]:
            raise ValueError(f"unknown name '{obj}.{attr}' in `when`: the message has "
                             f"{', '.join(sorted(NAMES[obj]))}")
    try:
        result = program.execute(cel.Context(facts("", "")))
    except Exception:
        result = True  # may depend on the text (e.g. int(message.text)); judged at run time
    if not isinstance(result, bool):
        raise ValueError(f"`when` must be true or false, but {expr!r} gives "
                         f"{type(result).__name__} values")
    return EdgeCondition(expr, program)


def _listed() -> str:
    """`message.from and message.text`: every name, for messages."""
    names = sorted(f"{n}.{f}" for n, fields in NAMES.items() for f in fields)
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _reach(succ: dict[str, list[str]], start: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(succ.get(node, ()))
    return seen


def graph_entry(edges: Sequence[tuple[str, str]]) -> list[str]:
    """Where a run starts: the agents nothing leads to, else (a cycle at the start) the
    source of the first edge."""
    nodes = list(dict.fromkeys(n for e in edges for n in e))
    targets = {t for _, t in edges}
    roots = [n for n in nodes if n not in targets]
    return roots or ([edges[0][0]] if edges else [])


def loop_edges(edges: Sequence[tuple[str, str]]) -> set[int]:
    """Indices of the edges on a cycle (their source can be reached from their target)."""
    succ: dict[str, list[str]] = {}
    for s, t in edges:
        succ.setdefault(s, []).append(t)
    return {i for i, (s, t) in enumerate(edges) if s in _reach(succ, [t])}


def graph_problem(edges: Sequence[tuple[str, str, bool]]) -> str | None:
    """Why a graph of (source, target, conditional) edges cannot run, or None."""
    if not edges:
        return None
    succ: dict[str, list[str]] = {}
    kinds: dict[str, set[bool]] = {}
    for s, t, conditional in edges:
        succ.setdefault(s, []).append(t)
        kinds.setdefault(s, set()).add(conditional)
    nodes = list(dict.fromkeys(n for s, t, _ in edges for n in (s, t)))
    for node in nodes:
        if kinds.get(node) == {True, False}:
            return (f"agent {node!r} has edges with and without `when`: give every edge "
                    f"from {node!r} a condition, or none")
    if all(n in succ for n in nodes):
        return ("a graph needs an agent with no outgoing edges, where the run ends; "
                "every agent here passes the turn on")
    plain = [(s, t) for s, t, _ in edges]
    # Every loop must pass an agent whose edges have conditions: among the agents whose
    # edges have none, there may be no cycle (AutoGen refuses one as endless).
    loop = _cycle({s: [t for t in ts if kinds.get(t) == {False}]
                   for s, ts in succ.items() if kinds.get(s) == {False}})
    if loop:
        return (f"the loop {' -> '.join([*loop, loop[0]])} has no edge with `when` to leave "
                "it by; give the edges of one of its agents conditions")
    start = graph_entry(plain)
    unreachable = [n for n in nodes if n not in _reach(succ, start)]
    if unreachable:
        return (f"{', '.join(unreachable)} can never speak: no edge leads to them from "
                f"where the run starts ({', '.join(start)})")
    return None


def _cycle(succ: dict[str, list[str]]) -> list[str]:
    """The agents of one cycle in `succ`, in order, or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in succ.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt):]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for node in succ:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []
