"""Importers: CrewAI projects and AutoGen component JSON made into workbench crew files."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import UserInputError
from workbench.spec.importers.common import (
    ImportedCrew,
    SeveralTeams,
    TeamChoice,
    finish,
    render,
)

__all__ = ["ImportedCrew", "SeveralTeams", "TeamChoice", "finish", "import_path", "render"]


def import_path(path: str | Path, team: str | None = None, all_teams: bool = False,
                name: str | None = None) -> list[ImportedCrew]:
    """The crews made from `path`: a CrewAI project folder (or its agents.yaml) or an AutoGen
    component JSON file (a team, an agent, or a gallery of teams)."""
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{path}: no such file or folder")
    if p.is_file() and p.suffix.lower() == ".json":
        from workbench.spec.importers.autogen import import_autogen

        return import_autogen(p, team, all_teams, name)
    if p.is_dir() or p.suffix.lower() in (".yaml", ".yml"):
        from workbench.spec.importers.crewai import import_crewai

        return import_crewai(p, team, all_teams, name)
    raise UserInputError(f"{path}: not a CrewAI project folder (agents.yaml, tasks.yaml) or an "
                         "AutoGen component file (.json)")
