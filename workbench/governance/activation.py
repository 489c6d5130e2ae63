"""The names a policy condition may use, defined once: for the checker and for the run."""

from __future__ import annotations

from typing import Any, TypedDict, get_type_hints, is_typeddict


class AgentView(TypedDict):
    name: str
    role: str
    #: Lower-cased: domains are matched case-insensitively, so rules see one spelling.
    domain: str
    model: str


class ToolView(TypedDict):
    name: str
    tags: list[str]
    #: The MCP server a tool comes from; "" for built-in and custom tools.
    server: str


class ModelView(TypedDict):
    provider: str
    name: str
    #: The host the call is sent to: its api_base's host, lower-cased; "" when the
    #: provider's own endpoint is used.
    host: str
    #: The call stays on this machine or its private network (model_view says when).
    local: bool


# `from` is a Python keyword, hence the functional form.
MessageView = TypedDict("MessageView", {
    "text": str,
    "from": str,
    "to": str,            # the recipients, comma-separated
    "to_domains": list[str],  # the recipients' domains, in the order of `to`, no repeats
})


class SessionView(TypedDict):
    cost_usd: float
    tokens: int
    turns: int


class CrewView(TypedDict):
    name: str


class RequestView(TypedDict):
    """The model call under way (zero outside a model call); model routes choose by it."""

    #: Estimated from the messages' text (gateway/routing.py: characters / 4).
    prompt_tokens: int
    purpose: str
    #: How many tools the call offers.
    tools: int


class TaskView(TypedDict):
    """A marketplace task (mesh/market.py); empty outside a task_bid or task_award."""

    title: str
    capability: str


class BidView(TypedDict):
    """A bid on a task, computed by the mesh from facts (mesh/market.py)."""

    #: Estimated cost of the task on the bidder's model; null when its price is unknown
    #: (a rule comparing it then cannot be evaluated, and denies).
    cost_usd: float
    #: The bidder's open tasks: awarded and not done.
    load: int
    #: Share of its past tasks (earlier sessions of the crew) it completed; 0.5 with none.
    record: float
    prompt_tokens: int


class BidderView(TypedDict):
    name: str
    domain: str
    model: str


class Activation(TypedDict):
    """What one policy decision sees. Every name is present on every decision."""

    agent: AgentView
    tool: ToolView
    #: The tool's arguments, free-form (keys are the tool's parameters).
    args: dict[str, Any]
    model: ModelView
    message: MessageView
    session: SessionView
    crew: CrewView
    request: RequestView
    task: TaskView
    bid: BidView
    bidder: BidderView


def domain_key(domain: str) -> str:
    """The one spelling of a domain name: `Legal` and `legal` are the same domain."""
    return domain.strip().lower()


def _names() -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for section, kind in get_type_hints(Activation).items():
        out[section] = frozenset(get_type_hints(kind)) if is_typeddict(kind) else None
    return out


#: Each top-level name and the fields it has (None: free-form, like `args`).
NAMES: dict[str, frozenset[str] | None] = _names()

_ZERO: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False, list[str]: []}


def _zero(kind: Any) -> Any:
    if is_typeddict(kind):
        return {k: _zero(t) for k, t in get_type_hints(kind).items()}
    if kind in _ZERO:
        value = _ZERO[kind]
        return list(value) if isinstance(value, list) else value
    return {}


def sample() -> Activation:
    """An activation with every name set to its type's zero value (for checking types)."""
    return _zero(Activation)  # type: ignore[no-any-return]


def tool_view(name: str = "", tags: list[str] | None = None, server: str = "") -> ToolView:
    return {"name": name, "tags": tags if tags is not None else [], "server": server}


def message_view(text: str = "", source: str = "", to: str = "",
                 to_domains: list[str] | None = None) -> MessageView:
    return {"text": text, "from": source, "to": to,
            "to_domains": to_domains if to_domains is not None else []}


def build(agent: AgentView, model: ModelView, session: SessionView, crew: CrewView,
          tool: ToolView | None = None, args: dict[str, Any] | None = None,
          message: MessageView | None = None,
          request: RequestView | None = None, task: TaskView | None = None,
          bid: BidView | None = None, bidder: BidderView | None = None) -> Activation:
    """One activation with every name present: what is not given gets its empty value."""
    return {
        "agent": agent,
        "tool": tool if tool is not None else tool_view(),
        "args": args if args is not None else {},
        "model": model,
        "message": message if message is not None else message_view(source=agent["name"]),
        "session": session,
        "crew": crew,
        "request": request if request is not None else {"prompt_tokens": 0, "purpose": "",
                                                         "tools": 0},
        "task": task if task is not None else {"title": "", "capability": ""},
        "bid": bid if bid is not None else {"cost_usd": 0.0, "load": 0, "record": 0.0,
                                            "prompt_tokens": 0},
        "bidder": bidder if bidder is not None else {"name": "", "domain": "", "model": ""},
    }
