"""Built-in tools: confined to the workspace, real HTTP, an outbox instead of sending mail."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from workbench.errors import UserInputError
from workbench.tools import ToolContext, ToolError, default_registry


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "ws").mkdir()
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


async def test_write_then_read_inside_workspace(ctx: ToolContext) -> None:
    reg = default_registry()
    out = await reg.get("write_file").invoke(ctx, {"path": "notes/a.md", "content": "hello"})
    assert "wrote 5 bytes" in out
    assert (ctx.workspace / "notes" / "a.md").read_text() == "hello"
    assert await reg.get("read_file").invoke(ctx, {"path": "notes/a.md"}) == "hello"


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../escape.txt"])
async def test_paths_escaping_the_workspace_are_refused(ctx: ToolContext, path: str) -> None:
    with pytest.raises(ToolError, match="outside the session workspace"):
        await default_registry().get("write_file").invoke(ctx, {"path": path, "content": "x"})
    assert not (ctx.workspace.parent / "escape.txt").exists()


async def test_symlink_escape_is_refused(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cret")
    (ctx.workspace / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ToolError, match="outside"):
        await default_registry().get("read_file").invoke(ctx, {"path": "link"})


async def test_send_email_writes_an_eml_to_the_outbox(ctx: ToolContext) -> None:
    out = await default_registry().get("send_email").invoke(
        ctx, {"to": "a@example.com", "subject": "Hi there", "body": "Body text"})
    files = list(ctx.outbox.glob("*.eml"))
    assert len(files) == 1 and files[0].name in out
    text = files[0].read_text()
    assert "To: a@example.com" in text and "Subject: Hi there" in text and "Body text" in text


async def test_send_email_rejects_a_bad_address(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="not an email address"):
        await default_registry().get("send_email").invoke(
            ctx, {"to": "nobody", "subject": "s", "body": "b"})


@pytest.mark.parametrize(("expr", "value"), [("2+3*4", "14"), ("(1200 * 0.15) / 12", "15"),
                                             ("2^10", "1024"), ("-7 // 2", "-4")])
async def test_calculator(ctx: ToolContext, expr: str, value: str) -> None:
    assert await default_registry().get("calculator").invoke(ctx, {"expression": expr}) == value


@pytest.mark.parametrize("expr", ["__import__('os')", "1/0", "9**9**9", "open('x')"])
async def test_calculator_refuses_anything_but_arithmetic(ctx: ToolContext, expr: str) -> None:
    with pytest.raises(ToolError):
        await default_registry().get("calculator").invoke(ctx, {"expression": expr})


async def test_http_get_real_request_and_errors_become_tool_errors(ctx: ToolContext) -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            status = 200 if self.path == "/ok" else 404
            body = b"pong" if status == 200 else b"missing"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    base = f"http://127.0.0.1:{port}"
    ctx.allow_hosts = (f"127.0.0.1:{port}",)  # loopback is refused unless the crew allows it
    tool = default_registry().get("http_get")
    try:
        assert await tool.invoke(ctx, {"url": base + "/ok"}) == "pong"
        with pytest.raises(ToolError, match="answered 404"):
            await tool.invoke(ctx, {"url": base + "/nope"})
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ToolError, match="failed"):
        await tool.invoke(ctx, {"url": base + "/ok"})  # nothing listens any more
    with pytest.raises(ToolError, match="http:// or https://"):
        await tool.invoke(ctx, {"url": "file:///etc/passwd"})


def shout(text: str, times: int = 1) -> str:
    """Repeat text loudly."""
    return (text.upper() + " ") * times


shout.tags = {"pure"}


async def test_custom_tool_by_import_path(ctx: ToolContext) -> None:
    reg = default_registry()
    tool = reg.get("tests.core.test_tools:shout")
    # its own `tags` attribute is not read: only the crew file's tool_tags label it
    assert tool.name == "shout" and tool.tags == {"custom"}
    assert tool.parameters["required"] == ["text"]
    assert tool.parameters["properties"]["times"]["type"] == "integer"
    assert await tool.invoke(ctx, {"text": "hi", "times": 2}) == "HI HI "


def test_unknown_custom_tool_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match="cannot be imported"):
        default_registry().get("no_such_module:fn")
    assert not default_registry().has("no_such_module:fn")


def test_every_builtin_has_tags() -> None:
    reg = default_registry()
    for name in reg.names():
        assert reg.get(name).tags, name
