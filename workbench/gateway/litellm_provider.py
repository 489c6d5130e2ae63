"""Real providers through LiteLLM, imported on the first real call (it costs seconds)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.credentials import KEYLESS, env_var, get_key
from workbench.gateway.types import ModelRequest, ModelResponse, ToolCall, Usage, split_model

_litellm: Any = None


def load_litellm() -> Any:
    """Import LiteLLM once, offline: its price map from the local copy, no callbacks home."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True
        _litellm = litellm
    return _litellm


def _parse_args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {"_raw": str(raw)}
    return value if isinstance(value, dict) else {"value": value}


def _cost(litellm: Any, response: Any, model: str) -> float | None:
    try:
        cost = litellm.completion_cost(completion_response=response, model=model)
    except Exception:
        return None
    return float(cost) if cost is not None else None


_HINTS = {
    "AuthenticationError": "check the key: `workbench keys set {provider}` or {env}",
    "RateLimitError": "the provider is rate-limiting; wait, lower the load or add a fallback",
    "NotFoundError": "check the model name and the api_base",
    "APIConnectionError": "the provider could not be reached; check api_base and the network",
    "Timeout": "the provider did not answer in time; raise the timeout or try again",
    "BadRequestError": "the provider refused the request; check the model's parameters",
    "ServiceUnavailableError": "the provider is unavailable; try again later or add a fallback",
    "InternalServerError": "the provider failed; try again later or add a fallback",
}


def provider_error(provider: str, exc: Exception) -> ProviderError:
    name = type(exc).__name__
    hint = _HINTS.get(name, "")
    hint = hint.format(provider=provider, env=env_var(provider))
    message = str(exc).splitlines()[0] if str(exc) else name
    return ProviderError(provider, f"{name}: {message[:300]}", hint)


class LiteLLMProvider:
    """Calls any LiteLLM model string; keys are handed over per call, never stored."""

    async def complete(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None = None
    ) -> ModelResponse:
        litellm = load_litellm()
        provider, _ = split_model(request.model)
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            **request.params,
        }
        if request.tools:
            kwargs["tools"] = request.tools
        if request.api_base:
            kwargs["api_base"] = request.api_base
        key = get_key(provider)
        if key:
            kwargs["api_key"] = key
        elif request.api_base or provider in KEYLESS:
            kwargs["api_key"] = "none"  # local OpenAI-compatible servers want some key
        started = time.perf_counter()
        try:
            if request.stream:
                return await self._stream(litellm, request, kwargs, on_delta, started)
            raw = await litellm.acompletion(**kwargs)
        except ProviderError:
            raise
        except Exception as exc:
            raise provider_error(provider, exc) from None
        return self._to_response(litellm, raw, request, started)

    async def _stream(self, litellm, request, kwargs, on_delta, started) -> ModelResponse:
        kwargs["stream"] = True
        kwargs.setdefault("stream_options", {"include_usage": True})
        chunks = []
        stream = await litellm.acompletion(**kwargs)
        async for chunk in stream:
            chunks.append(chunk)
            if on_delta and chunk.choices:
                delta = chunk.choices[0].delta
                text = getattr(delta, "content", None)
                if text:
                    on_delta(text)
        raw = litellm.stream_chunk_builder(chunks, messages=request.messages)
        if raw is None:
            raise ProviderError(split_model(request.model)[0], "the stream ended with no data")
        return self._to_response(litellm, raw, request, started)

    def _to_response(self, litellm, raw, request: ModelRequest, started: float) -> ModelResponse:
        provider, _ = split_model(request.model)
        choice = raw.choices[0]
        message = choice.message
        calls = [
            ToolCall(tc.id or f"call_{i}", tc.function.name, _parse_args(tc.function.arguments))
            for i, tc in enumerate(getattr(message, "tool_calls", None) or [])
        ]
        usage = getattr(raw, "usage", None)
        return ModelResponse(
            content=message.content or "",
            tool_calls=calls,
            usage=Usage(
                getattr(usage, "prompt_tokens", 0) or 0,
                getattr(usage, "completion_tokens", 0) or 0,
            ),
            cost_usd=_cost(litellm, raw, request.model),
            model=request.model,
            provider=provider,
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=choice.finish_reason or "stop",
        )
