"""CEL conditions of policy rules: compiled, checked against the activation names, and typed."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from workbench.governance.activation import NAMES, sample

#: A CEL string literal: triple-quoted, quoted, with an optional raw/bytes prefix.
_STR = (r"""[rRbB]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|"""
        r"""'(?:\\.|[^'\\\n])*')""")
_STRINGS = re.compile(_STR)
#: `.matches("literal")`, or any string literal (so a `.matches(` inside one is skipped).
_MATCHES = re.compile(rf"(?P<call>\.\s*matches\s*\(\s*(?P<lit>{_STR})\s*\))|{_STR}")
#: Names bound by comprehension macros (`tags.exists(t, t == "x")`): not activation names.
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*"
                    r"(?:,\s*([A-Za-z_]\w*)\s*(?=,))?,")
_FIELD_AFTER = re.compile(r"\s*\.\s*([A-Za-z_]\w*)(\s*\()?")
#: Constructs whose meaning differs between Python's `re` and the Rust `regex` crate that
#: CEL's `matches` uses; a pattern with any of them keeps the built-in `matches`.
_UNSAFE_REGEX = re.compile(r"\$|\[:|\[\[|&&|--|~~|\(\?(?!:)|\\[A-CE-Za-ce-mo-su-z0-9]")

REGEX_FUNCTION = "_wb_matches"
_PATTERNS: list[re.Pattern[str]] = []
_PATTERN_IDS: dict[str, int] = {}


def _search(text: Any, index: int) -> bool:
    """`text.matches(pattern)` with the pattern compiled once (CEL compiles it every call)."""
    if not isinstance(text, str):
        raise TypeError("matches() needs a string")
    return _PATTERNS[index].search(text) is not None


#: The functions a condition may call besides CEL's own; given to every evaluation.
FUNCTIONS: dict[str, Any] = {REGEX_FUNCTION: _search}


@dataclass(slots=True)
class Condition:
    source: str
    program: Any
    #: The top-level names it uses.
    variables: tuple[str, ...]
    #: For each name it uses, the fields it reads (None: the whole value).
    needs: dict[str, frozenset[str] | None]
    #: It calls one of FUNCTIONS.
    uses_functions: bool


def strip_strings(expr: str) -> str:
    """The expression with every string literal emptied (names inside strings are text)."""
    return _STRINGS.sub('""', expr)


def _literal_value(literal: str) -> Any:
    import cel

    return cel.evaluate(literal)


def _fast_regex(expr: str) -> tuple[str, bool]:
    """Route `.matches("literal")` to a pattern compiled once, where Python's `re` means
    exactly what CEL's regex would; an invalid pattern is refused here, not at run time."""
    import cel

    used = False

    def repl(m: re.Match[str]) -> str:
        nonlocal used
        if m.group("call") is None:
            return m.group(0)
        lit = m.group("lit")
        pattern = _literal_value(lit)
        if not isinstance(pattern, str):
            return m.group(0)
        try:
            cel.evaluate('"".matches(p)', {"p": pattern})
        except Exception as exc:
            # the regex library's own words are on a line starting `error:`
            why = [ln for ln in str(exc).splitlines() if ln.startswith("error:")]
            detail = why[0].removeprefix("error:").strip().rstrip(".") if why else "not valid"
            detail = detail.split(". Check function")[0]
            raise ValueError(f"invalid regular expression {lit}: {detail}") from None
        if _UNSAFE_REGEX.search(pattern):
            return m.group(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                compiled = re.compile(pattern)
        except (re.error, Warning):
            return m.group(0)
        index = _PATTERN_IDS.get(pattern)
        if index is None:
            index = _PATTERN_IDS[pattern] = len(_PATTERNS)
            _PATTERNS.append(compiled)
        used = True
        return f".{REGEX_FUNCTION}({index})"

    return _MATCHES.sub(repl, expr), used


def _needs(stripped: str, variables: tuple[str, ...]) -> dict[str, frozenset[str] | None]:
    needs: dict[str, frozenset[str] | None] = {}
    for name in variables:
        fields: set[str] | None = set()
        for m in re.finditer(rf"(?<![\w.]){name}\b", stripped):
            after = _FIELD_AFTER.match(stripped, m.end())
            if after is None or after.group(2):  # the whole value, or a method called on it
                fields = None
                break
            fields.add(after.group(1))
        needs[name] = None if fields is None else frozenset(fields)
    return needs


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", int: "a number", float: "a number", list: "a list",
            dict: "a map", bytes: "bytes"}.get(type(value), type(value).__name__)


def compile_condition(expr: Any) -> Condition:
    """Compile a CEL condition, check every name it uses and that it gives true or false
    where that is known before a run; raises ValueError saying what is wrong."""
    import cel

    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("`when` must be a CEL expression")
    try:
        cel.compile(expr)
    except ValueError as exc:
        detail = str(exc).split("ERROR: <input>:", 1)[-1].splitlines()[0]
        raise ValueError(f"CEL syntax error at {detail.strip()}") from None
    rewritten, uses_functions = _fast_regex(expr)
    program = cel.compile(rewritten)
    stripped = strip_strings(expr)
    bound = {n for m in _BOUND.finditer(stripped) for n in m.groups() if n}
    variables = tuple(v for v in program.variables() if v not in bound)
    for name in variables:
        if name not in NAMES:
            raise ValueError(f"unknown name {name!r}; known: {', '.join(NAMES)}")
    needs = _needs(stripped, variables)
    for name, fields in needs.items():
        known = NAMES[name]
        for attr in sorted(fields or ()):
            if known is not None and attr not in known:
                raise ValueError(
                    f"unknown name '{name}.{attr}'; {name} has {', '.join(sorted(known))}")
    # Every name has a fixed type (activation.py), so a condition that gives a string on
    # empty values gives one on every run: refuse it now rather than deny every action.
    try:
        result = program.execute(cel.Context(sample(), FUNCTIONS if uses_functions else None))
    except Exception:
        result = True  # depends on the arguments (args.x) or fails only on some values
    if not isinstance(result, bool):
        raise ValueError(f"the condition gives {_type_name(result)}, not true or false")
    return Condition(expr, program, variables, needs, uses_functions)
