"""Compose's MCP tools: start a crew's servers one by one off the UI thread, say how far it
got and which server failed, and keep what each offers for the tools picker."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from textual.dom import DOMNode
from textual.message import Message

from workbench.mesh.format import plural


@dataclass
class Discovery:
    """What the last discovery found: each server's tools as (name, description), and why
    each server that failed did."""

    tools: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: each server and its tool count, or its error (red)."""
        from rich.markup import escape

        parts = [f"{escape(s)}: {plural(len(t), 'tool')}" for s, t in self.tools.items()]
        parts += [f"[red]{escape(s)}: {escape(e.splitlines()[0][:80])}[/]"
                  for s, e in self.errors.items()]
        if not parts:
            return "[dim]MCP: this crew has no MCP servers[/]"
        return ("MCP tools · " + " · ".join(parts)
                + " [dim]· enter in an agent's Tools picks them[/]")


@dataclass
class McpProgress(Message):
    """Discovery is under way: `text` says which server is starting."""

    text: str


@dataclass
class Discovered(Message):
    discovery: Discovery


def discover(node: DOMNode, text: str, file: str) -> Discovery:
    """Start each MCP server of the crew in `text` in turn, list its tools and stop it
    (in a worker thread: progress is posted to `node`). A crew that does not validate, or
    a server command that is not installed, is a UserInputError naming it."""
    from workbench.spec.loader import parse_crew
    from workbench.tools.mcp import check_commands, crew_servers, list_crew_tools

    spec = parse_crew(text, file)
    check_commands(spec, file, text)
    servers = crew_servers(spec)
    found = Discovery()
    for i, (name, server) in enumerate(servers.items(), 1):
        node.post_message(McpProgress(
            f"[b]MCP[/] starting {name} ({i} of {len(servers)}) and listing its tools…"))
        one = SimpleNamespace(mcp_servers={name: server}, agents=[])
        for listing in list_crew_tools(one):  # type: ignore[arg-type]
            if listing.error:
                found.errors[listing.name] = listing.error
            else:
                found.tools[listing.name] = [(t.name, t.description) for t in listing.tools]
    return found


def server_names(crew: dict[str, Any], agent: dict[str, Any]) -> list[str]:
    """The MCP servers an agent may use: the crew's and its own, by name."""
    names: list[str] = []
    for source in (crew.get("mcp_servers"), agent.get("mcp_servers")):
        if isinstance(source, dict):
            names += [str(n) for n in source if str(n) not in names]
    return names


def builtin_tools() -> list[tuple[str, str]]:
    """The built-in tools as (name, first line of description)."""
    from workbench.tools.builtin import BUILTINS

    return [(t.name, (t.description or "").strip().split("\n")[0][:70]) for t in BUILTINS]
