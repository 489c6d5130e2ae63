"""CrewAI's environment, set before its first import: no tracing prompt, no telemetry."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def prepare_environment(storage_dir: Path | None = None) -> None:
    """CrewAI otherwise asks on stdin whether to share traces, and waits on the network."""
    os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("CREWAI_TESTING", "true")
    folder = storage_dir or Path(tempfile.gettempdir()) / "workbench-crewai"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CREWAI_STORAGE_DIR", str(folder))
