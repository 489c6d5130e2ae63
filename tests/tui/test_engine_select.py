"""Compose offers the engines the registry holds: a third engine installed as a package is
in the engine picker, with only its own topologies, and a crew on it validates."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select

from tests.core.test_engine_registry import CREW
from tests.third_engine import relay_engine  # noqa: F401  (the fixture)
from tests.tui.test_journeys import open_crew, status_text


async def test_compose_offers_an_installed_third_engine(
    settings, make_app, relay_engine: Path,  # noqa: F811
) -> None:
    settings.crews_dir.mkdir(parents=True, exist_ok=True)
    (settings.crews_dir / "tiny.yaml").write_text(CREW)
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "tiny")
        screen = app.screen
        engine = screen.query_one("#crew-engine", Select)
        topology = screen.query_one("#crew-topology", Select)
        assert [value for _, value in engine._options] == ["autogen", "crewai", "relay"]
        assert engine.value == "relay"
        assert [value for _, value in topology._options] == ["star", "network"]
        assert "✔ valid" in status_text(app)
        assert screen.data["engine"] == "relay"  # showing the engines edited nothing
