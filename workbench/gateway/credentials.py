"""API keys: from the OS keyring (`workbench keys set`), else the provider's usual variable."""

from __future__ import annotations

import os

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


class NoKeyringBackend(Exception):
    """The platform has no usable keyring (common on headless Linux)."""


NO_KEYRING_HELP = (
    "no OS keyring is available on this machine (usual on headless Linux). "
    "Set the provider's environment variable instead (for example OPENAI_API_KEY), "
    "or install a keyring backend you trust, such as `pip install keyrings.alt` for a "
    "file-backed keyring, and select it with PYTHON_KEYRING_BACKEND"
)


def env_var(provider: str) -> str:
    return ENV_VARS.get(provider, f"{provider.upper()}_API_KEY")


def _keyring():
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


def set_key(provider: str, key: str) -> None:
    _keyring().set_password(SERVICE, provider, key)


def delete_key(provider: str) -> bool:
    kr = _keyring()
    try:
        kr.delete_password(SERVICE, provider)
    except kr.errors.PasswordDeleteError:
        return False
    return True
