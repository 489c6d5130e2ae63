"""Export a crew as an AutoGen team component (the JSON `Team.load_component` reads).

The team is built with autogen-agentchat's own classes and serialised with
`dump_component()`: network -> RoundRobinGroupChat, star -> Swarm (the hub hands off to each
specialist and they hand back), layered and graph -> GraphFlow. Models become
OpenAIChatCompletionClient with the same model and base URL and no key; a scripted model
becomes a ReplayChatCompletionClient replaying the agent's scripted lines. Tools become
FunctionTools whose code only says where the real tool lives. What AutoGen has no field for
(roles, goals, tasks, the exact topology) rides in the agents' `metadata`, so
`workbench import` of the file gives the crew back.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.gateway.scripted import TERMINATE
from workbench.spec.schema import AgentSpec, CrewSpec

META_AGENT, META_CREW = "workbench", "workbench.crew"
#: A text condition `message.text.contains("X")`, the one GraphFlow can say as a string.
_CONTAINS = re.compile(r'^\s*message\.text\.contains\(\s*("(?:[^"\\]|\\.)*")\s*\)\s*$')
_JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
               "array": "list", "object": "dict"}
#: model_info AutoGen needs for a model name it does not know.
_MODEL_INFO = {"vision": False, "function_calling": True, "json_output": True,
               "family": "unknown", "structured_output": True}


def _placeholder(**arguments: Any) -> str:
    """Stands in for a workbench tool (the source is replaced in the export)."""
    return ""


def _tool_source(name: str, description: str, parameters: dict[str, Any]) -> str:
    props = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    args = []
    for pname, schema in props.items():
        kind = _JSON_TYPES.get((schema or {}).get("type", "string"), "str")
        args.append(f"{pname}: {kind}" if pname in required else f"{pname}: {kind} | None = None")
    doc = description.replace('"""', "'''").replace("\\", "\\\\")
    answer = (f"{name} is a workbench tool: run this team with `workbench run`, or give the "
              "agent a real tool")
    return (f"def {name}({', '.join(args)}) -> str:\n"
            f'    """{doc}"""\n'
            f"    return {answer!r}\n")


def _tool(ref: str, spec: CrewSpec | None = None) -> tuple[str, str, dict[str, Any]] | None:
    """Name, description and parameters of a crew's tool, for its placeholder."""
    from workbench.tools.builtin import BUILTINS

    function = spec.functions.get(ref.removeprefix("function:")) \
        if spec is not None and ref.startswith("function:") else None
    if function is not None:  # read from its source, never loaded here
        from workbench.tools.functions import source_parameters

        name = ref.removeprefix("function:")
        return (name, function.description or f"The crew's function {name}",
                source_parameters(name, function))

    for tool in BUILTINS:
        if tool.name == ref:
            return tool.name, tool.description, tool.parameters
    if ref.startswith("mcp:"):
        return None
    name = ref.rsplit(":", 1)[-1]
    return name, f"The workbench custom tool {ref}", {"type": "object", "properties": {}}


def _client(spec: CrewSpec, agent: AgentSpec, warnings: list[str]) -> Any:
    model = spec.model_for(agent)
    if model.startswith("scripted/"):
        from autogen_ext.models.replay import ReplayChatCompletionClient

        lines = [e.say for e in spec.script if e.agent == agent.name and e.say and not e.call]
        return ReplayChatCompletionClient(lines or [f"{agent.name}: done. {TERMINATE}"],
                                          model_info=dict(_MODEL_INFO))
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    provider, _, name = model.partition("/") if "/" in model else ("openai", "", model)
    base = spec.api_base_for(agent)
    if provider != "openai":
        warnings.append(f"agent {agent.name!r}: {model} is exported as an OpenAI-compatible "
                        f"client for model {model!r}: point base_url at a server that serves "
                        "it (e.g. a LiteLLM proxy), or change the client")
        name = model
    kwargs: dict[str, Any] = {"model": name, "api_key": "unused"}  # the key is never written
    if base:
        kwargs["base_url"] = base
    if base or provider != "openai":
        kwargs["model_info"] = dict(_MODEL_INFO)
    try:
        return OpenAIChatCompletionClient(**kwargs)
    except ValueError:  # a model name AutoGen does not know needs its capabilities stated
        return OpenAIChatCompletionClient(**kwargs, model_info=dict(_MODEL_INFO))


def _system_message(spec: CrewSpec, agent: AgentSpec) -> str:
    lines = [f"You are {agent.role}. {agent.backstory}".strip(), f"Your goal: {agent.goal}"]
    lines.append(f"When the team's work is complete, end your final message with {TERMINATE}.")
    return "\n".join(lines)


def _agent_meta(agent: AgentSpec) -> dict[str, Any]:
    data = agent.model_dump(exclude={"name", "mcp_servers"}, exclude_defaults=True)
    data.update(role=agent.role, goal=agent.goal, backstory=agent.backstory)
    return data


def team_component(spec: CrewSpec) -> tuple[dict[str, Any], list[str]]:
    """The crew as an AutoGen team component (a JSON-ready dict), and what was lost."""
    from autogen_agentchat.agents import AssistantAgent, UserProxyAgent
    from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
    from autogen_agentchat.teams import DiGraphBuilder, GraphFlow, RoundRobinGroupChat, Swarm
    from autogen_core.tools import FunctionTool

    warnings: list[str] = []
    topo = spec.topology
    names = spec.agent_names
    hub = (topo.hub or names[0]) if topo.kind == "star" and len(names) > 1 else None
    if hub and spec.agent(hub).human:
        warnings.append(f"the hub {hub!r} is a person: a Swarm must start with an assistant, so "
                        "the team is exported as a round robin")
        hub = None
    crew_meta: dict[str, Any] = {
        "topology": topo.model_dump(by_alias=True, exclude_defaults=True) | {"kind": topo.kind},
        "name": spec.name, "model": spec.model, "engine": spec.engine,
        "description": spec.description}
    for field in ("task", "inputs", "script"):
        value = getattr(spec, field)
        if value:
            crew_meta[field] = ([e.model_dump(exclude_defaults=True) for e in value]
                                if field == "script" else value)
    if spec.functions:
        # trust is the user's, here: it is never exported (an import starts untrusted)
        crew_meta["functions"] = {k: f.model_dump(exclude={"trusted"}, exclude_defaults=True)
                                  for k, f in spec.functions.items()}
        warnings.append(f"functions {', '.join(spec.functions)} are exported as placeholder "
                        "FunctionTools (their source rides in the metadata, for `workbench "
                        "import`): AutoGen never runs code it did not see")
    if spec.tasks:
        crew_meta["tasks"] = [t.model_dump(exclude_defaults=True) for t in spec.tasks]
        warnings.append("AutoGen teams have no tasks: the crew's tasks ride in the first "
                        "agent's metadata (AutoGen ignores them)")
    placeholders: dict[str, str] = {}  # tool name -> its placeholder source
    participants = []
    first_assistant = True
    for agent in spec.agents:
        if agent.human:
            participants.append(UserProxyAgent(agent.name, description=agent.goal))
            continue
        tools = []
        for ref in agent.tools:
            found = _tool(ref, spec)
            if found is None:
                warnings.append(f"agent {agent.name!r}: MCP tool {ref!r} is not exported (an "
                                "McpWorkbench for its server would give it back)")
                continue
            name, description, parameters = found
            placeholders[name] = _tool_source(name, description, parameters)
            tools.append(FunctionTool(_placeholder, description=description, name=name))
        if hub == agent.name:
            handoffs = [n for n in names if n != hub]
        elif hub:
            handoffs = [hub]
        else:
            handoffs = []
        metadata = {META_AGENT: json.dumps(_agent_meta(agent))}
        if first_assistant:
            metadata[META_CREW] = json.dumps(crew_meta)
            first_assistant = False
        participants.append(AssistantAgent(
            agent.name, model_client=_client(spec, agent, warnings), tools=tools or None,
            handoffs=handoffs or None, description=f"{agent.role}: {agent.goal}"[:500],
            system_message=_system_message(spec, agent), metadata=metadata))
    if first_assistant:
        warnings.append("every agent is a person: the crew's own fields are not kept")
    by_name = {p.name: p for p in participants}
    termination = TextMentionTermination(TERMINATE) | MaxMessageTermination(topo.max_turns + 1)
    if hub:
        order = [by_name[hub], *(by_name[n] for n in names if n != hub)]
        team: Any = Swarm(order, termination_condition=termination, name=spec.name,
                          description=spec.description or None)
    elif topo.kind in ("layered", "graph") and len(names) > 1:
        team = _graph(spec, by_name, warnings, GraphFlow, DiGraphBuilder,
                      MaxMessageTermination(topo.max_turns + 1))
    else:
        team = RoundRobinGroupChat(participants, termination_condition=termination,
                                   name=spec.name, description=spec.description or None)
    data = team.dump_component().model_dump(mode="json")
    _finish(data, placeholders)
    return data, warnings


def _graph(spec: CrewSpec, by_name: dict[str, Any], warnings: list[str], GraphFlow: Any,
           DiGraphBuilder: Any, termination: Any) -> Any:
    from workbench.spec.topology import resolve

    topo = resolve(spec)
    builder = DiGraphBuilder()
    if topo.kind == "layered":
        used = [topo.planner, *topo.executors, *([topo.reviewer] if topo.reviewer else [])]
        for name in used:
            builder.add_node(by_name[name])
        for name in topo.executors:
            builder.add_edge(by_name[topo.planner], by_name[name])
            if topo.reviewer:
                builder.add_edge(by_name[name], by_name[topo.reviewer])
        builder.set_entry_point(by_name[topo.planner])
    else:
        used = [n for n in topo.agents if any(n in (e.source, e.target) for e in topo.edges)]
        for name in used:
            builder.add_node(by_name[name])
        for edge in topo.edges:
            condition = None
            if edge.when:
                match = _CONTAINS.match(edge.when)
                if match:
                    condition = json.loads(match.group(1))
                else:
                    warnings.append(f"edge {edge.source} -> {edge.target}: condition "
                                    f"{edge.when!r} has no AutoGen string form; exported "
                                    "without it (kept in the metadata)")
            if condition is None:
                builder.add_edge(by_name[edge.source], by_name[edge.target])
            else:
                builder.add_edge(by_name[edge.source], by_name[edge.target],
                                 condition=condition)
        builder.set_entry_point(by_name[topo.entry()])
    return GraphFlow([by_name[n] for n in spec.agent_names if n in used], graph=builder.build(),
                     termination_condition=termination, name=spec.name,
                     description=spec.description or None)


def _finish(data: dict[str, Any], placeholders: dict[str, str]) -> None:
    """Drop every key the clients dumped and put each tool's placeholder source in."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("provider") == "autogen_core.tools.FunctionTool":
                config = node.get("config") or {}
                source = placeholders.get(config.get("name"))
                if source:
                    config["source_code"] = source
                    config["global_imports"] = []
            node.pop("api_key", None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
