"""Load and validate crew files: every problem is one line naming the file, the line and what."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workbench.engines import engine_problem, topology_problem
from workbench.errors import SpecError, UserInputError
from workbench.spec.schema import CrewSpec
from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines, read_yaml_text
from workbench.tools.registry import ToolRegistry


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    kind = err["type"]
    if kind == "missing":
        return f"missing required field {loc!r}"
    if kind == "extra_forbidden":
        return f"unknown key {loc!r}"
    if kind == "literal_error":
        value = err.get("input")
        expected = err.get("ctx", {}).get("expected", "")
        return f"{loc}: {value!r} is not one of {expected}"
    msg = err["msg"]
    if kind == "string_pattern_mismatch":
        msg = "must be an identifier (letters, digits, underscore; not starting with a digit)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{loc}: {msg}" if loc else msg


def parse_crew(text: str, file: str, engine: str | None = None,
               topology: str | None = None, tools: ToolRegistry | None = None,
               crews: Any = None) -> CrewSpec:
    """Parse and fully validate crew YAML text; raises SpecError with file:line.

    `use:` agents are taken from the crews `crews` (a registry.Crews) sees, by default
    those of the settings registry.use_settings was given."""
    try:
        data, lines = load_with_lines(text)
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), file, exc.line) from None
    if not isinstance(data, dict):
        raise SpecError("a crew file must be a mapping with name, agents, ...", file, 1)
    from workbench.spec.registry import resolve_uses

    resolve_uses(data, lines, file, crews)
    try:
        spec = CrewSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        if err["type"] == "missing":
            loc = loc[:-1]
        raise SpecError(_describe(err), file, line_of(lines, loc)) from None
    check_crew(spec, lines, file, engine, topology, tools)
    return spec


def check_crew(spec: CrewSpec, lines: dict, file: str, engine: str | None = None,
               topology: str | None = None, tools: ToolRegistry | None = None) -> None:
    """The checks a schema cannot express: names that must refer to agents, tools, engines."""
    names = spec.agent_names

    def fail(message: str, *path: str | int) -> None:
        raise SpecError(message, file, line_of(lines, path))

    # engines are whatever the registry holds, so the schema cannot list them
    engine = engine or spec.engine
    problem = engine_problem(engine)
    if problem:
        fail(problem, "engine")

    seen: set[str] = set()
    for i, agent in enumerate(spec.agents):
        if agent.name in seen:
            fail(f"agent name {agent.name!r} is used twice", "agents", i, "name")
        seen.add(agent.name)

    topo = spec.topology

    def known(name: str | None, *path: str | int) -> None:
        if name is not None and name not in names:
            fail(f"unknown agent {name!r} in the topology; agents are {', '.join(names)}", *path)

    known(topo.hub, "topology", "hub")
    known(topo.planner, "topology", "planner")
    known(topo.reviewer, "topology", "reviewer")
    for i, name in enumerate(topo.executors or []):
        known(name, "topology", "executors", i)
    for i, edge in enumerate(topo.edges):
        known(edge.source, "topology", "edges", i, "from")
        known(edge.target, "topology", "edges", i, "to")
    kind = topology or topo.kind
    if kind == "graph" and not topo.edges:
        fail("topology 'graph' needs edges: [{from: a, to: b}, ...]", "topology")
    if kind == "layered":
        planner = topo.planner or names[0]
        executors = topo.executors if topo.executors is not None else [
            n for n in names if n not in (planner, topo.reviewer)
        ]
        if not executors:
            fail("topology 'layered' needs at least one executor besides the planner",
                 "topology")
    if kind == "star" and len(names) < 2:
        fail("topology 'star' needs a hub and at least one other agent", "topology")

    problem = topology_problem(engine, kind)
    if problem:
        fail(problem, "topology", "kind")

    from workbench.gateway.model_config import domain_problem, model_problem

    if problem := model_problem(spec.model):
        fail(problem, "model")
    for i, agent in enumerate(spec.agents):
        if agent.model is not None and (problem := model_problem(agent.model)):
            fail(problem, "agents", i, "model")
        if problem := domain_problem(agent.domain):
            fail(f"domain {problem}", "agents", i, "domain")
    if spec.models:
        # the run refuses keys and bad profiles in `models:`; validation says so first
        from workbench.gateway.model_config import parse_profiles

        parse_profiles(spec.models, file, lines, ("models",), "crew")
    _check_api_bases(spec, fail)

    from workbench.tools.mcp import check_servers  # MCP refs name servers, not modules

    check_servers(spec, fail)
    registry = tools or ToolRegistry()
    check_functions(spec, registry, fail)
    for i, agent in enumerate(spec.agents):
        for j, tool in enumerate(agent.tools):
            if tool.startswith("mcp:"):
                continue
            if tool.startswith("function:"):  # the crew's own, checked without running it
                if tool.removeprefix("function:") not in spec.functions:
                    fail(f"no function {tool.removeprefix('function:')!r} under functions: "
                         f"for agent {agent.name!r}", "agents", i, "tools", j)
                continue
            if ":" in tool and tool not in registry.names():
                problem = custom_tool_problem(tool)
                if problem:
                    fail(problem, "agents", i, "tools", j)
            elif not registry.has(tool):
                fail(f"unknown tool {tool!r} for agent {agent.name!r}; built-in tools are "
                     f"{', '.join(registry.names())}, or name one as module:function",
                     "agents", i, "tools", j)
    for i, task in enumerate(spec.tasks):
        if task.agent is not None and task.agent not in names:
            fail(f"unknown agent {task.agent!r} for a task; agents are {', '.join(names)}",
                 "tasks", i, "agent")
    for i, entry in enumerate(spec.script):
        if entry.agent not in names:
            fail(f"unknown agent {entry.agent!r} in the script; agents are {', '.join(names)}",
                 "script", i, "agent")
        if entry.handoff and entry.handoff not in names:
            fail(f"unknown agent {entry.handoff!r} to hand off to", "script", i, "handoff")
        if entry.call:
            agent_tools = spec.agent(entry.agent).tools
            short = {t.rsplit(":", 1)[-1] for t in agent_tools}
            # an MCP tool's name is known once its server runs: checked at the run's start
            mcp = any(t.startswith("mcp:") for t in agent_tools)
            if entry.call not in agent_tools and entry.call not in short and not mcp:
                fail(f"script calls {entry.call!r}, which agent {entry.agent!r} does not have",
                     "script", i, "call")


def _check_api_bases(spec: CrewSpec, fail: Any) -> None:
    """No credential is written in the crew (it is stored with every session and exported):
    not in a crew's or an agent's `api_base` (`https://user:key@host`, `?api_key=`), nor in
    an MCP server's `url`, nor as the literal value of a server's credential header
    (`Authorization`) or variable (`API_KEY`): those take `${VAR}` from the environment."""
    from workbench.gateway.model_config import KEY_HELP, credential_paths, url_credential

    bases = [(("api_base",), spec.api_base)] + [
        (("agents", i, "api_base"), a.api_base) for i, a in enumerate(spec.agents)]
    servers = [(("mcp_servers", n), s) for n, s in spec.mcp_servers.items()] + [
        (("agents", i, "mcp_servers", n), s) for i, a in enumerate(spec.agents)
        for n, s in a.mcp_servers.items()]
    bases += [((*path, "url"), server.url) for path, server in servers]
    for path, url in bases:
        carried = url_credential(url) if url else None
        if carried:
            fail(f"{'.'.join(map(str, path))}: the URL carries a credential ({carried}); "
                 f"{KEY_HELP}", *path)
    for path, server in servers:
        for field in ("headers", "env"):
            values = getattr(server, field)
            for (name,) in credential_paths({k: v for k, v in values.items()
                                             if "${" not in v}):
                fail(f"{'.'.join(map(str, (*path, field, name)))}: a credential is not "
                     f"written in the crew; give it as ${{VAR}} from your environment "
                     f"(like \"Bearer ${{TOKEN}}\")", *path, field, name)


def check_functions(spec: CrewSpec, registry: ToolRegistry, fail: Any) -> None:
    """The crew's `functions:`, read with ast only (their code never runs here): a trusted
    one must be Python defining a function; none may take a built-in tool's name."""
    from workbench.tools.functions import source_problem

    builtin = set(registry.names())
    for name, function in spec.functions.items():
        if name in builtin:
            fail(f"functions: {name!r} is a built-in tool's name; give the function another "
                 "(and list it as function:NEW_NAME)", "functions", name)
        problem = source_problem(name, function) if function.trusted else None
        if problem:
            fail(problem, "functions", name, "source_code")


#: `package.module:function`: how a crew names a custom tool.
CUSTOM_TOOL = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$", re.ASCII)


def custom_tool_problem(name: str) -> str | None:
    """What is wrong with a custom tool's `module:function`, found without running any code.

    Validation must not import the module (that runs its code); `find_spec` of the top-level
    name only searches the path. A dotted name's parents would be imported by `find_spec`,
    so the rest is checked when a run imports the tool (`import_custom_tools`).
    """
    if not CUSTOM_TOOL.fullmatch(name):
        return (f"custom tool {name!r} must be written module:function (a Python module path, "
                "a colon, a function name)")
    top = name.partition(":")[0].split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return f"custom tool {name!r}: no module {top!r} on the Python path"
    return None


def import_custom_tools(spec: CrewSpec, file: str, text: str | None = None,
                        tools: ToolRegistry | None = None) -> None:
    """Import every custom tool a crew names (this runs their modules: only when a run starts);
    one that cannot be imported is a SpecError at the line that names it."""
    from workbench.tools.mcp import check_commands

    check_commands(spec, file, text)  # an MCP server's command is looked for at a run
    registry = tools or ToolRegistry()
    lines: dict = {}
    compile_trusted_functions(spec, file, text)
    for i, agent in enumerate(spec.agents):
        for j, tool in enumerate(agent.tools):
            if ":" not in tool or tool.startswith(("mcp:", "function:")):
                continue
            try:
                registry.get(tool)
            except Exception as exc:  # the module's own code may raise anything
                problem = (str(exc) if isinstance(exc, UserInputError) else
                           f"custom tool {tool!r} cannot be imported: "
                           f"{type(exc).__name__}: {exc}")
                if not lines and text is not None:
                    try:
                        lines = load_with_lines(text)[1]
                    except LocatedYAMLError:
                        lines = {}
                raise SpecError(problem, file,
                                line_of(lines, ("agents", i, "tools", j))) from None


def compile_trusted_functions(spec: CrewSpec, file: str, text: str | None = None) -> None:
    """Compile the trusted functions agents use (their code runs: only when a run starts);
    one that fails is a SpecError at its entry. Untrusted ones are never compiled."""
    from workbench.tools.functions import compile_function

    used = {t.removeprefix("function:") for a in spec.agents for t in a.tools
            if t.startswith("function:")}
    for name, function in spec.functions.items():
        if not function.trusted or name not in used or function.compiled() is not None:
            continue
        try:
            function.use(compile_function(name, function, file))
        except UserInputError as exc:
            line = None
            if text is not None:
                try:
                    line = line_of(load_with_lines(text)[1], ("functions", name))
                except LocatedYAMLError:
                    line = None
            raise SpecError(str(exc), file, line) from None


def load_crew(path: str | Path, engine: str | None = None, topology: str | None = None,
              tools: ToolRegistry | None = None) -> CrewSpec:
    """Read and validate a crew file; a missing or unreadable file is a SpecError too."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("no such crew file", str(path))
    try:
        text = read_yaml_text(p)
    except OSError as exc:
        raise SpecError(f"cannot read the crew file: {exc.strerror or exc}", str(path)) from None
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    return parse_crew(text, str(path), engine, topology, tools)
