"""The gateway's request and response: OpenAI-shaped messages and tools, engine-neutral."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Purpose = Literal["agent", "selector", "manager"]


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ModelRequest:
    """One call to a model on behalf of one agent.

    `messages` are OpenAI chat messages (role/content/tool_calls/tool_call_id); `tools` are
    OpenAI function tool schemas. `purpose` tells a selector (choosing the next speaker) or a
    manager call apart from an agent's own turn; `candidates` lists whom a selector may pick.
    """

    agent: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    api_base: str | None = None
    stream: bool = False
    purpose: Purpose = "agent"
    candidates: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    #: Whether a person reviews this call's answer (its task has human_input); None: the
    #: engine does not know the task, and the agent's tasks decide (mesh/human.py).
    human_input: bool | None = None


@dataclass(slots=True)
class ModelResponse:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    model: str = ""
    provider: str = ""
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    #: Set by the scripted model: the agent a handoff entry passes the turn to.
    handoff: str | None = None
    #: Provider calls it took, counting retries and fallbacks (1 when the first one answered).
    attempts: int = 1
    #: The alias or model that failed before a fallback in its chain answered.
    fallback_from: str | None = None
    #: One line per failed attempt ("label: kind status: message"), free of secrets.
    retried: tuple[str, ...] = ()
    #: The targets of the chain that governance refused ("label: reason"), skipped unasked.
    blocked: tuple[str, ...] = ()
    #: Answered from a recording, not by a provider: "SESSION@SEQ" (mesh/replay.py).
    replayed: str | None = None

    @property
    def cost_known(self) -> bool:
        return self.cost_usd is not None


def split_model(model: str) -> tuple[str, str]:
    """`openai/gpt-4o-mini` -> ("openai", "gpt-4o-mini"); a bare name is OpenAI's."""
    if "/" in model:
        provider, name = model.split("/", 1)
        return provider, name
    return "openai", model


class Blocked(Exception):
    """Governance refuses one target of a chain: the gateway sends it nothing and moves on
    to the next fallback."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AllBlocked(Blocked):
    """Governance refused every target of the chain: no provider was asked anything."""

    def __init__(self, blocked: list[tuple[str, str]]) -> None:
        self.blocked = tuple(blocked)
        super().__init__("; ".join(dict.fromkeys(reason for _, reason in blocked)))


class Prepare(Protocol):
    """Called by the gateway before each attempt on a target (a `profiles.Target`): returns
    the messages that target may receive (redacted as its provider requires), or raises
    `Blocked` to skip it. Anything else it raises stops the call."""

    def __call__(self, target: Any) -> list[dict[str, Any]]: ...


class DeltaSink(Protocol):
    """Receives a streamed answer as it arrives. `restart=True` (with empty text) says the
    answer starts over, on a retry or a fallback: what was streamed so far is void."""

    def __call__(self, text: str, restart: bool = False) -> None: ...
