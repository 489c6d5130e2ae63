"""What a failed model call means (retry, fall back, or give up) and how long to wait.

Pure functions over exception attributes, so the policy is testable without LiteLLM; the
loop that applies it lives in `litellm_provider`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

#: Status codes worth the same request again: timeouts, conflicts, rate limits, server errors.
RETRY_STATUS = frozenset({408, 409, 425, 429})

#: Exception types (by name: no HTTP library is imported for this) that mean the connection
#: failed or broke: httpx's and aiohttp's, and the OpenAI SDK's wrapper of them. LiteLLM
#: raises its own error (often an InternalServerError) with these as its causes.
_CONNECTION_TYPES = frozenset({"APIConnectionError", "ConnectError", "RemoteProtocolError",
                               "ReadError", "WriteError", "ServerDisconnectedError",
                               "ClientConnectorError", "ClientOSError"})
_MALFORMED_TYPES = frozenset({"JSONDecodeError", "ValidationError"})


class StreamCut(Exception):
    """The provider's stream ended before it said it was done (a dropped connection)."""


class Malformed(Exception):
    """The provider answered with something that is not a chat completion."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, classified. `text` is already free of secrets."""

    kind: str
    retryable: bool
    text: str
    status: int | None = None
    retry_after: float | None = None

    def describe(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"{self.kind}{status}: {self.text}" if self.text else f"{self.kind}{status}"


def _headers(exc: BaseException) -> Any:
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers:
            return headers
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None)


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait (Retry-After, retry-after-ms), if it said."""
    headers = _headers(exc)
    if not headers:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from or while handling, innermost last."""
    seen: set[int] = set()
    at: BaseException | None = exc
    while at is not None and id(at) not in seen:
        seen.add(id(at))
        yield at
        at = at.__cause__ or at.__context__


def classify(exc: BaseException, text: str) -> Failure:
    """Sort an exception from a provider call into retry-or-not; `text` is its scrubbed message."""
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) or name in ("Timeout", "APITimeoutError"):
        return Failure("Timeout", True, text)
    if isinstance(exc, StreamCut):
        return Failure("StreamCut", True, text)
    if isinstance(exc, Malformed):
        return Failure("Malformed", True, text)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionError) or type(c).__name__ in _CONNECTION_TYPES
           for c in causes):
        return Failure("APIConnectionError", True, text)
    if any(type(c).__name__ in _MALFORMED_TYPES for c in causes):
        return Failure("Malformed", True, text, status)
    if status is not None and (status in RETRY_STATUS or status >= 500):
        kind = "RateLimitError" if status == 429 else name
        return Failure(kind, True, text, status, retry_after(exc) if status == 429 else None)
    if name in ("RateLimitError", "InternalServerError", "ServiceUnavailableError",
                "BadGatewayError"):
        return Failure(name, True, text, status, retry_after(exc))
    return Failure(name, False, text, status)


_rng = random.Random()


def backoff_delay(attempt: int, base: float, cap: float, after: float | None = None,
                  max_after: float = 30.0, rng: random.Random | None = None) -> float:
    """Wait before retry number `attempt` (0 for the first retry).

    The provider's Retry-After wins when it gave one (capped at `max_after`, so a long
    block cannot stall a run: the chain moves on to a fallback after the retries instead).
    Otherwise exponential backoff with jitter between half and the full step, so parallel
    agents that failed together do not retry together.
    """
    if after is not None:
        return min(after, max_after)
    step = min(cap, base * (2 ** attempt))
    return step * (rng or _rng).uniform(0.5, 1.0)
