"""Finding crew files: by path, or by name among yours, ./crews and the shipped ones.

One rule, used by `run`, `crews list`, `crews validate` and Compose: a crew name is looked
up in the home's crews folder (yours: where Compose saves), then ./crews (this project's),
then the crews shipped with the workbench; the first one found wins, so your crew of a
shipped name overrides the shipped one everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.config import SHIPPED_CREWS, Settings, inside
from workbench.errors import SpecError, UserInputError
from workbench.spec.schema import crew_name_problem

#: Where crews come from, as `crews list` names it.
YOURS, LOCAL, SHIPPED = "yours", "./crews", "shipped"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CrewFolder:
    """A folder crews are found in, and what it is."""

    source: str
    path: Path


def crew_folders(settings: Settings) -> list[CrewFolder]:
    """The folders crews are found in, the one that wins first.

    ./crews is the shipped folder itself when the workbench runs from its own checkout; it
    is then named shipped, and ranks as shipped, so it cannot override your crews.
    """
    shipped = SHIPPED_CREWS.resolve()
    out: list[CrewFolder] = []
    seen: set[Path] = set()
    for source, folder in ((YOURS, settings.crews_dir), (LOCAL, Path.cwd() / "crews"),
                           (SHIPPED, SHIPPED_CREWS)):
        if not folder.is_dir():
            continue
        real = folder.resolve()
        if real == shipped and source != SHIPPED:
            continue  # listed below, as shipped
        if real not in seen:
            seen.add(real)
            out.append(CrewFolder(source, folder))
    return out


def crew_dirs(settings: Settings) -> list[Path]:
    """The folders crews are found in, the one that wins first."""
    return [f.path for f in crew_folders(settings)]


def _files(folder: Path) -> dict[str, Path]:
    """The crew files of a folder by name (`x.yaml` before `x.yml`)."""
    out: dict[str, Path] = {}
    for suffix in SUFFIXES:
        for path in sorted(folder.glob(f"*{suffix}")):
            if path.is_file():
                out.setdefault(path.stem, path)
    return out


@dataclass
class CrewFile:
    """A crew name and every file of that name: `found[0]` is the one in force."""

    name: str
    found: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.found[0][0]

    @property
    def path(self) -> Path:
        return self.found[0][1]

    @property
    def overrides(self) -> list[str]:
        """The sources of the files this one hides."""
        return [source for source, _ in self.found[1:]]


def crew_files(settings: Settings) -> dict[str, CrewFile]:
    """Every crew name found, with the file in force and the ones it overrides."""
    out: dict[str, CrewFile] = {}
    for folder in crew_folders(settings):
        for name, path in _files(folder.path).items():
            out.setdefault(name, CrewFile(name)).found.append((folder.source, path))
    return out


def find_crew(name: str, settings: Settings) -> Path:
    """A crew by path (anything with a '/' or a .yaml suffix, or an existing file), or by
    name under the one rule above."""
    path = Path(name)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # too long a name for the file system, a NUL
        is_file = False
    if is_file:
        return path
    if path.suffix in SUFFIXES or "/" in name:
        raise SpecError("no such crew file", name)
    if crew_name_problem(name):
        raise UserInputError(f"no crew named {name!r}: {crew_name_problem(name)}")
    for folder in crew_folders(settings):
        for suffix in SUFFIXES:
            candidate = inside(folder.path, f"{name}{suffix}")
            if candidate.is_file():
                return candidate
    raise UserInputError(f"no crew named {name!r}; see `workbench crews list`")


def user_crew_path(settings: Settings, name: str) -> Path:
    """Where your crew called `name` is saved: <home>/crews/<name>.yaml, never elsewhere.

    A name that is not a safe file name is a UserInputError stating the rule.
    """
    problem = crew_name_problem(name)
    if problem:
        raise UserInputError(problem)
    return inside(settings.crews_dir, f"{name}.yaml")


@dataclass
class CrewEntry:
    name: str
    path: Path
    engine: str = "-"
    topology: str = "-"
    agents: int = 0
    status: str = "ok"
    #: yours, ./crews or shipped
    source: str = SHIPPED
    #: the sources of same-named crews this one overrides
    overrides: list[str] = field(default_factory=list)

    @property
    def source_label(self) -> str:
        """`yours`, or `yours (overrides shipped)` when it hides another crew of its name."""
        if not self.overrides:
            return self.source
        return f"{self.source} (overrides {', '.join(self.overrides)})"


def list_crews(settings: Settings) -> list[CrewEntry]:
    """Every crew name found, with the file in force and whether it validates (a broken
    file is listed, not fatal); sorted by name."""
    from workbench.spec.loader import load_crew

    out: list[CrewEntry] = []
    for name, found in sorted(crew_files(settings).items()):
        entry = CrewEntry(name, found.path, source=found.source, overrides=found.overrides)
        try:
            spec = load_crew(found.path)
        except SpecError as exc:
            entry.status = f"error: {exc.problem}"
        else:
            entry.engine, entry.topology = spec.engine, spec.topology.kind
            entry.agents = len(spec.agents)
        out.append(entry)
    return out
