"""Shared fixtures: an isolated home per test, so no test touches a user's data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

#: The PostgreSQL cluster and the `backend` fixture (SQLite and PostgreSQL).
pytest_plugins = ["tests.pg"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workbench home; WORKBENCH_* variables point into it."""
    h = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(h))
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.delenv("WORKBENCH_POLICIES", raising=False)
    return h


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only, so tests never touch the machine's."""

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


# -- LiteLLM, warmed once per session ---------------------------------------------------------


@pytest.fixture(scope="session")
def warm_litellm() -> None:
    """LiteLLM's import and the provider code its first calls import (seconds on a busy
    machine), paid once in a fixture's setup, so a test's duration is its own."""
    import asyncio

    from tests.fakeprovider import FakeProvider
    from workbench.gateway.credentials import ENV_VARS
    from workbench.gateway.gateway import Gateway
    from workbench.gateway.model_config import parse_profiles
    from workbench.gateway.profiles import ModelProfiles
    from workbench.gateway.types import ModelRequest

    with FakeProvider() as fp, pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS.values():  # a developer's own key reaches no server, fake or not
            mp.delenv(var, raising=False)
        alias = {"model": "openai/warm", "api_base": fp.api_base, "credential": "none"}
        gateway = Gateway(profiles=ModelProfiles(parse_profiles({"warm": alias}, "warm-up")))
        ask = [{"role": "user", "content": "warm up"}]
        for stream in (False, True):
            asyncio.run(gateway.complete(
                ModelRequest("warm", "warm", list(ask), stream=stream),
                (lambda text, restart=False: None) if stream else None))


@pytest.fixture(autouse=True)
def _litellm_warm_for_provider_tests(request: pytest.FixtureRequest) -> None:
    """Modules that talk to the loopback provider get LiteLLM warmed first; a selection
    without them never imports it."""
    if getattr(request.module, "FakeProvider", None) is not None:
        request.getfixturevalue("warm_litellm")
