"""Fixtures for the gateway tests: an in-memory keyring, a keyring-less machine, profiles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from workbench.gateway.profiles import ModelProfiles, parse_profiles

#: Fast retry settings so fault tests take fractions of a second.
FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2}


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.items[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)


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
