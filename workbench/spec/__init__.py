"""Engine-neutral crew spec: schema, YAML loading, validation."""

from __future__ import annotations

from typing import Any

__all__ = ["AgentSpec", "CrewSpec", "ScriptEntry", "TaskSpec", "TopologySpec"]


def __getattr__(name: str) -> Any:
    # the schema needs pydantic; light modules (spec.shape) must not pull it in with the package
    if name in __all__:
        from workbench.spec import schema

        return getattr(schema, name)
    raise AttributeError(f"module 'workbench.spec' has no attribute {name!r}")
