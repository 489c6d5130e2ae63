"""Engine adapters: one protocol, one folder per framework, found by name (entry points)."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from workbench.engines.base import Engine
from workbench.errors import UserInputError

BUILTIN = {
    "autogen": "workbench.engines.autogen:AutoGenEngine",
    "crewai": "workbench.engines.crewai:CrewAIEngine",
}


def engine_names() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group="workbench.engines"))
    return sorted(names)


def load_engine(name: str) -> Engine:
    """Import the adapter for `name` (its framework import happens here, not at start-up)."""
    target = BUILTIN.get(name)
    if target is None:
        found = [ep for ep in entry_points(group="workbench.engines") if ep.name == name]
        if not found:
            raise UserInputError(
                f"unknown engine {name!r}; available: {', '.join(engine_names())}"
            )
        return found[0].load()()
    module_name, _, attr = target.partition(":")
    return getattr(import_module(module_name), attr)()
