"""Finding crew files: by path, or by name in ./crews, the home's crews folder, or shipped ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.config import SHIPPED_CREWS, Settings
from workbench.errors import SpecError, UserInputError


def crew_dirs(settings: Settings) -> list[Path]:
    dirs = [Path.cwd() / "crews", settings.crews_dir, SHIPPED_CREWS]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def find_crew(name: str, settings: Settings) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml") or "/" in name:
        raise SpecError("no such crew file", name)
    for d in crew_dirs(settings):
        for suffix in (".yaml", ".yml"):
            candidate = d / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    raise UserInputError(f"no crew named {name!r}; see `workbench crews list`")


@dataclass
class CrewEntry:
    name: str
    path: Path
    engine: str = "-"
    topology: str = "-"
    agents: int = 0
    status: str = "ok"


def list_crews(settings: Settings) -> list[CrewEntry]:
    """Every crew file found, with whether it validates (a broken file is listed, not fatal)."""
    from workbench.spec.loader import load_crew

    out: list[CrewEntry] = []
    names: set[str] = set()
    for d in crew_dirs(settings):
        for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            if path.stem in names:
                continue
            names.add(path.stem)
            try:
                spec = load_crew(path)
            except SpecError as exc:
                out.append(CrewEntry(path.stem, path, status=f"error: {exc.problem}"))
                continue
            out.append(CrewEntry(spec.name, path, spec.engine, spec.topology.kind,
                                 len(spec.agents)))
    return out
