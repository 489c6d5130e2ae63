"""`workbench agents list`: the capability registry, every agent of every crew you can see."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workbench.cli.common import EXIT_OK, actions, print_table, settings, warn


def register(sub: Any) -> None:
    """Add the `agents` command group."""
    group = sub.add_parser("agents", help="the agents of every crew (the capability registry)")
    group.set_defaults(handler=cmd_agents)
    ls = actions(group).add_parser(
        "list", help="every agent of your crews, ./crews, the shipped crews and (with a "
        "PostgreSQL --db) the team's; a crew takes one with `- use: CREW/AGENT`")
    ls.add_argument("query", nargs="?", default="", metavar="TEXT",
                    help="only agents with these words in their name, crew, role, goal, "
                         "capabilities, domain, model or tools")
    ls.add_argument("--search", default="", metavar="TEXT", help="the same as TEXT")
    ls.add_argument("--capability", "-c", action="append", default=[], metavar="C",
                    help="only agents with this capability (repeat: all of them)")
    ls.add_argument("--json", action="store_true", help="one JSON object per agent")


def cmd_agents(args: argparse.Namespace) -> int:
    from workbench.spec.registry import load_registry

    registry = load_registry(settings(args))
    text = " ".join(t for t in (args.query, args.search) if t)
    found = registry.find(args.capability, text)
    if args.json:
        for agent in found:
            print(json.dumps(agent.as_json()))
    else:
        rows = [[a.ref, ", ".join(a.capabilities) or "-", a.model, a.domain,
                 ", ".join(a.tools) or "-",
                 a.source + (f", uses {a.uses}" if a.uses else "")] for a in found]
        print_table(rows, ["AGENT", "CAPABILITIES", "MODEL", "DOMAIN", "TOOLS", "SOURCE"])
        if not found and registry.agents:
            print("(no agent matches)")
    # a crew that does not validate is not listed; say which and why
    warn([f"not listed: {p}" for p in registry.problems])
    return EXIT_OK
