"""A crew's inputs: values put in for its `{placeholders}` when a run starts.

A crew lists its inputs (`inputs: {topic: AI agents}`), an imported CrewAI project its
`{placeholders}`; `--input KEY=VALUE` gives or overrides a value. `{task}` is the run's task
and is left to the engines; `{{name}}` is literal text. An input with no value stays as
written, and the caller is told.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from workbench.errors import UserInputError
from workbench.spec.schema import CrewSpec

_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def parse_assignments(items: Iterable[str] | None) -> dict[str, str]:
    """`KEY=VALUE` strings (from --input) as a mapping; a malformed one is bad input."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UserInputError(f"--input {item!r}: write it KEY=VALUE, KEY a name like topic")
        out[key] = value
    return out


def used_placeholders(spec: CrewSpec) -> list[str]:
    """The `{names}` the crew's agents and tasks use, in order, without `{task}`."""
    seen: dict[str, None] = {}
    for text in _texts(spec):
        for name in _PLACEHOLDER.findall(text):
            if name != "task":
                seen.setdefault(name, None)
    return list(seen)


def _texts(spec: CrewSpec) -> list[str]:
    out: list[str] = []
    for a in spec.agents:
        out += [a.role, a.goal, a.backstory]
    for t in spec.tasks:
        out += [t.description, t.expected_output, t.output_file or ""]
    return out


def apply_inputs(spec: CrewSpec, given: dict[str, str],
                 ask: Callable[[str], str] | None = None) -> list[str]:
    """Put the crew's input values (`given` first) into its agents' and tasks' text.

    `ask(name)` is called for an input that has no value (a terminal asks the user). Returns
    the names still without a value: their placeholders stay as written. A name in `given`
    that the crew neither lists nor uses is bad input.
    """
    used = used_placeholders(spec)
    known = set(spec.inputs) | set(used)
    unknown = sorted(set(given) - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UserInputError(f"--input {unknown[0]}: the crew has no input {unknown[0]!r} "
                             f"(its inputs: {listed})")
    values = {k: v for k, v in spec.inputs.items() if v}
    values.update({k: v for k, v in given.items()})
    missing = [n for n in used if not values.get(n)]
    if ask is not None:
        for name in missing:
            answer = ask(name)
            if answer:
                values[name] = answer
    spec.inputs = {**spec.inputs, **values}

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(
            lambda m: m.group(0) if m.group(1) == "task" else values.get(m.group(1)) or m.group(0),
            text)

    for a in spec.agents:
        a.role, a.goal, a.backstory = fill(a.role), fill(a.goal), fill(a.backstory)
    for t in spec.tasks:
        t.description, t.expected_output = fill(t.description), fill(t.expected_output)
        if t.output_file:
            t.output_file = fill(t.output_file)
    return [n for n in used if not values.get(n)]
