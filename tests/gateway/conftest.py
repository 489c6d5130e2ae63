"""Fixtures for the gateway tests: a keyring-less machine, profiles (the in-memory keyring
is shared: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keyring
import pytest
from keyring.backends import fail

from workbench.gateway.model_config import parse_profiles
from workbench.gateway.profiles import ModelProfiles

#: Fast retry settings so fault tests take fractions of a second.
FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2}


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own keys must never reach a test server, nor decide a test."""
    from workbench.gateway.credentials import ENV_VARS

    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


def profiles(models: dict[str, Any], domains: dict[str, str] | None = None) -> ModelProfiles:
    return ModelProfiles(parse_profiles(models, "test.yaml"), domains)

