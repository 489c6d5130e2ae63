"""The gateway: the single way any agent reaches any model."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from workbench.gateway.profiles import ModelProfiles, Route
from workbench.gateway.scripted import ScriptedModel, ScriptPlayer
from workbench.gateway.types import DeltaSink, ModelRequest, ModelResponse

_NO_PROFILES = ModelProfiles()


class Gateway:
    """Routes a request to the scripted model (in process) or to LiteLLM (real providers).

    Governance, events and totals wrap this in `mesh.context.RunContext.complete`; nothing
    else calls a model. `profiles` turns an alias in `ModelRequest.model` into the chain
    of models to try. Cancelling the awaiting task cancels the HTTP request under way.
    """

    def __init__(self, player: ScriptPlayer | None = None,
                 profiles: ModelProfiles | None = None) -> None:
        self.scripted = ScriptedModel(player or ScriptPlayer([]))
        self.profiles = profiles
        self._litellm: Any = None

    def route(self, request: ModelRequest) -> Route:
        """The models a request will try, in order (its alias resolved, fallbacks included)."""
        return (self.profiles or _NO_PROFILES).resolve(request.model, request.api_base)

    async def complete(
        self, request: ModelRequest, on_delta: DeltaSink | None = None
    ) -> ModelResponse:
        if request.model.startswith("scripted/"):
            return self._scripted(request, on_delta)
        route = self.route(request)
        if route.primary.provider == "scripted":
            return self._scripted(dataclasses.replace(request, model=route.primary.model),
                                  on_delta)
        if self._litellm is None:
            from workbench.gateway.litellm_provider import LiteLLMProvider

            self._litellm = LiteLLMProvider()
        return await self._litellm.complete(request, on_delta, route)

    def _scripted(self, request: ModelRequest,
                  on_delta: DeltaSink | None) -> ModelResponse:
        started = time.perf_counter()
        response = self.scripted.respond(request)
        if on_delta and response.content:
            on_delta(response.content)
        response.latency_ms = (time.perf_counter() - started) * 1000
        return response
