"""Policy files: central and per-domain rules with CEL conditions, loaded, checked and hashed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserInputError
from workbench.governance.activation import NAMES as NAMES  # the vocabulary, re-exported
from workbench.governance.activation import domain_key
from workbench.governance.condition import Condition
from workbench.governance.condition import compile_condition as _compile
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text

#: task_bid: an agent bids on a marketplace task; task_award: the hub awards it to one.
ACTIONS = ("model_call", "tool_call", "message", "task_bid", "task_award")
EFFECTS = ("allow", "deny", "require_approval", "redact")
BUDGET_KEYS = ("cost_usd", "tokens", "turns")
#: Policy files are YAML; either spelling of the suffix is read.
SUFFIXES = (".yaml", ".yml")


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
    #: For each name the condition uses, the fields it reads (None: all of it).
    needs: dict[str, frozenset[str] | None] = field(default_factory=dict)
    #: The condition calls one of condition.FUNCTIONS.
    uses_functions: bool = False
    #: For require_approval: the groups whose members may approve (empty: anyone may).
    reviewers: tuple[str, ...] = ()
    reviewers_line: int | None = None


@dataclass
class PolicySet:
    default: str = "allow"
    budgets: dict[str, float] = field(default_factory=dict)
    central: list[Rule] = field(default_factory=list)
    domains: dict[str, list[Rule]] = field(default_factory=dict)
    hash: str = ""
    source: str = ""
    #: Files in the policy folder that are not read, each with why (`policies check` and
    #: a run's start say so: a misplaced file must not look like a rule that applies).
    notes: list[str] = field(default_factory=list)
    #: Reviewer groups (central.yaml's `groups`): name -> the reviewers in it.
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rules(self) -> list[Rule]:
        return [*self.central, *(r for rules in self.domains.values() for r in rules)]

    def approvers(self, rule_ids: Iterable[str]) -> dict[str, Any] | None:
        """Who may approve a request these rules flagged: {"groups", "names"}, or None when
        no rule names reviewers. Each rule that names groups must be satisfied, so the
        names are those in one of each such rule's groups (possibly none: fail closed)."""
        by_id = {r.id: r for r in self.rules()}
        groups: list[str] = []
        names: set[str] | None = None
        for rid in rule_ids:
            rule = by_id.get(rid)
            if rule is None or not rule.reviewers:
                continue
            groups += [g for g in rule.reviewers if g not in groups]
            members = {m for g in rule.reviewers for m in self.groups.get(g, ())}
            names = members if names is None else names & members
        if names is None:
            return None
        return {"groups": groups, "names": sorted(names)}

    def has_domain(self, domain: str) -> bool:
        """Whether `domain` has a policy file (domain names are case-insensitive)."""
        return domain_key(domain) in self.domains

    def unknown_domains(self, domains: Iterable[str]) -> list[str]:
        """The domains, of those given, that have no policy file (`default` needs none)."""
        out: list[str] = []
        for d in domains:
            if domain_key(d) != "default" and not self.has_domain(d) and d not in out:
                out.append(d)
        return out


def compile_condition(expr: str) -> tuple[Any, tuple[str, ...]]:
    """Compile a CEL condition and check every name it uses (NAMES); raises ValueError.

    Returns a program that runs on a plain activation, and the names it uses.
    """
    import cel

    condition = _compile(expr)
    return cel.compile(expr), condition.variables


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
        # an empty file would silently mean "no rules": say so, unless it says `rules: []`
        raise PolicyError("the file is empty; a policy file lists its `rules` "
                          "(write `rules: []` for none)", file, 1)
    if not isinstance(data, dict):
        raise PolicyError("a policy file must be a mapping (version, rules, ...)", file, 1)
    allowed = {"version", "rules"} | ({"default", "budgets", "groups"} if central else set())
    for key in data:
        if key not in allowed:
            hint = " (only central.yaml sets it)" if key in ("default", "budgets",
                                                              "groups") else ""
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
    # no rules must be said (`rules: []`): a forgotten or misspelt key would allow all
    if "rules" not in data:
        errors.append(PolicyError("no `rules`; write `rules: []` for a file with no rules",
                                  file, 1))
        return []
    raw = data["rules"]
    if raw is None:
        errors.append(PolicyError("`rules` is empty; write `rules: []` for no rules", file,
                                  line_of(lines, ("rules",))))
        return []
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
    allowed = {"id", "on", "when", "effect", "reason", "reviewers"} | (
        {"overridable"} if domain is None else set())
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
    if isinstance(when, bool):  # `when: true` unquoted is YAML's true, meant as CEL's
        when = "true" if when else "false"
    try:
        if not isinstance(when, str):
            raise ValueError("`when` must be a CEL expression (text), not "
                             f"{type(when).__name__}")
        condition = _compile(when)
    except ValueError as exc:
        raise PolicyError(str(exc), file, line_of(lines, ("rules", i, "when")), rid) from None
    overridable = r.get("overridable", False)
    if not isinstance(overridable, bool):
        raise PolicyError("`overridable` must be true or false", file,
                          line_of(lines, ("rules", i, "overridable")), rid)
    rule = _make_rule(rid, on, effect, str(r.get("reason") or rid), overridable, domain,
                      file, at, condition)
    if "reviewers" in r:
        line = line_of(lines, ("rules", i, "reviewers"))
        reviewers = r["reviewers"]
        if not isinstance(reviewers, list) or not reviewers or not all(
                isinstance(g, str) and g for g in reviewers):
            raise PolicyError("`reviewers` must be a list of group names (groups are "
                              "defined in central.yaml under `groups`)", file, line, rid)
        if effect != "require_approval":
            raise PolicyError("`reviewers` names who may approve: only a require_approval "
                              f"rule has them, not a {effect} rule", file, line, rid)
        rule.reviewers, rule.reviewers_line = tuple(dict.fromkeys(reviewers)), line
    return rule


def _groups(raw: Any, lines: dict, file: str,
            errors: list[PolicyError]) -> dict[str, tuple[str, ...]]:
    """central.yaml's `groups: {name: [reviewer, ...]}`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(PolicyError("`groups` maps a group's name to its reviewers, e.g. "
                                  "{finance-leads: [alice, bob]}", file,
                                  line_of(lines, ("groups",))))
        return {}
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in raw.items():
        at = line_of(lines, ("groups", name))
        if not isinstance(name, str) or not name:
            errors.append(PolicyError(f"a group's name must be text, not {name!r}", file, at))
        elif not isinstance(members, list) or not members or not all(
                isinstance(m, str) and m.strip() for m in members):
            errors.append(PolicyError(f"group {name!r} must list its reviewers' names, "
                                      "e.g. [alice, bob]", file, at))
        else:
            groups[name] = tuple(m.strip() for m in members)
    return groups


def _check_reviewers(policy: PolicySet, errors: list[PolicyError]) -> None:
    """Every group a rule names must be defined: a misspelt one would let nobody approve."""
    for rule in policy.rules():
        unknown = [g for g in rule.reviewers if g not in policy.groups]
        if unknown:
            known = ", ".join(sorted(policy.groups)) or "none defined"
            errors.append(PolicyError(
                f"reviewers: unknown group {unknown[0]!r} (groups in central.yaml: {known})",
                rule.file, rule.reviewers_line, rule.id))


def _check_unique_ids(policy: PolicySet, errors: list[PolicyError]) -> None:
    """A rule id names one rule in the whole set: decisions, approvals and the audit name
    rules by id, so a domain's rule of a central rule's id (or another domain's) would lend
    it that rule's reviewers, or take them away."""
    first: dict[str, Rule] = {}
    for rule in policy.rules():
        other = first.setdefault(rule.id, rule)
        if other is not rule:
            where = f"{other.file}:{other.line}" if other.line else other.file
            errors.append(PolicyError(f"duplicate rule id (also at {where}); a rule id names "
                                      "one rule in the whole policy set", rule.file,
                                      rule.line, rule.id))


def _make_rule(rid: str, on: str, effect: str, reason: str, overridable: bool,
               domain: str | None, file: str, line: int | None, c: Condition) -> Rule:
    return Rule(rid, on, c.source, effect, reason, overridable, domain, file, line,
                c.program, c.variables, c.needs, c.uses_functions)


def is_central(path: Path) -> bool:
    """Whether `path` is a policy folder's central file, in any spelling it is read in
    (`central.yaml`, `central.yml`, `Central.YAML`)."""
    return path.is_file() and path.stem.lower() == "central" and \
        path.suffix.lower() in SUFFIXES


def has_central(folder: Path) -> bool:
    """Whether `folder` holds a central file: a policy folder, not just a folder's name."""
    return folder.is_dir() and any(is_central(p) for p in folder.iterdir()
                                   if not p.name.startswith("."))


def _policy_files(folder: Path, errors: list[PolicyError],
                  notes: list[str]) -> tuple[Path | None, dict[str, Path]]:
    """The central file and each domain's file; what is there but not read goes to `notes`,
    two files for one name (`legal.yaml` and `Legal.yml`) to `errors`."""
    central: list[Path] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        if is_central(path):
            central.append(path)
        elif path.name != "domains" and path.suffix.lower() in SUFFIXES:
            notes.append(f"{path}: not read (domain files go in domains/)")
    if len(central) > 1:
        errors.append(PolicyError(f"two central files: {central[0].name} and "
                                  f"{central[1].name}; keep one", str(folder)))
    domains: dict[str, Path] = {}
    folder_d = folder / "domains"
    for path in sorted(folder_d.iterdir()) if folder_d.is_dir() else []:
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            notes.append(f"{path}: not read (a domain's policy is domains/<domain>.yaml)")
            continue
        key = domain_key(path.stem)
        if key in domains:
            errors.append(PolicyError(
                f"domain {key!r} has two files: {domains[key].name} and {path.name}; "
                "domain names are case-insensitive, keep one", str(path)))
            continue
        domains[key] = path
    return (central[0] if central else None), domains


def load_policies(folder: Path) -> PolicySet:
    """Load `central.yaml` and `domains/*.yaml` (or `.yml`) from `folder`; raises PolicyError.

    Domain names are case-insensitive: `domains/legal.yaml` serves `domain: Legal`.
    """
    errors: list[PolicyError] = []
    notes: list[str] = []
    central_path, domain_files = _policy_files(folder, errors, notes)
    if central_path is None:
        raise PolicyError("no central.yaml in the policy folder", str(folder))
    digest = hashlib.sha256()
    policy = PolicySet(source=str(folder), notes=notes)
    loaded = True
    try:
        data, lines, text = _load_file(central_path, central=True)
    except PolicyError as exc:
        errors.append(exc)
        data, lines, text, loaded = {}, {}, "", False
    digest.update(central_path.name.encode() + b"\0" + text.encode())
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
    for name, value in session.items():
        if name not in BUDGET_KEYS or not isinstance(value, int | float) or value < 0:
            errors.append(PolicyError(
                f"budget {name!r} must be one of {', '.join(BUDGET_KEYS)} with a non-negative "
                "number", str(central_path), line_of(lines, ("budgets", "session", name))))
            continue
        policy.budgets[name] = float(value)
    if loaded:
        policy.groups = _groups(data.get("groups"), lines, str(central_path), errors)
        policy.central = _rules(data, lines, str(central_path), None, errors)
    for key, path in domain_files.items():
        try:
            d_data, d_lines, d_text = _load_file(path, central=False)
        except PolicyError as exc:
            errors.append(exc)
            continue
        digest.update(f"domains/{path.name}\0".encode() + d_text.encode())
        policy.domains[key] = _rules(d_data, d_lines, str(path), key, errors)
    _check_reviewers(policy, errors)
    _check_unique_ids(policy, errors)
    if errors:
        raise errors[0] if len(errors) == 1 else PolicyErrors(errors)
    policy.hash = digest.hexdigest()
    return policy
