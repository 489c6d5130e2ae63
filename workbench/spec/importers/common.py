"""What every importer shares: safe names, placeholders, secrets kept out, the crew file written.

An importer turns a foreign project into an `ImportedCrew`: the crew's mapping (the crew
file's keys), what could not be mapped (kept under `unmapped:` for the user), and warnings
saying what was changed or left behind. `render` writes it as YAML and checks it with the
crew loader, so an import never leaves a crew file that does not validate.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from workbench.errors import SpecError, UserInputError, WorkbenchError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: `{name}` but not `{{name}}` (an escaped brace pair stays literal text).
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
#: The run's task: the engines fill `{task}` themselves, so it is never an input.
RUN_TASK = "task"
#: Keys whose values are credentials (api_key, client_secret, azure_ad_token, Authorization,
#: not max_tokens): dropped on import, never written anywhere.
SECRET_KEY = re.compile(r"^(x-)?((.*[_-])?api[_-]?key|.*secret.*|(.*[_-])?passw(or)?d|"
                        r"(.*[_-])?token|authorization|credentials?|(.*[_-])?private[_-]?key)$",
                        re.I)
#: The model CrewAI 1.15 gives an agent that names none (crewai.constants.DEFAULT_LLM_MODEL).
CREWAI_DEFAULT_MODEL = "openai/gpt-4.1-mini"


def builtin_tools() -> frozenset[str]:
    """Names of the workbench's built-in tools."""
    from workbench.tools.builtin import BUILTINS

    return frozenset(t.name for t in BUILTINS)


@dataclass
class ImportedCrew:
    """One crew made by an import, before it is written."""

    name: str
    #: The file or folder it came from, as the user named it.
    source: str
    #: The crew file's mapping (name, description, engine, model, topology, agents, ...).
    data: dict[str, Any]
    #: What could not be mapped, by section (agents, tasks, tools, crew, team).
    unmapped: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def keep(self, section: str, key: str, value: Any) -> None:
        """Keep `value` under unmapped.<section>.<key> (merged if both are mappings)."""
        part = self.unmapped.setdefault(section, {})
        if isinstance(part.get(key), dict) and isinstance(value, dict):
            part[key].update(value)
        else:
            part[key] = value


@dataclass
class TeamChoice:
    """One of several crews or teams a file holds, as `workbench import` lists them."""

    name: str
    label: str
    kind: str
    agents: int


class SeveralTeams(UserInputError):
    """The input holds several teams and none was chosen: the CLI lists them."""

    def __init__(self, source: str, choices: list[TeamChoice]) -> None:
        self.source = source
        self.choices = choices
        names = ", ".join(c.name for c in choices)
        super().__init__(f"{source} holds {len(choices)} teams ({names}): import one with "
                         "--team NAME, or each with --all")


def pick(choices: list[TeamChoice], team: str, source: str) -> TeamChoice:
    """The choice `team` names: its name, its label (any case) or its number (from 1)."""
    wanted = team.strip().lower()
    for i, c in enumerate(choices, 1):
        if wanted in (c.name.lower(), c.label.lower(), str(i)):
            return c
    names = ", ".join(c.name for c in choices)
    raise UserInputError(f"{source}: no team {team!r}; its teams are {names}")


def identifier(raw: str, taken: set[str], what: str, crew: ImportedCrew | None = None) -> str:
    """`raw` made an identifier unique among `taken` (and added to it); a change is warned."""
    text = str(raw).strip()
    name = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or what
    if name[0].isdigit():
        name = f"{what}_{name}"
    base, n = name, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    if name != text and crew is not None:
        crew.warn(f"{what} name {text!r} is not a unique identifier: imported as {name!r}")
    return name


def crew_slug(raw: str) -> str:
    """A crew name (a safe file name) from a project folder, team label or file name."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(raw).strip()).lower()
    text = re.sub(r"\.{2,}", ".", text).strip("-._")
    return text[:64].rstrip("-._") or "imported"


def humanize(name: str) -> str:
    """`flights_refunder` -> `Flights refunder`."""
    words = re.sub(r"[_\-]+", " ", name).strip()
    return (words[:1].upper() + words[1:]) if words else name


def clean_text(value: Any) -> str:
    """Prompt text as written, without the blank ends and trailing blanks YAML folding leaves."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # cleandoc: Python's triple-quoted prompts indent every line after the first
    return "\n".join(line.rstrip() for line in inspect.cleandoc(text).splitlines())


def placeholders(*texts: str | None) -> list[str]:
    """The `{placeholders}` in `texts`, in order of first use, without the run's `{task}`."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in PLACEHOLDER.findall(text or ""):
            if name != RUN_TASK:
                seen.setdefault(name, None)
    return list(seen)


def scrub(value: Any, where: str, crew: ImportedCrew) -> Any:
    """A copy of `value` without credentials; each one dropped is warned (never shown)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and SECRET_KEY.match(key) and item not in (None, "", {}):
                crew.warn(f"{where}.{key}: a credential in the file was dropped (keys are "
                          "never imported; store one with `workbench keys set PROVIDER`)")
                continue
            out[key] = scrub(item, f"{where}.{key}", crew)
        return out
    if isinstance(value, list):
        return [scrub(item, f"{where}[{i}]", crew) for i, item in enumerate(value)]
    return value


def most_common(values: list[str]) -> str | None:
    """The most frequent value (the first of equals), or None for an empty list."""
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def fill_inputs(crew: ImportedCrew, found: dict[str, str], from_where: str) -> None:
    """Set the crew's `inputs` from its placeholders, with values `found` in the project."""
    texts: list[str] = []
    for agent in crew.data.get("agents", []):
        texts += [agent.get("role", ""), agent.get("goal", ""), agent.get("backstory", "")]
    for task in crew.data.get("tasks", []):
        texts += [task.get("description", ""), task.get("expected_output", ""),
                  task.get("output_file") or ""]
    names = placeholders(*texts)
    if not names:
        return
    crew.data["inputs"] = {n: clean_text(found.get(n, "")) for n in names}
    empty = [n for n in names if not found.get(n)]
    if empty:
        crew.warn(f"inputs without a value in {from_where}: {', '.join(empty)}; give them at "
                  "run time with --input KEY=VALUE, or fill them in under inputs:")


# -- writing the crew file -------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style for text of several lines, no anchors, keys in the order given."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def _comment(lines: list[str]) -> str:
    out = []
    for line in lines:
        for part in line.splitlines() or [""]:
            out.append(f"# {part}".rstrip())
    return "\n".join(out) + "\n"


def render(crew: ImportedCrew) -> str:
    """The crew file's text: the crew, then what was not mapped, with the warnings on top."""
    head = [f"Imported by `workbench import` from {crew.source}"]
    if crew.warnings:
        head.append("Warnings (what changed or was left behind):")
        head += [f"- {w}" for w in crew.warnings]
    order = ("name", "description", "task", "engine", "model", "topology", "inputs")
    data = {k: crew.data[k] for k in order if k in crew.data}
    data.update({k: v for k, v in crew.data.items() if k not in data and k != "functions"})
    text = _comment(head) + dump_yaml(data)
    if crew.data.get("functions"):
        text += "\n" + _comment([
            "Python from the file (AutoGen FunctionTools): never run until you have read a",
            "function and set trusted: true on it; it then runs as a custom tool, through",
            "the policy (the shipped one asks a reviewer for each call).",
        ]) + dump_yaml({"functions": crew.data["functions"]})
    if crew.unmapped:
        text += "\n" + _comment([
            "Not mapped: runs ignore this section. Resolve each entry by hand (a tool to an",
            "MCP server, a module:function tool or a built-in; a setting to its crew field),",
            "then delete it.",
        ]) + dump_yaml({"unmapped": crew.unmapped})
    return text


def finish(crew: ImportedCrew) -> str:
    """Render the crew and check it as `workbench crews validate` would.

    A topology the workbench refuses (e.g. a graph GraphFlow ran but ours cannot) falls back
    to network, with the original kept under unmapped and a warning; anything else that
    does not validate is an import defect, reported as such.
    """
    from workbench.spec.loader import parse_crew

    label = f"{crew.name}.yaml"
    text = render(crew)
    try:
        parse_crew(text, label)
        return text
    except SpecError as exc:
        topology = crew.data.get("topology") or {}
        if topology.get("kind") == "network":
            raise WorkbenchError(f"import of {crew.source} made a crew that does not "
                                 f"validate ({exc}); please report this") from None
        crew.keep("crew", "topology", topology)
        crew.data["topology"] = {"kind": "network",
                                 **({"max_turns": topology["max_turns"]}
                                    if "max_turns" in topology else {})}
        crew.warn(f"the {topology.get('kind')} topology was refused ({exc.problem}); imported "
                  "as network, the original under unmapped.crew.topology")
    text = render(crew)
    try:
        parse_crew(text, label)
    except SpecError as exc:
        raise WorkbenchError(f"import of {crew.source} made a crew that does not validate "
                             f"({exc}); please report this") from None
    return text
