"""API keys: from the OS keyring (`workbench keys set`), else the provider's usual variable.

Keys live in memory only for the call that needs them: they are handed to LiteLLM per
call and scrubbed from any error text, so no log, event, database row or export holds one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
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


def get_key(provider: str) -> str | None:
    """The key for `provider`, from the keyring first, then the environment; None if neither."""
    try:
        key = _keyring().get_password(SERVICE, provider)
    except NoKeyringBackend:
        key = None
    except Exception:  # a locked or broken keyring must not stop an env-var key from working
        key = None
    return key or os.environ.get(env_var(provider)) or None


def key_source(provider: str) -> str | None:
    """Where the key for `provider` comes from ('keyring', 'env'), never the key itself."""
    try:
        if _keyring().get_password(SERVICE, provider):
            return "keyring"
    except Exception:
        pass
    if os.environ.get(env_var(provider)):
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
