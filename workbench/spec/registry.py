"""The capability registry: every agent of every crew the user can see, and `use:` agents.

Crews are found under the one rule of workbench/crews.py (yours, then ./crews, then the
shipped ones: your crew of a shipped name overrides it). In team mode (a PostgreSQL
database) the crews whose snapshots the team's store holds are added, the latest snapshot of
each name, for those not found in a folder.

A crew's agent entry may take an agent from another crew, `- use: market-entry/analyst`,
with any agent field beside it to override. `resolve_uses` replaces such entries with the
agent they name, in the crew file's data before the schema reads it, so validation, runs,
Compose and export all see the resolved agent. Every problem is a SpecError at file:line.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError, UserInputError

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.spec.schema import CrewSpec

#: The key of an agent entry that takes an agent from another crew.
USE = "use"
#: A `use` key, as YAML may write it (plain, quoted, in a flow mapping).
_MAY_USE = re.compile(r"""(^|[\s{,])["']?use["']?\s*:""", re.M)
#: Where an agent comes from when its crew is known only to the team's store.
TEAM = "team"

_settings: Settings | None = None


def use_settings(settings: Settings | None) -> None:
    """The settings (home, database) crews are looked up with when a crew file says `use:`.

    The command line sets them from its global options; without, WORKBENCH_* and defaults.
    """
    global _settings
    _settings = settings


def current_settings() -> Settings:
    from workbench.config import Settings

    return _settings if _settings is not None else Settings()


def team_mode(settings: Settings) -> bool:
    """Whether the database is a shared PostgreSQL (the registry is then the team's)."""
    return (settings.db_url or "").startswith("postgresql")


# -- where a crew's text comes from ------------------------------------------------------------


@dataclass
class CrewSource:
    """A crew's text, where it was found (`yours`, `./crews`, `shipped`, `team`) and the
    name of its file (a snapshot's: `team:<name>@<id>`)."""

    name: str
    source: str
    file: str
    text: str
    overrides: list[str] = field(default_factory=list)


def _team_snapshots(settings: Settings) -> dict[str, CrewSource]:
    """The latest snapshot of each crew name in the team's store (empty when not in team
    mode); a database that cannot be read is a UserInputError naming it."""
    if not team_mode(settings):
        return {}
    from sqlalchemy import func, select

    from workbench.store.db import SNAPSHOTS, Store

    store = Store.for_reading(settings.database_url)
    try:
        latest = (select(SNAPSHOTS.c.name, func.max(SNAPSHOTS.c.id).label("id"))
                  .group_by(SNAPSHOTS.c.name).subquery())
        query = (select(SNAPSHOTS.c.id, SNAPSHOTS.c.name, SNAPSHOTS.c.text)
                 .join(latest, SNAPSHOTS.c.id == latest.c.id).order_by(SNAPSHOTS.c.name))
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        store.close()
    return {name: CrewSource(name, TEAM, f"team:{name}@{sid}", text)
            for sid, name, text in rows}


class Crews:
    """The crews one lookup can see: files first (the one rule), then the team's snapshots,
    read once and only when a name is not found in a folder."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or current_settings()
        self._team: dict[str, CrewSource] | None = None
        #: Crew files `all()` could not read, as `file:line: problem`.
        self.problems: list[str] = []

    def team(self) -> dict[str, CrewSource]:
        if self._team is None:
            self._team = _team_snapshots(self.settings)
        return self._team

    def files(self) -> dict[str, Any]:
        from workbench.crews import crew_files

        return crew_files(self.settings)

    def find(self, name: str) -> CrewSource | None:
        found = self.files().get(name)
        if found is not None:
            from workbench.spec.yamlpos import LocatedYAMLError, read_yaml_text

            try:
                text = read_yaml_text(found.path)
            except LocatedYAMLError as exc:  # not UTF-8: the line of the first bad byte
                raise SpecError(str(exc), str(found.path), exc.line) from None
            except OSError as exc:
                raise SpecError(f"cannot read the crew file: {exc}", str(found.path)) from None
            return CrewSource(name, found.source, str(found.path), text, found.overrides)
        return self.team().get(name)

    def names(self) -> list[str]:
        return sorted({*self.files(), *self.team()})

    def all(self) -> Iterator[CrewSource]:
        """Every crew in force: the files', then the team's not found in a folder."""
        files = self.files()
        for name in sorted(files):
            try:
                found = self.find(name)
            except SpecError as exc:  # one unreadable file must not hide every other crew
                self.problems.append(str(exc))
                continue
            if found is not None:
                yield found
        for name, snapshot in sorted(self.team().items()):
            if name not in files:
                yield snapshot


# -- `use:` ---------------------------------------------------------------------------------


def _agent_fields() -> list[str]:
    from workbench.spec.schema import AgentSpec

    return list(AgentSpec.model_fields)


def _entry_name(entry: dict[str, Any]) -> Any:
    """An entry's agent name: its own, or (a `use:` entry without one) the used agent's."""
    if "name" in entry or not isinstance(entry.get(USE), str):
        return entry.get("name")
    return entry[USE].partition("/")[2]


def resolve_uses(data: dict[str, Any], lines: dict, file: str,
                 crews: Crews | None = None, _stack: tuple[str, ...] = ()) -> None:
    """Replace every `use:` agent entry of a crew's data with the agent it names, fields
    beside `use` overriding the used agent's; lines of inherited fields point at the entry.
    """
    agents = data.get("agents")
    if not isinstance(agents, list) or not any(
            isinstance(a, dict) and USE in a for a in agents):
        return
    from workbench.spec.yamlpos import line_of

    crews = crews or Crews()
    for i, entry in enumerate(agents):
        if isinstance(entry, dict) and USE in entry:
            try:
                agents[i] = _resolve(entry, lines, ("agents", i), file, crews, _stack)
            except SpecError as exc:
                if _stack or exc.file == file:
                    raise
                # a problem in the other crew's file is said at this `use:`, naming it
                raise SpecError(f"use: {entry[USE]}: {exc}", file,
                                line_of(lines, ("agents", i, USE))) from None


def resolved_text(text: str, file: str, crews: Crews | None = None) -> str | None:
    """The crew text with its `use:` agents written out as they resolve now (None if it
    has none): what a run of it stores as its snapshot, so that a replay, a compare, a
    fork or an eval's crew version shows the agents that ran, not a name whose crew may
    have changed since."""
    if not _MAY_USE.search(text):  # no `use:` key anywhere: nothing to parse again
        return None
    import yaml

    from workbench.spec.yamlpos import load_with_lines

    data, lines = load_with_lines(text)
    agents = data.get("agents") if isinstance(data, dict) else None
    uses = [a[USE] for a in agents or [] if isinstance(a, dict) and USE in a]
    if not uses:
        return None
    resolve_uses(data, lines, file, crews)
    head = (f"# {file}, as it ran: its `use:` agents ({', '.join(map(str, uses))}) "
            "written out\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _resolve(entry: dict[str, Any], lines: dict, path: tuple, file: str, crews: Crews,
             stack: tuple[str, ...]) -> dict[str, Any]:
    from workbench.spec.schema import crew_name_problem
    from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines

    def fail(message: str, *key: str) -> None:
        raise SpecError(message, file, line_of(lines, (*path, *key)))

    ref = entry[USE]
    crew_name, sep, agent_name = ref.partition("/") if isinstance(ref, str) else ("", "", "")
    if not sep or not crew_name or not agent_name:
        fail(f"use: {ref!r} must name a crew and one of its agents, like "
             "market-entry/analyst", USE)
    if crew_name_problem(crew_name):
        fail(f"use: {ref!r}: {crew_name_problem(crew_name)}", USE)
    fields = _agent_fields()
    for key in entry:
        if key != USE and key not in fields:
            fail(f"use: {ref}: agents have no field {key!r} to override; the fields are "
                 f"{', '.join(fields)}", key)
    if ref in stack:
        fail(f"use: {ref} leads back to itself: {' -> '.join((*stack, ref))}", USE)
    source = crews.find(crew_name)
    if source is None:
        known = ", ".join(crews.names()) or "none"
        fail(f"use: {ref}: no crew named {crew_name!r} (crews: {known}; see "
             "`workbench agents list`)", USE)
    assert source is not None
    try:
        src_data, src_lines = load_with_lines(source.text)
    except LocatedYAMLError as exc:
        raise SpecError(f"{exc} (the crew of use: {ref})", source.file, exc.line) from None
    src_agents = src_data.get("agents") if isinstance(src_data, dict) else None
    src_agents = src_agents if isinstance(src_agents, list) else []
    index = next((j for j, a in enumerate(src_agents)
                  if isinstance(a, dict) and _entry_name(a) == agent_name), None)
    if index is None:
        names = [str(_entry_name(a)) for a in src_agents if isinstance(a, dict)]
        fail(f"use: {ref}: crew {crew_name!r} has no agent {agent_name!r}; its agents are "
             f"{', '.join(names) or 'none'}", USE)
    assert index is not None and isinstance(src_data, dict)
    base = copy.deepcopy(src_agents[index])
    if USE in base:  # taken in turn from another crew
        base = _resolve(base, src_lines, ("agents", index), source.file, crews, (*stack, ref))
    if source.source == TEAM:
        _no_team_servers(entry, base, src_data, ref, fail)
    base = _with_crew_defaults(base, src_data, servers=source.source != TEAM)
    _check_agent(base, src_lines, ("agents", index), source.file, ref)
    merged = {**base, **{k: v for k, v in entry.items() if k != USE}}
    where = line_of(lines, (*path, USE))
    for key in merged:
        if (*path, key) not in lines and where is not None:
            lines[(*path, key)] = where
    return merged


def _no_team_servers(entry: dict[str, Any], agent: dict[str, Any], crew: dict[str, Any],
                     ref: str, fail: Callable[..., None]) -> None:
    """An agent taken from the team's database brings no MCP server with it: a server
    starts a program or connects to a URL (with headers from your environment), and whoever
    can write to the shared database must not choose that for your run. Its tools that
    name a server need one declared in your crew (as the agent's own `mcp_servers`)."""
    tools = entry.get("tools", agent.get("tools"))
    own = entry.get("mcp_servers") if isinstance(entry.get("mcp_servers"), dict) else {}
    offered = {**(crew.get("mcp_servers") if isinstance(crew.get("mcp_servers"), dict) else {}),
               **(agent.get("mcp_servers") if isinstance(agent.get("mcp_servers"), dict)
                  else {})}
    needed = sorted({t[4:].partition("/")[0] for t in tools or []
                     if isinstance(t, str) and t.startswith("mcp:")} - set(own))
    withheld = [n for n in needed if n in offered]
    if withheld:
        fail(f"use: {ref} comes from the team's database, and its tools need the MCP "
             f"server(s) {', '.join(withheld)}: servers are never taken from there (they "
             "start programs or reach URLs); after checking what they run, declare them "
             "beside use: (mcp_servers:)", USE)


def _with_crew_defaults(agent: dict[str, Any], crew: dict[str, Any],
                        servers: bool = True) -> dict[str, Any]:
    """What the used agent had from its own crew goes with it: the crew's model and
    api_base (when the agent names none), and (`servers`) the crew's MCP servers its tools
    name."""
    out = dict(agent)
    for key in ("model", "api_base"):
        if not out.get(key) and isinstance(crew.get(key), str) and crew[key]:
            out[key] = crew[key]
    if not servers:
        out.pop("mcp_servers", None)
        return out
    servers = crew.get("mcp_servers")
    tools = out.get("tools")
    if isinstance(servers, dict) and isinstance(tools, list):
        own = dict(out.get("mcp_servers") or {})
        for tool in tools:
            if isinstance(tool, str) and tool.startswith("mcp:"):
                name = tool[4:].partition("/")[0]
                if name in servers and name not in own:
                    own[name] = copy.deepcopy(servers[name])
        if own:
            out["mcp_servers"] = own
    return out


def _check_agent(agent: dict[str, Any], lines: dict, path: tuple, file: str,
                 ref: str) -> None:
    """The used agent as its own crew defines it must be a valid agent (said at its line)."""
    from pydantic import ValidationError

    from workbench.spec.loader import _describe
    from workbench.spec.schema import AgentSpec
    from workbench.spec.yamlpos import line_of

    try:
        AgentSpec.model_validate(agent)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        if err["type"] == "missing":
            loc = loc[:-1]
        raise SpecError(f"{_describe(err)} (the agent of use: {ref})", file,
                        line_of(lines, (*path, *loc))) from None


# -- the registry ----------------------------------------------------------------------------


@dataclass
class RegistryAgent:
    """One agent as the registry lists it."""

    crew: str
    name: str
    role: str
    goal: str
    capabilities: list[str]
    model: str
    domain: str
    tools: list[str]
    #: yours, ./crews, shipped or team (and what a crew of yours overrides)
    source: str
    #: the crew's file, or `team:<crew>@<snapshot id>`
    file: str
    #: the agent it was taken from (`use:`), if any
    uses: str | None = None
    backstory: str = ""
    #: the agent's fields as another crew would take them (a copy): see `portable`
    fields: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        """How another crew takes this agent: `use: <crew>/<agent>`."""
        return f"{self.crew}/{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "crew": self.crew, "name": self.name, "role": self.role,
                "goal": self.goal, "capabilities": self.capabilities, "model": self.model,
                "domain": self.domain, "tools": self.tools, "source": self.source,
                "file": self.file, "uses": self.uses}

    def matches(self, capability: list[str] | None = None, text: str | None = None) -> bool:
        """Has every capability asked for (any case), and `text` in any of its words."""
        have = {c.lower() for c in self.capabilities}
        if any(c.lower() not in have for c in capability or []):
            return False
        if text:
            words = " ".join([self.ref, self.role, self.goal, self.backstory, self.domain,
                              self.model, self.source, *self.capabilities, *self.tools])
            return all(t in words.lower() for t in text.lower().split())
        return True


@dataclass
class Registry:
    agents: list[RegistryAgent]
    #: crews that could not be read, as `file:line: problem`
    problems: list[str] = field(default_factory=list)

    def find(self, capability: list[str] | None = None,
             text: str | None = None) -> list[RegistryAgent]:
        return [a for a in self.agents if a.matches(capability, text)]


def _uses(source: CrewSource) -> dict[str, str]:
    """Which agents of a crew file are `use:` entries, by agent name."""
    from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines

    with contextlib.suppress(LocatedYAMLError):
        data = load_with_lines(source.text)[0]
        agents = data.get("agents") if isinstance(data, dict) else None
        return {str(_entry_name(a)): a[USE] for a in agents or []
                if isinstance(a, dict) and isinstance(a.get(USE), str)}
    return {}


def agents_of(spec: CrewSpec, source: CrewSource) -> list[RegistryAgent]:
    label = source.source
    if source.overrides:
        label += f" (overrides {', '.join(source.overrides)})"
    uses = _uses(source)
    # the crew is named as `use:` finds it: by its file's name
    return [RegistryAgent(source.name, a.name, a.role, a.goal, list(a.capabilities),
                          spec.model_for(a), a.domain, list(a.tools), label, source.file,
                          uses.get(a.name), a.backstory, portable(spec, a.name))
            for a in spec.agents]


def portable(spec: CrewSpec, name: str) -> dict[str, Any]:
    """Agent `name` of a crew as a self-contained entry for another crew: its own fields,
    with what it had from its crew (model, api_base, the MCP servers its tools name), as
    `use:` would take it."""
    agent = spec.agent(name)
    fields = agent.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    crew = spec.model_dump(mode="json", include={"model", "api_base", "mcp_servers"},
                           exclude_none=True)
    return _with_crew_defaults(fields, crew)


def load_registry(settings: Settings | None = None) -> Registry:
    """Every agent of every crew in force (a crew that does not validate is a problem,
    listed, not fatal), in crew then file order."""
    from workbench.spec.loader import parse_crew

    crews = Crews(settings)
    out = Registry([], crews.problems)  # one list: unreadable files and invalid crews
    for source in crews.all():
        try:
            spec = parse_crew(source.text, source.file, crews=crews)
        except UserInputError as exc:
            out.problems.append(str(exc))
            continue
        out.agents.extend(agents_of(spec, source))
    return out
