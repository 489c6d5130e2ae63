"""A crew being edited in Compose, apart from the form: its data, its file's own text while
unedited, what was last opened or saved, and each edit the form makes to it.

Pure data work (no widgets): the screen turns a person's input into these calls and fills
its fields from the result, so every rule of an edit is testable on its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from workbench.spec.shape import TOPOLOGY_KINDS
from workbench.tui.crewedit import agent_names, crew_yaml, forget_agent, rename_agent, topology_of

#: The agent fields a person edits on the form (CrewAI's agents.yaml names).
AGENT_FIELDS = ("name", "role", "goal", "backstory", "model", "tools", "capabilities", "domain")
LIST_FIELDS = frozenset({"tools", "capabilities"})
REQUIRED = frozenset({"name", "role", "goal"})
#: What a crew file without an `engine:` runs on (the crew schema's default).
DEFAULT_ENGINE = "autogen"
#: An agent entry taken from another crew (spec/registry.py).
USE = "use"


def put(target: dict[str, Any], key: str, value: Any, required: bool = False) -> bool:
    """Set `key`, or drop it when empty and optional (so saved files stay clean); whether
    anything changed."""
    if value in ("", []) and not required:
        if key in target:
            del target[key]
            return True
        return False
    if target.get(key) == value:
        return False
    target[key] = value
    return True


@dataclass
class CrewDraft:
    """The crew on the form. Every edit returns whether the crew changed; a change means the
    crew is written out afresh from its data (the file's own text no longer says it)."""

    data: dict[str, Any] = field(default_factory=dict)
    #: The crew's text while the form has not changed it (a file's comments survive a save);
    #: None once the form edits the data.
    source: str | None = None
    #: The crew as last opened or saved, to tell unsaved edits (None: its YAML did not read).
    clean: dict[str, Any] | None = None
    clean_text: str = ""

    @classmethod
    def opened(cls, data: dict[str, Any] | None, text: str | None) -> CrewDraft:
        """A crew as opened: its data (None when its YAML cannot be read) and its text."""
        if data is None:
            return cls({}, text, None, text or "")
        return cls(data, text, copy.deepcopy(data), text or "")

    # -- reading -------------------------------------------------------------------------

    def text(self) -> str:
        """The crew as it would be saved from the form."""
        return self.source if self.source is not None else crew_yaml(self.data)

    def dirty(self) -> bool:
        """Edited on the form since it was last opened or saved."""
        return bool(self.data) and self.data != self.clean

    def text_dirty(self, text: str) -> bool:
        """Whether `text` (the YAML view's) differs from the crew last opened or saved."""
        if text == self.clean_text:
            return False
        from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines

        try:
            return load_with_lines(text)[0] != self.clean or self.clean is None
        except LocatedYAMLError:
            return True

    def agents(self) -> list[dict[str, Any]]:
        agents = self.data.get("agents")
        return [a for a in agents if isinstance(a, dict)] if isinstance(agents, list) else []

    def agent(self, index: int) -> dict[str, Any] | None:
        """The agent at `index`, or the last one when there are fewer (None: no agents)."""
        agents = self.agents()
        return agents[min(index, len(agents) - 1)] if agents else None

    def kind(self) -> str:
        """The topology's kind; a crew file without one (or with a wrong one) is a network."""
        topology = self.data.get("topology")
        kind = topology.get("kind") if isinstance(topology, dict) else None
        return kind if kind in TOPOLOGY_KINDS else "network"

    # -- whole-crew changes ----------------------------------------------------------------

    def read(self, data: dict[str, Any], text: str) -> None:
        """The YAML view's text, read back into the form (it stays the crew's text)."""
        self.data, self.source = data, text

    def saved(self, text: str, data: dict[str, Any], form: bool) -> None:
        """`text` (holding `data`) was written; from the form, it is the crew's text now."""
        self.clean_text = text
        self.clean = copy.deepcopy(data)
        if form:
            self.source = text

    def named(self, name: str, text: str) -> None:
        """Saved as a copy named `name`: `text` is the crew's text with that name."""
        self.data["name"] = name
        self.source = text

    # -- edits -----------------------------------------------------------------------------

    def _edited(self, changed: bool = True) -> bool:
        if changed:
            self.source = None
        return changed

    def set_crew(self, key: str, value: str) -> bool:
        """A crew-level text field (name, description, model, task)."""
        return self._edited(put(self.data, key, value if key == "task" else value.strip(),
                                required=key == "name"))

    def set_agent(self, index: int, name: str, value: str) -> bool:
        """A field of agent `index`: lists are comma-separated, backstory keeps its spaces."""
        agent = self.agent(index)
        if agent is None:
            return False
        if name in LIST_FIELDS:
            changed = put(agent, name, [v.strip() for v in value.split(",") if v.strip()])
        else:
            # a `use:` agent has its role and goal from the agent it takes: blank inherits
            required = name in REQUIRED and (USE not in agent or name == "name")
            changed = put(agent, name, value.strip() if name != "backstory" else value,
                          required=required)
        return self._edited(changed)

    def uses(self, index: int) -> str | None:
        """The agent agent `index` is taken from (`use: crew/agent`), if it is."""
        agent = self.agent(index)
        ref = agent.get(USE) if agent is not None else None
        return ref if isinstance(ref, str) else None

    def free_name(self, wanted: str) -> str:
        """`wanted`, or `wanted2`, `wanted3`, ... if another agent has it."""
        taken = set(agent_names(self.data))
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted}{n}"
        return name

    def add_use(self, ref: str) -> int:
        """Take agent `ref` (`crew/agent`) from the registry as `use: ref`: one definition,
        whose later changes reach this crew. Named explicitly (a free name), so the crew's
        roles and script can name it. Its index."""
        name = self.free_name(ref.partition("/")[2] or "agent")
        return self._append({USE: ref, "name": name})

    def add_copy(self, fields: dict[str, Any]) -> int:
        """A copy of a registry agent's fields, to edit freely here (later changes to the
        original do not reach it); renamed if its name is taken. Its index."""
        agent = copy.deepcopy(fields)
        agent["name"] = self.free_name(str(agent.get("name") or "agent"))
        return self._append(agent)

    def _append(self, agent: dict[str, Any]) -> int:
        agents = self.data.get("agents")
        if not isinstance(agents, list):
            agents = self.data["agents"] = []
        agents.append(agent)
        self._edited()
        return len(self.agents()) - 1

    def follow_rename(self, index: int, old: str, new: str) -> bool:
        """Roles, edges, tasks and script follow agent `index`'s new name, unless it is blank
        or another agent's (then they wait for a name of its own). Whether they followed."""
        current = self.agent(index)
        others = [str(a.get("name") or "").strip() for a in self.agents() if a is not current]
        if not new or new in others or not old or new == old:
            return False
        rename_agent(self.data, old, new)
        return self._edited()

    def set_engine(self, engine: str) -> bool:
        # the file's default counts: choosing it on a file that leaves it out is no edit
        if self.data.get("engine", DEFAULT_ENGINE) == engine:
            return False
        self.data["engine"] = engine
        return self._edited()

    def set_kind(self, kind: str) -> bool:
        if self.kind() == kind:  # a file without a kind is a network already
            return False
        topology_of(self.data)["kind"] = kind
        return self._edited()

    def set_role(self, role: str, value: Any) -> bool:
        """A role of the topology (`value` None removes it); the planner or reviewer chosen
        stops being an executor."""
        topology = topology_of(self.data)
        if value is None:
            topology.pop(role, None)
        else:
            topology[role] = value
        if role in ("planner", "reviewer") and value is not None:
            executors = topology.get("executors")
            if isinstance(executors, list) and value in executors:
                topology["executors"] = [e for e in executors if e != value]
        return self._edited()

    def _edges(self) -> list[Any] | None:
        edges = topology_of(self.data).get("edges")
        return edges if isinstance(edges, list) else None

    def edit_edge(self, index: int, end: str, value: str | None) -> bool:
        """An end (from, to) or the condition (when; None removes it) of edge `index`."""
        edges = self._edges()
        if edges is None or index >= len(edges) or not isinstance(edges[index], dict):
            return False
        if value is None:
            edges[index].pop(end, None)
        else:
            edges[index][end] = value
        return self._edited()

    def add_edge(self) -> bool:
        """One more edge, chained on from the last edge's target (else from the first agent);
        False when there are not two agents to join."""
        names = agent_names(self.data)
        if len(names) < 2:
            return False
        topology = topology_of(self.data)
        edges = self._edges()
        if edges is None:
            edges = topology["edges"] = []
        last = edges[-1].get("to") if edges and isinstance(edges[-1], dict) else None
        source = last if last in names else names[0]
        target = next((n for n in names[names.index(source) + 1:]), None) or next(
            n for n in names if n != source)
        edges.append({"from": source, "to": target})
        return self._edited()

    def remove_edge(self, index: int) -> bool:
        edges = self._edges()
        if edges is None or index >= len(edges):
            return False
        del edges[index]
        if not edges:
            topology_of(self.data).pop("edges")
        return self._edited()

    def add_agent(self) -> int:
        """A new agent with a free name and blank role and goal; its index."""
        agents = self.data.get("agents")
        if not isinstance(agents, list):
            agents = self.data["agents"] = []
        taken = {a.get("name") for a in agents if isinstance(a, dict)}
        n = len(agents) + 1
        while f"agent{n}" in taken:
            n += 1
        agents.append({"name": f"agent{n}", "role": "", "goal": ""})
        self._edited()
        return len(self.agents()) - 1

    def remove_agent(self, index: int) -> tuple[str, list[str]]:
        """Remove agent `index` (there must be another) and what only it was named in: its
        name, and what else went, in words."""
        removed = self.agent(index)
        self.data["agents"] = [a for a in self.data["agents"] if a is not removed]
        self._edited()
        name = str((removed or {}).get("name") or "").strip()
        if name and name not in agent_names(self.data):
            return name, forget_agent(self.data, name)
        return name, []
