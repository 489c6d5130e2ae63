"""Real providers through LiteLLM, imported on the first real call (it costs seconds).

Retries and fallbacks are ours, not LiteLLM's (`num_retries=0`, `max_retries=0`): each
attempt is counted and classified, Retry-After is honoured, every attempt has a deadline
that also covers a stream that stops halfway, and cancelling the caller cancels the
in-flight HTTP request. LiteLLM's Router would do much of this, but it keeps keys in its
model list, retries invisibly and builds global cooldown state; one loop over
`acompletion` keeps keys per call and every decision observable and testable.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.credentials import KEYLESS, env_var, get_key, scrub
from workbench.gateway.profiles import NO_CREDENTIAL, Route, Target
from workbench.gateway.retry import Failure, Malformed, StreamCut, backoff_delay, classify
from workbench.gateway.types import (
    AllBlocked,
    Blocked,
    DeltaSink,
    ModelRequest,
    ModelResponse,
    Prepare,
    ToolCall,
    Usage,
    split_model,
)

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
        _no_hidden_resend()
        _litellm = litellm
    return _litellm


def _no_hidden_resend() -> None:
    """LiteLLM's own HTTP handler (local servers, Ollama, vLLM and others) sends a request a
    second time, on a new connection, when the first connection fails or drops: a provider
    that took the prompt and dropped the line got it twice, under one counted, judged
    attempt, and `num_retries: 0` was not honoured. The failure is handed back instead, so
    the retry loop below is the only one that sends again, and counts and judges it."""
    try:
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler
    except ImportError:
        return
    if not hasattr(AsyncHTTPHandler, "single_connection_post_request"):
        return

    async def hand_back_the_failure(self: Any, *args: Any, **kwargs: Any) -> Any:
        # only ever called while handling the first connection's failure: raise that one
        failure = sys.exc_info()[1]
        if failure is None:
            raise ConnectionError("the connection to the provider failed")
        raise failure

    AsyncHTTPHandler.single_connection_post_request = hand_back_the_failure


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
    "PermissionDeniedError": "the key may not use this model: check it and the account",
    "RateLimitError": "the provider is rate-limiting; wait, lower the load or add a fallback",
    "NotFoundError": "check the model name and the api_base",
    "APIConnectionError": "the provider could not be reached; check api_base and the network",
    "Timeout": "the provider did not answer in time; raise the profile's timeout or add a "
               "fallback",
    "BadRequestError": "the provider refused the request; check the model's parameters",
    "ContextWindowExceededError": "the conversation is too long for this model; use a model "
                                  "with a larger context or fewer turns",
    "ServiceUnavailableError": "the provider is unavailable; try again later or add a fallback",
    "InternalServerError": "the provider failed; try again later or add a fallback",
    "StreamCut": "the connection dropped mid-answer; try again or add a fallback",
    "Malformed": "the answer was not a chat completion; check that api_base points at an "
                 "OpenAI-compatible /v1 endpoint",
}

_PREFIXES = (
    re.compile(r"^(litellm\.)?\w+(Error|Exception|Timeout):\s*"),
    re.compile(r"^\w+(Error|Exception)\s+-\s+"),
)


def _message(exc: BaseException, secrets: list[str]) -> str:
    """The exception's first line without LiteLLM's class-name prefixes, keys scrubbed first
    (before any cut, so no part of a key can survive truncation)."""
    text = scrub(str(exc), secrets).strip()
    text = text.splitlines()[0] if text else ""
    for _ in range(3):
        for prefix in _PREFIXES:
            text = prefix.sub("", text, count=1)
    return text[:300]


def _hint(kind: str, target: Target) -> str:
    provider = target.provider
    if kind == "APIConnectionError" and target.api_base:
        return f"nothing answered at {target.api_base}: is the server running?"
    hint = _HINTS.get(kind, "").format(provider=provider, env=env_var(provider))
    if kind in ("AuthenticationError", "NotFoundError") and "/" not in target.model:
        hint += f"; if {target.model!r} is meant to be an alias, define it under `models:`"
    return hint


class CallFailed(ProviderError):
    """Every attempt on every model of the chain failed; says how often and on what."""

    def __init__(self, provider: str, message: str, hint: str, attempts: int,
                 tried: list[str], model: str) -> None:
        super().__init__(provider, message, hint)
        self.attempts = attempts
        self.tried = tuple(tried)
        self.model = model


class LiteLLMProvider:
    """Calls any LiteLLM model string; keys are handed over per call, never stored."""

    def __init__(self, sleep: Callable[[float], Awaitable[Any]] | None = None,
                 rng: random.Random | None = None) -> None:
        self._sleep = sleep or asyncio.sleep
        self._rng = rng

    async def complete(
        self,
        request: ModelRequest,
        on_delta: DeltaSink | None = None,
        route: Route | None = None,
        prepare: Prepare | None = None,
        blocked: list[tuple[str, str]] | None = None,
    ) -> ModelResponse:
        """Try the route's models in order, each with its retries; the first answer wins.

        `prepare(target)` judges every attempt before anything is sent (see `Prepare`); a
        target it blocks is skipped. `blocked` lists targets already refused by the caller.
        """
        litellm = load_litellm()
        if route is None:
            route = Route(request.model, (Target(request.model, request.model, request.api_base),))
        blocked = list(blocked or [])
        first_label = blocked[0][0] if blocked else route.primary.label
        tried: list[str] = [f"{label}: blocked by policy: {why}" for label, why in blocked]
        secrets: list[str] = []
        attempts = 0
        last: Failure | None = None
        last_target = route.primary
        # what this attempt has streamed: a retry or a fallback starts the answer over
        streamed = [False]
        sink: DeltaSink | None = None
        if on_delta is not None:
            def sink(text: str, restart: bool = False) -> None:
                streamed[0] = True
                on_delta(text, restart)

        for target in route.targets:
            key: str | None = None
            for attempt in range(target.num_retries + 1):
                try:
                    messages = prepare(target) if prepare else request.messages
                except Blocked as exc:
                    # governance refused this target: it is sent nothing, the chain moves on
                    blocked.append((target.label, exc.reason))
                    tried.append(f"{target.label}: blocked by policy: {exc.reason}")
                    break
                if attempt == 0:
                    key = None if target.key_name == NO_CREDENTIAL else get_key(target.key_name)
                    if key:
                        secrets.append(key)
                attempts += 1
                if on_delta is not None and streamed[0]:
                    on_delta("", restart=True)
                    streamed[0] = False
                try:
                    response = await asyncio.wait_for(
                        self._once(litellm, request, target, key, sink, messages),
                        target.timeout,
                    )
                except TimeoutError:
                    failure = Failure("Timeout", True, f"no answer within {target.timeout:g} s")
                except Exception as exc:
                    failure = classify(exc, _message(exc, secrets))
                else:
                    response.attempts = attempts
                    if target.label != first_label:
                        response.fallback_from = first_label
                    if tried:
                        response.retried = tuple(tried)
                    if blocked:
                        response.blocked = tuple(f"{label}: {why}" for label, why in blocked)
                    return response
                tried.append(f"{target.label}: {failure.describe()}")
                last, last_target = failure, target
                if not failure.retryable or attempt >= target.num_retries:
                    break
                await self._sleep(backoff_delay(
                    attempt, target.backoff, target.max_backoff, failure.retry_after,
                    target.max_retry_after, self._rng,
                ))
        if last is None:
            raise AllBlocked(blocked)
        raise self._give_up(route, last, last_target, attempts, tried, secrets,
                            blocked) from None

    def _give_up(self, route: Route, last: Failure, target: Target, attempts: int,
                 tried: list[str], secrets: list[str],
                 blocked: list[tuple[str, str]] | None = None) -> CallFailed:
        labels = ", ".join(t.label for t in route.targets)
        where = f"{route.name} ({labels})" if len(route.targets) > 1 else target.label
        plural = "s" if attempts != 1 else ""
        text = f"{last.describe()}; gave up after {attempts} attempt{plural} on {where}"
        if blocked:
            text += f"; not tried (blocked by policy): {', '.join(b[0] for b in blocked)}"
        message = scrub(text, secrets)
        return CallFailed(target.provider, message, _hint(last.kind, target), attempts,
                          [scrub(t, secrets) for t in tried], target.model)

    async def _once(self, litellm: Any, request: ModelRequest, target: Target,
                    key: str | None, on_delta: DeltaSink | None,
                    messages: list[dict[str, Any]] | None = None) -> ModelResponse:
        kwargs: dict[str, Any] = {
            "model": target.model,
            "messages": request.messages if messages is None else messages,
            **request.params,
            **target.params,
            "timeout": target.timeout,
            # the loop in complete() is the only one that retries, so each attempt is seen
            "num_retries": 0,
            "max_retries": 0,
        }
        if request.tools:
            kwargs["tools"] = request.tools
        if target.api_base:
            kwargs["api_base"] = target.api_base
        if key:
            kwargs["api_key"] = key
        elif target.api_base or target.provider in KEYLESS or target.credential:
            # local servers want some key; and a profile that named its credential must not
            # have LiteLLM pick the provider's environment variable behind its back
            kwargs["api_key"] = "none"
        started = time.perf_counter()
        if request.stream:
            return await self._stream(litellm, request, target, kwargs, on_delta, started)
        raw = await litellm.acompletion(**kwargs)
        return self._to_response(litellm, raw, request, target, started)

    async def _stream(self, litellm: Any, request: ModelRequest, target: Target,
                      kwargs: dict[str, Any], on_delta: DeltaSink | None,
                      started: float) -> ModelResponse:
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
        # LiteLLM closes a stream that just stops with a made-up "stop"; only a finish
        # reason from the provider itself proves the answer is whole
        if getattr(stream, "received_finish_reason", "") is None:
            raise StreamCut("the stream ended before the provider finished its answer")
        raw = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        if raw is None:
            raise StreamCut("the stream ended with no data")
        return self._to_response(litellm, raw, request, target, started)

    def _to_response(self, litellm: Any, raw: Any, request: ModelRequest, target: Target,
                     started: float) -> ModelResponse:
        try:
            choice = raw.choices[0]
            message = choice.message
            calls = [
                ToolCall(tc.id or f"call_{i}", tc.function.name,
                         _parse_args(tc.function.arguments))
                for i, tc in enumerate(getattr(message, "tool_calls", None) or [])
            ]
            content = message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise Malformed(f"no message in the answer ({type(exc).__name__})") from None
        usage = getattr(raw, "usage", None)
        return ModelResponse(
            content=content,
            tool_calls=calls,
            usage=Usage(
                getattr(usage, "prompt_tokens", 0) or 0,
                getattr(usage, "completion_tokens", 0) or 0,
            ),
            cost_usd=_cost(litellm, raw, target.model),
            model=target.model,
            provider=split_model(target.model)[0],
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=choice.finish_reason or "stop",
        )
