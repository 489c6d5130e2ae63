"""The built-in tools: workspace files, HTTP GET, an email outbox and a calculator."""

from __future__ import annotations

import ast
import operator
import re
import time
from email.message import EmailMessage
from pathlib import Path

from workbench.tools.base import Tool, ToolContext, ToolError

MAX_READ_BYTES = 200_000
MAX_HTTP_BYTES = 100_000


def _confine(ctx: ToolContext, path: str) -> Path:
    """Resolve `path` inside the workspace; anything that escapes it is refused."""
    root = ctx.workspace.resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"path {path!r} is outside the session workspace; refused")
    return target


def read_file(ctx: ToolContext, path: str) -> str:
    target = _confine(ctx, path)
    if not target.is_file():
        raise ToolError(f"no such file in the workspace: {path}")
    data = target.read_bytes()[:MAX_READ_BYTES]
    return data.decode("utf-8", errors="replace")


def write_file(ctx: ToolContext, path: str, content: str) -> str:
    target = _confine(ctx, path)
    if target == ctx.workspace.resolve():
        raise ToolError("write_file needs a file name, not the workspace itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    return f"wrote {len(content.encode('utf-8'))} bytes to {path}"


async def http_get(ctx: ToolContext, url: str) -> str:
    import httpx  # only the tool needs it; keep it off start-up

    if not re.match(r"^https?://", url):
        raise ToolError(f"http_get takes an http:// or https:// URL, not {url!r}")
    try:
        async with httpx.AsyncClient(timeout=15.0, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ToolError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    body = response.text[:MAX_HTTP_BYTES]
    if response.status_code >= 400:
        raise ToolError(f"GET {url} answered {response.status_code}: {body[:500]}")
    return body


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def send_email(ctx: ToolContext, to: str, subject: str, body: str) -> str:
    """Writes the message as an .eml file into the session's outbox instead of sending it."""
    if not _EMAIL.match(to):
        raise ToolError(f"not an email address: {to!r}")
    msg = EmailMessage()
    msg["From"] = "workbench@localhost"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    ctx.outbox.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:40] or "message"
    path = ctx.outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}.eml"
    n = 1
    while path.exists():
        n += 1
        path = path.with_name(f"{path.stem}-{n}.eml")
    path.write_bytes(bytes(msg))
    return f"queued email to {to} in outbox as {path.name}"


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ToolError("exponent too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ToolError("calculator takes numbers and + - * / // % ** ( ) only")


def calculator(ctx: ToolContext, expression: str) -> str:
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        value = _eval(tree)
    except SyntaxError as exc:
        raise ToolError(f"cannot parse {expression!r}") from exc
    except ZeroDivisionError as exc:
        raise ToolError("division by zero") from exc
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _params(**props: str) -> dict:
    return {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in props.items()},
        "required": list(props),
    }


BUILTINS: tuple[Tool, ...] = (
    Tool(
        "read_file",
        "Read a text file from the session workspace.",
        _params(path="Path relative to the workspace"),
        read_file,
        frozenset({"reads", "workspace"}),
        wants_context=True,
    ),
    Tool(
        "write_file",
        "Write a text file into the session workspace.",
        _params(path="Path relative to the workspace", content="The file's text"),
        write_file,
        frozenset({"writes", "workspace"}),
        wants_context=True,
    ),
    Tool(
        "http_get",
        "Fetch a URL with HTTP GET and return the body as text.",
        _params(url="An http:// or https:// URL"),
        http_get,
        frozenset({"external", "network", "reads"}),
        wants_context=True,
    ),
    Tool(
        "send_email",
        "Send an email (queued to the session outbox).",
        _params(to="Recipient address", subject="Subject line", body="Plain-text body"),
        send_email,
        frozenset({"external", "writes", "communication"}),
        wants_context=True,
    ),
    Tool(
        "calculator",
        "Evaluate an arithmetic expression.",
        _params(expression="For example (1200 * 0.15) / 12"),
        calculator,
        frozenset({"pure"}),
        wants_context=True,
    ),
)
