"""Tools run off the event loop with a time limit; the calculator and the file tools refuse
what could hold a thread or reach outside the workspace (FIFOs, sockets, hard links)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from workbench.errors import UserInputError
from workbench.tools import Tool, ToolContext, ToolError, default_registry
from workbench.tools.base import DEFAULT_TOOL_TIMEOUT_S, TIMEOUT_ENV

#: How long a test tool waits for its release before giving up; only reached on a failure.
GUARD_S = 10.0


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "ws").mkdir()
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


def _blocking_tool(started: threading.Event, release: threading.Event, **kw) -> Tool:
    """A built-in-style tool (it takes the context) that blocks its thread until released."""

    def wait(ctx: ToolContext) -> str:
        started.set()
        return "released" if release.wait(GUARD_S) else "starved"

    return Tool("wait", "Waits", {"type": "object", "properties": {}}, wait,
                frozenset({"pure"}), wants_context=True, **kw)


# -- off the loop, time limits, cancellation --------------------------------------------------


async def test_a_blocking_tool_leaves_the_loop_free(ctx: ToolContext) -> None:
    started, release = threading.Event(), threading.Event()
    tool = _blocking_tool(started, release)

    async def release_when_started() -> None:
        # runs only if the loop is free while the tool blocks its thread
        while not started.is_set():
            await asyncio.sleep(0.01)
        release.set()

    releaser = asyncio.ensure_future(release_when_started())
    assert await tool.invoke(ctx, {}) == "released"
    await releaser


async def test_a_tool_past_its_own_time_limit_is_a_tool_error(ctx: ToolContext) -> None:
    started, release = threading.Event(), threading.Event()
    tool = _blocking_tool(started, release, timeout_s=0.2)
    try:
        with pytest.raises(ToolError, match=r"wait timed out after 0.2 s"):
            await tool.invoke(ctx, {})
        assert started.is_set()
    finally:
        release.set()


async def test_a_coroutine_tool_that_ignores_cancellation_still_times_out(
    ctx: ToolContext,
) -> None:
    release = asyncio.Event()

    async def stubborn(ctx: ToolContext) -> str:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # it will not stop; the caller must not wait for it
        return "done"

    tool = Tool("stubborn", "", {"type": "object"}, stubborn, wants_context=True,
                timeout_s=0.2)
    with pytest.raises(ToolError, match="timed out"):
        await tool.invoke(ctx, {})
    release.set()


async def test_the_default_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert ToolContext("s", tmp_path, tmp_path).timeout_s == DEFAULT_TOOL_TIMEOUT_S
    monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    ctx = ToolContext("s", tmp_path, tmp_path)
    assert ctx.timeout_s == 0.2
    started, release = threading.Event(), threading.Event()
    try:
        with pytest.raises(ToolError, match="timed out after 0.2 s"):
            await _blocking_tool(started, release).invoke(ctx, {})
    finally:
        release.set()


@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan", "inf"])
def test_a_bad_default_limit_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(UserInputError) as info:
        ToolContext("s", tmp_path, tmp_path)
    assert str(info.value) == (f"{TIMEOUT_ENV} must be a number of seconds above 0 (like 30), "
                               f"not {value!r}")


def slow_custom(seconds: float) -> str:
    """Sleeps (a custom tool with its own limit)."""
    threading.Event().wait(seconds)
    return "slept"


slow_custom.timeout = 0.2


async def test_a_custom_function_sets_its_own_limit(ctx: ToolContext) -> None:
    tool = default_registry().get("tests.core.test_tool_isolation:slow_custom")
    with pytest.raises(ToolError, match="slow_custom timed out after 0.2 s"):
        await tool.invoke(ctx, {"seconds": 3})


async def test_cancelling_the_caller_returns_at_once(ctx: ToolContext) -> None:
    started, release = threading.Event(), threading.Event()
    tool = _blocking_tool(started, release, timeout_s=60)
    call = asyncio.ensure_future(tool.invoke(ctx, {}))
    try:
        while not started.is_set():
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # the tool's thread is still blocked: the caller did not wait for it
        assert not release.is_set() and any(t.name == "tool-wait" and t.is_alive()
                                            for t in threading.enumerate())
    finally:
        release.set()


async def test_abandoning_the_context_ends_every_waiting_call(ctx: ToolContext) -> None:
    started, release = threading.Event(), threading.Event()
    call = asyncio.ensure_future(_blocking_tool(started, release, timeout_s=60).invoke(ctx, {}))
    try:
        while not started.is_set():
            await asyncio.sleep(0.01)
        ctx.abandon()  # what the run context does when the run stops
        with pytest.raises(ToolError, match="wait was abandoned: the run stopped"):
            await call
        assert not release.is_set() and not ctx.waiting
    finally:
        release.set()


def test_a_stopped_run_does_not_wait_for_a_stuck_tool_thread_at_exit(ctx: ToolContext) -> None:
    """asyncio.run waits for its default executor's threads; a tool's thread is not one."""
    started, release = threading.Event(), threading.Event()
    tool = _blocking_tool(started, release, timeout_s=60)

    async def run() -> None:
        call = asyncio.ensure_future(tool.invoke(ctx, {}))
        while not started.is_set():
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    try:
        asyncio.run(run())
        # asyncio.run returned while the tool still blocks (it ends only when released)
        assert any(t.name == "tool-wait" and t.is_alive() for t in threading.enumerate())
    finally:
        release.set()


# -- the calculator ---------------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    "(((10**100)**100)**100)**50",  # held the loop for 95 s
    "2**4097",
    "(10**1000)*(10**1000)",
    "1e308*10",
    "9**9**9",
    "2**(10**6)",
    "10**-5000",
    "(2**4000)/3 ** 0.5 * 1e308",
])
async def test_calculator_refuses_huge_results_before_computing(ctx: ToolContext,
                                                                expr: str) -> None:
    with pytest.raises(ToolError, match="too large"):
        await default_registry().get("calculator").invoke(ctx, {"expression": expr})


@pytest.mark.parametrize(("expr", "why"), [
    ("(-8)**0.5", "not a real number"),
    ("1+" * 600 + "1", "longer than"),
    ("True+1", "numbers"),
])
async def test_calculator_refuses_what_is_not_plain_arithmetic(ctx: ToolContext, expr: str,
                                                               why: str) -> None:
    with pytest.raises(ToolError, match=why):
        await default_registry().get("calculator").invoke(ctx, {"expression": expr})


@pytest.mark.parametrize(("expr", "value"), [
    ("10**300", "1" + "0" * 300),
    ("(2**1000)**4", str(2**4000)),
    ("2**-2", "0.25"),
    ("(2**1000)**2 % 7", str(2**2000 % 7)),
])
async def test_calculator_still_computes_large_but_bounded_values(ctx: ToolContext, expr: str,
                                                                  value: str) -> None:
    calc = default_registry().get("calculator")
    assert await calc.invoke(ctx, {"expression": expr}) == value


# -- special files and hard links -------------------------------------------------------------


def _unblock_fifo_later(path: Path) -> threading.Timer:
    """If a writer blocks on the FIFO (the defect), a late reader frees it so the test fails
    instead of hanging."""
    def open_reader() -> None:
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass

    timer = threading.Timer(GUARD_S, open_reader)
    timer.daemon = True
    timer.start()
    return timer


async def test_write_file_refuses_a_fifo_without_blocking(ctx: ToolContext) -> None:
    fifo = ctx.workspace / "pipe"
    os.mkfifo(fifo)
    timer = _unblock_fifo_later(fifo)
    try:
        with pytest.raises(ToolError, match="FIFO"):
            await default_registry().get("write_file").invoke(
                ctx, {"path": "pipe", "content": "x"})
    finally:
        timer.cancel()


async def test_write_file_refuses_a_fifo_even_with_a_reader(ctx: ToolContext) -> None:
    fifo = ctx.workspace / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(ToolError, match="FIFO"):
            await default_registry().get("write_file").invoke(
                ctx, {"path": "pipe", "content": "leak"})
        assert os.read(reader, 100) == b""  # nothing was written into the pipe
    finally:
        os.close(reader)


async def test_read_file_refuses_a_fifo(ctx: ToolContext) -> None:
    os.mkfifo(ctx.workspace / "pipe")
    with pytest.raises(ToolError, match="FIFO"):
        await default_registry().get("read_file").invoke(ctx, {"path": "pipe"})


async def test_file_tools_refuse_a_socket(ctx: ToolContext) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(ctx.workspace / "sock"))
        reg = default_registry()
        with pytest.raises(ToolError, match="socket"):
            await reg.get("write_file").invoke(ctx, {"path": "sock", "content": "x"})
        with pytest.raises(ToolError, match="socket"):
            await reg.get("read_file").invoke(ctx, {"path": "sock"})
    finally:
        sock.close()


async def test_file_tools_refuse_a_device(ctx: ToolContext) -> None:
    node = ctx.workspace / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("creating a device node needs privileges here")
    reg = default_registry()
    with pytest.raises(ToolError, match="device"):
        await reg.get("write_file").invoke(ctx, {"path": "null", "content": "x"})
    with pytest.raises(ToolError, match="device"):
        await reg.get("read_file").invoke(ctx, {"path": "null"})


async def test_file_tools_refuse_a_hard_link_to_an_outside_file(ctx: ToolContext,
                                                                 tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("s3cret")
    os.link(outside, ctx.workspace / "link.txt")
    reg = default_registry()
    with pytest.raises(ToolError, match="hard link"):
        await reg.get("read_file").invoke(ctx, {"path": "link.txt"})
    with pytest.raises(ToolError, match="hard link"):
        await reg.get("write_file").invoke(ctx, {"path": "link.txt", "content": "owned"})
    assert outside.read_text() == "s3cret"


async def test_a_folder_is_not_a_file(ctx: ToolContext) -> None:
    (ctx.workspace / "d").mkdir()
    with pytest.raises(ToolError, match="folder"):
        await default_registry().get("read_file").invoke(ctx, {"path": "d"})
    with pytest.raises(ToolError, match="folder"):
        await default_registry().get("write_file").invoke(ctx, {"path": "d", "content": "x"})


async def test_write_file_replaces_a_plain_file_and_links_inside_still_work(
    ctx: ToolContext,
) -> None:
    reg = default_registry()
    await reg.get("write_file").invoke(ctx, {"path": "a/b.txt", "content": "long content"})
    await reg.get("write_file").invoke(ctx, {"path": "a/b.txt", "content": "short"})
    assert (ctx.workspace / "a" / "b.txt").read_text() == "short"
    (ctx.workspace / "alias.txt").symlink_to(ctx.workspace / "a" / "b.txt")
    assert await reg.get("read_file").invoke(ctx, {"path": "alias.txt"}) == "short"
