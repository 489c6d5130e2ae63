"""A small streamable-HTTP MCP server for the HTTP transport test: `python -m
tests.core.mcp_http_server PORT` serves /mcp on 127.0.0.1 with one tool."""

from __future__ import annotations

import asyncio
import sys

from mcp.server.fastmcp import Context, FastMCP

server = FastMCP("docs", host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                 log_level="WARNING")


@server.tool()
def lookup(term: str, ctx: Context) -> str:
    """Look a term up in the glossary; says how long a token the request carried."""
    request = ctx.request_context.request
    token = request.headers.get("x-docs-token", "") if request is not None else ""
    return f"{term}: a word in the glossary (a token of {len(token)} characters)"


@server.tool()
async def wait(seconds: float) -> str:
    """Answers after `seconds`."""
    await asyncio.sleep(seconds)
    return f"waited {seconds} s"


if __name__ == "__main__":
    server.run(transport="streamable-http")
