"""Test helpers: a run context over a crew, with the events it emits collected in a list."""

from __future__ import annotations

from pathlib import Path

import yaml

from workbench.gateway.gateway import Gateway
from workbench.gateway.model_config import crew_profiles
from workbench.gateway.scripted import ScriptPlayer
from workbench.mesh.bus import EventBus
from workbench.mesh.context import RunContext
from workbench.mesh.events import Event
from workbench.spec.schema import CrewSpec
from workbench.spec.topology import resolve
from workbench.tools.base import ToolContext

ROOT = Path(__file__).resolve().parent.parent
CREWS = ROOT / "crews"


def load_spec(path: Path | str) -> CrewSpec:
    return CrewSpec.model_validate(yaml.safe_load(Path(path).read_text()))


def make_context(
    spec: CrewSpec,
    tmp_path: Path,
    task: str = "Decide and report",
    topology: str | None = None,
    **kwargs,
) -> tuple[RunContext, list[Event]]:
    events: list[Event] = []
    bus = EventBus("test-session")
    bus.subscribe(events.append)
    tool_ctx = ToolContext("test-session", tmp_path / "workspace", tmp_path / "outbox")
    tool_ctx.workspace.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        spec,
        resolve(spec, topology),
        task,
        bus,
        Gateway(ScriptPlayer(spec.script), crew_profiles(spec.models)),
        tool_ctx,
        **kwargs,
    )
    return ctx, events
