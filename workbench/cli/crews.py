"""`workbench crews list | validate`: the crew files the workbench knows, and checking one."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.cli.common import (
    EXIT_OK,
    actions,
    engine_options,
    print_table,
    resolve_crew,
    settings,
)


def register(sub: Any) -> None:
    """Add the `crews` command group."""
    group = sub.add_parser("crews", help="crew files")
    group.set_defaults(handler=cmd_crews)
    crews = actions(group)
    crews.add_parser("list", help="your crews (the home's), ./crews and the shipped ones; "
                     "yours override the others of the same name")
    validate = crews.add_parser("validate", help="check a crew file")
    validate.add_argument("crew", metavar="CREW")
    engine_options(validate)


def cmd_crews(args: argparse.Namespace) -> int:
    from workbench.crews import list_crews
    from workbench.spec.loader import load_crew

    config = settings(args)
    if args.action == "list":
        rows = []
        for entry in list_crews(config):
            rows.append([entry.name, entry.source_label, entry.engine, entry.topology,
                         str(entry.agents), entry.status, str(entry.path)])
        print_table(rows, ["NAME", "SOURCE", "ENGINE", "TOPOLOGY", "AGENTS", "STATUS", "PATH"])
        return EXIT_OK
    path = resolve_crew(args.crew, config)
    spec = load_crew(path, engine=args.engine, topology=args.topology)
    engine = args.engine or spec.engine
    topology = args.topology or spec.topology.kind
    from workbench.gateway.credentials import missing_keys
    from workbench.mesh.format import plural

    # a route or fallback naming no alias is an error at its line, said before any "ok"
    missing = missing_keys(spec, config.home, str(path), path.read_text(encoding="utf-8"))
    print(f"{path}: ok ({spec.name}: {plural(len(spec.agents), 'agent')}, {engine}, {topology})")
    for problem in missing:  # valid, but a run would stop here
        print(f"  warning: {problem}")
    from workbench.tools.functions import notes

    for note in notes(spec):  # valid, but a run goes without them
        print(f"  warning: {note}")
    return EXIT_OK
