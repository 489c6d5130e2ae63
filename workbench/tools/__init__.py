"""Built-in tools and the tool registry."""

from workbench.tools.base import Tool, ToolContext, ToolError
from workbench.tools.registry import ToolRegistry, default_registry

__all__ = ["Tool", "ToolContext", "ToolError", "ToolRegistry", "default_registry"]
