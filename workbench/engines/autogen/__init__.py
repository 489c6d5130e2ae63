"""AutoGen adapter: model client over the gateway, governed tools, teams per topology."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engines.autogen.engine import AutoGenEngine

__all__ = ["AutoGenEngine"]


def __getattr__(name: str) -> Any:
    # the registry reads meta.py through this package: AutoGen loads only with the engine
    if name == "AutoGenEngine":
        from workbench.engines.autogen.engine import AutoGenEngine

        return AutoGenEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
