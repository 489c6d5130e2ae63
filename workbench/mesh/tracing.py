"""Whether a run is traced with OpenTelemetry, and hooking its tracer onto the run's bus.

This is the one place that decides, for every way a run starts (`workbench run`, the TUI,
`workbench eval`): the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT`, or `--otel` (`use_endpoint`), turns it on. It imports nothing
of OpenTelemetry: the SDK and the exporter (workbench/mesh/otel.py) are imported only when a
traced run starts, so with tracing off nothing is imported and nothing is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.mesh.bus import EventBus, Queued

#: Where `--otel` sends spans when given no URL: an OTLP/HTTP collector on this machine.
DEFAULT_URL = "http://localhost:4318"
#: The GenAI semantic conventions' switch for message content in spans.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
TRACES_PATH = "v1/traces"

#: Set by `--otel`: beats the environment (and OTEL_SDK_DISABLED) for this process.
_override: str | None = None


def use_endpoint(url: str | None) -> None:
    """Trace every run of this process to `url` (an OTLP/HTTP base URL, as
    OTEL_EXPORTER_OTLP_ENDPOINT, or its /v1/traces URL); None: back to the environment."""
    global _override
    _override = url.strip() if url else None


def _traces_url(base: str) -> str:
    base = base.strip()
    if base.rstrip("/").endswith("/" + TRACES_PATH):
        return base
    return f"{base.rstrip('/')}/{TRACES_PATH}"


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def traces_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """The URL a run's spans are POSTed to, or None: tracing is off.

    As OpenTelemetry's own exporters read it: the traces endpoint is used as given, the
    general endpoint gets `/v1/traces`; OTEL_TRACES_EXPORTER=none turns it off. `--otel`
    wins over all of them. OTEL_SDK_DISABLED is not read: the workbench sets it itself, to
    keep CrewAI's own telemetry off (engines/crewai/env.py), so it says nothing of the user.
    """
    if _override:
        return _traces_url(_override)
    env = os.environ if env is None else env
    if (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower() == "none":
        return None
    url = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if url:
        return url
    base = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    return _traces_url(base) if base else None


def capture_content(env: Mapping[str, str] | None = None) -> bool:
    """Message content goes into spans only when the convention's variable says true."""
    env = os.environ if env is None else env
    return _true(env.get(CAPTURE_ENV))


def attach(bus: EventBus) -> Queued | None:
    """Trace the run on `bus` when tracing is on; None (and nothing imported) when off.

    The tracer is a blocking subscriber: the bus only queues each event for it, and its own
    thread turns them into spans, so tracing never slows a publisher; `bus.close()` waits
    until the run's spans are handed to the exporter.
    """
    url = traces_endpoint()
    if url is None:
        return None
    from workbench.mesh.otel import RunTracer

    tracer = RunTracer.for_endpoint(url, capture=capture_content())
    return bus.subscribe(tracer.handle, blocking=True, name="otel-traces")
