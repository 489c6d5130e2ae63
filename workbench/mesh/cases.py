"""Eval cases files: the cases a crew is scored on and each case's checks, read with file:line
errors.

```yaml
cases:
  - id: nordics
    task: "Should we enter the Nordic market?"
    inputs: {region: Nordics}          # optional: values for the crew's {placeholders}
    expect:
      - contains: "GO"                 # in the run's result; {text: "GO", in: transcript}
      - not_contains: "NO-GO"
      - regex: '\\d+ ?M(illion)? EUR'
      - tool_called: calculator        # or {name: send_email, args: {to: board@example.com}}
      - no_tool: http_get
      - approval_requested: send_email
      - max_cost_usd: 0.05
      - max_turns: 12
      - judge: {rubric: "Is it backed by numbers?", model: fast, pass_at: 0.7}
```
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import SpecError
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text

#: Every kind of check, in the order the docs list them.
KINDS = ("contains", "not_contains", "regex", "tool_called", "no_tool", "approval_requested",
         "max_cost_usd", "max_turns", "judge")
#: Where a text check looks: the run's result (its final answer) or every message.
WHERE = ("result", "transcript")
#: A judge's pass mark when the check gives none.
DEFAULT_PASS_AT = 0.7
#: fullmatch: with match(), `$` would let a trailing newline through.
_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
_TOP_KEYS = ("cases", "crew", "description")
_CASE_KEYS = ("id", "task", "inputs", "expect")


@dataclass(frozen=True)
class Check:
    """One expectation of a case: its kind, its settings (normalised), its line."""

    kind: str
    value: dict[str, Any]
    line: int | None = None

    @property
    def label(self) -> str:
        """How the check reads in a report: `contains "GO"`, `tool_called send_email {..}`."""
        v = self.value
        if self.kind in ("contains", "not_contains"):
            where = " in the transcript" if v["in"] == "transcript" else ""
            return f'{self.kind} "{v["text"]}"{where}'
        if self.kind == "regex":
            where = " in the transcript" if v["in"] == "transcript" else ""
            return f"regex /{v['pattern']}/{where}"
        if self.kind == "tool_called":
            args = f" {_inline(v['args'])}" if v["args"] else ""
            return f"tool_called {v['name']}{args}"
        if self.kind in ("no_tool", "approval_requested"):
            return f"{self.kind} {v['name']}"
        if self.kind == "max_cost_usd":
            return f"max_cost_usd {v['limit']:.8f}".rstrip("0").rstrip(".")
        if self.kind == "max_turns":
            return f"max_turns {v['limit']}"
        rubric = v["rubric"] if len(v["rubric"]) <= 60 else v["rubric"][:59] + "…"
        return f'judge "{rubric}" (pass at {v["pass_at"]:g})'

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.value}


@dataclass(frozen=True)
class Case:
    id: str
    #: None: the crew's own task (or its description).
    task: str | None
    checks: tuple[Check, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class CasesFile:
    path: str
    text: str
    cases: tuple[Case, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _inline(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class _Reader:
    """Reads one cases file; every problem is a SpecError at the offending line."""

    def __init__(self, path: str, lines: dict) -> None:
        self.path = path
        self.lines = lines

    def fail(self, where: tuple, message: str) -> SpecError:
        return SpecError(message, self.path, line_of(self.lines, where))

    def text(self, value: Any, where: tuple, what: str, empty_ok: bool = False) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(where, f"{what} must be text, not {_kind_of(value)}")
        text = str(value)
        if not text.strip() and not empty_ok:
            raise self.fail(where, f"{what} must not be empty")
        return text

    def number(self, value: Any, where: tuple, what: str, integer: bool = False) -> float | int:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (not integer and not math.isfinite(value)):
            kind = "a whole number" if integer else "a number"
            raise self.fail(where, f"{what} must be {kind}, not {value!r}")
        if value < 0:
            raise self.fail(where, f"{what} must not be negative, not {value!r}")
        return value

    def mapping(self, value: Any, where: tuple, what: str, keys: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"{what} must be a mapping, not {_kind_of(value)}")
        for key in value:
            if key not in keys:
                raise self.fail((*where, key), f"{what}: unknown key {key!r} (known: "
                                               f"{', '.join(keys)})")
        for key in required:
            if key not in value:
                raise self.fail(where, f"{what}: {key!r} is required")
        return value

    def where_to_look(self, value: Any, where: tuple, what: str) -> str:
        look = self.text(value, where, f"{what}: in")
        if look not in WHERE:
            raise self.fail(where, f"{what}: in must be one of {', '.join(WHERE)}, not "
                                   f"{look!r}")
        return look

    def check(self, item: Any, where: tuple) -> Check:
        if not isinstance(item, dict) or len(item) != 1:
            raise self.fail(where, "each expect entry is one check, like `- contains: GO` "
                                   f"(checks: {', '.join(KINDS)})")
        kind, value = next(iter(item.items()))
        at = (*where, kind)
        if kind not in KINDS:
            raise self.fail(at, f"unknown check {kind!r} (checks: {', '.join(KINDS)})")
        line = line_of(self.lines, at)
        if kind in ("contains", "not_contains"):
            if isinstance(value, dict):
                v = self.mapping(value, at, kind, ("text", "in"), ("text",))
                return Check(kind, {"text": self.text(v["text"], (*at, "text"), kind),
                                    "in": self.where_to_look(v.get("in", "result"),
                                                             (*at, "in"), kind)}, line)
            return Check(kind, {"text": self.text(value, at, kind), "in": "result"}, line)
        if kind == "regex":
            if isinstance(value, dict):
                v = self.mapping(value, at, kind, ("pattern", "in"), ("pattern",))
                pattern = self.text(v["pattern"], (*at, "pattern"), kind)
                look = self.where_to_look(v.get("in", "result"), (*at, "in"), kind)
            else:
                pattern, look = self.text(value, at, kind), "result"
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(at, f"regex {pattern!r} does not compile: {exc}") from None
            return Check(kind, {"pattern": pattern, "in": look}, line)
        if kind == "tool_called":
            if isinstance(value, dict):
                v = self.mapping(value, at, kind, ("name", "args"), ("name",))
                args = v.get("args") or {}
                if not isinstance(args, dict):
                    raise self.fail((*at, "args"), "tool_called: args must be a mapping of "
                                                   "the arguments to expect")
                return Check(kind, {"name": self.text(v["name"], (*at, "name"), kind),
                                    "args": args}, line)
            return Check(kind, {"name": self.text(value, at, kind), "args": {}}, line)
        if kind in ("no_tool", "approval_requested"):
            return Check(kind, {"name": self.text(value, at, kind)}, line)
        if kind == "max_cost_usd":
            return Check(kind, {"limit": float(self.number(value, at, kind))}, line)
        if kind == "max_turns":
            return Check(kind, {"limit": int(self.number(value, at, kind, integer=True))}, line)
        v = self.mapping(value, at, kind, ("rubric", "model", "pass_at"), ("rubric",))
        pass_at = float(self.number(v.get("pass_at", DEFAULT_PASS_AT), (*at, "pass_at"),
                                    "judge: pass_at"))
        if pass_at > 1:
            raise self.fail((*at, "pass_at"), f"judge: pass_at is a score from 0 to 1, not "
                                              f"{pass_at:g}")
        model = v.get("model")
        if model is not None:
            from workbench.gateway.model_config import model_problem

            model = self.text(model, (*at, "model"), "judge: model")
            problem = model_problem(model)
            if problem:
                raise self.fail((*at, "model"), f"judge: {problem}")
        return Check(kind, {
            "rubric": self.text(v["rubric"], (*at, "rubric"), "judge: rubric"),
            "model": model,
            "pass_at": pass_at,
        }, line)

    def case(self, item: Any, where: tuple) -> Case:
        v = self.mapping(item, where, "a case", _CASE_KEYS, ("id", "expect"))
        case_id = self.text(v["id"], (*where, "id"), "a case's id")
        if not _CASE_ID.fullmatch(case_id):
            raise self.fail((*where, "id"), f"case id {case_id!r}: use letters, digits, '.', "
                                            "'_' or '-' (at most 80)")
        task = None
        if "task" in v:
            task = self.text(v["task"], (*where, "task"), f"case {case_id}: task")
        inputs: dict[str, str] = {}
        if "inputs" in v:
            raw = v["inputs"]
            if not isinstance(raw, dict):
                raise self.fail((*where, "inputs"), f"case {case_id}: inputs must be a mapping "
                                                    "of the crew's input names to values")
            for key, value in raw.items():
                inputs[str(key)] = self.text(value, (*where, "inputs", key),
                                             f"case {case_id}: input {key}", empty_ok=True)
        expect = v["expect"]
        if not isinstance(expect, list) or not expect:
            raise self.fail((*where, "expect"), f"case {case_id}: expect must be a list of "
                                                "checks with at least one")
        checks = tuple(self.check(c, (*where, "expect", i)) for i, c in enumerate(expect))
        return Case(case_id, task, checks, inputs, line_of(self.lines, where))


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value),
                                                                       repr(value))


def parse_cases(text: str, path: str = "cases") -> CasesFile:
    """A cases file's text as cases; a problem is a SpecError naming path:line (exit 2)."""
    try:
        data, lines = load_with_lines(text)
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), path, exc.line) from None
    reader = _Reader(path, lines)
    data = reader.mapping(data, (), "a cases file", _TOP_KEYS, ("cases",))
    items = data["cases"]
    if not isinstance(items, list) or not items:
        raise reader.fail(("cases",), "cases must be a list with at least one case")
    cases = []
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        case = reader.case(item, ("cases", i))
        if case.id in seen:
            raise reader.fail(("cases", i, "id"), f"case id {case.id!r} is used twice (first "
                                                  f"at line {seen[case.id]})")
        seen[case.id] = case.line
        cases.append(case)
    return CasesFile(path, text, tuple(cases))


def load_cases(path: str | Path) -> CasesFile:
    """Read and parse a cases file; a missing or unreadable one is a SpecError too."""
    try:
        text = read_yaml_text(path)
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    except OSError as exc:
        raise SpecError(f"cannot read the cases file: {exc.strerror or exc}", str(path)) \
            from None
    return parse_cases(text, str(path))
