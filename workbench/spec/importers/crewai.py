"""Import CrewAI projects: `agents.yaml` and `tasks.yaml`, with hints from the project's Python.

A project is found as CrewAI lays it out (`src/<pkg>/config/`), as a folder holding the two
files, or as a `config/` folder beside a script; a tree holding several crews (a flow) lists
them. Agents keep role, goal, backstory, `llm`, `allow_delegation` and tools by name; tasks
keep description, expected output, agent, context, output file and human input. A
hierarchical process becomes a star around its manager, a sequential one a layered crew led
by the first task's agent. Untidy files import with warnings; only unreadable YAML or a
project with no agent at all is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import SpecError, UserInputError
from workbench.spec.importers.common import (
    CREWAI_DEFAULT_MODEL,
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
from workbench.spec.importers.crewai_hints import CrewHint, Hints, read_hints
from workbench.spec.yamlpos import (
    MAX_DEPTH,
    LocatedYAMLError,
    NestedTooDeep,
    line_of,
    load_with_lines,
    read_yaml_text,
)

#: Folders never searched for a project's files.
_SKIP_DIRS = frozenset({".git", ".venv", "venv", "env", "node_modules", "__pycache__",
                        "site-packages", "build", "dist", ".tox", ".mypy_cache"})
_MAX_DEPTH = 6
_AGENT_FIELDS = ("role", "goal", "backstory", "llm", "allow_delegation", "tools")
_TASK_FIELDS = ("description", "expected_output", "agent", "context", "output_file",
                "human_input")
#: A crew exported by the workbench keeps the fields CrewAI has no place for here.
WORKBENCH_KEY = "workbench"


@dataclass
class ConfigPair:
    """One agents.yaml (and its tasks.yaml) and the folder whose Python gives hints."""

    agents: Path
    tasks: Path | None
    root: Path
    label: str


def _pairs_in(folder: Path) -> list[tuple[Path, Path | None]]:
    out = []
    for agents in sorted(folder.iterdir()):
        name = agents.name
        if not agents.is_file() or not name.endswith(("agents.yaml", "agents.yml")):
            continue
        prefix = name[: name.rindex("agents.")]
        suffix = name[name.rindex("."):]
        tasks = next((folder / f"{prefix}tasks{s}" for s in (suffix, ".yaml", ".yml")
                      if (folder / f"{prefix}tasks{s}").is_file()), None)
        out.append((agents, tasks))
    return out


def find_projects(path: Path) -> list[ConfigPair]:
    """Every agents.yaml under `path` (or `path` itself), with its tasks file and root."""
    if path.is_file():
        folders = [path.parent]
    else:
        folders = []
        for dirpath, dirnames, filenames in os.walk(path):
            depth = len(Path(dirpath).relative_to(path).parts)
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in _SKIP_DIRS and not d.startswith("."))
            if depth >= _MAX_DEPTH:
                dirnames[:] = []
            if any(f.endswith(("agents.yaml", "agents.yml")) for f in filenames):
                folders.append(Path(dirpath))
    pairs: list[ConfigPair] = []
    for folder in folders:
        root = folder.parent if folder.name == "config" else folder
        # src/<package>/config: the project is named by the folder holding src/
        project = root.parent.parent if root.parent.name == "src" else root
        for agents, tasks in _pairs_in(folder):
            if path.is_file() and agents.resolve() != path.resolve():
                continue
            prefix = agents.name[: agents.name.rindex("agents.")].strip("_-. ")
            label = crew_slug("-".join(p for p in (project.name, prefix) if p))
            pairs.append(ConfigPair(agents, tasks, root, label))
    seen: dict[str, int] = {}
    for pair in pairs:  # two crews of one name in different places: name them apart
        seen[pair.label] = seen.get(pair.label, 0) + 1
    for pair in pairs:
        if seen[pair.label] > 1:
            pair.label = crew_slug(f"{pair.root.parent.name}-{pair.label}")
    return pairs


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base.parent))
    except ValueError:
        return str(path)


#: How much deeper than in agents.yaml or tasks.yaml a value sits in the imported crew: an
#: agent's unused field is kept under unmapped.agents.<name>.agents.yaml.<field>.
_IMPORT_NESTING = 3
#: The deepest nesting agents.yaml and tasks.yaml may have, so the crew made of them stays
#: within a crew file's own limit.
IMPORT_MAX_DEPTH = MAX_DEPTH - _IMPORT_NESTING


def _load_yaml(path: Path, shown: str) -> tuple[dict[Any, Any], dict]:
    try:
        data, lines = load_with_lines(read_yaml_text(path), IMPORT_MAX_DEPTH)
    except NestedTooDeep as exc:
        raise SpecError(f"nested more than {MAX_DEPTH} levels deep once imported (the crew "
                        f"keeps this file's fields up to {_IMPORT_NESTING} levels further in, "
                        f"so {IMPORT_MAX_DEPTH} is the most here)", shown, exc.line) from None
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), shown, exc.line) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", shown) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        what = "agents" if "agents." in path.name else "tasks"
        raise SpecError(f"expected a mapping of names to {what}, found "
                        f"{type(data).__name__}", shown, 1)
    return data, lines


@dataclass
class Project:
    pair: ConfigPair
    agents: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    agent_lines: dict
    task_lines: dict
    agents_file: str
    tasks_file: str
    hints: Hints
    #: YAML entries that were not mappings: (file:line, name)
    skipped: list[tuple[str, str, Any]]


def _entries(data: dict[Any, Any], lines: dict, shown: str, what: str,
             skipped: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for raw_key, value in data.items():
        key = str(raw_key).strip()
        where = f"{shown}:{line_of(lines, (raw_key,)) or 1}"
        if not isinstance(value, dict):
            skipped.append((where, key, value))
            continue
        fields: dict[str, Any] = {}
        for field, item in value.items():
            name = str(field).strip()
            if name != field:
                skipped.append((where, f"{key}.{name}", "trailing spaces"))
            fields[name] = item
        if key in out:
            skipped.append((where, key, "duplicate"))
            continue
        out[key] = fields
    return out


def read_project(pair: ConfigPair, base: Path) -> Project:
    agents_file = _shown(pair.agents, base)
    adata, alines = _load_yaml(pair.agents, agents_file)
    skipped: list[tuple[str, str, Any]] = []
    agents = _entries(adata, alines, agents_file, "agent", skipped)
    tasks: dict[str, dict[str, Any]] = {}
    tlines: dict = {}
    tasks_file = ""
    if pair.tasks is not None:
        tasks_file = _shown(pair.tasks, base)
        tdata, tlines = _load_yaml(pair.tasks, tasks_file)
        tasks = _entries(tdata, tlines, tasks_file, "task", skipped)
    py = sorted(p for p in pair.root.glob("*.py") if p.name != "__init__.py")
    # crew.py first, main.py last: definitions before the inputs that run them
    py.sort(key=lambda p: (p.name != "crew.py", p.name == "main.py", p.name))
    hints = read_hints([(p, _shown(p, base)) for p in py], set(agents), set(tasks))
    return Project(pair, agents, tasks, alines, tlines, agents_file, tasks_file, hints,
                   skipped)


def choices(path: Path) -> list[TeamChoice]:
    """The crews `path` holds, as `workbench import` lists them."""
    out = []
    for pair in find_projects(path):
        try:
            data, _ = _load_yaml(pair.agents, str(pair.agents))
        except SpecError:
            data = {}
        out.append(TeamChoice(pair.label, pair.label, "crewai project", len(data)))
    return out


def import_crewai(path: Path, team: str | None = None, all_teams: bool = False,
                  name: str | None = None) -> list[ImportedCrew]:
    """Crews from the CrewAI project at `path`; several projects need --team or --all."""
    pairs = find_projects(path)
    if not pairs:
        raise UserInputError(f"{path}: no CrewAI project here (no agents.yaml in it, its "
                             "config/ or src/<package>/config/)")
    listed = [TeamChoice(p.label, p.label, "crewai project", 0) for p in pairs]
    if len(pairs) > 1 and team:
        try:
            chosen = pick(listed, team, str(path))
            pairs = [p for p in pairs if p.label == chosen.name]
        except UserInputError:
            # --team may name one of the crews inside a single project's crew.py
            found = [p for p in pairs if any(
                c.name.lower() == team.lower()
                for c in read_project(p, path).hints.crews)]
            if len(found) != 1:
                raise
            pairs = found
    elif len(pairs) > 1 and not all_teams:
        raise SeveralTeams(str(path), choices(path))
    out: list[ImportedCrew] = []
    for pair in pairs:
        project = read_project(pair, path)
        crews = project.hints.crews
        if len(crews) > 1 and (all_teams or team):
            wanted = crews if all_teams else [
                c for c in crews if c.name.lower() == (team or "").lower()
                or crew_slug(c.name) == crew_slug(team or "")]
            if not wanted:
                names = ", ".join(c.name for c in crews)
                raise UserInputError(f"{project.agents_file}: no crew {team!r} in "
                                     f"{', '.join(project.hints.files)}; its crews are {names}")
            for hint in wanted:
                label = crew_slug(f"{pair.label}-{hint.name}")
                out.append(_build(project, hint, name if len(wanted) == 1 and name else label,
                                  path))
            continue
        hint = crews[0] if len(crews) == 1 else None
        crew = _build(project, hint, name or pair.label, path, name_given=bool(name))
        if len(crews) > 1:
            crew.warn(f"{', '.join(project.hints.files)}: {len(crews)} crews are built from "
                      f"these files ({', '.join(c.name for c in crews)}); imported as one "
                      "crew with every agent and task: import one with --team NAME, or "
                      "each with --all")
        out.append(crew)
    if name and len(out) > 1:
        raise UserInputError("--name names one crew, but this import makes "
                             f"{len(out)}; leave it out with --all")
    return out


def _build(project: Project, hint: CrewHint | None, name: str, base: Path,
           name_given: bool = False) -> ImportedCrew:
    hints = project.hints
    crew = ImportedCrew(crew_slug(name), str(project.pair.root), {})
    for message in hints.warnings:
        crew.warn(message)
    for where, key, value in project.skipped:
        if value == "trailing spaces":
            crew.warn(f"{where}: key {key.rsplit('.', 1)[-1]!r} of {key.rsplit('.', 1)[0]!r} "
                      "has blanks around it; read without them")
        elif value == "duplicate":
            crew.warn(f"{where}: {key!r} is defined twice (once with blanks around its "
                      "name); the first is imported")
        else:
            crew.warn(f"{where}: {key!r} is not a mapping of fields; kept under "
                      f"unmapped.yaml")
            crew.keep("yaml", key, value)
    crew.data = {"name": crew.name,
                 "description": hints.description
                 or f"Imported from the CrewAI project {project.pair.label}",
                 "engine": "crewai"}

    # -- which tasks and agents the crew has ----------------------------------------------
    task_keys = list(project.tasks)
    if hint is not None and hint.tasks is not None:
        task_keys = [k for k in hint.tasks if k in project.tasks]
    elif hints.task_order and hint is not None:
        ordered = [k for k in hints.task_order if k in project.tasks]
        task_keys = ordered + [k for k in project.tasks if k not in ordered
                               and k not in hints.task_methods.values()]
    for key in project.tasks:
        if key not in task_keys:
            crew.keep("tasks", key, scrub(project.tasks[key], f"tasks.{key}", crew))
            why = f"crew {hint.name!r} does not use it" if hint else "no crew uses it"
            crew.warn(f"task {key!r}: {why}; kept under unmapped.tasks")
    for label, where in ({} if hints.workbench else hints.code_tasks).items():
        crew.warn(f"{where}: a task made in code ({label}) has no tasks.yaml entry; not "
                  "imported: write it under tasks: if the crew needs it")

    process = (hint.process if hint else None) or _agreed_process(hints)
    if process not in (None, "sequential", "hierarchical"):
        crew.warn(f"process {process!r} is not sequential or hierarchical; imported as "
                  "sequential")
        process = "sequential"

    taken: set[str] = set()
    names: dict[str, str] = {}  # YAML key -> agent name
    agents: list[dict[str, Any]] = []
    models: list[str] = []
    tools_known = builtin_tools()
    for key, entry in project.agents.items():
        agent_name = identifier(key, taken, "agent", crew)
        names[key] = agent_name
        agents.append(_agent(crew, project, key, entry, agent_name, tools_known))
        if agents[-1].get("model"):
            models.append(agents[-1]["model"])

    # -- tasks ---------------------------------------------------------------------------
    method_to_agent = {m: names[k] for m, k in hints.agent_methods.items() if k in names}
    task_taken: set[str] = set()
    task_names: dict[str, str] = {}
    tasks: list[dict[str, Any]] = []
    for key in task_keys:
        task = _task(crew, project, key, project.tasks[key], names, method_to_agent,
                     task_names, task_taken)
        if task is not None:
            tasks.append(task)
    used = {t.get("agent") for t in tasks}

    # -- topology ------------------------------------------------------------------------
    manager: str | None = None
    if process == "hierarchical":
        manager = _manager(crew, project, hint, names, agents, taken)
        if manager is not None:
            hub = next(a for a in agents if a["name"] == manager)
            hub["allow_delegation"] = True
    if manager is not None and len(agents) > 1:
        agents.sort(key=lambda a: a["name"] != manager)
        topology: dict[str, Any] = {"kind": "star", "hub": manager}
    elif len(agents) > 1:
        planner = next((t["agent"] for t in tasks if t.get("agent")), agents[0]["name"])
        topology = {"kind": "layered", "planner": planner}
        idle = [a["name"] for a in agents if a["name"] not in used]
        if idle and tasks:
            crew.warn(f"agents no task uses: {', '.join(idle)} (imported; they get no task)")
    else:
        topology = {"kind": "network"}
    crew.data["model"] = most_common(models) or CREWAI_DEFAULT_MODEL
    without = [a["name"] for a in agents if not a.get("model")]
    if not models:
        crew.warn("no agent names an llm: the crew's model is CrewAI's default, "
                  f"{CREWAI_DEFAULT_MODEL}")
    elif without:
        crew.warn(f"agents without an llm ({', '.join(without)}) run on the crew's model, "
                  f"{crew.data['model']}")
    crew.data["topology"] = topology
    crew.data["agents"] = agents
    if tasks:
        crew.data["tasks"] = tasks
    elif project.pair.tasks is None:
        crew.warn("no tasks.yaml beside agents.yaml: the crew has no tasks (runs derive them "
                  "from the agents' goals)")
    else:
        crew.warn(f"{project.tasks_file}: no task to import: runs derive tasks from the "
                  "agents' goals")
    fill_inputs(crew, hints.inputs, "main.py" if hints.inputs else "the project")
    _crew_extras(crew, hint, hints)
    if hints.workbench:
        _restore(crew, hints.workbench, name_given)
    return crew


def _restore(crew: ImportedCrew, saved: dict[str, Any], name_given: bool) -> None:
    """Fields a workbench export kept in crew.py's WORKBENCH_CREW (checked by the schema)."""
    names = {a["name"] for a in crew.data["agents"]}
    topology = saved.get("topology")
    if isinstance(topology, dict):
        edges = topology.get("edges") or []
        mentioned = {topology.get("hub"), topology.get("planner"), topology.get("reviewer"),
                     *(topology.get("executors") or []),
                     *(e.get(k) for e in edges if isinstance(e, dict) for k in ("from", "to"))}
        if (mentioned - {None}) <= names:
            crew.data["topology"] = topology
        else:
            crew.warn("crew.py's WORKBENCH_CREW names agents agents.yaml does not have; the "
                      "topology is read from the project instead")
    for key in ("engine", "model", "task", "api_base", "script", "models", "allow_hosts",
                "tool_tags"):
        if saved.get(key):
            crew.data[key] = saved[key]
    if isinstance(saved.get("functions"), dict):  # back untrusted: trust is never imported
        crew.data["functions"] = {
            k: {f: v[f] for f in ("description", "source_code", "global_imports") if f in v}
            for k, v in saved["functions"].items() if isinstance(v, dict)}
    if not name_given and isinstance(saved.get("name"), str):
        crew.name = crew.data["name"] = crew_slug(saved["name"])


def _agreed_process(hints: Hints) -> str | None:
    found = {c.process for c in hints.crews if c.process}
    return found.pop() if len(found) == 1 else ("sequential" if found else None)


def _agent(crew: ImportedCrew, project: Project, key: str, entry: dict[str, Any], name: str,
           tools_known: frozenset[str]) -> dict[str, Any]:
    where = f"{project.agents_file}:{line_of(project.agent_lines, (key,)) or 1}"
    hint = project.hints.agents.get(key)
    agent: dict[str, Any] = {"name": name}
    role = clean_text(entry.get("role"))
    goal = clean_text(entry.get("goal"))
    if not role:
        role = humanize(key)
        crew.warn(f"{where}: agent {key!r} has no role; imported as {role!r}")
    if not goal:
        goal = role
        crew.warn(f"{where}: agent {key!r} has no goal; its role is used")
    agent["role"], agent["goal"] = role, goal
    backstory = clean_text(entry.get("backstory"))
    if backstory:
        agent["backstory"] = backstory
    model = _model(entry.get("llm"), crew, f"agents.{name}", where) or (hint.llm if hint else None)
    if model:
        agent["model"] = model
    delegation = entry.get("allow_delegation")
    if delegation is None and hint is not None:
        delegation = hint.allow_delegation
    if isinstance(delegation, bool) and delegation:
        agent["allow_delegation"] = True
    # tools: YAML names (crew.py's @tool methods) and crew.py's tools=[...]
    declared = [str(t) for t in entry.get("tools") or [] if isinstance(t, str | int)]
    declared += [t for t in (hint.tools if hint else []) if t not in declared]
    extra = workbench_fields(entry.get(WORKBENCH_KEY))
    restored = extra.pop("tools", None)
    exported: list[str] = []
    if restored is not None:
        # an agent a workbench export wrote: its tools as they were (placeholders in crew.py)
        from workbench.spec.loader import custom_tool_problem

        exported = [t for t in restored if t in tools_known or t.startswith("function:") or (
            ":" in t and not t.startswith("mcp:") and not custom_tool_problem(t))]
        declared = []  # the YAML's tools are crew.py's placeholders for these
    usable = [t for t in declared if t in tools_known]
    unavailable = [t for t in declared if t not in tools_known]
    if usable or exported:
        agent["tools"] = list(dict.fromkeys([*usable, *exported]))
    if usable:
        crew.warn(f"agent {name!r}: {', '.join(usable)} mapped by name to the built-in "
                  f"tool{'s' if len(usable) > 1 else ''} of that name")
    if unavailable:
        crew.keep("agents", name, {"tools": unavailable})
        crew.warn(f"agent {name!r}: tools {', '.join(unavailable)} are Python in the project; "
                  "declared under unmapped.agents and not available (map each to an MCP "
                  "server, a module:function tool or a built-in)")
    agent.update(extra)
    leftovers = {k: v for k, v in entry.items()
                 if k not in _AGENT_FIELDS and k != WORKBENCH_KEY}
    _keep_unused(crew, "agent", name, name, leftovers, hint.extras if hint else {})
    return agent


def _keep_unused(crew: ImportedCrew, kind: str, name: str, key: str, leftovers: dict[str, Any],
                 extras: dict[str, str]) -> None:
    """Keep what the workbench does not use of an agent or task (its YAML keys, scrubbed,
    and crew.py's keyword arguments) under `unmapped`, and say so once."""
    section = f"{kind}s"
    if leftovers:
        crew.keep(section, name,
                  {f"{section}.yaml": scrub(leftovers, f"{section}.{key}", crew)})
    if extras:
        crew.keep(section, name, {"crew.py": dict(extras)})
    settings = sorted(set(leftovers) | set(extras))
    if settings:
        crew.warn(f"{kind} {key!r}: {', '.join(settings)} kept under unmapped.{section} (the "
                  "workbench does not use them)")


def workbench_fields(value: Any) -> dict[str, Any]:
    """The fields a workbench export keeps under an agent's `workbench:` key."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    if isinstance(value.get("domain"), str):
        out["domain"] = value["domain"]
    if isinstance(value.get("capabilities"), list):
        out["capabilities"] = [str(c) for c in value["capabilities"]]
    if isinstance(value.get("api_base"), str):
        out["api_base"] = value["api_base"]
    if value.get("human") is True:
        out["human"] = True
    if isinstance(value.get("tools"), list):
        out["tools"] = [str(t) for t in value["tools"]]
    return out


def _model(llm: Any, crew: ImportedCrew, where: str, line: str) -> str | None:
    if llm is None or llm == "":
        return None
    if isinstance(llm, str):
        return llm.strip() or None
    if isinstance(llm, dict) and isinstance(llm.get("model"), str):
        rest = {k: v for k, v in llm.items() if k != "model"}
        if rest:
            crew.keep("agents", where.split(".", 1)[-1], {"llm": scrub(rest, where, crew)})
            crew.warn(f"{line}: llm settings {', '.join(sorted(rest))} kept under "
                      "unmapped.agents")
        return str(llm["model"])
    crew.warn(f"{line}: llm {llm!r} is not a model name; the crew's model is used")
    return None


def _task(crew: ImportedCrew, project: Project, key: str, entry: dict[str, Any],
          names: dict[str, str], method_to_agent: dict[str, str], task_names: dict[str, str],
          taken: set[str]) -> dict[str, Any] | None:
    where = f"{project.tasks_file}:{line_of(project.task_lines, (key,)) or 1}"
    hint = project.hints.tasks.get(key)
    description = clean_text(entry.get("description"))
    if not description:
        crew.keep("tasks", key, scrub(entry, f"tasks.{key}", crew))
        crew.warn(f"{where}: task {key!r} has no description; not a task the workbench can "
                  "run: kept under unmapped.tasks")
        return None
    name = identifier(key, taken, "task", crew)
    task_names[key] = name
    task: dict[str, Any] = {"name": name, "description": description}
    expected = clean_text(entry.get("expected_output"))
    if expected:
        task["expected_output"] = expected
    else:
        crew.warn(f"{where}: task {key!r} has an empty expected_output; the workbench's "
                  "default is used")
    agent_ref = entry.get("agent")
    agent = None
    if isinstance(agent_ref, str) and agent_ref.strip():
        ref = agent_ref.strip()
        agent = names.get(ref) or method_to_agent.get(ref) or names.get(
            project.hints.agent_methods.get(ref, ""))
        if agent is None:
            crew.warn(f"{where}: task {key!r} names agent {ref!r}, which agents.yaml does "
                      "not define; the task has no agent")
    elif hint is not None and hint.agent and hint.agent in names:
        agent = names[hint.agent]
    if agent:
        task["agent"] = agent
    context_ref = entry.get("context")
    refs: list[str] = []
    if isinstance(context_ref, str):
        refs = [context_ref]
    elif isinstance(context_ref, list):
        refs = [str(r) for r in context_ref]
    elif hint is not None and hint.context:
        refs = list(hint.context)
        crew.warn(f"task {key!r}: context {', '.join(refs)} read from "
                  f"{hint.where.split(':')[0]}")
    context = []
    for ref in refs:
        target = project.hints.task_methods.get(ref, ref)
        if target in task_names:
            context.append(task_names[target])
        else:
            crew.warn(f"{where}: task {key!r} has context {ref!r}, which is not an earlier "
                      "task of this crew; left out")
    if context:
        task["context"] = context
    output_file = entry.get("output_file") or (hint.output_file if hint else None)
    if isinstance(output_file, str) and output_file.strip():
        task["output_file"] = output_file.strip()
    human = entry.get("human_input")
    if human is None and hint is not None:
        human = hint.human_input
    if human is True:
        task["human_input"] = True
        crew.warn(f"task {key!r} asks for human input: kept as human_input: true; a person "
                  "reviews its answer when one can be asked")
    leftovers = {k: v for k, v in entry.items() if k not in _TASK_FIELDS}
    _keep_unused(crew, "task", name, key, leftovers, hint.extras if hint else {})
    return task


def _manager(crew: ImportedCrew, project: Project, hint: CrewHint | None,
             names: dict[str, str], agents: list[dict[str, Any]],
             taken: set[str]) -> str | None:
    """The hub of a hierarchical crew: its manager agent, or one made for its manager_llm."""
    hints = project.hints
    crews = [hint] if hint else hints.crews
    agent_key = next((c.manager_agent for c in crews if c.manager_agent), None)
    llm = next((c.manager_llm for c in crews if c.manager_llm), None)
    if agent_key and agent_key in names:
        return names[agent_key]
    if agent_key:
        crew.warn(f"the manager agent ({agent_key}) is not defined in agents.yaml; a manager "
                  "is made for it")
    name = identifier("manager", taken, "agent")
    manager: dict[str, Any] = {
        "name": name,
        "role": "Crew Manager",
        "goal": "Manage the team to complete the task in the best way possible",
        "backstory": "You are a seasoned manager with a knack for getting the best out of "
                     "your team. You delegate each piece of work to the coworker best "
                     "suited for it and check their results.",
        "allow_delegation": True,
    }
    if llm and "(" not in llm and " " not in llm:
        manager["model"] = llm
    elif llm:
        crew.keep("crew", "manager_llm", llm)
    agents.insert(0, manager)
    names.setdefault("__manager__", name)
    crew.warn(f"hierarchical process with {'manager_llm ' + llm if llm else 'no manager agent'}: "
              f"a manager agent {name!r} (CrewAI's default manager) is the star's hub")
    return name


def _crew_extras(crew: ImportedCrew, hint: CrewHint | None, hints: Hints) -> None:
    crews = [hint] if hint else hints.crews
    for c in crews:
        extras = {k: v for k, v in c.extras.items()}
        if extras:
            crew.keep("crew", c.name, {"crew.py": extras, "at": c.where})
            crew.warn(f"{c.where}: crew settings {', '.join(sorted(extras))} kept under "
                      "unmapped.crew (the workbench does not use them: memory, knowledge "
                      "sources and planning are not imported)")
