"""`workbench engines`: the engines the registry found, what each offers and what it is."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.cli.common import EXIT_OK, print_table


def register(sub: Any) -> None:
    """Add the `engines` command."""
    engines = sub.add_parser("engines", help="the installed engines and their topologies")
    engines.set_defaults(handler=cmd_engines)


def cmd_engines(args: argparse.Namespace) -> int:
    from workbench.engines import broken_engines, engines
    from workbench.spec.shape import TOPOLOGY_KINDS

    rows = [[info.name, ", ".join(k for k in TOPOLOGY_KINDS if k in info.topologies),
             info.description] for info in engines().values()]
    rows += [[name, "-", f"unusable: {why}"] for name, why in broken_engines().items()]
    print_table(rows, ["ENGINE", "TOPOLOGIES", "DESCRIPTION"])
    return EXIT_OK
