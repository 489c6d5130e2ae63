"""Model profiles: named models (aliases), the chains of targets they resolve to, and routing.

This is the one place an agent's model is resolved. The gateway resolves the alias in a
request to the chain of models it tries (primary, then fallbacks); the run context asks it
for the real provider and model name that governance sees. Where profiles come from (the
user's `<home>/models.yaml`, a crew's `models:`) and how they are checked is
`gateway/model_config.py`. Nothing here imports LiteLLM or reads a file.

Resolution order for an agent: `agent.model` > the user's default for the agent's domain >
the crew's `model`. A crew file's aliases override the user's aliases of the same name.

A routed alias (`route:`, gateway/routing.py) names no model of its own: each call picks one
of its rules' models (`choose`). `resolve` of it gives every target any rule may reach, for
what must hold of all of them before a run (keys, prices).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from workbench.gateway.routing import ROUTED_PROVIDER, Facts, NoRoute, RouteRule, pick
from workbench.gateway.types import split_model

#: Defaults for a model with no profile, and for profile keys left out.
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_NUM_RETRIES = 2
DEFAULT_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 8.0
DEFAULT_MAX_RETRY_AFTER_S = 30.0

#: `credential: none`: send no stored key at all (a local server that needs none).
NO_CREDENTIAL = "none"

_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Target:
    """One model to try, and how: what the retry loop needs for one link of a chain."""

    label: str
    model: str
    api_base: str | None = None
    #: LiteLLM call parameters (temperature and max_tokens among them).
    params: Mapping[str, Any] = field(default_factory=lambda: _NO_PARAMS)
    #: Which stored key to send (`workbench keys set NAME`); default the model's provider.
    credential: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    num_retries: int = DEFAULT_NUM_RETRIES
    backoff: float = DEFAULT_BACKOFF_S
    max_backoff: float = DEFAULT_MAX_BACKOFF_S
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_S

    @property
    def provider(self) -> str:
        return split_model(self.model)[0]

    @property
    def key_name(self) -> str:
        """The stored key this target sends ("none": it sends none)."""
        return self.credential or self.provider


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One alias: the target it calls first (labelled with the alias), and its fallbacks.

    `source` is where it was defined (user or crew) and `where` its file:line, for messages.
    A routed alias has `routes` instead, and a target with no model.
    """

    alias: str
    target: Target
    fallbacks: tuple[str, ...] = ()
    source: str = "crew"
    where: str = ""
    routes: tuple[RouteRule, ...] = ()

    @property
    def model(self) -> str:
        return self.target.model

    @property
    def api_base(self) -> str | None:
        return self.target.api_base

    @property
    def credential(self) -> str | None:
        return self.target.credential

    @property
    def provider(self) -> str:
        return self.target.provider


@dataclass(frozen=True, slots=True)
class Route:
    """What a model name in a request means: the primary target, then its fallbacks."""

    name: str
    targets: tuple[Target, ...]
    #: The rules that chose `name` for this call, outermost first (`RouteRule.step`).
    chosen_by: tuple[dict[str, Any], ...] = ()

    @property
    def primary(self) -> Target:
        return self.targets[0]


class ModelProfiles:
    """The aliases and domain defaults in force for one run; not changed once built."""

    def __init__(self, profiles: Mapping[str, ModelProfile] | None = None,
                 domains: Mapping[str, str] | None = None) -> None:
        self.profiles: dict[str, ModelProfile] = dict(profiles or {})
        self.domains: dict[str, str] = dict(domains or {})
        self._routes: dict[tuple[str, str | None], Route] = {}
        self._names: dict[str, tuple[str, str]] = {}
        self._chosen: dict[tuple[Any, ...], Route] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.profiles

    def get(self, alias: str) -> ModelProfile | None:
        return self.profiles.get(alias)

    def merged(self, other: ModelProfiles) -> ModelProfiles:
        """These profiles with `other`'s aliases and domain defaults laid over them."""
        return ModelProfiles({**self.profiles, **other.profiles}, {**self.domains, **other.domains})

    def resolve(self, name: str, api_base: str | None = None) -> Route:
        """The chain of targets for a model name (an alias or a LiteLLM model string).

        An alias's own `api_base` wins over `api_base` (the agent's or the crew's); a plain
        model string takes `api_base` as it is. Fallbacks that are aliases bring their own
        settings and their own fallbacks (cycles are cut); plain-string fallbacks inherit the
        primary's timeouts and parameters but never its api_base, since they are usually
        another vendor.
        """
        cache_key = (name, api_base)
        route = self._routes.get(cache_key)
        if route is not None:
            return route
        profile = self.profiles.get(name)
        if profile is None:
            route = Route(name, (Target(label=name, model=name, api_base=api_base),))
        elif profile.routes:
            route = Route(name, self._reachable(profile, api_base, {name}))
        else:
            targets: list[Target] = []
            self._chain(profile, api_base, targets, set())
            route = Route(name, tuple(targets))
        self._routes[cache_key] = route
        return route

    def _reachable(self, profile: ModelProfile, api_base: str | None,
                   seen: set[str]) -> tuple[Target, ...]:
        """Every target any rule of a routed alias may call, each once, in rule order."""
        out: dict[tuple[str, str, str | None], Target] = {}
        for rule in profile.routes:
            other = self.profiles.get(rule.use)
            if rule.use in seen:
                continue  # a cycle (refused when the profiles are read)
            if other is not None and other.routes:
                targets = self._reachable(other, api_base, seen | {rule.use})
            else:
                targets = self.resolve(rule.use, api_base).targets
            for target in targets:
                out.setdefault((target.label, target.model, target.api_base), target)
        return tuple(out.values())

    def routed(self, name: str) -> bool:
        """Whether `name` is an alias that chooses its model per call."""
        profile = self.profiles.get(name)
        return profile is not None and bool(profile.routes)

    def choose(self, name: str, api_base: str | None, facts: Facts) -> Route:
        """The chain one call of `name` tries: for a routed alias, that of the first rule
        that holds for `facts()` (followed through aliases that route in turn), with the
        rules that chose it; otherwise `resolve`. Raises `NoRoute` when no rule holds.

        `facts` is called only for a routed alias, so other calls pay nothing for it.
        """
        profile = self.profiles.get(name)
        if profile is None or not profile.routes:
            return self.resolve(name, api_base)
        data = facts()
        rules: list[RouteRule] = []
        seen = {name}
        while True:
            rule = pick(profile.alias, profile.routes, data)
            rules.append(rule)
            nxt = self.profiles.get(rule.use)
            if nxt is None or not nxt.routes:
                break
            if rule.use in seen:  # refused when the profiles are read; never loop here
                raise NoRoute(name, f"routes loop back to {rule.use!r}")
            seen.add(rule.use)
            profile = nxt
        key = (name, api_base, *(id(r) for r in rules))
        route = self._chosen.get(key)
        if route is None:
            chain = self.resolve(rules[-1].use, api_base)
            steps, alias = [], name
            for rule in rules:
                steps.append(rule.step(alias))
                alias = rule.use
            route = self._chosen[key] = Route(chain.name, chain.targets, tuple(steps))
        return route

    def _chain(self, profile: ModelProfile, api_base: str | None, out: list[Target],
               seen: set[str]) -> None:
        seen.add(profile.alias)
        primary = profile.target
        if primary.api_base is None and api_base is not None:
            primary = dataclasses.replace(primary, api_base=api_base)
        out.append(primary)
        for fallback in profile.fallbacks:
            if fallback in seen:
                continue
            other = self.profiles.get(fallback)
            if other is not None:
                self._chain(other, None, out, seen)
            else:
                seen.add(fallback)
                out.append(dataclasses.replace(primary, label=fallback, model=fallback,
                                               api_base=None, credential=None))

    def provider_and_name(self, name: str) -> tuple[str, str]:
        """The real (provider, model name) behind `name`, as governance must see it.

        A routed alias has no one model outside a call: ("routed", the alias). A model call
        is judged on each target the route chose, never on this.
        """
        found = self._names.get(name)
        if found is None:
            profile = self.profiles.get(name)
            if profile is not None and profile.routes:
                found = (ROUTED_PROVIDER, name)
            else:
                found = split_model(profile.model if profile else name)
            self._names[name] = found
        return found

    def model_for(self, spec: Any, agent: Any) -> str:
        """agent.model > the domain's default > the crew's model (an alias or a model string)."""
        return agent.model or self.domains.get(agent.domain) or spec.model

    def assign(self, spec: Any) -> None:
        """Write each agent's model choice into the spec, so every engine reads the same one."""
        for agent in spec.agents:
            if not agent.model and agent.domain in self.domains:
                agent.model = self.domains[agent.domain]

    def known(self) -> str:
        """The aliases, for messages that name what a name could have been."""
        return ", ".join(sorted(self.profiles)) or "(none)"

