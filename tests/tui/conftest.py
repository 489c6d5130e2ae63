"""Fixtures for the TUI: an isolated home and working folder, a frozen clock, fixed data."""

from __future__ import annotations

import shutil
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from tests.conftest import MemoryKeyring
from tests.tui.seed import NOW, ROOT, seed
from workbench.config import Settings
from workbench.gateway.credentials import ENV_VARS
from workbench.tui.app import WorkbenchApp
from workbench.tui.clock import FrozenClock
from workbench.tui.services import CatalogRow, Services

CATALOG = [
    CatalogRow("gpt-4o-mini", "openai", "chat", 128000, 0.15, 0.6),
    CatalogRow("gpt-4o", "openai", "chat", 128000, 2.5, 10.0),
    CatalogRow("claude-3-5-haiku-20241022", "anthropic", "chat", 200000, 0.8, 4.0),
    CatalogRow("groq/llama-3.1-8b-instant", "groq", "chat", 128000, 0.05, 0.08),
    CatalogRow("ollama/llama3.2", "ollama", "chat", 128000, 0.0, 0.0),
    CatalogRow("text-embedding-3-small", "openai", "embedding", 8191, 0.02, None),
]


def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh home, the shipped policies under ./policies, no provider keys in the env."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "policies", work / "policies")
    monkeypatch.chdir(work)
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.delenv("WORKBENCH_POLICIES", raising=False)
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    return Settings(home=home)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             memory_keyring: MemoryKeyring) -> Settings:
    return fresh_settings(tmp_path, monkeypatch)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The approvals queue judges expiry by the same frozen "now" the screens show."""
    import workbench.governance.approvals as approvals

    monkeypatch.setattr(approvals, "time", types.SimpleNamespace(time=lambda: NOW,
                                                                 sleep=time.sleep))


@pytest.fixture
def seeded(settings: Settings, frozen: None, memory_keyring: MemoryKeyring) -> Settings:
    seed(settings)
    memory_keyring.set_password("workbench", "openai", "sk-test-not-shown")
    return settings


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., WorkbenchApp]:
    """The app with a frozen clock, a fixed reviewer and catalog, cursors that do not blink."""

    def make(review: bool = False, frozen_clock: bool = True, **kwargs: Any) -> WorkbenchApp:
        clock = FrozenClock(NOW) if frozen_clock else None
        services = Services(settings, reviewer="dana", catalog=lambda: list(CATALOG),
                            now=(lambda: NOW) if frozen_clock else time.time)
        return WorkbenchApp(settings, review=review, clock=clock, services=services,
                            cursor_blink=False, **kwargs)

    return make


async def settle(pilot: Pilot, rounds: int = 60) -> None:
    """Wait until no worker is busy (a live run's own worker aside), never by sleeping long."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in app.workers if w.group != "live-run" and w.is_running]
        if not busy:
            break
        try:
            await app.workers.wait_for_complete(busy)
        except WorkerCancelled:
            continue
    await pilot.pause()


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 60.0,
                   what: str = "the condition") -> None:
    """Poll `condition` between UI turns (for runs in threads or other processes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
