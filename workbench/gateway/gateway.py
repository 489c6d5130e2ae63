"""The gateway: the single way any agent reaches any model."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.profiles import ModelProfiles, Route
from workbench.gateway.routing import Facts, PromptSizes, bare_facts
from workbench.gateway.scripted import ScriptedModel, ScriptPlayer
from workbench.gateway.types import (
    AllBlocked,
    Blocked,
    DeltaSink,
    ModelRequest,
    ModelResponse,
    Prepare,
)

_NO_PROFILES = ModelProfiles()


class Gateway:
    """Routes a request to the scripted model (in process) or to LiteLLM (real providers).

    Governance, events and totals wrap this in `mesh.context.RunContext.complete`; nothing
    else calls a model. `profiles` turns an alias in `ModelRequest.model` into the chain
    of models to try. Cancelling the awaiting task cancels the HTTP request under way.
    """

    #: The layer before any provider (mesh/replay.py): it notes what each call was sent,
    #: and may answer a fork's calls from its recording.
    exchanges: Any = None

    def __init__(self, player: ScriptPlayer | None = None,
                 profiles: ModelProfiles | None = None) -> None:
        self.scripted = ScriptedModel(player or ScriptPlayer([]))
        self.profiles = profiles
        self._litellm: Any = None
        #: `request.*` of each call, for routes and model_call policies.
        self.request_view = PromptSizes().view

    def routed(self, model: str) -> bool:
        """`model` is an alias that picks its model by rule."""
        return (self.profiles or _NO_PROFILES).routed(model)

    def route(self, request: ModelRequest, facts: Facts | None = None) -> Route:
        """The models a request will try, in order (its alias resolved, fallbacks included).

        A routed alias picks its rule by `facts()` (what policies see, with `request`), or by
        the request alone without them; `routing.NoRoute` when no rule holds.
        """
        profiles = self.profiles or _NO_PROFILES
        if facts is None and profiles.routed(request.model):
            return profiles.choose(request.model, request.api_base,
                                   lambda: bare_facts(request))
        if facts is None:
            return profiles.resolve(request.model, request.api_base)
        return profiles.choose(request.model, request.api_base, facts)

    async def complete(
        self, request: ModelRequest, on_delta: DeltaSink | None = None,
        prepare: Prepare | None = None, route: Route | None = None,
    ) -> ModelResponse:
        """Answer `request` from the first target of its route that is allowed and answers.

        `prepare(target)` is asked before every attempt on every target (fallbacks too): it
        gives the messages that target may see, or raises `Blocked` and the target is
        skipped. When every target is blocked, `AllBlocked` is raised and nothing was sent.
        `route` is the chain `self.route` chose for this call (chosen here when not given).
        """
        route = route or self.route(request)
        if self.exchanges is not None:
            answer, prepare = self.exchanges.before(self, request, route, on_delta, prepare)
            if answer is not None:
                return answer
        blocked: list[tuple[str, str]] = []
        while route.primary.provider == "scripted":
            # the scripted model never fails, so only a block moves on to its fallbacks (a
            # scripted fallback answers here too: LiteLLM does not know it)
            try:
                messages = prepare(route.primary) if prepare else request.messages
            except Blocked as exc:
                blocked.append((route.primary.label, exc.reason))
                if len(route.targets) == 1:
                    raise AllBlocked(blocked) from None
                route = Route(route.name, route.targets[1:], route.chosen_by)
            else:
                response = self._scripted(dataclasses.replace(
                    request, model=route.primary.model, messages=messages), on_delta)
                if blocked:
                    response.fallback_from = blocked[0][0]
                    response.blocked = tuple(f"{label}: {why}" for label, why in blocked)
                return response
        if self._litellm is None:
            from workbench.gateway.litellm_provider import LiteLLMProvider

            self._litellm = LiteLLMProvider()
        try:
            return await self._litellm.complete(request, on_delta, route, prepare, blocked)
        except ProviderError as exc:
            if route.chosen_by:
                exc.route = route.chosen_by  # type: ignore[attr-defined]  # for the record
            raise

    def _scripted(self, request: ModelRequest,
                  on_delta: DeltaSink | None) -> ModelResponse:
        started = time.perf_counter()
        response = self.scripted.respond(request)
        if on_delta and response.content:
            on_delta(response.content)
        response.latency_ms = (time.perf_counter() - started) * 1000
        return response
