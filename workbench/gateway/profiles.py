"""Model profiles: named models (aliases) from crew files and the user's `<home>/models.yaml`.

This is the one place an agent's model is resolved. The gateway resolves the alias in a
request to the chain of models it tries (primary, then fallbacks); the run context asks it
for the real provider and model name that governance sees. Nothing here imports LiteLLM.

Resolution order for an agent: `agent.model` > the user's default for the agent's domain >
the crew's `model`. A crew file's aliases override the user's aliases of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from workbench.errors import SpecError
from workbench.gateway.types import split_model
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text

USER_CONFIG = "models.yaml"

#: Defaults for a model with no profile, and for profile keys left out.
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_NUM_RETRIES = 2
DEFAULT_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 8.0
DEFAULT_MAX_RETRY_AFTER_S = 30.0

ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
DOMAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

_NUMBERS: dict[str, tuple[type, float, float]] = {
    # key: (type, lowest, highest)
    "temperature": (float, 0.0, 2.0),
    "max_tokens": (int, 1, 10_000_000),
    "timeout": (float, 0.001, 3600.0),
    "num_retries": (int, 0, 10),
    "backoff": (float, 0.0, 600.0),
    "max_backoff": (float, 0.0, 3600.0),
    "max_retry_after": (float, 0.0, 3600.0),
}
PROFILE_KEYS = frozenset({"model", "api_base", "credential", "fallbacks", "params", *_NUMBERS})

#: `credential: none`: send no stored key at all (a local server that needs none).
NO_CREDENTIAL = "none"

_KEY_HELP = (
    "API keys never go in files; store it with `workbench keys set PROVIDER` "
    "or set the provider's environment variable"
)


def _looks_secret(name: str) -> bool:
    name = name.lower()
    return (name.endswith(("_key", "_token")) or name in ("key", "token", "password")
            or "secret" in name)


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One alias as configured; `where` is file:line, for error messages."""

    alias: str
    model: str
    api_base: str | None = None
    #: Which stored key to send (`workbench keys set NAME`); default the model's provider.
    credential: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    num_retries: int = DEFAULT_NUM_RETRIES
    backoff: float = DEFAULT_BACKOFF_S
    max_backoff: float = DEFAULT_MAX_BACKOFF_S
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_S
    fallbacks: tuple[str, ...] = ()
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    source: str = "crew"
    where: str = ""

    @property
    def provider(self) -> str:
        return split_model(self.model)[0]

    @property
    def key_name(self) -> str:
        return self.credential or self.provider

    def call_params(self) -> dict[str, Any]:
        out = dict(self.params)
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        return out


@dataclass(frozen=True, slots=True)
class Target:
    """One model to try, and how: what the retry loop needs for one link of a chain."""

    label: str
    model: str
    api_base: str | None = None
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
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
class Route:
    """What a model name in a request means: the primary target, then its fallbacks."""

    name: str
    targets: tuple[Target, ...]

    @property
    def primary(self) -> Target:
        return self.targets[0]


def _target_of(profile: ModelProfile, api_base: str | None, label: str) -> Target:
    return Target(
        label=label,
        model=profile.model,
        api_base=profile.api_base or api_base,
        params=MappingProxyType(profile.call_params()),
        credential=profile.credential,
        timeout=profile.timeout,
        num_retries=profile.num_retries,
        backoff=profile.backoff,
        max_backoff=profile.max_backoff,
        max_retry_after=profile.max_retry_after,
    )


class ModelProfiles:
    """The aliases and domain defaults in force for one run; immutable once built."""

    def __init__(self, profiles: dict[str, ModelProfile] | None = None,
                 domains: dict[str, str] | None = None) -> None:
        self.profiles: dict[str, ModelProfile] = dict(profiles or {})
        self.domains: dict[str, str] = dict(domains or {})
        self._routes: dict[tuple[str, str | None], Route] = {}
        self._names: dict[str, tuple[str, str]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.profiles

    def get(self, alias: str) -> ModelProfile | None:
        return self.profiles.get(alias)

    def merged(self, other: ModelProfiles) -> ModelProfiles:
        """These profiles with `other`'s aliases and domain defaults laid over them."""
        return ModelProfiles({**self.profiles, **other.profiles}, {**self.domains, **other.domains})

    # -- resolution -----------------------------------------------------------------------

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
        else:
            targets: list[Target] = []
            self._chain(profile, api_base, targets, set())
            route = Route(name, tuple(targets))
        self._routes[cache_key] = route
        return route

    def _chain(self, profile: ModelProfile, api_base: str | None, out: list[Target],
               seen: set[str]) -> None:
        seen.add(profile.alias)
        primary = _target_of(profile, api_base, profile.alias)
        out.append(primary)
        for fallback in profile.fallbacks:
            if fallback in seen:
                continue
            other = self.profiles.get(fallback)
            if other is not None:
                self._chain(other, None, out, seen)
            else:
                seen.add(fallback)
                out.append(Target(
                    label=fallback, model=fallback, api_base=None, params=primary.params,
                    timeout=primary.timeout, num_retries=primary.num_retries,
                    backoff=primary.backoff, max_backoff=primary.max_backoff,
                    max_retry_after=primary.max_retry_after,
                ))

    def provider_and_name(self, name: str) -> tuple[str, str]:
        """The real (provider, model name) behind `name`, as governance must see it."""
        found = self._names.get(name)
        if found is None:
            profile = self.profiles.get(name)
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

    def check_references(self) -> None:
        """Fallbacks and domain defaults must name an alias or a `provider/model` string."""
        for profile in self.profiles.values():
            for fallback in profile.fallbacks:
                if fallback not in self.profiles and "/" not in fallback:
                    raise _located(
                        f"models.{profile.alias}.fallbacks: {fallback!r} is neither an alias "
                        f"nor a provider/model string; aliases are {self._known()}",
                        profile.where,
                    )
        for domain, name in self.domains.items():
            if name not in self.profiles and "/" not in name:
                raise SpecError(
                    f"domains.{domain}: {name!r} is neither an alias nor a provider/model "
                    f"string; aliases are {self._known()}"
                )

    def _known(self) -> str:
        return ", ".join(sorted(self.profiles)) or "(none)"


def _located(message: str, where: str) -> SpecError:
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return SpecError(message, file, int(line))
    return SpecError(message, where or None)


# -- parsing and validation -----------------------------------------------------------------


def parse_profiles(
    data: Any,
    file: str,
    lines: dict | None = None,
    prefix: tuple[str | int, ...] = ("models",),
    source: str = "crew",
) -> dict[str, ModelProfile]:
    """Validate a `models:` mapping (alias -> profile); every problem is a file:line SpecError."""
    lines = lines or {}

    def fail(message: str, *path: str | int) -> SpecError:
        return SpecError(message, file, line_of(lines, (*prefix, *path)))

    where = ".".join(str(p) for p in prefix)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(f"{where}: must be a mapping of alias -> profile")
    out: dict[str, ModelProfile] = {}
    for alias, body in data.items():
        name = str(alias)
        if not ALIAS.match(name):
            raise fail(
                f"{where}: alias {name!r} must be letters, digits, _ . : - and no '/' "
                "(a '/' marks a LiteLLM model string)", alias,
            )
        if isinstance(body, str):
            body = {"model": body}
        if not isinstance(body, dict):
            raise fail(f"{where}.{name}: must be a mapping with at least `model`", alias)
        values: dict[str, Any] = {}
        for key, value in body.items():
            key_s = str(key)
            if _looks_secret(key_s):
                raise fail(f"{where}.{name}.{key_s}: {_KEY_HELP}", alias, key)
            if key_s not in PROFILE_KEYS:
                raise fail(
                    f"{where}.{name}: unknown key {key_s!r}; a profile has "
                    f"{', '.join(sorted(PROFILE_KEYS))}", alias, key,
                )
            values[key_s] = _check_value(key_s, value, f"{where}.{name}.{key_s}",
                                         lambda m, a=alias, k=key: fail(m, a, k))
        if "model" not in values:
            raise fail(f"{where}.{name}: missing required key 'model'", alias)
        if values["model"] in data and values["model"] != name:
            raise fail(f"{where}.{name}.model: must be a LiteLLM model string, not another "
                       "alias (use fallbacks to chain aliases)", alias, "model")
        params = values.pop("params", {})
        for key in params:
            if _looks_secret(str(key)):
                raise fail(f"{where}.{name}.params.{key}: {_KEY_HELP}", alias, "params", key)
        line = line_of(lines, (*prefix, alias))
        out[name] = ModelProfile(
            alias=name,
            params=MappingProxyType(dict(params)),
            fallbacks=tuple(values.pop("fallbacks", ())),
            source=source,
            where=f"{file}:{line}" if line else file,
            **values,
        )
    return out


def _check_value(key: str, value: Any, where: str, fail: Any) -> Any:
    if key == "credential":
        if not isinstance(value, str) or not re.match(r"^[a-z][a-z0-9_]*$", value):
            raise fail(f"{where}: must name a stored key, like openai or my_proxy (or none)")
        return value
    if key in ("model", "api_base"):
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{where}: must be a non-empty string")
        if key == "api_base" and not re.match(r"^https?://", value):
            raise fail(f"{where}: must be an http:// or https:// URL")
        return value.strip()
    if key == "fallbacks":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{where}: must be a list of aliases or model strings")
        return value
    if key == "params":
        if not isinstance(value, dict):
            raise fail(f"{where}: must be a mapping of LiteLLM parameters")
        return value
    kind, low, high = _NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{where}: must be a number")
    if kind is int and not float(value).is_integer():
        raise fail(f"{where}: must be a whole number")
    if not low <= value <= high:
        raise fail(f"{where}: must be between {low:g} and {high:g}")
    return kind(value)


def parse_user_config(text: str, file: str) -> ModelProfiles:
    """Parse `<home>/models.yaml`: `models:` (alias -> profile) and `domains:` (domain -> model)."""
    try:
        data, lines = load_with_lines(text)
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), file, exc.line) from None
    if data is None:
        return ModelProfiles()
    if not isinstance(data, dict):
        raise SpecError("must be a mapping with `models:` and `domains:`", file, 1)
    for key in data:
        if key not in ("models", "domains"):
            raise SpecError(f"unknown key {key!r}; expected models, domains", file,
                            line_of(lines, (key,)))
    profiles = parse_profiles(data.get("models"), file, lines, ("models",), "user")
    domains_raw = data.get("domains") or {}
    if not isinstance(domains_raw, dict):
        raise SpecError("domains: must be a mapping of domain -> alias or model string", file,
                        line_of(lines, ("domains",)))
    domains: dict[str, str] = {}
    for domain, name in domains_raw.items():
        where = line_of(lines, ("domains", domain))
        if not DOMAIN.match(str(domain)):
            raise SpecError(f"domains: {domain!r} is not a domain name", file, where)
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"domains.{domain}: must be an alias or a model string", file, where)
        if name not in profiles and "/" not in name:
            raise SpecError(
                f"domains.{domain}: {name!r} is neither an alias in this file nor a "
                "provider/model string", file, where,
            )
        domains[str(domain)] = name.strip()
    return ModelProfiles(profiles, domains)


def load_user_config(home: str | Path) -> ModelProfiles:
    """The user's profiles from `<home>/models.yaml`; none if the file does not exist."""
    path = Path(home) / USER_CONFIG
    try:
        text = read_yaml_text(path)
    except FileNotFoundError:
        return ModelProfiles()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    return parse_user_config(text, str(path))


def crew_profiles(models: dict[str, Any], file: str = "crew", text: str | None = None
                  ) -> ModelProfiles:
    """A crew file's `models:`; with the file's `text`, errors carry the line."""
    if not models:
        return ModelProfiles()
    lines: dict = {}
    if text is not None:
        try:
            _, lines = load_with_lines(text)
        except LocatedYAMLError:
            lines = {}
    return ModelProfiles(parse_profiles(models, file, lines, ("models",), "crew"))


def load_profiles(home: str | Path | None, spec: Any = None, file: str = "crew",
                  text: str | None = None) -> ModelProfiles:
    """Everything in force for a run: the user's profiles with the crew's laid over them."""
    user = load_user_config(home) if home is not None else ModelProfiles()
    profiles = user
    if spec is not None and spec.models:
        profiles = user.merged(crew_profiles(spec.models, file, text))
    profiles.check_references()
    return profiles
