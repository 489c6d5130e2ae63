"""`workbench import` and `workbench export`: CrewAI projects and AutoGen teams, in and out.

Import reads files as data (no project code is imported or run) and writes a crew file,
by default into your crews (<home>/crews/<name>.yaml), saying what it could not map.
Export writes a CrewAI project folder or an AutoGen team component JSON; the frameworks
are imported only on the export path that needs them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from workbench.cli.common import EXIT_OK, print_table, settings, warn
from workbench.errors import UserInputError
from workbench.mesh.format import plural


def register(subparsers: Any) -> None:
    """Add the `import` and `export` commands to the top-level parser."""
    imp = subparsers.add_parser(
        "import", help="make a crew from a CrewAI project or an AutoGen component JSON")
    imp.set_defaults(handler=cmd_import)
    imp.add_argument("path", metavar="PATH",
                     help="a CrewAI project folder (or its agents.yaml), or an AutoGen team, "
                          "agent or AutoGen Studio gallery .json")
    imp.add_argument("-o", "--output", metavar="OUT",
                     help="the crew file to write (a folder with --all); default: "
                          "<home>/crews/<name>.yaml")
    imp.add_argument("--name", help="the crew's name (default: the project's or team's)")
    which = imp.add_mutually_exclusive_group()
    which.add_argument("--team", metavar="NAME",
                       help="the team of a gallery, or the crew of a project, to import")
    which.add_argument("--all", action="store_true", dest="all_teams",
                       help="import every team (or crew), one crew file each")
    imp.add_argument("--force", action="store_true", help="replace crew files that exist")

    exp = subparsers.add_parser(
        "export", help="write a crew as a CrewAI project or an AutoGen team component JSON")
    exp.set_defaults(handler=cmd_export)
    exp.add_argument("crew", metavar="CREW", help="crew file, or the name of a crew")
    exp.add_argument("--to", nargs=2, metavar=("FORMAT", "DEST"), required=True,
                     help="crewai DIR (agents.yaml, tasks.yaml, crew.py) or autogen FILE")
    exp.add_argument("--force", action="store_true", help="replace files that exist")


def _list_teams(exc: Any) -> None:
    print(f"{exc.source} holds {len(exc.choices)} teams:")
    print_table([[str(i), c.name, c.label, c.kind, str(c.agents) if c.agents else "-"]
                  for i, c in enumerate(exc.choices, 1)],
                 ["#", "NAME", "LABEL", "KIND", "AGENTS"])


def cmd_import(args: argparse.Namespace) -> int:
    from workbench.crews import user_crew_path
    from workbench.spec.importers import SeveralTeams, finish, import_path

    config = settings(args)
    try:
        crews = import_path(args.path, args.team, args.all_teams, args.name)
    except SeveralTeams as exc:
        _list_teams(exc)
        raise
    out = Path(args.output) if args.output else None
    several = len(crews) > 1 or args.all_teams
    targets: list[Path] = []
    for crew in crews:
        if out is None:
            target = user_crew_path(config, crew.name)
        elif several or out.is_dir():
            target = out / f"{crew.name}.yaml"
        else:
            target = out
        if target in targets:
            raise UserInputError(f"two crews would be written to {target}; use --all with "
                                 "a folder for -o")
        if target.exists() and not args.force:
            raise UserInputError(f"{target} exists: use --force to replace it, or choose "
                                 "another with -o or --name")
        targets.append(target)
    texts = [finish(crew) for crew in crews]  # every crew validates before any is written
    for crew, target, text in zip(crews, targets, texts, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        data = crew.data
        topology = (data.get("topology") or {}).get("kind", "network")
        print(f"imported {crew.source} -> {target} (crew {crew.name}: "
              f"{plural(len(data['agents']), 'agent')}, "
              f"{plural(len(data.get('tasks') or []), 'task')}, "
              f"{data['engine']}, {topology})")
        warn(crew.warnings)
        ref = crew.name if out is None else str(target)
        print(f"  run it offline: workbench run {ref} --model scripted/demo")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from workbench.crews import find_crew
    from workbench.spec.loader import load_crew

    fmt, dest = args.to
    fmt = fmt.lower()
    if fmt not in ("crewai", "autogen"):
        raise UserInputError(f"export --to {fmt}: the formats are crewai (a folder) and "
                             "autogen (a .json file)")
    config = settings(args)
    spec = load_crew(find_crew(args.crew, config))
    target = Path(dest)
    if fmt == "crewai":
        from workbench.spec.importers.crewai_export import export_crewai

        files, warnings = export_crewai(spec, target, force=args.force)
        for path in files:
            print(f"wrote {path}")
    else:
        if target.is_dir():
            target = target / f"{spec.name}.json"
        if target.exists() and not args.force:
            raise UserInputError(f"{target} exists: use --force to replace it")
        from workbench.engines.autogen.export import team_component

        data, warnings = team_component(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {target}")
    warn(warnings)
    return EXIT_OK
