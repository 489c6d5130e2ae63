"""Policy files: central and per-domain rules with CEL conditions, loaded, checked and hashed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserInputError
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text

ACTIONS = ("model_call", "tool_call", "message")
EFFECTS = ("allow", "deny", "require_approval", "redact")
#: The names a condition may use (DESIGN.md); `args` is the tool's arguments, free-form.
NAMES: dict[str, frozenset[str] | None] = {
    "agent": frozenset({"name", "role", "domain", "model"}),
    "tool": frozenset({"name", "tags"}),
    "args": None,
    "model": frozenset({"provider", "name"}),
    "message": frozenset({"text", "from", "to", "to_domains"}),
    "session": frozenset({"cost_usd", "tokens", "turns"}),
    "crew": frozenset({"name"}),
}
BUDGET_KEYS = ("cost_usd", "tokens", "turns")
_FIELD = re.compile(r"(?<![\w.\"'])(agent|tool|model|message|session|crew)\.([A-Za-z_]\w*)")


class PolicyError(UserInputError):
    """A policy file problem, located as file:line and rule id."""

    def __init__(self, message: str, file: str, line: int | None = None,
                 rule: str | None = None) -> None:
        where = f"{file}:{line}" if line else file
        rule_part = f" rule {rule!r}:" if rule else ""
        super().__init__(f"{where}:{rule_part} {message}")
        self.file, self.line, self.rule = file, line, rule


@dataclass(slots=True)
class Rule:
    id: str
    on: str
    when: str
    effect: str
    reason: str
    overridable: bool
    domain: str | None  # None: central
    file: str
    line: int | None
    program: Any = None
    variables: tuple[str, ...] = ()


@dataclass
class PolicySet:
    default: str = "allow"
    budgets: dict[str, float] = field(default_factory=dict)
    central: list[Rule] = field(default_factory=list)
    domains: dict[str, list[Rule]] = field(default_factory=dict)
    hash: str = ""
    source: str = ""

    def rules(self) -> list[Rule]:
        return [*self.central, *(r for rules in self.domains.values() for r in rules)]


def compile_condition(expr: str) -> tuple[Any, tuple[str, ...]]:
    """Compile a CEL condition and check every name it uses; raises ValueError."""
    import cel

    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("`when` must be a CEL expression")
    try:
        program = cel.compile(expr)
    except ValueError as exc:
        detail = str(exc).split("ERROR: <input>:", 1)[-1].splitlines()[0]
        raise ValueError(f"CEL syntax error at {detail.strip()}") from None
    variables = tuple(program.variables())
    for name in variables:
        if name not in NAMES:
            raise ValueError(f"unknown name {name!r}; known: {', '.join(NAMES)}")
    for obj, attr in _FIELD.findall(_strip_strings(expr)):
        known = NAMES[obj]
        if known is not None and attr not in known:
            raise ValueError(f"unknown name '{obj}.{attr}'; {obj} has {', '.join(sorted(known))}")
    return program, variables


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)


def _load_file(path: Path, central: bool) -> tuple[dict[str, Any], dict, str]:
    file = str(path)
    try:
        text = read_yaml_text(path)
        data, lines = load_with_lines(text)
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc}", file) from None
    except LocatedYAMLError as exc:
        raise PolicyError(str(exc), file, exc.line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError("a policy file must be a mapping (version, rules, ...)", file, 1)
    allowed = {"version", "rules"} | ({"default", "budgets"} if central else set())
    for key in data:
        if key not in allowed:
            hint = " (only central.yaml sets it)" if key in ("default", "budgets") else ""
            raise PolicyError(f"unknown key {key!r}{hint}", file, line_of(lines, (key,)))
    if data.get("version", 1) != 1:
        raise PolicyError("unsupported version; this workbench reads version 1", file,
                          line_of(lines, ("version",)))
    return data, lines, text


class PolicyErrors(PolicyError):
    """Every problem of a policy folder, one `file:line: rule: problem` a line."""

    def __init__(self, errors: list[PolicyError]) -> None:
        UserInputError.__init__(self, "\n".join(str(e) for e in errors))
        first = errors[0]
        self.file, self.line, self.rule = first.file, first.line, first.rule
        self.errors = errors


def _rules(data: dict[str, Any], lines: dict, file: str, domain: str | None,
           errors: list[PolicyError]) -> list[Rule]:
    """The file's rules; each broken one is added to `errors` and the others still checked."""
    raw = data.get("rules") or []
    if not isinstance(raw, list):
        errors.append(PolicyError("`rules` must be a list", file, line_of(lines, ("rules",))))
        return []
    out: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        try:
            rule = _rule(r, i, lines, file, domain, seen)
        except PolicyError as exc:
            errors.append(exc)
        else:
            out.append(rule)
    return out


def _rule(r: Any, i: int, lines: dict, file: str, domain: str | None,
          seen: set[str]) -> Rule:
    at = line_of(lines, ("rules", i))
    if not isinstance(r, dict):
        raise PolicyError("each rule must be a mapping", file, at)
    if True in r and "on" not in r:  # YAML 1.1 reads a bare `on:` key as true
        r["on"] = r.pop(True)
        lines[("rules", i, "on")] = lines.get(("rules", i, True), at)
    rid = r.get("id")
    if not isinstance(rid, str) or not rid:
        raise PolicyError("a rule needs an `id`", file, at)
    if rid in seen:
        raise PolicyError("duplicate rule id", file, at, rid)
    seen.add(rid)
    allowed = {"id", "on", "when", "effect", "reason"} | ({"overridable"} if domain is None
                                                          else set())
    for key in r:
        if key not in allowed:
            hint = " (only central rules are overridable)" if key == "overridable" else ""
            raise PolicyError(f"unknown key {key!r}{hint}", file,
                              line_of(lines, ("rules", i, key)), rid)
    on = r.get("on")
    if on not in ACTIONS:
        raise PolicyError(f"`on` must be one of {', '.join(ACTIONS)}, not {on!r}", file,
                          line_of(lines, ("rules", i, "on")), rid)
    effect = r.get("effect")
    if effect not in EFFECTS:
        raise PolicyError(f"`effect` must be one of {', '.join(EFFECTS)}, not {effect!r}",
                          file, line_of(lines, ("rules", i, "effect")), rid)
    when = r.get("when", "true")
    try:
        program, variables = compile_condition(str(when))
    except ValueError as exc:
        raise PolicyError(str(exc), file, line_of(lines, ("rules", i, "when")), rid) from None
    overridable = r.get("overridable", False)
    if not isinstance(overridable, bool):
        raise PolicyError("`overridable` must be true or false", file,
                          line_of(lines, ("rules", i, "overridable")), rid)
    return Rule(rid, on, str(when), effect, str(r.get("reason") or rid), overridable,
                domain, file, at, program, variables)


def load_policies(folder: Path) -> PolicySet:
    """Load `central.yaml` and `domains/*.yaml` from `folder`; raises PolicyError."""
    central_path = folder / "central.yaml"
    if not central_path.is_file():
        raise PolicyError("no central.yaml in the policy folder", str(folder))
    digest = hashlib.sha256()
    errors: list[PolicyError] = []
    policy = PolicySet(source=str(folder))
    try:
        data, lines, text = _load_file(central_path, central=True)
    except PolicyError as exc:
        errors.append(exc)
        data, lines, text = {}, {}, ""
    digest.update(b"central.yaml\0" + text.encode())
    default = data.get("default", "allow")
    if default not in EFFECTS:
        errors.append(PolicyError(
            f"`default` must be one of {', '.join(EFFECTS)}, not {default!r}",
            str(central_path), line_of(lines, ("default",))))
    else:
        policy.default = default
    budgets = data.get("budgets") or {}
    session = budgets.get("session", {}) if isinstance(budgets, dict) else None
    if not isinstance(session, dict) or set(budgets) - {"session"}:
        errors.append(PolicyError("`budgets` takes {session: {cost_usd, tokens, turns}}",
                                  str(central_path), line_of(lines, ("budgets",))))
        session = {}
    for key, value in session.items():
        if key not in BUDGET_KEYS or not isinstance(value, int | float) or value < 0:
            errors.append(PolicyError(
                f"budget {key!r} must be one of {', '.join(BUDGET_KEYS)} with a non-negative "
                "number", str(central_path), line_of(lines, ("budgets", "session", key))))
            continue
        policy.budgets[key] = float(value)
    policy.central = _rules(data, lines, str(central_path), None, errors)
    domains = folder / "domains"
    for path in sorted(domains.glob("*.yaml")) if domains.is_dir() else []:
        try:
            d_data, d_lines, d_text = _load_file(path, central=False)
        except PolicyError as exc:
            errors.append(exc)
            continue
        digest.update(f"domains/{path.name}\0".encode() + d_text.encode())
        policy.domains[path.stem] = _rules(d_data, d_lines, str(path), path.stem, errors)
    if errors:
        raise errors[0] if len(errors) == 1 else PolicyErrors(errors)
    policy.hash = digest.hexdigest()
    return policy
