"""Model routes: an alias that picks its model per call, by CEL rules over the call's facts.

A profile with `route:` is a list of `{when: CEL, use: ALIAS-or-model}`; the first rule whose
condition holds (a rule without `when` always holds) names what the call uses. Conditions
see the names policies see (governance/activation.py) with `request` filled for the call,
and are compiled once, when the profile is read. Nothing here imports LiteLLM or a UI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.tokens import PromptTokens, estimate_tokens
from workbench.governance.activation import RequestView, sample

#: Names a route's condition may not use: the route chooses the model, and a model call has
#: no tool or arguments (they would always be empty).
UNROUTABLE_NAMES = {
    "model": "a route chooses the model, so its condition cannot depend on it",
    "tool": "a model call has no tool",
    "args": "a model call has no tool arguments",
}

#: How the provider of a routed alias reads where no single model stands behind it (a
#: policy on a tool call of an agent whose model is routed): `model.provider == "routed"`.
ROUTED_PROVIDER = "routed"


class NoRoute(ProviderError):
    """No rule of a routed alias holds for this call, or one could not be evaluated: the call
    is not sent anywhere (never to a model another rule would have refused)."""

    def __init__(self, alias: str, message: str) -> None:
        self.provider = ROUTED_PROVIDER
        self.hint = ""
        self.model = alias
        Exception.__init__(self, f"model {alias}: {message}")


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One rule of a routed alias: `use` when `when` holds (None: always)."""

    #: 1 for the first rule of the list.
    index: int
    use: str
    when: str | None = None
    #: file:line of the rule, for messages.
    where: str = ""
    #: The compiled condition (a `governance.condition.Condition`), None without `when`.
    condition: Any = None
    #: The program run per call: the condition with each `name.field` it reads made one
    #: variable `name__field` (handing CEL a map costs far more than a few plain values).
    program: Any = None
    #: The variables `program` reads: (variable, name, field or None for the whole value).
    variables: tuple[tuple[str, str, str | None], ...] = ()

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether this rule applies to a call with `facts`; raises if its condition fails
        or gives anything but true or false (the caller refuses the call)."""
        if self.condition is None:
            return True
        return self.judge(_context(facts, (self,)))

    def judge(self, context: Any) -> bool:
        """`holds`, given a CEL context that has this rule's variables (`_context`)."""
        if self.program is None:
            return True
        result = self.program.execute(context)
        if result is True or result is False:
            return result
        raise TypeError(f"gave {type(result).__name__}, not true or false")

    def step(self, alias: str) -> dict[str, Any]:
        """The record of this rule choosing, as the `model.call` event keeps it."""
        return {"alias": alias, "index": self.index, "when": self.when or "", "use": self.use}


def compile_rule(index: int, use: str, when: str | None, where: str) -> RouteRule:
    """A rule with its condition compiled and checked like a policy's; ValueError says what
    is wrong with the condition."""
    if when is None:
        return RouteRule(index, use, None, where)
    from workbench.governance.condition import compile_condition

    condition = compile_condition(when)
    for name in condition.variables:
        if name in UNROUTABLE_NAMES:
            raise ValueError(f"{name!r} cannot be used in a route: {UNROUTABLE_NAMES[name]}")
    program, variables = _flattened(when, condition)
    return RouteRule(index, use, when, where, condition, program, variables)


#: Comprehension macros bind names of their own: such a condition is run as it is written.
_MACRO = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(")


def _flattened(expr: str, condition: Any) -> tuple[Any, tuple[tuple[str, str, str | None], ...]]:
    """`condition` with each `name.field` it reads (outside string literals) as a variable
    `name__field`; names it uses whole stay maps. The checks ran on the condition as written,
    so the program means the same."""
    import cel

    from workbench.governance.condition import _STRINGS, _fast_regex

    flat = {name: fields for name, fields in condition.needs.items() if fields is not None}
    if _MACRO.search(expr):
        flat = {}
    out: list[str] = []
    last = 0
    for m in [*_STRINGS.finditer(expr), None]:
        code = expr[last:m.start()] if m else expr[last:]
        for name, fields in flat.items():
            for attr in fields:
                code = re.sub(rf"(?<![\w.]){name}\s*\.\s*{attr}\b", f"{name}__{attr}", code)
        out.append(code)
        if m:
            out.append(m.group(0))
            last = m.end()
    rewritten, _ = _fast_regex("".join(out))
    variables = [(f"{n}__{a}", n, a) for n, fields in flat.items() for a in sorted(fields)]
    variables += [(n, n, None) for n, fields in condition.needs.items() if n not in flat]
    return cel.compile(rewritten), tuple(variables)


def _context(facts: Mapping[str, Any], rules: tuple[RouteRule, ...]) -> Any:
    """One CEL context with the variables every rule of `rules` reads, from `facts`."""
    import cel

    from workbench.governance.condition import FUNCTIONS

    data: dict[str, Any] = {}
    functions = None
    for rule in rules:
        for var, name, attr in rule.variables:
            if var not in data:
                data[var] = facts[name] if attr is None else facts[name][attr]
        if rule.condition is not None and rule.condition.uses_functions:
            functions = FUNCTIONS
    return cel.Context(data, functions)


def pick(alias: str, rules: tuple[RouteRule, ...], facts: Mapping[str, Any]) -> RouteRule:
    """The first rule of `alias` that holds for `facts`; `NoRoute` if none does or one fails
    (fail closed: a rule that cannot be judged does not let a later one choose instead)."""
    try:
        context = _context(facts, rules)
    except Exception as exc:
        raise NoRoute(alias, f"its routes could not be evaluated: {type(exc).__name__}: "
                             f"{exc}") from None
    for rule in rules:
        try:
            if rule.judge(context):
                return rule
        except Exception as exc:
            raise NoRoute(alias, f"route {rule.index} ({rule.when}) could not be evaluated: "
                                 f"{type(exc).__name__}: {exc}") from None
    request = facts.get("request", {})
    raise NoRoute(alias, f"no route holds for agent {facts.get('agent', {}).get('name', '?')!r} "
                         f"({request.get('prompt_tokens', 0)} prompt tokens, purpose "
                         f"{request.get('purpose', '')!r}); end the routes with one without "
                         "`when` as the default")


def explain(rules: tuple[RouteRule, ...], facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each rule with its condition's value for `facts` (True, False, or an error's text),
    and which one is chosen (the first that holds, if none before it failed)."""
    out: list[dict[str, Any]] = []
    chosen = False
    for rule in rules:
        try:
            value: Any = rule.holds(facts)
        except Exception as exc:
            value = f"error: {type(exc).__name__}: {exc}"
        row = {"index": rule.index, "when": rule.when or "", "use": rule.use,
               "value": value, "chosen": False, "where": rule.where}
        if not chosen and value is not False:
            # a failing rule stops the choice (the call would be refused), as `pick` does
            row["chosen"] = value is True
            chosen = True
        out.append(row)
    return out


# -- the facts of one call --------------------------------------------------------------------


class PromptSizes:
    """`request.*` for each call of a run, its prompt measured incrementally."""

    def __init__(self) -> None:
        self._tokens = PromptTokens()

    def view(self, request: Any) -> RequestView:
        return {"prompt_tokens": self._tokens.count(request),
                "purpose": str(request.purpose), "tools": len(request.tools)}


def request_view(request: Any) -> RequestView:
    """`request.*` for a `ModelRequest`: estimated prompt tokens, purpose, tools offered."""
    return {"prompt_tokens": estimate_tokens(request.messages),
            "purpose": str(request.purpose), "tools": len(request.tools)}


def bare_facts(request: Any) -> dict[str, Any]:
    """Facts for a call made outside a run (no agent, no totals): `request` and zeros."""
    facts: dict[str, Any] = dict(sample())
    facts["agent"] = dict(facts["agent"], name=request.agent)
    facts["request"] = request_view(request)
    return facts


Facts = Callable[[], Mapping[str, Any]]
