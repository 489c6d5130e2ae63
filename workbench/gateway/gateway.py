"""The gateway: the single way any agent reaches any model."""

from __future__ import annotations

import time
from collections.abc import Callable

from workbench.gateway.scripted import ScriptedModel, ScriptPlayer
from workbench.gateway.types import ModelRequest, ModelResponse, split_model


class Gateway:
    """Routes a request to the scripted model (in process) or to LiteLLM (real providers).

    Governance, events and totals wrap this in `mesh.context.RunContext.complete`; nothing
    else calls a model.
    """

    def __init__(self, player: ScriptPlayer | None = None) -> None:
        self.scripted = ScriptedModel(player or ScriptPlayer([]))
        self._litellm = None

    async def complete(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None = None
    ) -> ModelResponse:
        provider, _ = split_model(request.model)
        if provider == "scripted":
            started = time.perf_counter()
            response = self.scripted.respond(request)
            if on_delta and response.content:
                on_delta(response.content)
            response.latency_ms = (time.perf_counter() - started) * 1000
            return response
        if self._litellm is None:
            from workbench.gateway.litellm_provider import LiteLLMProvider

            self._litellm = LiteLLMProvider()
        return await self._litellm.complete(request, on_delta)
