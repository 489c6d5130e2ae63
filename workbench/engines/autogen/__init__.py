"""AutoGen adapter: model client over the gateway, governed tools, teams per topology."""

from workbench.engines.autogen.engine import AutoGenEngine

__all__ = ["AutoGenEngine"]
