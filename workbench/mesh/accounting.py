"""What a model call leaves in the run's record: the payload of its `model.call` event, with
digests of what was sent and answered instead of the text (the audit proves, keeps nothing)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest, ModelResponse
from workbench.mesh.history import PromptDigests


def answered_call(request: ModelRequest, response: ModelResponse, prompts: PromptDigests,
                  decisions: list[dict[str, Any]] | None = None,
                  chosen_by: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """The `model.call` payload of a call that got an answer (`request.messages`: what the
    answering target was sent; `decisions`: how each target of its chain was judged)."""
    data: dict[str, Any] = {
        "model": response.model or request.model,
        "provider": response.provider,
        "purpose": request.purpose,
        "prompt_tokens": response.usage.prompt_tokens,
        "completion_tokens": response.usage.completion_tokens,
        "cost_usd": response.cost_usd,
        "latency_ms": round(response.latency_ms, 3),
        "tool_calls": [c.name for c in response.tool_calls],
        # each agent's prompt grows by a message or two a call: only what is new is hashed
        "prompt_sha256": prompts.digest((request.agent, request.purpose), request.messages),
        "response_sha256": hashlib.sha256(
            (response.content + json.dumps([c.arguments for c in response.tool_calls],
                                           default=str)).encode()
        ).hexdigest(),
    }
    if response.attempts != 1:
        data["attempts"] = response.attempts
        data["retried"] = list(response.retried)
    if response.fallback_from:
        data["fallback_from"] = response.fallback_from
    if response.blocked:
        data["blocked"] = list(response.blocked)
    if response.replayed:
        data["replayed"] = response.replayed  # no provider was asked
    if decisions and (len(decisions) > 1 or decisions[0]["effect"] != "allow"
                      or decisions[0]["rule_ids"]):
        # which target was judged how (primary and fallbacks): the audit shows why this
        # model answered and what it was allowed to see
        data["decisions"] = decisions
    if response.model and response.model != request.model:
        data["requested"] = request.model
    if chosen_by:
        data["route"] = list(chosen_by)  # which rule of a routed alias chose the model
    return data


def failed_call(request: ModelRequest, exc: ProviderError, provider: str,
                decisions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The `model.call` payload of a call its provider still failed after the retries and
    fallbacks; `provider`: the requested model's, when the error names none."""
    # a provider error names its model, attempts and the targets tried when it knows them
    data = {
        "model": getattr(exc, "model", None) or request.model,
        "provider": exc.provider or provider,
        "purpose": request.purpose, "ok": False, "error": str(exc),
        "attempts": getattr(exc, "attempts", 1), "retried": list(getattr(exc, "tried", ())),
        "decisions": decisions or [],
    }
    if getattr(exc, "route", None):
        data["route"] = list(exc.route)  # the rules of a routed alias that chose the chain
    return data
