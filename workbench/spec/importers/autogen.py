"""Import AutoGen teams from declarative component JSON (`dump_component()`, AutoGen Studio).

The JSON is read as data: nothing it names is imported and no `source_code` is compiled
(`load_component` would do both). RoundRobinGroupChat becomes a network, Swarm a star
around its first agent, GraphFlow a graph, SelectorGroupChat a star when one participant
coordinates (else a network, explained); AssistantAgent keeps its name, description, system
message, model (provider, model, base URL) and tools; termination becomes max_turns. Keys in
the file are dropped with a warning. A gallery holds several teams: one is chosen by name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from workbench.errors import SpecError, UserInputError
from workbench.spec.importers.common import (
    ImportedCrew,
    SeveralTeams,
    TeamChoice,
    builtin_tools,
    clean_text,
    crew_slug,
    fill_inputs,
    humanize,
    identifier,
    most_common,
    pick,
    scrub,
)
from workbench.spec.yamlpos import MAX_DEPTH, LocatedYAMLError, check_json_depth

MAX_JSON_BYTES = 20_000_000
#: The marker of AutoGen's own stock descriptions (not worth keeping as a role).
_STOCK_DESCRIPTIONS = ("An agent that provides assistance with ability to use tools.",
                       "An agent that provides assistance with tool use.")
#: A participant that coordinates the others, by its name or description.
_COORDINATOR = re.compile(r"planner|plan|coordinat|orchestrat|manager|lead|supervisor|"
                          r"triage|router", re.I)
#: Metadata an exported team carries so that a round trip keeps what AutoGen cannot say.
META_AGENT, META_CREW = "workbench", "workbench.crew"
_AGENT_KEPT = frozenset({"name", "model_client", "tools", "workbench", "handoffs", "description",
                         "system_message", "metadata"})
_AGENT_DEFAULTS: dict[str, Any] = {
    "model_client_stream": False, "reflect_on_tool_use": False, "tool_call_summary_format":
    "{result}", "max_tool_iterations": 1, "memory": None, "structured_message_factory": None,
    "output_content_type": None, "output_content_type_format": None,
    "tool_call_summary_formatter": None, "tool_call_summary_prompt": None,
}
_DEFAULT_CONTEXT = "autogen_core.model_context.UnboundedChatCompletionContext"
DEFAULT_MAX_TURNS = 12


def _kind(component: Any) -> str:
    provider = component.get("provider", "") if isinstance(component, dict) else ""
    return str(provider).rsplit(".", 1)[-1]


def load_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    if len(raw) > MAX_JSON_BYTES:
        raise SpecError(f"larger than {MAX_JSON_BYTES:,} bytes; not a component file",
                        str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError("not UTF-8 text", str(path), raw.count(b"\n", 0, exc.start) + 1) \
            from None
    try:
        check_json_depth(text)  # before parsing: the parser and the import recurse per level
        return json.loads(text)
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON: {exc.msg}", str(path), exc.lineno) from None


def teams_in(data: Any, file: str) -> list[tuple[TeamChoice, dict[str, Any]]]:
    """The teams a component file holds: one team, one agent, or a gallery's teams."""
    if not isinstance(data, dict):
        raise SpecError("not an AutoGen component: expected a JSON object", file, 1)
    gallery = data.get("components")
    if gallery is None and isinstance(data.get("config"), dict):
        gallery = data["config"].get("components")
    if isinstance(gallery, dict):
        teams = [t for t in gallery.get("teams") or [] if isinstance(t, dict)]
        if not teams:
            raise SpecError("an AutoGen Studio gallery with no teams", file, 1)
        out = []
        taken: set[str] = set()
        for i, team in enumerate(teams, 1):
            label = str(team.get("label") or (team.get("config") or {}).get("name")
                        or f"team {i}")
            name = crew_slug(label)
            while name in taken:
                name = crew_slug(f"{name}-{i}")
            taken.add(name)
            out.append((TeamChoice(name, label, _kind(team), _count(team)), team))
        return out
    component_type = data.get("component_type")
    if "provider" not in data or component_type not in (None, "team", "agent"):
        raise SpecError("not an AutoGen team: expected a team component (provider, config: "
                        "{participants: ...}) or an AutoGen Studio gallery (components: "
                        "{teams: [...]})", file, 1)
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    label = str(data.get("label") or "")
    if not label or label == _kind(data):  # a dump's label is its class name
        label = Path(file).stem
    if component_type == "agent" or "participants" not in config:
        label = str(config.get("name") or label)
    return [(TeamChoice(crew_slug(Path(file).stem), label, _kind(data), _count(data)), data)]


def _count(team: dict[str, Any]) -> int:
    participants = (team.get("config") or {}).get("participants")
    return len(participants) if isinstance(participants, list) else 1


def choices(path: Path) -> list[TeamChoice]:
    return [c for c, _ in teams_in(load_json(path), str(path))]


def import_autogen(path: Path, team: str | None = None, all_teams: bool = False,
                   name: str | None = None) -> list[ImportedCrew]:
    file = str(path)
    found = teams_in(load_json(path), file)
    if len(found) > 1:
        if team:
            chosen = pick([c for c, _ in found], team, file)
            found = [(c, t) for c, t in found if c.name == chosen.name]
        elif not all_teams:
            raise SeveralTeams(file, [c for c, _ in found])
    elif team and found and team.lower() not in (found[0][0].name.lower(),
                                                 found[0][0].label.lower(), "1"):
        raise UserInputError(f"{file}: no team {team!r}; it holds one team, "
                             f"{found[0][0].name}")
    if name and len(found) > 1:
        raise UserInputError(f"--name names one crew, but {file} holds {len(found)} teams")
    return [_team(choice, component, file, name) for choice, component in found]


# -- one team --------------------------------------------------------------------------------


def _team(choice: TeamChoice, component: dict[str, Any], file: str,
          name: str | None) -> ImportedCrew:
    crew = ImportedCrew(crew_slug(name or choice.name), file, {})
    kind = _kind(component)
    config = component.get("config") if isinstance(component.get("config"), dict) else {}
    if component.get("component_type") == "agent" or "participants" not in config:
        participants = [component]
        kind = "single agent"
        crew.warn(f"{file} holds one agent ({_kind(component)}), not a team: imported as a "
                  "crew of one")
    else:
        participants = [p for p in config.get("participants") or [] if isinstance(p, dict)]
    if not participants:
        raise SpecError(f"team {choice.label!r} has no participants", file)
    meta = _crew_meta(participants)
    if meta and not name and isinstance(meta.get("name"), str):
        crew.name = crew_slug(meta["name"])  # an exported crew keeps its own name
    description = clean_text(config.get("description"))
    if description == "A team of agents.":  # AutoGen's default, says nothing
        description = ""
    if not description and component.get("label") != kind:
        # a gallery's own words for the team (a dump's are its class's docstring)
        description = clean_text(component.get("description"))
    crew.data = {"name": crew.name,
                 "description": (meta or {}).get("description") or _first_paragraph(
                     description) or f"Imported from the AutoGen team {choice.label}",
                 "engine": "autogen"}

    taken: set[str] = set()
    agents: list[dict[str, Any]] = []
    handoffs: dict[str, list[str]] = {}
    scripts: list[dict[str, Any]] = []
    for i, participant in enumerate(participants):
        agent, agent_handoffs, says = _agent(crew, participant, taken, f"participants[{i}]")
        agents.append(agent)
        handoffs[agent["name"]] = agent_handoffs
        scripts += [{"agent": agent["name"], "say": s} for s in says]
    names = [a["name"] for a in agents]

    topology = _topology(crew, kind, config, agents, handoffs, file)
    topology.update(_termination(crew, config.get("termination_condition"), config))
    if meta:
        topology = _restore(crew, meta, topology, names)
    crew.data["topology"] = topology
    models = [a["model"] for a in agents if a.get("model")]
    crew.data["model"] = (meta or {}).get("model") or most_common(models) or "scripted/demo"
    if not models and not meta:
        crew.warn("no participant has a model the workbench can use: the crew runs on "
                  "scripted/demo until you set model:")
    crew.data["agents"] = agents
    if meta:
        for key in ("engine", "task", "inputs", "tasks", "script"):
            if meta.get(key):
                crew.data[key] = meta[key]
        if isinstance(meta.get("functions"), dict):
            # an exported crew's functions come back untrusted: trust is never imported
            crew.data["functions"] = {
                k: {f: v[f] for f in ("description", "source_code", "global_imports") if f in v}
                for k, v in meta["functions"].items() if isinstance(v, dict)}
    if scripts and not crew.data.get("script"):
        crew.data["script"] = scripts
    fill_inputs(crew, (meta or {}).get("inputs") or {}, file)
    leftovers = {k: v for k, v in config.items()
                 if k not in ("participants", "termination_condition", "graph", "name",
                              "description", "max_turns", "emit_team_events",
                              "model_client_streaming", "runtime")}
    if leftovers:
        crew.keep("team", "config", scrub(leftovers, "team", crew))
    return crew


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0].replace("\n", " ").strip()[:500]


def _crew_meta(participants: list[dict[str, Any]]) -> dict[str, Any] | None:
    for p in participants:
        metadata = (p.get("config") or {}).get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get(META_CREW), str):
            try:
                check_json_depth(metadata[META_CREW])
                data = json.loads(metadata[META_CREW])
            except (ValueError, LocatedYAMLError):
                return None
            return data if isinstance(data, dict) else None
    return None


def _agent(crew: ImportedCrew, component: dict[str, Any], taken: set[str],
           where: str) -> tuple[dict[str, Any], list[str], list[str]]:
    kind = _kind(component)
    config = component.get("config") if isinstance(component.get("config"), dict) else {}
    if kind == "MessageFilterAgent" and isinstance(config.get("wrapped_agent"), dict):
        crew.warn(f"{config.get('name', where)}: a MessageFilterAgent; the agent it wraps is "
                  "imported and its message filter kept under unmapped.agents")
        kept_filter = config.get("filter")
        component = config["wrapped_agent"]
        config = dict(component.get("config") or {}, name=config.get("name") or
                      (component.get("config") or {}).get("name"))
        kind = _kind(component)
    else:
        kept_filter = None
    raw_name = str(config.get("name") or kind or "agent")
    name = identifier(raw_name, taken, "agent", crew)
    if kept_filter is not None:
        crew.keep("agents", name, {"filter": kept_filter})
    label = f"agent {name!r}"
    agent: dict[str, Any] = {"name": name}
    description = clean_text(config.get("description"))
    system = clean_text(config.get("system_message"))
    human = kind == "UserProxyAgent"
    if human:
        agent.update(role="Human user", goal=description or "Answer the team's questions",
                     human=True)
        crew.warn(f"{label}: a UserProxyAgent (a person): imported with human: true; a "
                  "person answers its turns (at the terminal, in the TUI or review; without "
                  "one, --human-default or the turn is skipped)")
    else:
        role = description if description and description not in _STOCK_DESCRIPTIONS \
            and len(description) <= 150 else humanize(raw_name)
        goal = _first_sentence(system) or description or f"Do the work of {humanize(raw_name)}"
        agent.update(role=role, goal=goal)
        if system:
            agent["backstory"] = system
        if description and role != description and description not in _STOCK_DESCRIPTIONS:
            crew.keep("agents", name, {"description": description})
        if kind != "AssistantAgent":
            what = {"MultimodalWebSurfer": "its web browser",
                    "FileSurfer": "its file browser",
                    "CodeExecutorAgent": "its code execution",
                    "OpenAIAssistantAgent": "its OpenAI Assistants thread and tools",
                    "SocietyOfMindAgent": "its inner team"}.get(kind, "what its class adds")
            crew.warn(f"{label}: a {kind}; imported as an ordinary agent, without {what}")
            extra = {k: v for k, v in config.items()
                     if k not in _AGENT_KEPT and k not in _AGENT_DEFAULTS}
            if extra:
                crew.keep("agents", name, {kind: scrub(extra, f"agents.{name}", crew)})
    says: list[str] = []
    client = config.get("model_client")
    if isinstance(client, dict):
        model, api_base, says = _model(crew, client, name)
        if model:
            agent["model"] = model
        if api_base:
            agent["api_base"] = api_base
    elif not human:
        crew.warn(f"{label}: no model client; it runs on the crew's model")
    meta = (config.get("metadata") or {}).get(META_AGENT) if isinstance(
        config.get("metadata"), dict) else None
    restored = _agent_meta(crew, meta, label) if isinstance(meta, str) else {}
    # an exported agent's tools are placeholders named like the tools its metadata lists
    placeholders = {t.rsplit(":", 1)[-1] for t in restored.get("tools") or []}
    functions = _tools(crew, config, name, placeholders)
    handoffs = [h if isinstance(h, str) else str(h.get("target", ""))
                for h in config.get("handoffs") or [] if isinstance(h, str | dict)]
    if kind == "AssistantAgent":
        extra = {k: v for k, v in config.items()
                 if k not in _AGENT_KEPT and not _is_default(k, v)}
        if extra:
            crew.keep("agents", name, {"config": scrub(extra, f"agents.{name}", crew)})
            crew.warn(f"{label}: {', '.join(sorted(extra))} kept under unmapped.agents (the "
                      "workbench does not use them)")
    if restored:
        # an exported agent: its own model fields, not the client made for AutoGen users
        for key in ("model", "api_base"):
            agent.pop(key, None)
        says = []
    agent.update(restored)
    if functions:  # listed, not offered until the user trusts them
        agent["tools"] = [*agent.get("tools", []), *functions]
    return agent, handoffs, says


def _is_default(key: str, value: Any) -> bool:
    if key == "model_context":
        return isinstance(value, dict) and value.get("provider") == _DEFAULT_CONTEXT
    if key == "metadata":
        return True
    return key in _AGENT_DEFAULTS and value in (_AGENT_DEFAULTS[key], None)


def _first_sentence(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0].strip()
    return first[:300]


def _agent_meta(crew: ImportedCrew, text: str, label: str) -> dict[str, Any]:
    """The fields a workbench export keeps in an agent's metadata (checked by the schema)."""
    try:
        check_json_depth(text)
        data = json.loads(text)
    except (ValueError, LocatedYAMLError):
        crew.warn(f"{label}: its workbench metadata is not JSON within "
                  f"{MAX_DEPTH} levels; ignored")
        return {}
    if not isinstance(data, dict):
        return {}
    allowed = ("role", "goal", "backstory", "model", "api_base", "tools", "capabilities",
               "domain", "allow_delegation", "human")
    out = {k: data[k] for k in allowed if k in data}
    known = builtin_tools()
    tools = [t for t in out.get("tools") or [] if isinstance(t, str)]
    odd = [t for t in tools if t not in known and not t.startswith(("mcp:", "function:"))]
    if odd:
        from workbench.spec.loader import custom_tool_problem

        bad = [t for t in odd if custom_tool_problem(t)]
        if bad:
            crew.keep("agents", label.split("'")[1], {"tools": bad})
            crew.warn(f"{label}: custom tools {', '.join(bad)} cannot be found on this "
                      "Python path; kept under unmapped.agents")
        tools = [t for t in tools if t not in bad]
        if [t for t in odd if t not in bad]:
            crew.warn(f"{label}: custom tools {', '.join(t for t in odd if t not in bad)} "
                      "come from the file's metadata: check them before running")
    if "tools" in out:
        out["tools"] = tools
    return out


def _model(crew: ImportedCrew, client: dict[str, Any],
           agent: str) -> tuple[str | None, str | None, list[str]]:
    kind = _kind(client)
    config = client.get("config") if isinstance(client.get("config"), dict) else {}
    config = scrub(config, f"agents.{agent}.model_client", crew)
    model = str(config.get("model") or "")
    api_base: str | None = None
    says: list[str] = []
    used = {"model", "model_info"}
    if kind in ("OpenAIChatCompletionClient", "OpenAIChatCompletionClientBase"):
        api_base = config.get("base_url")
        result = model if ("/" in model and not api_base) else f"openai/{model}"
        used |= {"base_url"}
    elif kind == "AzureOpenAIChatCompletionClient":
        result = f"azure/{config.get('azure_deployment') or model}"
        api_base = config.get("azure_endpoint")
        used |= {"azure_deployment", "azure_endpoint"}
    elif kind == "AnthropicChatCompletionClient":
        result = f"anthropic/{model}"
        api_base = config.get("base_url")
        used |= {"base_url"}
    elif kind == "OllamaChatCompletionClient":
        result = f"ollama/{model}"
        api_base = config.get("host")
        used |= {"host"}
    elif kind == "ReplayChatCompletionClient":
        result = "scripted/replay"
        says = [str(c) for c in config.get("chat_completions") or [] if isinstance(c, str)]
        used |= {"chat_completions"}
        crew.warn(f"agent {agent!r}: a ReplayChatCompletionClient: it runs on the scripted "
                  f"model, its {len(says)} canned replies as its script")
    else:
        crew.keep("agents", agent, {"model_client": {"provider": client.get("provider"),
                                                     "config": config}})
        crew.warn(f"agent {agent!r}: model client {kind or '?'} is not one the workbench "
                  "maps; it runs on the crew's model (the client under unmapped.agents)")
        return None, None, []
    if not model and kind != "ReplayChatCompletionClient":
        crew.warn(f"agent {agent!r}: its {kind} names no model; it runs on the crew's model")
        return None, None, []
    rest = {k: v for k, v in config.items() if k not in used and v is not None}
    if rest:
        crew.keep("agents", agent, {"model_client": rest})
        crew.warn(f"agent {agent!r}: model settings {', '.join(sorted(rest))} kept under "
                  "unmapped.agents")
    return result, str(api_base) if api_base else None, says


def _tools(crew: ImportedCrew, config: dict[str, Any], agent: str, skip: set[str]) -> list[str]:
    """An agent's tools: FunctionTools become the crew's functions (their source kept, never
    run, untrusted), the others are kept declared and unavailable; returns the agent's
    `function:NAME` refs. `skip` names the placeholders of an exported crew's tools,
    restored from its metadata."""
    components: list[dict[str, Any]] = [t for t in config.get("tools") or []
                                        if isinstance(t, dict)]
    workbenches = config.get("workbench")
    if isinstance(workbenches, dict):
        workbenches = [workbenches]
    for wb in workbenches or []:
        if not isinstance(wb, dict):
            continue
        wb_kind = _kind(wb)
        wb_config = wb.get("config") if isinstance(wb.get("config"), dict) else {}
        if wb_kind in ("StaticWorkbench", "StaticStreamWorkbench"):
            components += [t for t in wb_config.get("tools") or [] if isinstance(t, dict)]
        else:
            server = scrub(wb_config, f"agents.{agent}.workbench", crew)
            crew.keep("agents", agent, {"workbench": [{"provider": wb.get("provider"),
                                                       "config": server}]})
            crew.warn(f"agent {agent!r}: {wb_kind or 'a workbench'} (an MCP server or other "
                      "tool source) is kept under unmapped.agents, not connected: add it "
                      "under mcp_servers: to use its tools")
    kept: list[dict[str, Any]] = []
    refs: list[str] = []
    for tool in components:
        tool_kind = _kind(tool)
        tool_config = tool.get("config") if isinstance(tool.get("config"), dict) else {}
        tool_name = str(tool_config.get("name") or tool_kind)
        if tool_kind == "FunctionTool" and tool_name in skip:
            continue
        if tool_kind == "FunctionTool" and isinstance(tool_config.get("source_code"), str) \
                and tool_config["source_code"].strip():
            key = _function(crew, tool_name, tool_config)
            refs.append(f"function:{key}")
            crew.warn(f"agent {agent!r}: FunctionTool {tool_name!r} is Python from the file: "
                      f"kept as functions.{key}, never run, and not offered to the agent "
                      "until you have read it and set trusted: true there (it then runs as a "
                      "custom tool, through the policy and its approvals)")
        elif tool_kind == "FunctionTool":
            kept.append({"name": tool_name, "description": tool_config.get("description", "")})
            crew.warn(f"agent {agent!r}: FunctionTool {tool_name!r} has no source; kept "
                      "under unmapped.agents, not available")
        else:
            kept.append({"provider": tool.get("provider"),
                         "config": scrub(tool_config, f"agents.{agent}.tools", crew)})
            crew.warn(f"agent {agent!r}: tool {tool_name!r} ({tool_kind}) is kept under "
                      "unmapped.agents, not available")
    if kept:
        crew.keep("agents", agent, {"tools": kept})
    return refs


def _function(crew: ImportedCrew, tool_name: str, config: dict[str, Any]) -> str:
    """The crew's function for a FunctionTool (one entry per distinct source): its key, an
    identifier that is no built-in tool's name. Never trusted on import."""
    entry = {"description": clean_text(config.get("description")),
             "source_code": str(config["source_code"]),
             "global_imports": _imports(config.get("global_imports"))}
    entry = {k: v for k, v in entry.items() if v or k == "source_code"}
    functions = crew.data.setdefault("functions", {})
    base = re.sub(r"\W+", "_", tool_name, flags=re.ASCII).strip("_") or "function"
    if base[0].isdigit():
        base = f"function_{base}"
    if base in builtin_tools():
        base = f"{base}_function"
    key, n = base, 2
    while key in functions and functions[key] != entry:
        key, n = f"{base}_{n}", n + 1
    functions[key] = entry
    return key


def _imports(raw: Any) -> list[Any]:
    """A FunctionTool's global_imports as data: module names, or {module, imports}."""
    out: list[Any] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("module"), str):
            names = [n if isinstance(n, str) else
                     {k: v for k, v in n.items() if k in ("name", "alias") and v}
                     for n in item.get("imports") or [] if isinstance(n, str | dict)]
            out.append({"module": item["module"], "imports": names})
    return out


def _topology(crew: ImportedCrew, kind: str, config: dict[str, Any],
              agents: list[dict[str, Any]], handoffs: dict[str, list[str]],
              file: str) -> dict[str, Any]:
    names = [a["name"] for a in agents]
    if len(names) < 2:
        return {"kind": "network"}
    if kind == "RoundRobinGroupChat":
        return {"kind": "network"}
    if kind == "Swarm":
        hub = names[0]
        to_user = sorted(n for n, targets in handoffs.items() if "user" in targets)
        if to_user:
            crew.warn(f"{', '.join(to_user)} hand off to 'user' (a person outside the team): "
                      "not played yet; the run goes on without them")
        shaped = (set(handoffs[hub]) - {"user"} >= set(names[1:]) - {hub}
                  and all(set(handoffs[n]) - {"user"} <= {hub} for n in names[1:]))
        if not shaped:
            crew.keep("team", "handoffs", handoffs)
            crew.warn(f"the Swarm's handoffs are not hub-and-spoke; imported as a star around "
                      f"its first agent, {hub!r} (the handoffs kept under unmapped.team)")
        return {"kind": "star", "hub": hub}
    if kind == "SelectorGroupChat":
        selector = {k: config.get(k) for k in ("selector_prompt", "allow_repeated_speaker",
                                               "max_selector_attempts")
                    if config.get(k) is not None}
        if isinstance(config.get("model_client"), dict):
            selector["model_client"] = scrub(config["model_client"], "team.model_client",
                                             crew)
        if selector:
            crew.keep("team", "selector", selector)
        hub = next((a["name"] for a in agents if not a.get("human") and (
            _COORDINATOR.search(a["name"]) or _COORDINATOR.search(a.get("role", "")))), None)
        if hub:
            crew.warn(f"SelectorGroupChat: a model picks each speaker; imported as a star "
                      f"with {hub!r} (who coordinates) as the hub choosing who goes next")
            return {"kind": "star", "hub": hub}
        crew.warn("SelectorGroupChat: a model picks each speaker and no participant "
                  "coordinates; imported as a network (turns in order), the selector prompt "
                  "and model under unmapped.team; set topology: star with a hub to let one "
                  "agent route the work")
        return {"kind": "network"}
    if kind in ("GraphFlow", "DiGraphGroupChat"):
        return _graph(crew, config, names, file)
    if kind == "MagenticOneGroupChat":
        crew.warn("MagenticOneGroupChat: its orchestrator (ledger, replanning) is not "
                  "imported; the participants form a network")
        return {"kind": "network"}
    crew.warn(f"team type {kind or '?'} is not one the workbench maps; imported as a network")
    return {"kind": "network"}


def _graph(crew: ImportedCrew, config: dict[str, Any], names: list[str],
           file: str) -> dict[str, Any]:
    graph = config.get("graph") if isinstance(config.get("graph"), dict) else {}
    nodes = graph.get("nodes") if isinstance(graph.get("nodes"), dict) else {}
    edges: list[dict[str, Any]] = []
    odd: list[str] = []
    for source, node in nodes.items():
        if not isinstance(node, dict) or source not in names:
            continue
        if node.get("activation", "all") != "all":
            odd.append(f"{source} activates on {node.get('activation')}")
        for edge in node.get("edges") or []:
            if not isinstance(edge, dict) or edge.get("target") not in names:
                continue
            item: dict[str, Any] = {"from": source, "to": edge["target"]}
            condition = edge.get("condition")
            if isinstance(condition, str) and condition:
                item["when"] = f"message.text.contains({json.dumps(condition)})"
            elif condition is not None:
                odd.append(f"{source} -> {edge['target']} has a condition that is not text")
            group = edge.get("activation_group")
            if group not in (None, "", edge["target"]) or \
                    edge.get("activation_condition", "all") != "all":
                odd.append(f"{source} -> {edge['target']} is in activation group {group!r} "
                           f"({edge.get('activation_condition', 'all')})")
            edges.append(item)
    if not edges:
        crew.warn(f"{file}: the GraphFlow has no edges between its participants; imported "
                  "as a network")
        return {"kind": "network"}
    if odd:
        crew.keep("team", "graph", graph)
        crew.warn("GraphFlow: " + "; ".join(odd) + ": the workbench runs each edge on its "
                  "own (the graph kept under unmapped.team)")
    start = graph.get("default_start_node")
    if start:
        targets = {e["to"] for e in edges}
        roots = [n for n in names if n not in targets and any(e["from"] == n for e in edges)]
        if roots and roots[0] != start:
            crew.warn(f"GraphFlow starts at {start!r}; the workbench starts a graph at an "
                      f"agent no edge leads to ({roots[0]!r})")
    return {"kind": "graph", "edges": edges}


def _termination(crew: ImportedCrew, condition: Any, config: dict[str, Any]) -> dict[str, Any]:
    """max_turns from the team's termination (max messages, max_turns); the rest explained."""
    counts: list[int] = []
    others: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = _kind(node)
        cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
        if kind in ("OrTerminationCondition", "AndTerminationCondition"):
            if kind == "AndTerminationCondition":
                others.append("an AND of conditions (read as either)")
            for child in cfg.get("conditions") or []:
                walk(child)
        elif kind == "MaxMessageTermination" and isinstance(cfg.get("max_messages"), int):
            counts.append(cfg["max_messages"])
        elif kind == "TextMentionTermination":
            if cfg.get("text") != "TERMINATE":
                others.append(f"text {cfg.get('text')!r} (the workbench ends on TERMINATE)")
        elif kind == "HandoffTermination":
            others.append(f"a handoff to {cfg.get('target')!r}")
        else:
            others.append(kind or "an unknown condition")

    walk(condition)
    out: dict[str, Any] = {}
    if counts:
        # the task message counts as one: AutoGen's max_messages is turns + 1
        out["max_turns"] = max(1, min(counts) - 1)
    elif isinstance(config.get("max_turns"), int) and config["max_turns"] > 0:
        out["max_turns"] = config["max_turns"]
    else:
        crew.warn(f"no message limit in the team: max_turns {DEFAULT_MAX_TURNS} applies")
    if others:
        crew.keep("team", "termination_condition", condition)
        crew.warn("termination on " + "; ".join(others) + " is not mapped (kept under "
                  "unmapped.team): runs end on TERMINATE or max_turns")
    return out


def _restore(crew: ImportedCrew, meta: dict[str, Any], topology: dict[str, Any],
             names: list[str]) -> dict[str, Any]:
    """An exported crew's own topology, when it still fits the team's participants."""
    saved = meta.get("topology")
    if not isinstance(saved, dict):
        return topology
    mentioned = {saved.get("hub"), saved.get("planner"), saved.get("reviewer"),
                 *(saved.get("executors") or []),
                 *(e.get("from") for e in saved.get("edges") or [] if isinstance(e, dict)),
                 *(e.get("to") for e in saved.get("edges") or [] if isinstance(e, dict))}
    if not (mentioned - {None}) <= set(names):
        crew.warn("the team's workbench metadata names agents it no longer has; its "
                  "topology is read from the team instead")
        return topology
    return saved
