"""Every model call: LiteLLM, credentials, the scripted offline model, usage and cost."""

from workbench.gateway.types import ModelRequest, ModelResponse, ToolCall, Usage

__all__ = ["ModelRequest", "ModelResponse", "ToolCall", "Usage"]
