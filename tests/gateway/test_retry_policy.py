"""The retry policy on its own: what is retried, Retry-After, backoff bounds, key scrubbing."""

from __future__ import annotations

import json
import random
import time
from email.utils import formatdate

import pytest

from workbench.gateway.credentials import scrub
from workbench.gateway.retry import Malformed, StreamCut, backoff_delay, classify, retry_after


class StatusError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None, text: str = "") -> None:
        super().__init__(text or f"status {status}")
        self.status_code = status
        self.litellm_response_headers = headers or {}


class AuthenticationError(StatusError):
    pass


def _raised_from(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


def _named(name: str) -> Exception:
    """An exception of an HTTP library's type name (httpx's, say) without importing it."""
    return type(name, (Exception,), {})("boom")


@pytest.mark.parametrize(
    ("exc", "retryable", "kind"),
    [
        (StatusError(429), True, "RateLimitError"),
        (StatusError(500), True, "StatusError"),
        (StatusError(503), True, "StatusError"),
        (StatusError(408), True, "StatusError"),
        (AuthenticationError(401), False, "AuthenticationError"),
        (StatusError(400), False, "StatusError"),
        (TimeoutError(), True, "Timeout"),
        (StreamCut("cut"), True, "StreamCut"),
        (Malformed("junk"), True, "Malformed"),
        # LiteLLM's own error, raised from what really happened (the shapes it raises)
        (_raised_from(StatusError(500, text="Connection error."),
                      ConnectionRefusedError(111, "refused")), True, "APIConnectionError"),
        (_raised_from(StatusError(500), _named("ConnectError")), True, "APIConnectionError"),
        (_raised_from(StatusError(500), _named("RemoteProtocolError")), True,
         "APIConnectionError"),
        (_raised_from(StatusError(500, text="Expecting value"),
                      json.JSONDecodeError("Expecting value", "junk", 0)), True, "Malformed"),
        # the words alone mean nothing: a 400 whose text mentions a connection is a 400
        (StatusError(400, text="Connection error: expecting value"), False, "StatusError"),
    ],
)
def test_classify(exc: Exception, retryable: bool, kind: str) -> None:
    failure = classify(exc, str(exc))
    assert (failure.retryable, failure.kind) == (retryable, kind)


def test_retry_after_in_seconds_milliseconds_and_dates() -> None:
    assert retry_after(StatusError(429, {"retry-after": "3"})) == 3
    assert retry_after(StatusError(429, {"retry-after-ms": "250"})) == 0.25
    now = time.time()
    date = formatdate(now + 20, usegmt=True)
    assert 18 <= retry_after(StatusError(429, {"retry-after": date}), now=now) <= 21
    assert retry_after(StatusError(429, {"retry-after": "soon"})) is None
    assert retry_after(StatusError(429)) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.5, 4.0, rng=rng) for n in range(6)]
    for n, delay in enumerate(delays):
        step = min(4.0, 0.5 * 2 ** n)
        assert step / 2 <= delay <= step
    assert backoff_delay(0, 0.5, 4.0, after=2.0) == 2.0
    assert backoff_delay(0, 0.5, 4.0, after=600.0, max_after=30.0) == 30.0


def test_a_key_in_error_text_is_scrubbed() -> None:
    key = "sk-proj-abcdefghijklmnop1234"
    text = f"Incorrect API key provided: {key}. Authorization: Bearer {key}"
    assert key not in scrub(text, [key])
    assert "sk-proj" not in scrub("Authorization: Bearer sk-proj-zzzzzzzzzz", [])
    assert "api_key='sk-9999999999'" not in scrub("got api_key='sk-9999999999'", [])
    # a key the provider echoes in its error: tests/gateway/test_faults.py
