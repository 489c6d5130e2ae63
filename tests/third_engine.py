"""A third engine installed the way any engine package is: a distribution on the path with a
`workbench.engines` entry point to its EngineInfo, its engine module imported only to run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench import engines

META = '''\
from workbench.engines.base import EngineInfo

ENGINE = EngineInfo(
    name="relay",
    topologies=frozenset({"network", "star"}),
    description="Passes the task from agent to agent",
    engine="relayengine.engine:RelayEngine",
)
'''

#: A real engine on the run context: each agent says its line to its recipients, in order.
ENGINE = '''\
from relayengine.meta import ENGINE


class RelayEngine:
    name = ENGINE.name
    topologies = ENGINE.topologies

    async def run(self, ctx):
        text = ctx.task
        for agent in ctx.topology.agents:
            ctx.check_running()
            text = f"{agent} relays: {ctx.task}"
            ctx.message(agent, text)
        return text
'''


def install(site: Path, broken: bool = False) -> Path:
    """Write the `relayengine` distribution into `site` (a folder to put on sys.path)."""
    package = site / "relayengine"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "meta.py").write_text(META)
    (package / "engine.py").write_text(ENGINE)
    info = site / "relayengine-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: relayengine\nVersion: 0.1\n")
    points = "[workbench.engines]\nrelay = relayengine.meta:ENGINE\n"
    if broken:
        points += "warp = relayengine.missing:ENGINE\n"
    (info / "entry_points.txt").write_text(points)
    return site


@pytest.fixture
def relay_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The third engine on sys.path (and on PYTHONPATH, for subprocesses) for one test."""
    site = install(tmp_path / "site", broken=True)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH")) if p))
    engines.refresh()
    try:
        yield site
    finally:
        engines.refresh()
        for name in [m for m in sys.modules if m == "relayengine" or m.startswith("relayengine.")]:
            del sys.modules[name]
