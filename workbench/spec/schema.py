"""The crew file's schema: the contract users write by hand (keys may be added, never renamed)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from workbench.spec.shape import TOPOLOGY_KINDS

TopologyKind = Literal[TOPOLOGY_KINDS]  # type: ignore[valid-type]
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: `host`, `host:port`, `[v6]:port` or a bare IPv6 address (an `allow_hosts` entry).
HOST_PORT = (r"^(\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?|[A-Za-z0-9_.-]+(:[0-9]{1,5})?"
             r"|[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$")
#: Crew names become file names (crews/<name>.yaml, exports): no separators, no `..`.
CREW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The marketplace's named award rules (mesh/market.py); anything else is a CEL condition.
AWARD_RULES = ("cheapest", "best", "balanced")
CREW_NAME_RULE = ("1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                  "with no '..', and not a device name such as con, nul, com1")
#: Names Windows keeps for devices, with any extension (`con.yaml` opens the console there).
DEVICE_NAMES = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def crew_name_problem(name: str) -> str | None:
    """Why `name` cannot name a crew (it becomes a file name), or None if it can."""
    # fullmatch: `$` alone would let a trailing newline through
    if CREW_NAME.fullmatch(name) and ".." not in name and not DEVICE_NAMES.fullmatch(name):
        return None
    return f"crew name {name!r} is not a safe file name: use {CREW_NAME_RULE}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class McpServerSpec(_Strict):
    """An MCP tool server: a `command` the run starts and talks to over stdio, or the `url`
    of a streamable HTTP server. `${VAR}` in env and headers is read from the environment."""

    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    #: Tags every tool of this server gets, besides `mcp` and the server's name.
    tags: list[Annotated[str, Field(pattern=TAG.pattern)]] = Field(default_factory=list)
    #: Seconds one call of its tools may take; default: the tool time limit.
    timeout: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs a command (stdio) or a url (streamable "
                             "HTTP), not both")
        if self.url and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd are for a command; a url server takes headers")
        if self.command and self.headers:
            raise ValueError("headers are for a url server; a command takes env")
        return self


class FunctionSpec(_Strict):
    """Python source kept in the crew file (an AutoGen FunctionTool, imported): agents list it
    as `function:NAME`. It is never run on import or validation; it runs, as a custom tool
    through the policy, only once the user has read it and set `trusted: true`."""

    description: str = ""
    source_code: str = Field(min_length=1, max_length=200_000)
    #: Modules the source needs: "json", or {module: typing, imports: [Optional, ...]}.
    global_imports: list[str | dict[str, Any]] = Field(default_factory=list)
    trusted: bool = False
    #: Set when a run compiles it (tools/functions.py), never at validation.
    _compiled: Any = PrivateAttr(default=None)

    def compiled(self) -> Any:
        """The function as the run compiled it; None before (or if it is not trusted)."""
        return self._compiled

    def use(self, fn: Any) -> None:
        self._compiled = fn


class AgentSpec(_Strict):
    name: str = Field(pattern=IDENT)
    role: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    backstory: str = ""
    model: str | None = None
    api_base: str | None = None
    tools: list[str] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)
    #: CrewAI's allow_delegation (kept for export; a star's hub delegates either way).
    allow_delegation: bool = False
    #: A human participant (AutoGen's UserProxyAgent): a person answers its turns, not its
    #: model (mesh/human.py).
    human: bool = False
    domain: str = "default"
    #: MCP servers only this agent uses (`tools: [mcp:NAME]`).
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)


class EdgeSpec(_Strict):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    #: CEL over the message that left `source` (message.text, message.from).
    when: str | None = None

    @field_validator("when")
    @classmethod
    def _cel(cls, when: str | None) -> str | None:
        if when is not None:
            from workbench.spec.edges import compile_when

            compile_when(when)
        return when


class TopologySpec(_Strict):
    kind: TopologyKind = "network"
    hub: str | None = None
    planner: str | None = None
    executors: list[str] | None = None
    reviewer: str | None = None
    edges: list[EdgeSpec] = Field(default_factory=list)
    max_turns: int = Field(default=12, ge=1, le=100_000)
    #: star only: `marketplace` (the hub posts tasks, agents bid, mesh/market.py) or
    #: `direct` (the hub hands work over by name, the default).
    allocation: Literal["direct", "marketplace"] = "direct"
    #: marketplace: cheapest | best | balanced | a CEL condition over task, bid, bidder.
    award: str = "cheapest"

    @field_validator("award")
    @classmethod
    def _award_rule(cls, award: str) -> str:
        if award in AWARD_RULES:
            return award
        from workbench.governance.condition import compile_condition

        try:
            compile_condition(award)
        except ValueError as exc:
            raise ValueError(f"award must be {', '.join(AWARD_RULES)} or a CEL condition over "
                             f"task, bid and bidder; {award!r}: {exc}") from None
        return award

    @model_validator(mode="after")
    def _marketplace_on_a_star(self) -> TopologySpec:
        if self.allocation == "marketplace" and self.kind != "star":
            raise ValueError("allocation: marketplace is for a star (the hub posts the "
                             f"tasks), not a {self.kind} topology")
        return self

    @field_validator("edges")
    @classmethod
    def _runnable(cls, edges: list[EdgeSpec]) -> list[EdgeSpec]:
        from workbench.spec.edges import graph_problem

        problem = graph_problem([(e.source, e.target, e.when is not None) for e in edges])
        if problem:
            raise ValueError(problem)
        return edges


class TaskSpec(_Strict):
    #: A name other tasks' `context` may use instead of this task's index (CrewAI's task key).
    name: str | None = Field(default=None, pattern=IDENT)
    description: str = Field(min_length=1)
    expected_output: str = "A clear, complete answer."
    agent: str | None = None
    #: Earlier tasks whose output this one gets: indexes, or names (made indexes on load).
    context: list[int] = Field(default_factory=list)
    output_file: str | None = None
    #: A person reviews the task's answer: feedback makes its agent revise (mesh/human.py).
    human_input: bool = False

    @field_validator("context", mode="before")
    @classmethod
    def _named_tasks_exist(cls, context: Any) -> Any:
        # names of tasks were made indexes by the crew; a name left is no task's
        for ref in context if isinstance(context, list) else []:
            if isinstance(ref, str) and not ref.strip().isdigit():
                raise ValueError(f"context names {ref!r}, but no task has that name")
        return context


class PostSpec(_Strict):
    """A task the scripted hub posts to the marketplace (the `post_task` tool's arguments)."""

    task: str = Field(min_length=1)
    capability: str = ""


class ScriptEntry(_Strict):
    """One scripted reply: `say` text, a tool `call` with `args`, a `handoff` (which may
    carry `say` as the message that goes with it), or a marketplace `post`."""

    agent: str
    say: str | None = None
    call: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    handoff: str | None = None
    post: PostSpec | None = None

    @property
    def action(self) -> str:
        if self.post:
            return "post"
        if self.call:
            return "call"
        if self.handoff:
            return "handoff"
        return "say"


class CrewSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    #: The task a run works on when none is given (`--task` beats it; then the description).
    task: str = ""
    #: An engine of the registry (checked at loading, which names the engines there are).
    engine: str = Field(default="autogen", min_length=1)
    model: str = "scripted/demo"
    api_base: str | None = None
    topology: TopologySpec = Field(default_factory=TopologySpec)
    agents: list[AgentSpec] = Field(min_length=1)
    tasks: list[TaskSpec] = Field(default_factory=list)
    script: list[ScriptEntry] = Field(default_factory=list)
    models: dict[str, Any] = Field(default_factory=dict)
    #: Hosts http_get may reach although they resolve to loopback, private or link-local
    #: addresses (refused by default): `host` (any port) or `host:port`.
    allow_hosts: list[Annotated[str, Field(pattern=HOST_PORT)]] = Field(default_factory=list)
    #: Extra tags for custom tools, by the name agents list them under (`module:function`),
    #: e.g. {"mytools:lookup": [trusted]}: policies see them in `tool.tags`.
    tool_tags: dict[str, list[str]] = Field(default_factory=dict)
    #: Values for `{placeholders}` in agents' and tasks' text (`{task}` is the run's task).
    inputs: dict[str, str] = Field(default_factory=dict)
    #: What an import could not map, kept for the user to resolve; runs ignore it.
    unmapped: dict[str, Any] = Field(default_factory=dict)
    #: MCP tool servers of the crew: agents list `mcp:NAME` (all its tools) or `mcp:NAME/TOOL`.
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    #: Python functions kept in the file (agents list `function:NAME`); each runs only when
    #: marked `trusted: true`, as a custom tool.
    functions: dict[Annotated[str, Field(pattern=IDENT)], FunctionSpec] = Field(
        default_factory=dict)

    @field_validator("tool_tags")
    @classmethod
    def _custom_tools_only(cls, tags: dict[str, list[str]], info: Any) -> dict[str, list[str]]:
        used = {t for a in info.data.get("agents") or [] for t in a.tools}
        for ref, names in tags.items():
            if ":" not in ref:  # a built-in tool's tags are what policies rely on
                raise ValueError(f"tool_tags: {ref!r} is not a custom tool (module:function); "
                                 "the tags of built-in tools cannot be changed")
            if ref not in used:
                raise ValueError(f"tool_tags: no agent has the tool {ref!r}")
            for tag in names:
                if not TAG.fullmatch(tag):
                    raise ValueError(f"tool_tags: {tag!r} is not a tag (letters, digits, "
                                     "'_' or '-')")
        return tags

    @model_validator(mode="before")
    @classmethod
    def _context_by_name(cls, data: Any) -> Any:
        """Tasks' `context` may name earlier tasks; names become indexes here."""
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if not isinstance(tasks, list):
            return data
        index = {t["name"]: i for i, t in enumerate(tasks)
                 if isinstance(t, dict) and isinstance(t.get("name"), str)}
        if not index:
            return data
        resolved = [
            {**t, "context": [index.get(c, c) if isinstance(c, str) else c
                              for c in t["context"]]}
            if isinstance(t, dict) and isinstance(t.get("context"), list) else t
            for t in tasks
        ]
        return {**data, "tasks": resolved}

    @field_validator("tasks")
    @classmethod
    def _task_names_once(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        names = [t.name for t in tasks if t.name]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"task name {twice[0]!r} is used twice")
        return tasks

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        problem = crew_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @field_validator("script")
    @classmethod
    def _one_action(cls, script: list[ScriptEntry]) -> list[ScriptEntry]:
        for entry in script:
            if entry.call and (entry.say or entry.handoff):
                raise ValueError(f"script entry for {entry.agent!r}: a call stands alone")
            if entry.post and (entry.say or entry.handoff or entry.call):
                raise ValueError(f"script entry for {entry.agent!r}: a post stands alone")
            if not (entry.say or entry.call or entry.handoff or entry.post):
                raise ValueError(f"script entry for {entry.agent!r} needs say, call, handoff "
                                 "or post")
        return script

    def agent(self, name: str) -> AgentSpec:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]

    def model_for(self, agent: AgentSpec) -> str:
        return agent.model or self.model

    def api_base_for(self, agent: AgentSpec) -> str | None:
        return agent.api_base or self.api_base

    def capability_registry(self) -> dict[str, list[str]]:
        """Each agent's declared capabilities, given to the hub or planner for routing."""
        return {a.name: list(a.capabilities) for a in self.agents}
