"""Model profiles from files: `<home>/models.yaml` and a crew's `models:`, checked with file:line.

`gateway/profiles.py` is what they become (aliases, targets, routes); this module reads and
validates them and lays a crew's over the user's. A routed profile (`route:`) has its rules'
conditions compiled and checked here, once per run (gateway/routing.py). A run parses its
crew's `models:` once (`mesh.session.prepare`) and the session adds the user's file
(`with_user_profiles`).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from workbench.errors import SpecError
from workbench.gateway.credentials import key_name
from workbench.gateway.profiles import ModelProfile, ModelProfiles, Target
from workbench.gateway.routing import RouteRule, compile_rule
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text

USER_CONFIG = "models.yaml"

# Names are checked with fullmatch: `$` with match() lets a trailing newline through.
ALIAS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
ALIAS_RULE = "letters, digits, _ . : - and no '/' (a '/' marks a LiteLLM model string)"
DOMAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
DOMAIN_RULE = "letters, digits, '_' or '-', starting with a letter or '_'"
#: The provider before the '/' of a model string, as LiteLLM spells them (`text-completion-
#: openai` has dashes).
PROVIDER = re.compile(r"[a-z][a-z0-9_-]*")
PROVIDER_RULE = ("lower-case letters, digits, '_' or '-', starting with a letter, "
                 "as LiteLLM spells it (openai, anthropic, ollama)")
#: A stored key's name (`credential:`), as `workbench keys set NAME` stores it.
CREDENTIAL = re.compile(r"[a-z][a-z0-9_]*")

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
PROFILE_KEYS = frozenset({"model", "api_base", "credential", "fallbacks", "params", "route",
                          *_NUMBERS})
_ROUTE_KEYS = ("when", "use")
#: Keys that are LiteLLM call parameters of their own (they join `params`).
_CALL_PARAMS = ("temperature", "max_tokens")
#: LiteLLM call parameters that decide where a call goes or what it sends. In `params` they
#: would override the call the gate judged (`model.host`, `model.local` and the redaction
#: are worked out from the alias's model and api_base), so they are refused there.
_ROUTING_PARAMS = frozenset({"model", "messages", "tools", "stream", "api_base", "base_url",
                             "custom_llm_provider"})
#: Provider-specific endpoint settings (`aws_bedrock_runtime_endpoint`, `vertex_url`, a
#: proxy) move the call just as well: any key naming an endpoint, URL, host or proxy.
_ROUTING_WORDS = re.compile(r"endpoint|(^|_)(url|uri|host|proxy|base)($|_)", re.IGNORECASE)


def _routes_the_call(key: str) -> bool:
    return key in _ROUTING_PARAMS or _ROUTING_WORDS.search(key) is not None


_ROUTING_HELP = ("decides where the call goes or what it sends, which policies judge from the "
                 "alias's model and api_base: set those instead")

KEY_HELP = (
    "API keys never go in files; store it with `workbench keys set PROVIDER` "
    "or set the provider's environment variable"
)


#: Header names whose value is a credential (key_name already covers x-api-key, x-auth-token).
_AUTH_HEADER = re.compile(r"^(proxy[\s._-]?)?authori[sz]ation$|^cookie$", re.I)


def url_credential(url: str) -> str | None:
    """The credential a URL carries (a user or password, a key in its query), or None."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url.strip())
        if parts.username or parts.password:
            return "a user or password before its host"
    except ValueError:
        return None
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if key_name(name):
            return f"{name}= in its query"
    return None


def credential_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where in `params` a credential is: under a key's name (key_name, Authorization,
    Cookie), or a URL with a user, password or key in it; at any depth."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if key_name(k) or _AUTH_HEADER.match(str(k).strip()):
                out.append((*path, k))
            else:
                out += credential_paths(v, (*path, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            out += credential_paths(v, (*path, i))
    elif isinstance(value, str) and path and url_credential(value):
        out.append(path)
    return out


def domain_problem(domain: str) -> str | None:
    """Why `domain` cannot name a policy domain, or None if it can."""
    if DOMAIN.fullmatch(domain):
        return None
    return f"{domain!r} is not a domain name: use {DOMAIN_RULE}"


def model_problem(name: str) -> str | None:
    """Why `name` cannot be a model (an alias or a `provider/model` string), or None."""
    if not name.isprintable():
        return f"model {name!r} has a control character or an odd space in it"
    provider, slash, _ = name.partition("/")
    if slash and not PROVIDER.fullmatch(provider):
        return f"model {name!r}: {provider!r} is not a provider name: use {PROVIDER_RULE}"
    return None


def _located(message: str, where: str) -> SpecError:
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return SpecError(message, file, int(line))
    return SpecError(message, where or None)


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
        if not ALIAS.fullmatch(name):
            raise fail(f"{where}: alias {name!r} must be {ALIAS_RULE}", alias)
        if isinstance(body, str):
            body = {"model": body}
        if not isinstance(body, dict):
            raise fail(f"{where}.{name}: must be a mapping with at least `model`", alias)
        line = line_of(lines, (*prefix, alias))
        if "route" in body:
            out[name] = _routed_profile(name, body, file, lines, (*prefix, alias), source,
                                        f"{file}:{line}" if line else file)
            continue
        values: dict[str, Any] = {}
        for key, value in body.items():
            key_s = str(key)
            if key_name(key_s):
                raise fail(f"{where}.{name}.{key_s}: {KEY_HELP}", alias, key)
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
        params = dict(values.pop("params", {}))
        # at any depth: extra_body: {api_key: ...}, extra_headers: {Authorization: ...}
        for path in credential_paths(params):
            raise fail(f"{where}.{name}.params.{'.'.join(map(str, path))}: {KEY_HELP}",
                       alias, "params", *path)
        for key in sorted(k for k in map(str, params) if _routes_the_call(k)):
            raise fail(f"{where}.{name}.params.{key}: {_ROUTING_HELP}", alias, "params", key)
        for key in _CALL_PARAMS:  # given as keys of their own, they win over `params`
            if key in values:
                params[key] = values.pop(key)
        fallbacks = tuple(values.pop("fallbacks", ()))
        out[name] = ModelProfile(
            alias=name,
            target=Target(label=name, params=MappingProxyType(params), **values),
            fallbacks=fallbacks,
            source=source,
            where=f"{file}:{line}" if line else file,
        )
    return out


def _routed_profile(name: str, body: dict[Any, Any], file: str, lines: dict,
                    path: tuple[str | int, ...], source: str, where: str) -> ModelProfile:
    """A profile that routes: only `route:`, a list of {when: CEL, use: alias or model}."""
    dotted = ".".join(str(p) for p in path)

    def fail(message: str, *sub: str | int) -> SpecError:
        return SpecError(message, file, line_of(lines, (*path, *sub)))

    others = [str(k) for k in body if k != "route"]
    if others:
        raise fail(f"{dotted}: a routed profile has only `route` (its rules' models carry "
                   f"their own settings and fallbacks), not {', '.join(others)}", others[0])
    raw = body["route"]
    if not isinstance(raw, list) or not raw:
        raise fail(f"{dotted}.route: must be a list of {{when: CEL, use: alias or model}}",
                   "route")
    rules: list[RouteRule] = []
    for i, entry in enumerate(raw):
        here = f"{dotted}.route[{i + 1}]"
        if not isinstance(entry, dict):
            raise fail(f"{here}: must be a mapping {{when: CEL, use: alias or model}}",
                       "route", i)
        for key in entry:
            if key not in _ROUTE_KEYS:
                raise fail(f"{here}: unknown key {str(key)!r}; a route has when, use",
                           "route", i, key)
        use = entry.get("use")
        if not isinstance(use, str) or not use.strip():
            raise fail(f"{here}.use: must name an alias or a provider/model string",
                       "route", i, "use" if "use" in entry else "")
        problem = model_problem(use.strip())
        if problem:
            raise fail(f"{here}.use: {problem}", "route", i, "use")
        when = entry.get("when")
        if "when" not in entry:
            if i != len(raw) - 1:
                raise fail(f"{here}: only the last route may leave out `when` (the routes "
                           "after it could never be chosen)", "route", i)
        line = line_of(lines, (*path, "route", i))
        rule_where = f"{file}:{line}" if line else file
        try:
            rules.append(compile_rule(i + 1, use.strip(), when, rule_where))
        except ValueError as exc:
            raise fail(f"{here}.when: {exc}", "route", i, "when") from None
    return ModelProfile(alias=name, target=Target(label=name, model=""), source=source,
                        where=where, routes=tuple(rules))


def _check_value(key: str, value: Any, where: str, fail: Any) -> Any:
    if key == "credential":
        if not isinstance(value, str) or not CREDENTIAL.fullmatch(value):
            raise fail(f"{where}: must name a stored key, like openai or my_proxy (or none)")
        return value
    if key in ("model", "api_base"):
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{where}: must be a non-empty string")
        if key == "api_base" and not re.match(r"^https?://", value):
            raise fail(f"{where}: must be an http:// or https:// URL")
        carried = url_credential(value) if key == "api_base" else None
        if carried:
            raise fail(f"{where}: the URL carries a credential ({carried}); {KEY_HELP}")
        problem = model_problem(value.strip()) if key == "model" else None
        if problem:
            raise fail(f"{where}: {problem}")
        return value.strip()
    if key == "fallbacks":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{where}: must be a list of aliases or model strings")
        for v in value:
            problem = model_problem(v)
            if problem:
                raise fail(f"{where}: {problem}")
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


def check_references(profiles: ModelProfiles) -> None:
    """Fallbacks, routes and domain defaults must name an alias or a `provider/model` string;
    a fallback may not be a routed alias, and routes may not lead back to themselves."""
    for profile in profiles.profiles.values():
        for rule in profile.routes:
            if rule.use not in profiles and "/" not in rule.use:
                raise _located(
                    f"models.{profile.alias}.route[{rule.index}].use: {rule.use!r} is neither "
                    f"an alias nor a provider/model string; aliases are {profiles.known()}",
                    rule.where,
                )
        if profile.routes:
            _check_cycle(profiles, profile.alias, [profile.alias])
        for fallback in profile.fallbacks:
            if profiles.routed(fallback):
                raise _located(
                    f"models.{profile.alias}.fallbacks: {fallback!r} routes by rule and cannot "
                    "be a fallback; name one of its models instead", profile.where,
                )
            if fallback not in profiles and "/" not in fallback:
                raise _located(
                    f"models.{profile.alias}.fallbacks: {fallback!r} is neither an alias "
                    f"nor a provider/model string; aliases are {profiles.known()}",
                    profile.where,
                )
    for domain, name in profiles.domains.items():
        if name not in profiles and "/" not in name:
            raise SpecError(
                f"domains.{domain}: {name!r} is neither an alias nor a provider/model "
                f"string; aliases are {profiles.known()}"
            )


def _check_cycle(profiles: ModelProfiles, alias: str, path: list[str]) -> None:
    profile = profiles.get(alias)
    for rule in profile.routes if profile else ():
        if rule.use == path[0] or rule.use in path:
            loop = " -> ".join([*path, rule.use])
            raise _located(f"models.{alias}.route[{rule.index}].use: the routes loop ({loop})",
                           rule.where)
        if profiles.routed(rule.use):
            _check_cycle(profiles, rule.use, [*path, rule.use])


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
        problem = domain_problem(str(domain))
        if problem:
            raise SpecError(f"domains: {problem}", file, where)
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"domains.{domain}: must be an alias or a model string", file, where)
        problem = model_problem(name.strip())
        if problem:
            raise SpecError(f"domains.{domain}: {problem}", file, where)
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


def with_user_profiles(home: str | Path | None, crew: ModelProfiles) -> ModelProfiles:
    """Everything in force for a run: the user's profiles with the crew's laid over them,
    every fallback and domain default checked."""
    profiles = load_user_config(home) if home is not None else ModelProfiles()
    if crew.profiles or crew.domains:
        profiles = profiles.merged(crew)
    check_references(profiles)
    return profiles


def load_profiles(home: str | Path | None, spec: Any = None, file: str = "crew",
                  text: str | None = None) -> ModelProfiles:
    """`with_user_profiles` for a crew spec whose `models:` are not parsed yet."""
    crew = crew_profiles(spec.models, file, text) if spec is not None else ModelProfiles()
    return with_user_profiles(home, crew)
