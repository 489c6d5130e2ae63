"""Export a crew as a CrewAI project: config/agents.yaml, config/tasks.yaml, crew.py, main.py.

What CrewAI has a place for goes where a CrewAI user expects it (agents' role, goal,
backstory, llm, allow_delegation and tools; tasks; the process and its manager; inputs in
main.py). The rest (the exact topology, the crew's default model, the script, the engine)
is kept in crew.py's `WORKBENCH_CREW`, a plain literal CrewAI ignores and `workbench import`
reads back as data, and agents' domain and capabilities under their `workbench:` key, which
CrewAI ignores too. Tools become placeholder `@tool` methods: the workbench's governed tools
do not exist in CrewAI.
"""

from __future__ import annotations

import ast
import pprint
import re
from pathlib import Path
from typing import Any

from workbench.errors import UserInputError
from workbench.spec.importers.common import builtin_tools, dump_yaml
from workbench.spec.importers.crewai_hints import CREW_LITERAL
from workbench.spec.schema import CrewSpec


def _class_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words if w) or "Exported"
    return text if text[0].isalpha() else f"Crew{text}"


#: Names a CrewBase class already has: no agent, task or tool method may take them.
RESERVED = frozenset({"crew", "agents", "tasks", "agents_config", "tasks_config",
                      "base_directory", "load_yaml", "load_configurations",
                      "map_all_agent_variables", "map_all_task_variables", "close_mcp_server",
                      "get_mcp_tools", "mcp_server_params", "mcp_connect_timeout",
                      "original_agents_config_path", "original_tasks_config_path"})


def _unique(name: str, suffix: str, taken: set[str]) -> str:
    method = name if name not in taken and name not in RESERVED else f"{name}_{suffix}"
    n = 2
    while method in taken or method in RESERVED:
        method = f"{name}_{suffix}_{n}"
        n += 1
    taken.add(method)
    return method


def _methods(spec: CrewSpec) -> tuple[dict[str, str], list[str]]:
    """crew.py's method for each agent, and each task's key (its method's name too): one
    namespace, so a task named like an agent or CrewBase's own attributes is renamed."""
    taken: set[str] = set()
    agents = {a.name: _unique(a.name, "agent", taken) for a in spec.agents}
    keys = [_unique(t.name or f"task_{i + 1}", "task", taken) for i, t in enumerate(spec.tasks)]
    return agents, keys


def export_crewai(spec: CrewSpec, dest: Path, force: bool = False) -> tuple[list[Path],
                                                                             list[str]]:
    """Write the project into `dest`; returns the files written and what was lost."""
    if dest.exists() and not dest.is_dir():
        raise UserInputError(f"{dest} is a file; export --to crewai writes a folder")
    files = {"agents": dest / "config" / "agents.yaml", "tasks": dest / "config" / "tasks.yaml",
             "crew": dest / "crew.py", "main": dest / "main.py"}
    existing = [str(p) for p in files.values() if p.exists()]
    if existing and not force:
        raise UserInputError(f"{existing[0]} exists: use --force to replace the project's "
                             "files")
    warnings: list[str] = []
    topo = spec.topology
    hub = (topo.hub or spec.agents[0].name) if topo.kind == "star" else None
    if topo.kind == "graph":
        warnings.append("CrewAI has no graph: the crew is exported as a sequential process "
                        "(the edges kept in crew.py's WORKBENCH_CREW)")
    if topo.kind == "star" and len(spec.agents) < 2:
        hub = None
    known = builtin_tools()
    agent_methods, keys = _methods(spec)
    taken = set(agent_methods.values()) | set(keys)
    tool_methods: dict[str, str] = {}  # tool ref -> its @tool method
    tools: dict[str, str] = {}  # @tool method name -> description
    agents_yaml: dict[str, Any] = {}
    for agent in spec.agents:
        entry: dict[str, Any] = {"role": agent.role, "goal": agent.goal,
                                 "backstory": agent.backstory or agent.role,
                                 "llm": spec.model_for(agent)}
        if agent.allow_delegation or agent.name == hub:
            entry["allow_delegation"] = True
        names: list[str] = []
        extra: dict[str, Any] = {}
        for ref in agent.tools:
            if ref.startswith("mcp:"):
                warnings.append(f"agent {agent.name!r}: MCP tool {ref!r} is not exported "
                                "(CrewAI would need the server's own MCP setup)")
                continue
            if ref not in tool_methods:
                tool_methods[ref] = _unique(ref.rsplit(":", 1)[-1], "tool", taken)
            method = tool_methods[ref]
            extra.setdefault("tools", []).append(ref)
            names.append(method)
            tools.setdefault(method, _tool_description(ref, known))
        if agent.name == hub and names:
            warnings.append(f"agent {agent.name!r} is the manager: CrewAI gives a manager no "
                            f"tools, so {', '.join(names)} are left out")
            names = []
        if names:
            entry["tools"] = names
        if agent.domain != "default":
            extra["domain"] = agent.domain
        if agent.capabilities:
            extra["capabilities"] = list(agent.capabilities)
        if agent.api_base:
            extra["api_base"] = agent.api_base
        if agent.human:
            extra["human"] = True
        if extra:
            entry["workbench"] = extra
        agents_yaml[agent.name] = entry
        if spec.model_for(agent).startswith("scripted/"):
            warnings.append(f"agent {agent.name!r}: llm {spec.model_for(agent)} is the "
                            "workbench's offline model; set a real llm before running with "
                            "CrewAI")

    tasks_yaml: dict[str, Any] = {}
    for key, task in zip(keys, spec.tasks, strict=True):
        entry = {"description": task.description, "expected_output": task.expected_output}
        if task.agent:
            entry["agent"] = agent_methods[task.agent]  # CrewBase names agents by method
        if task.context:
            entry["context"] = [keys[i] for i in task.context if i < len(keys)]
        if task.output_file:
            entry["output_file"] = task.output_file
        if task.human_input:
            entry["human_input"] = True
        tasks_yaml[key] = entry
    if not spec.tasks:
        warnings.append("the crew has no tasks: crew.py makes one per agent from its goal, as "
                        "the workbench's CrewAI engine does (tasks.yaml is left empty)")

    literal = {"name": spec.name, "engine": spec.engine, "model": spec.model,
               "topology": spec.topology.model_dump(by_alias=True, exclude_defaults=True)}
    literal["topology"]["kind"] = topo.kind
    for field in ("task", "api_base"):
        if getattr(spec, field):
            literal[field] = getattr(spec, field)
    if spec.script:
        literal["script"] = [e.model_dump(exclude_defaults=True) for e in spec.script]
    for field in ("models", "allow_hosts", "tool_tags"):
        if getattr(spec, field):
            literal[field] = getattr(spec, field)
    if spec.functions:  # their source, for `workbench import`; trust is never exported
        literal["functions"] = {k: f.model_dump(exclude={"trusted"}, exclude_defaults=True)
                                for k, f in spec.functions.items()}
        warnings.append(f"functions {', '.join(spec.functions)} are placeholder @tool methods "
                        "(their source is kept in crew.py's WORKBENCH_CREW)")
    crew_py = _crew_py(spec, hub, agent_methods, keys, tools, literal)
    main_py = _main_py(spec)
    ast.parse(crew_py)  # the exporter's own output: a defect here is a bug, loudly
    ast.parse(main_py)

    header = f"# Exported by `workbench export` from the crew {spec.name!r}.\n"
    written = []
    for key, text in (("agents", header + dump_yaml(agents_yaml)),
                      ("tasks", header + (dump_yaml(tasks_yaml) if tasks_yaml else "{}\n")),
                      ("crew", crew_py), ("main", main_py)):
        path = files[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if getattr(spec, "mcp_servers", None):
        warnings.append("mcp_servers are not exported: set up MCP in CrewAI yourself")
    return written, warnings


def _tool_description(ref: str, known: frozenset[str]) -> str:
    if ref in known:
        from workbench.tools.builtin import BUILTINS

        tool = next(t for t in BUILTINS if t.name == ref)
        return f"{tool.description} (the workbench's built-in {ref})"
    return f"The workbench custom tool {ref}"


def _crew_py(spec: CrewSpec, hub: str | None, agent_methods: dict[str, str], keys: list[str],
             tools: dict[str, str], literal: dict[str, Any]) -> str:
    cls = _class_name(spec.name)
    doc = spec.description.strip()
    lines = [
        f'"""The crew {spec.name!r}, exported by `workbench export` for CrewAI.',
        "",
        "The @tool methods are placeholders for the workbench's governed tools: replace each",
        "with a real tool before running this crew with CrewAI.",
        '"""',
        "",
        "from crewai import Agent, Crew, Process, Task",
        "from crewai.project import CrewBase, agent, crew, task, tool",
        "from crewai.tools import BaseTool",
        "",
        "#: Crew fields CrewAI has no place for; `workbench import` reads them back as data.",
        f"{CREW_LITERAL} = {pprint.pformat(literal, width=88, sort_dicts=False)}",
        "",
        "",
        "class PlaceholderTool(BaseTool):",
        '    """Stands in for a workbench tool: says so instead of acting."""',
        "",
        "    def _run(self, **kwargs: object) -> str:",
        '        return f"{self.name} is a workbench tool: give this agent a real tool to use '
        'it in CrewAI"',
        "",
        "",
        "@CrewBase",
        f"class {cls}:",
    ]
    if doc:
        lines.append(f"    {_docstring(doc)}")
        lines.append("")
    lines += ['    agents_config = "config/agents.yaml"', '    tasks_config = "config/tasks.yaml"']
    for method, description in tools.items():
        lines += ["", "    @tool", f"    def {method}(self) -> BaseTool:",
                  f"        return PlaceholderTool(name={method!r}, description={description!r})"]
    for agent in spec.agents:
        lines += ["", "    @agent", f"    def {agent_methods[agent.name]}(self) -> Agent:",
                  f"        return Agent(config=self.agents_config[{agent.name!r}])"]
    if spec.tasks:
        for key in keys:
            lines += ["", "    @task", f"    def {key}(self) -> Task:",
                      f"        return Task(config=self.tasks_config[{key!r}])"]
        tasks_expr = "self.tasks"
    else:
        derived = [a for a in spec.agents if a.name != hub] if hub else spec.agents
        taken = set(agent_methods.values()) | set(tools)
        for i, agent in enumerate(derived, 1):
            method = _unique(f"work_{i}", "task", taken)
            lines += ["", "    @task", f"    def {method}(self) -> Task:",
                      "        return Task(",
                      f"            description={agent.goal + ' The work: {task}'!r},",
                      '            expected_output="Your findings",',
                      f"            agent=self.{agent_methods[agent.name]}(),",
                      "        )"]
        tasks_expr = "self.tasks"
    workers = [agent_methods[a.name] for a in spec.agents if a.name != hub]
    lines += ["", "    @crew", "    def crew(self) -> Crew:"]
    if hub:
        lines += ["        return Crew(",
                  f"            agents=[{', '.join(f'self.{n}()' for n in workers)}],",
                  f"            tasks={tasks_expr},",
                  "            process=Process.hierarchical,",
                  f"            manager_agent=self.{agent_methods[hub]}(),",
                  "        )"]
    else:
        lines += ["        return Crew(",
                  f"            agents=[{', '.join(f'self.{n}()' for n in workers)}],",
                  f"            tasks={tasks_expr},",
                  "            process=Process.sequential,",
                  "        )"]
    return "\n".join(lines) + "\n"


def _docstring(text: str) -> str:
    safe = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{safe}"""'


def _main_py(spec: CrewSpec) -> str:
    cls = _class_name(spec.name)
    inputs = dict(spec.inputs)
    uses_task = any("{task}" in t for t in
                    [t.description for t in spec.tasks] + [a.goal for a in spec.agents])
    if uses_task or not spec.tasks:
        inputs["task"] = spec.task or spec.description or f"Run the {spec.name} crew"
    return "\n".join([
        "#!/usr/bin/env python",
        f'"""Run the crew {spec.name!r} with CrewAI: `python main.py` in this folder."""',
        "",
        f"from crew import {cls}",
        "",
        "",
        "def run() -> None:",
        f"    inputs = {pprint.pformat(inputs, width=80, sort_dicts=False)}",
        f"    {cls}().crew().kickoff(inputs=inputs)",
        "",
        "",
        'if __name__ == "__main__":',
        "    run()",
        "",
    ])
