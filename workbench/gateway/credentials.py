"""API keys: from the OS keyring (`workbench keys set`), else the provider's usual variable.

Keys live in memory only for the call that needs them: they are handed to LiteLLM per
call and scrubbed from any error text, so no log, event, database row or export holds one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SERVICE = "workbench"

#: The environment variable each provider's own SDK reads.
ENV_VARS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "xai": "XAI_API_KEY",
    "bedrock": "AWS_ACCESS_KEY_ID",
}

#: Providers that run locally and need no key.
KEYLESS = frozenset({"scripted", "ollama", "ollama_chat", "hosted_vllm", "llamafile", "lm_studio"})

PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def env_var(provider: str) -> str:
    return ENV_VARS.get(provider, f"{provider.upper()}_API_KEY")


class NoKeyringBackend(Exception):
    """The platform has no usable keyring (common on headless Linux)."""


def no_keyring_help(provider: str = "openai") -> str:
    return (
        "no OS keyring is available on this machine (usual on headless Linux). "
        f"Set the provider's environment variable instead (for {provider}: {env_var(provider)}), "
        "or choose a keyring backend deliberately, for example a file-backed one: "
        "`pip install keyrings.alt` and `export PYTHON_KEYRING_BACKEND="
        "keyrings.alt.file.EncryptedKeyring` (see docs/local-models.md, Keys)"
    )


NO_KEYRING_HELP = no_keyring_help()


def _keyring() -> Any:
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        raise NoKeyringBackend(NO_KEYRING_HELP)
    return keyring


def keyring_available() -> bool:
    try:
        _keyring()
    except NoKeyringBackend:
        return False
    return True


def keyring_name() -> str:
    """The keyring backend in use, for messages (never its contents)."""
    try:
        kr = _keyring().get_keyring()
    except NoKeyringBackend:
        return "none"
    return f"{type(kr).__module__}.{type(kr).__name__}"


def _usable(key: str | None) -> str | None:
    """`key` without surrounding white space; None when nothing is left (`KEY='  '` is no
    key: sending it would only fail at the provider, after the up-front check passed)."""
    return (key or "").strip() or None


def _keyring_key(provider: str) -> str | None:
    try:
        return _usable(_keyring().get_password(SERVICE, provider))
    except Exception:  # no keyring, or a locked or broken one: an env-var key must still work
        return None


def get_key(provider: str) -> str | None:
    """The key for `provider`, from the keyring first, then the environment; None if neither
    holds one (a blank or white-space-only value counts as none)."""
    return _keyring_key(provider) or _usable(os.environ.get(env_var(provider)))


def key_source(provider: str) -> str | None:
    """Where the key for `provider` comes from ('keyring', 'env'), never the key itself."""
    if _keyring_key(provider):
        return "keyring"
    if _usable(os.environ.get(env_var(provider))):
        return "env"
    return None


def key_status(provider: str, api_base: str | None = None) -> str:
    """keyring / env / not needed / none: what `models list` and `keys list` show.

    `provider` is the name the key is stored under (a profile's `credential`, if it has
    one); "none" means the profile sends no key on purpose.
    """
    if provider == "none":
        return "not needed"
    source = key_source(provider)
    if source:
        return source
    if provider in KEYLESS or api_base:
        return "not needed"
    return "none"


def set_key(provider: str, key: str) -> None:
    _keyring().set_password(SERVICE, provider, key)


def delete_key(provider: str) -> bool:
    kr = _keyring()
    try:
        kr.delete_password(SERVICE, provider)
    except kr.errors.PasswordDeleteError:
        return False
    return True


REDACTED = "[redacted]"
_GENERIC = re.compile(
    r"(?i)(bearer\s+|api[_-]?key[\"']?\s*[:=]\s*[\"']?|x-api-key[\"']?\s*[:=]\s*[\"']?)"
    r"[A-Za-z0-9._~+/=-]{6,}"
)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret, and anything shaped like a credential, blanked out.

    Providers sometimes echo the key (or the Authorization header) in their errors; this is
    applied to every error text before it can reach an event, the database or the terminal.
    """
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    return _GENERIC.sub(lambda m: m.group(1) + REDACTED, text)


#: A name that holds a credential: refused in model files (`key_name`).
_KEY_NAME = re.compile(r"(^|_)(api_?key|key|token|password|passphrase|secrets?)$|secret")
#: A name that may carry a credential or an address that may: left out of recordings
#: (`sensitive_name`), whatever its value.
_SENSITIVE_NAME = re.compile(
    r"(^|_)(api_?key|keys?|token|secrets?|passw\w*|passphrase|auth\w*|bearer|headers?"
    r"|cookies?|credentials?|base|url|uri|endpoint)$|^(api_?key|auth|secret|access_token)")


def _normal(name: Any) -> str:
    """`API-Key`, `api key` and `api_key` alike."""
    return re.sub(r"[\s.-]+", "_", str(name).strip().lower())


def key_name(name: Any) -> bool:
    """`name` is one a credential goes under (`api_key`, `x-auth-token`, `passphrase`)."""
    return bool(_KEY_NAME.search(_normal(name)))


def sensitive_name(name: Any) -> bool:
    """`name` may hold a credential or an address that may (headers, URLs, auth)."""
    return bool(_SENSITIVE_NAME.search(_normal(name)))


def key_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    """Where in `value` (mappings and lists, at any depth) a credential's name is a key."""
    if isinstance(value, dict):
        for k, v in value.items():
            if key_name(k):
                yield (*path, k)
            else:
                yield from key_paths(v, (*path, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from key_paths(v, (*path, i))


def without_sensitive(value: Any) -> Any:
    """`value` with every entry under a sensitive name left out, at any depth."""
    if isinstance(value, dict):
        return {k: without_sensitive(v) for k, v in value.items() if not sensitive_name(k)}
    if isinstance(value, list | tuple):
        return [without_sensitive(v) for v in value]
    return value


#: Providers whose key is found the way `get_key` looks (the keyring, then the variable):
#: a call to one without a key can only fail. Bedrock also signs with AWS profiles and
#: instance roles, which this check cannot see, so it is left to the provider to judge.
KEY_REQUIRED = frozenset(ENV_VARS) - {"bedrock"}


def _key_needed(target: Any) -> str | None:
    """The stored key a chain target (`profiles.Target`) cannot be called without, if any.

    A profile that names its credential needs exactly that one (unless it is `none`); a
    local or self-hosted server (`api_base`, or a keyless provider) needs none; otherwise
    the well-known providers need theirs. Other providers authenticate in ways of their own.
    """
    if target.credential:
        return None if target.credential == "none" else target.credential
    if target.api_base or target.provider in KEYLESS:
        return None
    return target.provider if target.provider in KEY_REQUIRED else None


def missing_keys_for(spec: Any, profiles: Any) -> list[str]:
    """One line per key that `spec`'s agents need and nothing provides, naming who needs it
    and how to provide it; every agent's model is resolved (aliases, domain defaults) and
    each of its fallbacks counts, since any of them may be called."""
    needed: dict[str, dict[str, list[str]]] = {}
    for agent in spec.agents:
        name = profiles.model_for(spec, agent)
        for target in profiles.resolve(name, spec.api_base_for(agent)).targets:
            key = _key_needed(target)
            if key and not get_key(key):
                users = needed.setdefault(key, {}).setdefault(target.model, [])
                if agent.name not in users:
                    users.append(agent.name)
    lines = []
    for key, models in needed.items():
        who = "; ".join(f"{', '.join(agents)} on {model}" for model, agents in models.items())
        if keyring_available():
            fix = f"run `workbench keys set {key}` or set {env_var(key)}"
        else:
            fix = f"set {env_var(key)} (this machine has no OS keyring for `workbench keys set`)"
        lines.append(f"no API key for {key} ({who}): {fix}")
    return lines


def missing_keys(spec: Any, home: Any, file: str = "crew", text: str | None = None
                 ) -> list[str]:
    """The keys a crew would run without, as lines to show (empty when nothing is missing).

    For `crews validate` and the Compose screen: `home` gives the user's `models.yaml`
    (aliases, domain defaults), the crew's own `models:` lie over it. A broken profile raises
    SpecError, as it would at a run (at its line, given the crew's `file` and `text`).
    """
    from workbench.gateway.model_config import load_profiles

    profiles = load_profiles(home, spec, file, text)
    return missing_keys_for(spec, profiles)


def require_keys(spec: Any, profiles: Any) -> None:
    """Refuse to start a run that has no key for a model it may call: a missing key is bad
    input to fix, not a provider outage to retry (no request is sent)."""
    missing = missing_keys_for(spec, profiles)
    if missing:
        from workbench.errors import UserInputError

        raise UserInputError("; ".join(missing))


# -- what `keys list` (CLI) and the Models screen (TUI) show and do ---------------------------


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one provider's key comes from: `keyring`, `env` or `none` (never the key)."""

    provider: str
    source: str
    env_var: str


def key_sources(home: Any) -> list[KeySource]:
    """Every well-known provider, then each one the user's model aliases (`<home>/models.yaml`)
    name that needs a key, with where its key comes from."""
    from workbench.errors import WorkbenchError
    from workbench.gateway.model_config import load_user_config

    providers = dict.fromkeys(ENV_VARS)
    try:
        for profile in load_user_config(home).profiles.values():
            if profile.provider not in KEYLESS:
                providers.setdefault(profile.provider)
    except WorkbenchError:
        pass  # a broken models.yaml must not hide where the keys are
    return [KeySource(p, key_source(p) or "none", env_var(p)) for p in providers]


def check_provider(name: str) -> str:
    """`name` as a provider a key is stored under (LiteLLM's prefix, lower case); bad input
    when it is not one, or is the scripted model, which needs no key."""
    from workbench.errors import UserInputError

    provider = name.strip().lower()
    if not PROVIDER_NAME.match(provider):
        raise UserInputError(
            f"{name!r} is not a provider name: use LiteLLM's prefix, e.g. openai, anthropic")
    if provider == "scripted":
        raise UserInputError("the scripted model is offline and needs no key")
    return provider


def store_key(provider: str, key: str) -> None:
    """Put `key` in the keyring for `provider`: bad input if it is blank or has spaces in it,
    or if there is no keyring; a keyring's refusal is reported with the key scrubbed out."""
    from workbench.errors import UserInputError, WorkbenchError

    key = key.strip()
    if not key or any(c.isspace() for c in key):
        raise UserInputError("a key has no spaces or line breaks in it; nothing was stored")
    if not keyring_available():
        raise UserInputError(no_keyring_help(provider))
    try:
        set_key(provider, key)
    except Exception as exc:
        raise WorkbenchError(f"the keyring refused the key for {provider}: "
                             f"{scrub(f'{type(exc).__name__}: {exc}', [key])}") from None


def remove_key(provider: str) -> bool:
    """Delete `provider`'s key from the keyring; False when it held none. Bad input if there
    is no keyring; a keyring's failure is reported by its kind only."""
    from workbench.errors import UserInputError, WorkbenchError

    if not keyring_available():
        raise UserInputError(no_keyring_help(provider))
    try:
        return delete_key(provider)
    except Exception as exc:
        raise WorkbenchError(
            f"the keyring could not delete the key for {provider}: {type(exc).__name__}"
        ) from None
