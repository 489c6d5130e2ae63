"""Fault injection on the real provider path: a loopback OpenAI-compatible server that
rate-limits, fails, hangs, garbles, cuts streams or is not there at all."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import MemoryKeyring
from tests.fakeprovider import FakeProvider, Reply
from tests.gateway.conftest import FAST, profiles
from workbench.errors import ProviderError
from workbench.gateway.gateway import Gateway
from workbench.gateway.litellm_provider import LiteLLMProvider
from workbench.gateway.types import ModelRequest, ModelResponse

ASK = [{"role": "user", "content": "What is six times seven?"}]

#: Deadlines here are short: LiteLLM's first-call imports must not count against them.
pytestmark = pytest.mark.usefixtures("warm_litellm")


class Plan:
    """Replies in order (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> Reply:
        with self.lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class Sleeps:
    """The provider's sleep between retries, recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _gateway(**models: dict[str, Any]) -> Gateway:
    return Gateway(profiles=profiles(models))


def _alias(api_base: str, **settings: Any) -> dict[str, Any]:
    return {"model": "openai/fake-model", "api_base": api_base, **FAST, **settings}


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _ask(gw: Gateway, model: str = "main", stream: bool = False,
               on_delta: Callable[[str], None] | None = None, **kw: Any):
    return await gw.complete(ModelRequest("analyst", model, list(ASK), stream=stream, **kw),
                             on_delta)


async def _ask_with_sleeps(sleeps: Sleeps, **alias: Any) -> ModelResponse:
    """One call through the real provider path, its waits between retries recorded."""
    route = profiles({"main": alias}).resolve("main")
    return await LiteLLMProvider(sleep=sleeps).complete(
        ModelRequest("analyst", "main", list(ASK)), route=route)


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    plan = Plan(Reply(status=429, headers={"Retry-After": "1"}), Reply(content="42"))
    sleeps = Sleeps()
    with FakeProvider(responder=plan) as fp:
        response = await _ask_with_sleeps(sleeps, **_alias(fp.api_base, num_retries=2))
    assert response.content == "42" and response.attempts == 2
    assert response.retried == ("main: RateLimitError 429: fake error 429",)
    assert sleeps.waits == [1.0]  # the provider's Retry-After, not the 0.01 s backoff


async def test_retry_after_beyond_the_cap_waits_only_the_cap() -> None:
    plan = Plan(Reply(status=429, headers={"Retry-After": "120"}), Reply(content="42"))
    sleeps = Sleeps()
    with FakeProvider(responder=plan) as fp:
        response = await _ask_with_sleeps(sleeps, **_alias(fp.api_base, max_retry_after=0.2))
    assert response.content == "42" and response.attempts == 2
    assert sleeps.waits == [0.2]


async def test_500_is_retried() -> None:
    plan = Plan(Reply(status=500), Reply(status=502), Reply(content="42"))
    with FakeProvider(responder=plan) as fp:
        response = await _ask(_gateway(main=_alias(fp.api_base, num_retries=3)))
    assert response.content == "42" and response.attempts == 3 and len(fp.requests) == 3


async def test_a_hanging_provider_times_out_and_is_retried() -> None:
    plan = Plan(Reply(content="too late", delay_s=3), Reply(content="42"))
    with FakeProvider(responder=plan) as fp:
        response = await _ask(_gateway(main=_alias(fp.api_base, timeout=0.3)))
    # "too late" would be the answer had the call waited for the hanging reply
    assert response.content == "42" and response.attempts == 2
    assert response.retried == ("main: Timeout: no answer within 0.3 s",)


async def test_a_hanging_primary_falls_back_to_a_second_provider() -> None:
    with FakeProvider(responder=Plan(Reply(content="late", delay_s=3))) as slow, \
            FakeProvider(responder=Plan(Reply(content="from the backup"))) as backup:
        gw = _gateway(main=_alias(slow.api_base, timeout=0.3, num_retries=1,
                                          fallbacks=["spare"]),
                      spare=_alias(backup.api_base))
        response = await _ask(gw)
    assert response.content == "from the backup"
    assert response.fallback_from == "main" and response.attempts == 3
    assert len(slow.requests) == 2 and len(backup.requests) == 1


async def test_malformed_json_is_retried() -> None:
    plan = Plan(Reply(fault="malformed"), Reply(content="42"))
    with FakeProvider(responder=plan) as fp:
        response = await _ask(_gateway(main=_alias(fp.api_base)))
    assert response.content == "42" and response.retried[0].startswith("main: Malformed")


async def test_a_stream_cut_midway_is_retried() -> None:
    words = "the answer is forty two"
    plan = Plan(Reply(content=words, fault="cut"), Reply(content=words))
    shown: list[str] = []

    def on_delta(text: str, restart: bool = False) -> None:
        if restart:
            shown.clear()
        shown.append(text)

    with FakeProvider(responder=plan) as fp:
        response = await _ask(_gateway(main=_alias(fp.api_base)), stream=True,
                              on_delta=on_delta)
    assert response.content == words and response.attempts == 2
    # what was streamed before the cut is withdrawn: the screen shows the answer once
    assert "".join(shown) == words
    assert response.retried[0].startswith("main: StreamCut")
    assert all(r.get("stream") for r in fp.requests)


async def test_a_cut_stream_with_no_retries_left_falls_back() -> None:
    with FakeProvider(responder=Plan(Reply(content="a b c d e f", fault="cut"))) as cut, \
            FakeProvider(responder=Plan(Reply(content="whole answer"))) as backup:
        gw = _gateway(main=_alias(cut.api_base, num_retries=0, fallbacks=["spare"]),
                      spare=_alias(backup.api_base))
        response = await _ask(gw, stream=True)
    assert response.content == "whole answer" and response.fallback_from == "main"


async def test_connection_refused_gives_a_clear_provider_error() -> None:
    base = f"http://127.0.0.1:{_unused_port()}/v1"
    gw = _gateway(main=_alias(base, num_retries=1))
    with pytest.raises(ProviderError) as info:
        await _ask(gw)
    text = str(info.value)
    assert text.startswith("provider openai: APIConnectionError")
    assert "gave up after 2 attempts on main" in text
    assert f"nothing answered at {base}: is the server running?" in text
    assert info.value.attempts == 2 and len(info.value.tried) == 2


async def test_connection_refused_falls_back_to_a_running_server() -> None:
    base = f"http://127.0.0.1:{_unused_port()}/v1"
    with FakeProvider(responder=Plan(Reply(content="42"))) as backup:
        gw = _gateway(main=_alias(base, fallbacks=["spare"]),
                      spare=_alias(backup.api_base))
        response = await _ask(gw)
    assert response.content == "42" and response.attempts == 4  # 3 on main, 1 on spare


async def test_an_auth_error_is_not_retried_but_names_the_fix() -> None:
    with FakeProvider(responder=Plan(Reply(status=401))) as fp:
        gw = _gateway(main=_alias(fp.api_base, num_retries=3))
        with pytest.raises(ProviderError) as info:
            await _ask(gw)
    assert len(fp.requests) == 1
    assert "AuthenticationError 401" in str(info.value)
    assert "workbench keys set openai" in str(info.value)


async def test_a_key_the_provider_echoes_is_scrubbed_from_the_error(
        memory_keyring: MemoryKeyring) -> None:
    key = "sk-proj-abcdefghijklmnop1234"
    memory_keyring.set_password("workbench", "openai", key)
    reply = Reply(status=401, message=f"Incorrect API key provided: {key}")
    with FakeProvider(responder=Plan(reply)) as fp:
        with pytest.raises(ProviderError) as info:
            await _ask(_gateway(main=_alias(fp.api_base)))
    assert fp.headers[0]["authorization"] == f"Bearer {key}"  # the key was sent, and echoed
    text = str(info.value)
    assert "AuthenticationError 401: Incorrect API key provided:" in text
    assert key not in text and "workbench keys set openai" in text
    assert not any(key in tried for tried in info.value.tried)


async def test_every_model_of_the_chain_failing_is_one_provider_error() -> None:
    with FakeProvider(responder=Plan(Reply(status=503))) as a, \
            FakeProvider(responder=Plan(Reply(status=500))) as b:
        gw = _gateway(main=_alias(a.api_base, num_retries=1, fallbacks=["spare"]),
                      spare={**_alias(b.api_base, num_retries=1), "model": "openai/other"})
        with pytest.raises(ProviderError) as info:
            await _ask(gw)
    assert "gave up after 4 attempts on main (main, spare)" in str(info.value)
    assert info.value.model == "openai/other" and len(info.value.tried) == 4


async def test_a_plain_model_string_with_api_base_uses_the_defaults() -> None:
    plan = Plan(Reply(status=500), Reply(content="42"))
    with FakeProvider(responder=plan) as fp:
        gw = Gateway()
        gw_request = ModelRequest("analyst", "openai/plain", list(ASK), api_base=fp.api_base)
        response = await gw.complete(gw_request)
    assert response.content == "42" and response.attempts == 2
    assert fp.requests[0]["model"] == "plain"


async def test_tools_and_profile_params_reach_the_provider() -> None:
    tool = {"type": "function", "function": {
        "name": "calculator", "description": "Evaluate arithmetic",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}}
    reply = Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "6*7"}}])
    with FakeProvider(responder=Plan(reply)) as fp:
        gw = _gateway(main=_alias(fp.api_base, temperature=0.3, max_tokens=99))
        response = await _ask(gw, tools=[tool])
    assert response.tool_calls[0].name == "calculator"
    assert response.tool_calls[0].arguments == {"expression": "6*7"}
    sent = fp.requests[0]
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 99
    assert sent["tools"][0]["function"]["name"] == "calculator"


async def test_cancelling_the_caller_stops_the_call_at_once() -> None:
    release = threading.Event()

    def never_answers(payload: dict[str, Any]) -> Reply:
        release.wait(120)  # the reply comes only after the test is over
        return Reply(content="late")

    with FakeProvider(responder=never_answers) as fp:
        try:
            gw = _gateway(main=_alias(fp.api_base, timeout=120))
            task = asyncio.ensure_future(_ask(gw))
            while not fp.requests:
                await asyncio.sleep(0.02)
            task.cancel()
            # a cancel that waited for the HTTP call would wait for a reply that never
            # comes: the generous deadline only turns that hang into a failure
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
            assert len(fp.requests) == 1  # no retry after a cancel
        finally:
            release.set()
