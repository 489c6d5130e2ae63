"""`workbench mcp tools CREW`: what each MCP server of a crew offers (names, descriptions,
parameters), found by starting (or connecting to) the servers and stopping them again."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from workbench.cli.common import EXIT_FAILED, EXIT_OK, actions, resolve_crew, settings


def register(subparsers: Any) -> None:
    """Add the `mcp` command group to the top-level parser."""
    mcp = subparsers.add_parser("mcp", help="MCP tool servers of a crew")
    mcp.set_defaults(handler=cmd_mcp)
    tools = actions(mcp).add_parser(
        "tools", help="start a crew's MCP servers and list the tools each offers")
    tools.add_argument("crew", metavar="CREW", help="crew file, or the name of a crew")
    tools.add_argument("--json", action="store_true", help="one JSON object per server")


def _parameter_lines(schema: dict[str, Any]) -> list[str]:
    """`name: type (required) - description` for each parameter of a JSON schema."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = prop.get("type") or " | ".join(
            str(p.get("type")) for p in prop.get("anyOf", []) if isinstance(p, dict)) or "any"
        line = f"{name}: {kind}{' (required)' if name in required else ''}"
        if prop.get("description"):
            line += f" - {prop['description']}"
        out.append(line)
    return out


def cmd_mcp(args: argparse.Namespace) -> int:
    from workbench.spec.loader import load_crew
    from workbench.tools.mcp import check_commands, list_crew_tools

    path = resolve_crew(args.crew, settings(args))
    spec = load_crew(path)
    check_commands(spec, str(path), path.read_text(encoding="utf-8"))
    listings = list_crew_tools(spec)
    if not listings:
        print(f"{spec.name} has no MCP servers (add them under mcp_servers)")
        return EXIT_OK
    failed = False
    for server in listings:
        failed = failed or bool(server.error)
        if args.json:
            print(json.dumps({
                "server": server.name, "transport": server.transport, "where": server.where,
                "error": server.error or None,
                "tools": [{"name": t.registered, "server_name": t.name,
                           "description": t.description, "parameters": t.parameters}
                          for t in server.tools],
            }))
            continue
        print(f"{server.name}  ({server.transport}: {server.where})")
        if server.error:
            print(f"  error: {server.error}")
        for tool in server.tools:
            alias = (f"  (called {tool.name} on the server)"
                     if tool.registered != tool.name else "")
            print(f"  {tool.registered}{alias}")
            if tool.description:
                first = tool.description.strip().splitlines()[0]
                print(textwrap.fill(first, 96, initial_indent="      ",
                                    subsequent_indent="      "))
            for line in _parameter_lines(tool.parameters):
                print(textwrap.fill(line, 96, initial_indent="      - ",
                                    subsequent_indent="        "))
        if not server.tools and not server.error:
            print("  (no tools)")
    for server in listings:
        if server.error:
            print(f"workbench: MCP server {server.name!r}: {server.error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK
