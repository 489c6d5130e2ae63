"""Edits Compose makes to crew data: renames and removals that keep references whole, safe
names, and which form field a validation problem belongs to.

Pure data and text work (no widgets), so every rule here is testable on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Roles a topology kind needs filled (the picker shows a blank until one is chosen).
REQUIRED_ROLE = {"star": "hub", "layered": "planner"}
#: Single-agent roles, by the topology kind that uses them.
ROLE_KIND = {"hub": "star", "planner": "layered", "reviewer": "layered"}


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a crew name (None when it can): the crew file's own rule."""
    from workbench.spec.schema import crew_name_problem

    return crew_name_problem(name or "")


def crew_yaml(data: dict[str, Any]) -> str:
    """Crew data as the YAML Compose shows and saves (keys in the order they were given)."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def topology_of(data: dict[str, Any]) -> dict[str, Any]:
    """The crew's topology mapping, made one if it is missing or not a mapping."""
    topology = data.get("topology")
    if not isinstance(topology, dict):
        topology = data["topology"] = {}
    return topology


def agent_names(data: dict[str, Any]) -> list[str]:
    """The agents' names, in order, once each, without blanks."""
    out: list[str] = []
    for agent in data.get("agents") or []:
        if isinstance(agent, dict):
            name = str(agent.get("name") or "").strip()
            if name and name not in out:
                out.append(name)
    return out


def _edges(topology: dict[str, Any]) -> list[dict[str, Any]]:
    edges = topology.get("edges")
    return [e for e in edges if isinstance(e, dict)] if isinstance(edges, list) else []


def rename_agent(data: dict[str, Any], old: str, new: str) -> None:
    """Follow an agent's rename everywhere the crew names it: roles, edges, tasks, script."""
    if not old or not new or old == new:
        return
    topology = topology_of(data)
    for role in ("hub", "planner", "reviewer"):
        if topology.get(role) == old:
            topology[role] = new
    executors = topology.get("executors")
    if isinstance(executors, list):
        topology["executors"] = [new if e == old else e for e in executors]
    for edge in _edges(topology):
        for end in ("from", "to"):
            if edge.get(end) == old:
                edge[end] = new
    for task in data.get("tasks") or []:
        if isinstance(task, dict) and task.get("agent") == old:
            task["agent"] = new
    for entry in data.get("script") or []:
        if isinstance(entry, dict):
            for key in ("agent", "handoff"):
                if entry.get(key) == old:
                    entry[key] = new


def forget_agent(data: dict[str, Any], name: str) -> list[str]:
    """After `name` was removed from the agents: drop it from lists (executors, edges, its own
    script lines), from its tasks (which stay, unassigned) and from optional roles. The role
    the topology needs (hub of a star, planner of layers) keeps the old name, so the crew
    stays invalid and its picker shows a blank until someone is chosen: another agent is
    never promoted silently.

    Returns what changed besides, in words, for a notification.
    """
    changed: list[str] = []
    topology = topology_of(data)
    kind = str(topology.get("kind") or "network")
    for role in ("hub", "planner", "reviewer"):
        if topology.get(role) == name and REQUIRED_ROLE.get(kind) != role:
            del topology[role]
    executors = topology.get("executors")
    if isinstance(executors, list) and name in executors:
        topology["executors"] = [e for e in executors if e != name]
    edges = topology.get("edges")
    if isinstance(edges, list):
        kept = [e for e in edges
                if not (isinstance(e, dict) and name in (e.get("from"), e.get("to")))]
        if len(kept) != len(edges):
            gone = len(edges) - len(kept)
            changed.append(f"{gone} edge{'s' if gone != 1 else ''}")
            topology["edges"] = kept
    tasks = [t for t in data.get("tasks") or [] if isinstance(t, dict) and t.get("agent") == name]
    for task in tasks:  # kept (other tasks refer to them by position), for anyone to take
        del task["agent"]
    if tasks:
        changed.append(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} (now unassigned)")
    script = data.get("script")
    if isinstance(script, list):
        kept = [s for s in script if not (isinstance(s, dict) and s.get("agent") == name)]
        if len(kept) != len(script):
            gone = len(script) - len(kept)
            changed.append(f"{gone} script line{'s' if gone != 1 else ''}")
            data["script"] = kept
    return changed


def with_name(text: str, name: str) -> str:
    """The crew YAML `text` with its top-level `name:` set to `name`, comments kept."""
    import yaml

    line = yaml.safe_dump({"name": name}, default_flow_style=False, width=1000).strip()
    pattern = re.compile(r"^name[ \t]*:.*$", re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _m: line, text, count=1)
    return f"{line}\n{text}"


# -- where a problem is on the form ---------------------------------------------------------

@dataclass(frozen=True)
class FieldRef:
    """A place on the Compose form: a widget id, the label a person sees, and the agent
    (tab) it belongs to, if any. `widget` is None for what only the YAML view shows."""

    label: str
    widget: str | None = None
    agent: int | None = None


_LOC = re.compile(r"^(?:missing required field |unknown key )?'?([A-Za-z_]\w*(?:\.\w+)*)'?:?")
_CREW_FIELDS = {"name": ("Crew", "crew-name"), "description": ("Description", "crew-description"),
                "engine": ("Engine", "crew-engine"), "model": ("Model", "crew-model"),
                "task": ("Task", "crew-task")}
_ROLE_FIELDS = {"hub": ("Hub", "role-hub"), "planner": ("Planner", "role-planner"),
                "reviewer": ("Reviewer", "role-reviewer"),
                "executors": ("Executors", "role-executors"), "kind": ("Topology", "crew-topology")}


def problem_path(message: str, line: int | None, lines: dict[tuple[Any, ...], int]
                 ) -> tuple[Any, ...] | None:
    """The path in the crew data a validation problem is about: from the field the message
    names (schema problems start with it), else the deepest value on the problem's line."""
    match = _LOC.match(message)
    if match and "." in match.group(1):
        return tuple(int(p) if p.isdigit() else p for p in match.group(1).split("."))
    if line is None:
        return None
    at_line = [p for p, n in lines.items() if n == line]
    if not at_line:
        return None
    return max(at_line, key=len)


def field_for(path: tuple[Any, ...] | None, kind: str, form_fields: tuple[str, ...]
              ) -> FieldRef:
    """The form field that shows `path` (the agent field inputs are `form_fields`)."""
    yaml_only = FieldRef("the YAML (ctrl+y)")
    if not path:
        return yaml_only
    head = path[0]
    if head in _CREW_FIELDS and len(path) == 1:
        label, widget = _CREW_FIELDS[head]
        return FieldRef(label, widget)
    if head == "topology":
        if len(path) == 1 or path[1] in ("max_turns",):
            if kind == "graph":
                return FieldRef("Edges", "role-edges")
            if kind == "layered":
                return FieldRef("Executors", "role-executors")
            if kind == "star":
                return FieldRef("Hub", "role-hub")
            return FieldRef("Topology", "crew-topology")
        role = path[1]
        if role == "edges":
            if len(path) >= 3 and isinstance(path[2], int):
                end = path[3] if len(path) >= 4 and path[3] in ("from", "to", "when") else "from"
                return FieldRef(f"Edge {path[2] + 1}", f"edge-{path[2]}-{end}")
            return FieldRef("Edges", "role-edges")
        if role in _ROLE_FIELDS:
            label, widget = _ROLE_FIELDS[role]
            shown = role == "kind" or ROLE_KIND.get(role, "layered") == kind
            return FieldRef(label, widget) if shown else FieldRef(
                f"{label} (a {ROLE_KIND.get(role, 'layered')} role; in the YAML, ctrl+y)")
    if head == "agents" and len(path) >= 2 and isinstance(path[1], int):
        index = path[1]
        if len(path) >= 3 and path[2] in form_fields:
            return FieldRef(f"Agent {index + 1} {path[2]}", f"agent-{path[2]}", index)
        return FieldRef(f"Agent {index + 1}", None, index)
    return yaml_only
