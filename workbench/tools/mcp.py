"""MCP tool servers: start or connect to a crew's servers and offer their tools as workbench tools.

The workbench holds one MCP client session per server (the `mcp` SDK's ClientSession over
stdio or streamable HTTP) on the run's event loop. Each tool a server lists becomes an
ordinary Tool in the run's registry, tagged `mcp` and the server's name, with `server` set:
both engines offer it through their governed adapters, and every call passes
RunContext.call_tool (gate, approvals, audit) like a built-in tool's. The frameworks' own MCP
clients (AutoGen's McpWorkbench, CrewAI's `mcps`) are never used: they call past the gate.

`mcp`, `anyio` and `httpx` are imported only when a server is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError, UserInputError, WorkbenchError
from workbench.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from workbench.mesh.context import RunContext
    from workbench.spec.schema import CrewSpec, McpServerSpec
    from workbench.tools.registry import ToolRegistry

#: How an agent's `tools:` names an MCP server (`mcp:time`) or one of its tools (`mcp:git/git_log`).
MCP_PREFIX = "mcp:"
#: Every MCP tool has it, so a policy can tell them from the built-in and custom tools.
MCP_TAG = "mcp"
#: Seconds a server has to start and list its tools (a first `uvx` download takes a while).
START_TIMEOUT_S = 60.0
#: Seconds a server has to stop once asked (the SDK closes stdin, then terminates, then kills).
STOP_TIMEOUT_S = 10.0
#: Server names become tags and tool-name prefixes.
SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TAIL_LINES, _TAIL_CHARS = 8, 800


class McpServerError(WorkbenchError):
    """An MCP server could not start (or be reached): the run fails, naming it."""


# -- the crew's servers, checked without starting anything -----------------------------------


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`mcp:git/git_log` -> ("git", "git_log"); `mcp:time` -> ("time", None)."""
    server, sep, tool = ref[len(MCP_PREFIX):].partition("/")
    return server, (tool if sep else None)


def crew_servers(spec: CrewSpec) -> dict[str, McpServerSpec]:
    """Every MCP server of a crew: its own and its agents' (one per name), in file order."""
    servers = dict(spec.mcp_servers)
    for agent in spec.agents:
        for name, server in agent.mcp_servers.items():
            servers.setdefault(name, server)
    return servers


def check_servers(spec: CrewSpec, fail: Callable[..., None]) -> None:
    """The checks the schema cannot make: server names, and the `mcp:` refs of each agent.

    `fail(message, *path)` raises at the line of `path` (the crew loader's)."""
    bad_name = ("MCP server name {!r} must be letters, digits, '_' or '-' (it becomes a tag "
                "and a tool name prefix)")
    for name in spec.mcp_servers:
        if not SERVER_NAME.fullmatch(name):
            fail(bad_name.format(name), "mcp_servers", name)
    defined: dict[str, tuple[str, McpServerSpec]] = {}
    for i, agent in enumerate(spec.agents):
        for name, server in agent.mcp_servers.items():
            path = ("agents", i, "mcp_servers", name)
            if not SERVER_NAME.fullmatch(name):
                fail(bad_name.format(name), *path)
            if name in spec.mcp_servers:
                fail(f"MCP server {name!r} of agent {agent.name!r} has the name of a server of "
                     "the crew; rename one of them", *path)
            other = defined.setdefault(name, (agent.name, server))
            if other[1] != server:
                fail(f"MCP server {name!r} of agent {agent.name!r} is not the one agent "
                     f"{other[0]!r} defines under that name; rename one of them", *path)
        for j, ref in enumerate(agent.tools):
            if not ref.startswith(MCP_PREFIX):
                continue
            server_name, tool = parse_ref(ref)
            if not SERVER_NAME.fullmatch(server_name) or (tool is not None
                                                      and (not tool or "/" in tool)):
                fail(f"MCP tool {ref!r} must be written mcp:SERVER (all its tools) or "
                     "mcp:SERVER/TOOL", "agents", i, "tools", j)
            if server_name not in spec.mcp_servers and server_name not in agent.mcp_servers:
                known = sorted({*spec.mcp_servers, *agent.mcp_servers})
                hint = (f"its servers are {', '.join(known)}" if known
                        else "define it under mcp_servers")
                fail(f"agent {agent.name!r} lists {ref!r}, but no MCP server {server_name!r} "
                     f"is defined for it; {hint}", "agents", i, "tools", j)


def _server_paths(spec: CrewSpec) -> dict[str, tuple[str | int, ...]]:
    """Where each server is defined in the crew file (its first definition)."""
    paths: dict[str, tuple[str | int, ...]] = {n: ("mcp_servers", n) for n in spec.mcp_servers}
    for i, agent in enumerate(spec.agents):
        for name in agent.mcp_servers:
            paths.setdefault(name, ("agents", i, "mcp_servers", name))
    return paths


def _expand(value: str, where: str) -> str:
    """`${VAR}` replaced from the environment, so secrets stay out of crew files."""
    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in os.environ:
            raise UserInputError(f"{where}: ${{{var}}} is not set in the environment")
        return os.environ[var]
    return _ENV_REF.sub(sub, value)


def _find_command(server: McpServerSpec) -> str | None:
    """The server's command as it would be run, or None if there is no such program."""
    command = server.command or ""
    if "/" in command or os.sep in command:
        # relative to its cwd, as the process is started there; symlinks are kept: a
        # virtualenv's bin/python is a link whose own place tells it its packages
        path = Path(os.path.abspath(Path(server.cwd or ".") / command))
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    search = server.env.get("PATH")
    return shutil.which(command, path=_expand(search, "PATH") if search else None)


def check_commands(spec: CrewSpec, file: str, text: str | None = None) -> None:
    """At a run's start (never at validation, which must not depend on this machine): every
    stdio server's command is found, its cwd exists, and its `${VAR}`s are set; a problem is
    a SpecError at the server's line (exit 2)."""
    servers = crew_servers(spec)
    if not servers:
        return
    paths = _server_paths(spec)

    def fail(name: str, key: str, message: str) -> None:
        lines: dict = {}
        if text is not None:
            from workbench.spec.yamlpos import LocatedYAMLError, line_of, load_with_lines

            with contextlib.suppress(LocatedYAMLError):
                lines = load_with_lines(text)[1]
            raise SpecError(message, file, line_of(lines, (*paths[name], key)))
        raise SpecError(message, file)

    for name, server in servers.items():
        values = {**server.env, **server.headers}
        for key, value in values.items():
            try:
                _expand(value, f"MCP server {name!r}: {key}")
            except UserInputError as exc:
                fail(name, "env" if key in server.env else "headers", str(exc))
        if server.command is None:
            continue
        if server.cwd and not Path(server.cwd).is_dir():
            fail(name, "cwd", f"MCP server {name!r}: cwd {server.cwd!r} is not a folder")
        if _find_command(server) is None:
            fail(name, "command", f"MCP server {name!r}: command {server.command!r} is not "
                 "found (install it, or give its full path)")


# -- one running server ----------------------------------------------------------------------


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    exc = _leaf(exc)
    error = getattr(exc, "error", None)  # McpError carries ErrorData
    if error is not None and getattr(error, "message", None):
        return str(error.message)
    if isinstance(exc, FileNotFoundError):
        return f"no such program: {exc.filename or exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _result_text(result: Any) -> str:
    """A CallToolResult as the text an agent reads."""
    parts: list[str] = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind == "resource":
            inner = item.resource
            parts.append(getattr(inner, "text", None) or f"[resource {inner.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {item.uri}]")
        else:  # images and audio: an agent gets what kind of thing came back
            parts.append(f"[{kind} {getattr(item, 'mimeType', '')}]".replace(" ]", "]"))
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, default=str))
    return "\n".join(parts)


def _parameters(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tool's JSON schema as offered to models: always an object with properties."""
    params = dict(schema or {})
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return params


class McpServer:
    """One MCP server and the client session to it, run in a task of its own on the run's
    loop (the SDK's transports must be entered and left in one task)."""

    def __init__(self, name: str, config: McpServerSpec, log_dir: Path) -> None:
        self.name = name
        self.config = config
        self.log_path = log_dir / f"mcp-{name}.log"
        self.session: Any = None
        #: The tools it listed (mcp.types.Tool), once it started.
        self.tools: list[Any] = []
        #: Why it is not running (it failed to start, or it ended).
        self.error = ""
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()
        self._stopping = False
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Future[None] | None = None
        self._secrets: list[str] = []
        #: The server went away by itself (not stopped by the run).
        self._gone = False

    @property
    def where(self) -> str:
        c = self.config
        return c.url or shlex.join([c.command or "", *c.args])

    @property
    def transport(self) -> str:
        return "http" if self.config.url else "stdio"

    async def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start (or connect to) the server and list its tools; McpServerError if it cannot."""
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._serve())
        try:
            await asyncio.wait({self._ready, self._task}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            if self._gone and not self._task.done():  # its reason comes with the task's end
                await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
        except asyncio.CancelledError:
            await self.stop()
            raise
        if self._ready.done() and self.session is not None:
            return
        why = self.error or f"it did not answer within {timeout:g} s"
        await self.stop()
        raise McpServerError(f"MCP server {self.name!r} ({self.where}) could not start: "
                             f"{why}{self.stderr_tail()}")

    async def stop(self) -> None:
        """Close the session and the server (stdio: stdin closed, then SIGTERM, SIGKILL)."""
        self._stopping = True
        self._wake.set()
        task = self._task
        if task is None or task.done():
            return
        # asyncio.wait never cancels what it waits for: if this caller is cancelled, the
        # server's task still ends the session and the process on its own
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            task.cancel()  # the transport's own cleanup still terminates the process
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)

    async def call(self, tool: str, args: dict[str, Any]) -> str:
        """Call one of its tools; a server that is gone, or goes during the call, is a
        ToolError naming it."""
        session = self.session
        if session is None:
            raise ToolError(self._not_running())
        call = asyncio.ensure_future(session.call_tool(tool, args))
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({call, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not call.done():
                call.cancel()
                call.add_done_callback(_forget)
        failure = (None if not call.done() or call.cancelled() else call.exception())
        if not call.done() or call.cancelled() or failure is not None:
            if self._gone or self._ended.is_set() or failure is None:
                raise ToolError(f"MCP server {self.name!r} stopped during the call of {tool}: "
                                f"{self._why() or 'it ended'}{self.stderr_tail()}")
            raise ToolError(f"MCP server {self.name!r} failed the call of {tool}: "
                            f"{self._mask(_describe(failure))}")
        result = call.result()
        text = _result_text(result)
        if result.isError:
            raise ToolError(f"{tool} (MCP server {self.name!r}) reported an error: {text}")
        return text

    # -- internals ---------------------------------------------------------------------------

    def _not_running(self) -> str:
        return (f"MCP server {self.name!r} is not running: {self._why() or 'it was stopped'}"
                f"{self.stderr_tail()}")

    def _why(self) -> str:
        """Why it ended, as far as known yet (its task may still be winding down)."""
        if self.error or not self._gone:
            return self.error
        return "its process ended" if self.config.command else "the connection closed"

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr, as `; its stderr ends: ...`."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4096))
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in data.splitlines() if ln.strip()][-_TAIL_LINES:]
        if not lines:
            return ""
        tail = " | ".join(lines)
        if len(tail) > _TAIL_CHARS:
            tail = "..." + tail[-_TAIL_CHARS:]
        return f"; its stderr ends: {self._mask(tail)}"

    async def _serve(self) -> None:
        from mcp import ClientSession

        assert self._ready is not None
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._connect(stack)
                read = await self._watch(read, stack)
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = await self._list_tools(session)
                self.session = session
                self._ready.set_result(None)
                await self._wake.wait()
                self.session = None
                self.error = self._why()
        except asyncio.CancelledError:
            self.error = self.error or "it was stopped"
            raise
        except Exception as exc:  # anyio's groups included: whatever ended it is said
            import anyio
            from mcp.types import CONNECTION_CLOSED

            leaf = _leaf(exc)
            closed = getattr(getattr(leaf, "error", None), "code", None) == CONNECTION_CLOSED
            broken = closed or isinstance(leaf, anyio.BrokenResourceError | BrokenPipeError
                                          | ConnectionResetError | anyio.ClosedResourceError)
            # the server went first (its pipes broke on the way): that is the news
            if self.config.command and (self._gone or broken):
                why = "its process ended"
            elif self._gone and closed:
                why = self._why()
            else:
                why = self._mask(_describe(exc))
            self.error = self.error or why
        finally:
            self.session = None
            self._ended.set()

    async def _connect(self, stack: contextlib.AsyncExitStack) -> tuple[Any, Any]:
        c = self.config
        where = f"MCP server {self.name!r}"
        if c.url:
            import httpx
            from mcp.client.streamable_http import streamable_http_client

            headers = {k: _expand(v, f"{where}: {k}") for k, v in c.headers.items()}
            self._secrets = [v for v in headers.values() if len(v) >= 4]
            client = await stack.enter_async_context(httpx.AsyncClient(
                headers=headers, timeout=httpx.Timeout(30.0, read=300.0)))
            read, write, _ = await stack.enter_async_context(
                streamable_http_client(c.url, http_client=client))
            return read, write
        from mcp.client.stdio import StdioServerParameters, stdio_client

        env = {k: _expand(v, f"{where}: {k}") for k, v in c.env.items()}
        self._secrets = [v for k, v in env.items() if len(v) >= 4 and k != "PATH"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # appended to by the server, read back for errors: never on the user's terminal
        errlog = stack.enter_context(open(self.log_path, "a", encoding="utf-8"))
        params = StdioServerParameters(command=_find_command(c) or c.command or "",
                                       args=list(c.args), env=env or None, cwd=c.cwd)
        return await stack.enter_async_context(stdio_client(params, errlog=errlog))

    async def _watch(self, read: Any, stack: contextlib.AsyncExitStack) -> Any:
        """Pass the server's messages on, and notice when they end: a stdio server whose
        output closes has exited, and the run is told at once rather than at a timeout."""
        import anyio

        send, receive = anyio.create_memory_object_stream[Any](0)
        group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(group.cancel_scope.cancel)  # left before the group is waited for

        async def pump() -> None:
            try:
                async for item in read:
                    await send.send(item)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            finally:
                if not self._stopping:
                    self._gone = True
                self._wake.set()
                await send.aclose()

        group.start_soon(pump)
        return receive

    @staticmethod
    async def _list_tools(session: Any) -> list[Any]:
        from mcp.types import PaginatedRequestParams

        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(100):  # a server that pages for ever is cut off
            page = await session.list_tools(
                params=PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools.extend(page.tools)
            cursor = page.nextCursor
            if not cursor:
                break
        return tools


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


# -- all servers of a run -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    """One tool a server offers, and the name agents and scripts call it by."""

    server: str
    #: The server's own name for it (`mcp:SERVER/NAME` in a crew's tools).
    name: str
    #: The name it is offered and called under: its own, or `SERVER_NAME` when another
    #: tool of the run has that name.
    registered: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ServerListing:
    """What `workbench mcp tools` and Compose show for one server."""

    name: str
    transport: str
    where: str
    tools: list[McpToolInfo] = field(default_factory=list)
    #: Why it could not be listed ("" when it was).
    error: str = ""


def _safe(name: str) -> str:
    """A tool name models accept (OpenAI: letters, digits, '_' and '-', at most 64)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "tool"


def registered_names(tools: Mapping[str, Iterable[str]],
                     taken: Iterable[str] = ()) -> dict[tuple[str, str], str]:
    """(server, tool) -> the name it is offered under: its own, unless a built-in tool or a
    tool of another server has it, then `server_tool`. Depends only on the crew's servers."""
    taken = set(taken)
    counts = Counter(_safe(n) for names in tools.values() for n in set(names))
    out: dict[tuple[str, str], str] = {}
    for server, names in tools.items():
        for name in names:
            own = _safe(name)
            clash = counts[own] > 1 or own in taken
            out[(server, name)] = _safe(f"{server}_{name}") if clash else own
    seen: dict[str, tuple[str, str]] = {}
    for key, name in out.items():
        if name in taken or seen.setdefault(name, key) != key:
            raise McpServerError(
                f"MCP tool {key[0]}/{key[1]} cannot be given a name of its own ({name!r} is "
                "taken): rename one of the servers")
    return out


class McpServers:
    """The MCP servers of one run (or one listing): started together, stopped together."""

    def __init__(self, servers: Mapping[str, McpServerSpec], log_dir: Path) -> None:
        self.servers = [McpServer(n, s, log_dir) for n, s in servers.items()]

    async def start(self, strict: bool = True, timeout: float = START_TIMEOUT_S) -> None:
        """Start them all at once. `strict`: one that fails stops the others and raises
        McpServerError naming each that failed; else its error stays on it."""
        results = await asyncio.gather(*(s.start(timeout) for s in self.servers),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if not failed or not strict:
            for r in failed:
                if not isinstance(r, McpServerError):
                    raise r
            return
        await self.stop()
        for r in failed:
            if not isinstance(r, McpServerError):
                raise r
        raise McpServerError("; ".join(str(r) for r in failed))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)

    def infos(self, taken: Iterable[str] = ()) -> dict[str, list[McpToolInfo]]:
        """Each server's tools with the names they are offered under."""
        running = [s for s in self.servers if s.session is not None]
        names = registered_names({s.name: [t.name for t in s.tools] for s in running}, taken)
        return {s.name: [McpToolInfo(s.name, t.name, names[(s.name, t.name)],
                                     (t.description or "").strip(), _parameters(t.inputSchema))
                         for t in s.tools] for s in running}

    def register(self, registry: ToolRegistry,
                 tool_tags: Mapping[str, Iterable[str]] | None = None) -> None:
        """Add every tool of every running server to the run's registry: by its offered name,
        as `mcp:SERVER/TOOL`, and each server as the group `mcp:SERVER`."""
        from workbench.tools.builtin import BUILTINS

        tool_tags = tool_tags or {}
        by_name = {s.name: s for s in self.servers}
        for server_name, infos in self.infos(t.name for t in BUILTINS).items():
            server = by_name[server_name]
            group: list[str] = []
            for info in infos:
                tags = {MCP_TAG, server_name, *server.config.tags,
                        *tool_tags.get(f"{MCP_PREFIX}{server_name}", ()),
                        *tool_tags.get(f"{MCP_PREFIX}{server_name}/{info.name}", ())}
                registry.add(Tool(
                    name=info.registered,
                    description=info.description or f"{info.name} (MCP server {server_name})",
                    parameters=info.parameters,
                    fn=_caller(server, info.name),
                    tags=frozenset(tags),
                    timeout_s=server.config.timeout,
                    server=server_name,
                ), f"{MCP_PREFIX}{server_name}/{info.name}")
                group.append(info.registered)
            registry.add_group(f"{MCP_PREFIX}{server_name}", group)


def _caller(server: McpServer, tool: str) -> Callable[..., Awaitable[str]]:
    """The Tool's function: a coroutine, so Tool.invoke awaits it on the run's loop (where
    the session lives) within the tool's time limit, never in a thread."""
    async def call(**args: Any) -> str:
        return await server.call(tool, args)

    call.__name__ = f"mcp_{server.name}_{tool}"
    return call


# -- a run with MCP servers -------------------------------------------------------------------


async def with_mcp_servers(ctx: RunContext, run: Callable[[RunContext], Awaitable[str]],
                           source: str = "", text: str | None = None) -> str:
    """Run `run(ctx)` with the crew's MCP servers started and their tools registered; the
    servers stop when it ends, however it ends (completed, failed or cancelled)."""
    servers = crew_servers(ctx.spec)
    if not servers:
        return await run(ctx)
    group = McpServers(servers, ctx.tool_ctx.workspace.parent)
    try:
        await group.start()
        group.register(ctx.tools, ctx.spec.tool_tags)
        _check_tools(ctx, source, text)
        return await run(ctx)
    finally:
        await group.stop()


def _check_tools(ctx: RunContext, source: str, text: str | None) -> None:
    """Once the servers listed their tools: every `mcp:SERVER/TOOL` exists, and every script
    call of an agent with MCP tools names one of its tools (SpecError at the line)."""
    lines: dict = {}
    if text is not None:
        from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines

        with contextlib.suppress(LocatedYAMLError):
            lines = load_with_lines(text)[1]
    from workbench.spec.yamlpos import line_of

    def fail(message: str, *path: str | int) -> None:
        raise SpecError(message, source or None, line_of(lines, path) if lines else None)

    spec = ctx.spec
    for i, agent in enumerate(spec.agents):
        for j, ref in enumerate(agent.tools):
            if not ref.startswith(MCP_PREFIX):
                continue
            server, tool = parse_ref(ref)
            if tool is not None and not ctx.tools.has(ref):
                offered = [t.name for t in ctx.tools.resolve(f"{MCP_PREFIX}{server}")]
                fail(f"MCP server {server!r} has no tool {tool!r}; it offers "
                     f"{', '.join(offered) or 'none'}", "agents", i, "tools", j)
    for i, entry in enumerate(spec.script):
        if not entry.call:
            continue
        refs = spec.agent(entry.agent).tools
        if not any(r.startswith(MCP_PREFIX) for r in refs):
            continue
        offered = [t.name for t in ctx.agent_tools(entry.agent)]
        # a model calls an MCP tool by the name it is offered under, never `mcp:...`
        custom = {n for r in refs if not r.startswith(MCP_PREFIX)
                  for n in (r, r.rsplit(":", 1)[-1])}
        if entry.call not in offered and entry.call not in custom:
            fail(f"script calls {entry.call!r}, which agent {entry.agent!r} does not have; "
                 f"its tools are {', '.join(offered)}", "script", i, "call")


# -- listing a crew's servers (the CLI, Compose) --------------------------------------------


async def discover(spec: CrewSpec, timeout: float = START_TIMEOUT_S) -> list[ServerListing]:
    """Start (or connect to) each MCP server of a crew, list its tools, and stop it again.

    A server that cannot start is listed with its error; the others are listed anyway.
    """
    from workbench.tools.builtin import BUILTINS

    servers = crew_servers(spec)
    if not servers:
        return []
    with tempfile.TemporaryDirectory(prefix="workbench-mcp-") as folder:
        group = McpServers(servers, Path(folder))
        try:
            await group.start(strict=False, timeout=timeout)
            try:
                infos = group.infos(t.name for t in BUILTINS)
            except McpServerError as exc:
                infos, clash = {}, str(exc)
            else:
                clash = ""
            return [ServerListing(s.name, s.transport, s.where, infos.get(s.name, []),
                                  "" if s.name in infos else
                                  (clash or f"could not start: {s.error or 'unknown'}"
                                   f"{s.stderr_tail()}"))
                    for s in group.servers]
        finally:
            await group.stop()


def list_crew_tools(spec: CrewSpec, timeout: float = START_TIMEOUT_S) -> list[ServerListing]:
    """`discover` for callers without an event loop (a TUI worker thread, the CLI): blocks
    while the servers start, list their tools and stop."""
    return asyncio.run(discover(spec, timeout))
