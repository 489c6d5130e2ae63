"""The built-in tools: workspace files, HTTP GET, an email outbox and a calculator."""

from __future__ import annotations

import ast
import errno
import math
import operator
import os
import posixpath
import re
import stat
import time
import unicodedata
from email import policy as email_policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from workbench.tools.base import Tool, ToolContext, ToolError
from workbench.tools.net import MAX_HTTP_BYTES, http_get

MAX_READ_BYTES = 200_000

__all__ = ["BUILTINS", "MAX_HTTP_BYTES", "MAX_READ_BYTES", "calculator", "http_get",
           "read_file", "send_email", "write_file"]

# -- workspace files -------------------------------------------------------------------------


def _confine(ctx: ToolContext, path: str) -> Path:
    """Resolve `path` inside the workspace; anything that escapes it is refused."""
    root = ctx.workspace.resolve()
    if "\x00" in path:
        raise ToolError("a path may not contain a NUL character")
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"path {path!r} is outside the session workspace; refused")
    _check_spelling(path)
    return target


def _check_spelling(path: str) -> None:
    """Only the one spelling of a workspace path, the one a policy rule on args.path reads:
    relative, `/` between names, no `.` or `..`, no empty name (`a//b`, a trailing `/`), no
    backslash, Unicode in NFC (a file system that normalises names would otherwise reach
    one file by two spellings)."""
    if "\\" in path:
        raise ToolError(f"path {path!r} has a backslash; write folders with / ; refused")
    if path.startswith("/"):
        raise ToolError(f"path {path!r} is absolute; give it relative to the workspace; "
                        "refused")
    names = path.split("/")
    plain = unicodedata.normalize("NFC", "/".join(n for n in names if n not in ("", ".")))
    plain = posixpath.normpath(plain) if plain else "."
    if plain != path:
        hint = (f"write {plain!r}" if plain != "." else "name a file")
        raise ToolError(f"path {path!r} is not in its plain form ({hint}: no ./ or ../, "
                        "no empty or trailing /, Unicode in NFC); refused")


def _exact_name(dir_fd: int, name: str, path: str) -> None:
    """On a file system that ignores case or Unicode normalisation (macOS, Windows shares),
    `SECRET.TXT` opens `secret.txt`: refuse a name that reaches an entry spelled otherwise,
    so a rule on args.path reads the name of the file acted on."""
    if name not in os.listdir(dir_fd):
        raise ToolError(f"path {path!r} reaches a file or folder whose name is spelled "
                        f"differently than {name!r}; write the name as it is; refused")


def _kind(mode: int) -> str | None:
    """What a file is when it is not a regular file, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _check_plain(st: os.stat_result, path: str) -> None:
    """Only plain files the workspace alone holds: a special file could block or act on
    open, and a hard link makes a file outside the workspace readable or writable."""
    kind = _kind(st.st_mode)
    if kind is not None:
        raise ToolError(f"{path} is {kind}, not a regular file; refused")
    if st.st_nlink > 1:
        raise ToolError(f"{path} is a hard link to a file that may live outside the "
                        "workspace; refused")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOBLOCK = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _open_confined(ctx: ToolContext, path: str, write: bool) -> int:
    """Open a regular file of the workspace and return its descriptor.

    The resolved path is walked one folder at a time with O_NOFOLLOW, so nothing swapped in
    after the check (a symlink, a FIFO) is followed or blocks: O_NONBLOCK makes opening a
    FIFO return at once, and the file's kind is checked before and after opening. Writing
    never truncates before the check.
    """
    root = ctx.workspace.resolve()
    target = _confine(ctx, path)
    parts = target.relative_to(root).parts
    if not parts:
        raise ToolError(f"{path!r} is the workspace itself, not a file")
    if write and "/".join(parts) != path:
        # the path is plain, so it went through a symbolic link: a rule on args.path (say,
        # Markdown only) would read the link's name, not the name of the file written
        raise ToolError(f"path {path!r} goes through a symbolic link to "
                        f"{'/'.join(parts)!r}; write to that path; refused")
    try:
        dir_fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise ToolError(f"the session workspace cannot be opened: {exc.strerror}") from exc
    try:
        for part in parts[:-1]:
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                if not write:
                    raise ToolError(f"no such file in the workspace: {path}") from None
                try:
                    os.mkdir(part, 0o777, dir_fd=dir_fd)
                except FileExistsError:
                    pass
                fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                _exact_name(dir_fd, part, path)
            except BaseException:
                os.close(fd)
                raise
            os.close(dir_fd)
            dir_fd = fd
        name = parts[-1]
        try:
            _check_plain(os.stat(name, dir_fd=dir_fd, follow_symlinks=False), path)
            _exact_name(dir_fd, name, path)
        except FileNotFoundError:
            if not write:
                raise ToolError(f"no such file in the workspace: {path}") from None
        flags = _NOBLOCK | (os.O_WRONLY | os.O_CREAT if write else os.O_RDONLY)
        fd = os.open(name, flags, 0o666, dir_fd=dir_fd)
        try:
            _check_plain(os.fstat(fd), path)
        except BaseException:
            os.close(fd)
            raise
        return fd
    except ToolError:
        raise
    except OSError as exc:
        raise ToolError(_os_problem(exc, path)) from exc
    finally:
        os.close(dir_fd)


def _os_problem(exc: OSError, path: str) -> str:
    if exc.errno == errno.ENXIO:  # a FIFO without a reader, or a socket
        return f"{path} is a FIFO or socket, not a regular file; refused"
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return f"{path} goes through a symbolic link that changed; refused"
    if exc.errno == errno.ENOTDIR:
        return f"a folder on the way to {path} is not a folder; refused"
    if exc.errno == errno.EISDIR:
        return f"{path} is a folder, not a file"
    if exc.errno == errno.ENOENT:
        return f"no such file in the workspace: {path}"
    return f"{path}: {exc.strerror or exc}"


def read_file(ctx: ToolContext, path: str) -> str:
    fd = _open_confined(ctx, path, write=False)
    chunks: list[bytes] = []
    size = 0
    try:
        while size < MAX_READ_BYTES:  # never more than the cap, whatever the file's size
            chunk = os.read(fd, min(65536, MAX_READ_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def write_file(ctx: ToolContext, path: str, content: str) -> str:
    data = content.encode("utf-8")
    fd = _open_confined(ctx, path, write=True)
    try:
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise ToolError(_os_problem(exc, path)) from exc
    finally:
        os.close(fd)
    return f"wrote {len(data)} byte{'' if len(data) == 1 else 's'} to {path}"


# -- email -----------------------------------------------------------------------------------

#: C0 and C1 controls, DEL, and the characters Python's line splitting also breaks at.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: One bare address, dot-atom local part and a host name with a top-level domain: what a
#: policy like `args.to.endsWith("@example.com")` reads is then the real recipient.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
MAX_SUBJECT_CHARS = 998
SENDER = "workbench@localhost"


def _no_controls(field: str, value: str) -> None:
    found = _CONTROL.search(value)
    if found:
        raise ToolError(f"the {field} contains a control character "
                        f"(U+{ord(found.group()):04X}); refused")


#: An RFC 2047 encoded word, loosely: any charset (RFC 2231 language suffix included),
#: either encoding, any text. Mail readers decode these; a policy reads them as written.
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bq]\?[^?]*\?=", re.IGNORECASE)


def _plain(field: str, value: str) -> str:
    """A header value as plain text, exactly what a mail reader will show: control characters
    and RFC 2047 encoded words are refused, so a policy rule on the argument judges the
    words the message carries (the email package encodes non-ASCII text itself)."""
    _no_controls(field, value)
    readings: list[str | None] = []
    try:  # the email package's own reading, the one the written message gets
        readings.append(str(email_policy.default.header_factory("subject", value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        readings.append(None)
    try:  # and the classic reading other tools use, where it can read the value at all
        readings.append(str(make_header(decode_header(value))))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        pass  # it cannot mix raw non-ASCII text with encoded words; the first reading holds
    if _ENCODED_WORD.search(value) or any(r != value for r in readings):
        raise ToolError(f"the {field} contains an RFC 2047 encoded word (=?charset?q?...?=), "
                        f"which a mail reader would decode: write the {field} as plain text "
                        "(any language; it is encoded for you); refused")
    return value


def _recipient(to: str) -> str:
    _no_controls("recipient", to)
    if not _ADDRESS.fullmatch(to):
        raise ToolError(f"not an email address: {to!r} (give one bare address, like "
                        "name@example.com)")
    if _ENCODED_WORD.search(to):
        raise ToolError(f"not an email address: {to!r} (encoded words are not addresses)")
    if to != to.lower():
        # Mail systems treat the domain (and in practice the local part) without regard to
        # case; a policy compares text as written: `args.to.endsWith("@gmail.com")` must
        # see every address that reaches gmail.com.
        raise ToolError(f"write the address in lower case ({to.lower()!r}, not {to!r}); "
                        "refused")
    try:
        parsed = Address(addr_spec=to)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise ToolError(f"not an email address: {to!r} ({exc})") from exc
    if parsed.addr_spec != to:
        raise ToolError(f"not an email address: {to!r}")
    return to


def send_email(ctx: ToolContext, to: str, subject: str, body: str) -> str:
    """Writes the message as an .eml file into the session's outbox instead of sending it."""
    if not all(isinstance(v, str) for v in (to, subject, body)):
        raise ToolError("send_email takes text for to, subject and body")
    to = _recipient(to)
    subject = _plain("subject", subject)
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ToolError(f"the subject is longer than {MAX_SUBJECT_CHARS} characters")
    msg = EmailMessage(policy=email_policy.default)
    msg["From"] = SENDER
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = subject
    msg.set_content(body)
    data = bytes(msg)
    _check_written(data, to, subject)
    ctx.outbox.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:40] or "message"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    path = ctx.outbox / f"{base}.eml"
    n = 1
    while True:
        try:
            with open(path, "xb") as fh:  # never over another message
                fh.write(data)
            break
        except FileExistsError:
            n += 1
            path = ctx.outbox / f"{base}-{n}.eml"
    return f"queued email to {to} in outbox as {path.name}"


def _check_written(data: bytes, to: str, subject: str) -> None:
    """Read the message back as a mail reader would: exactly our headers, our values."""
    parsed = BytesParser(policy=email_policy.default).parsebytes(data)
    names = [k.lower() for k in parsed]
    expected = ["from", "to", "subject", "content-type", "content-transfer-encoding",
                "mime-version"]
    if sorted(names) != sorted(expected) or parsed.defects:
        raise ToolError("the message would not have the headers it was given; refused")
    if str(parsed["To"]) != to or _words(str(parsed["Subject"])) != _words(subject):
        raise ToolError("the message would not have the recipient or subject it was given; "
                        "refused")


def _words(text: str) -> list[str]:
    """Header folding may move spaces: compare what is between them."""
    return text.split()


# -- calculator ------------------------------------------------------------------------------

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
MAX_EXPRESSION_CHARS = 1000
#: Exponents beyond this are refused before anything is computed.
MAX_EXPONENT = 1000
#: Integers beyond 2**4096 (about 1,233 digits) are refused, checked before each power or
#: product is computed, so no expression can hold a thread for long or fill memory.
MAX_RESULT_BITS = 4096


def _too_large() -> ToolError:
    return ToolError(f"result too large (the calculator stops at about 10**1233 and "
                     f"exponents of ±{MAX_EXPONENT})")


def _bounded(value: int | float | complex) -> int | float:
    if isinstance(value, complex):
        raise ToolError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise _too_large()
    if isinstance(value, float) and not math.isfinite(value):
        raise _too_large()
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent {exponent:g} is too large (at most ±{MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        # |base| ** e has at least (bits - 1) * e + 1 bits: judge before computing
        if (abs(base).bit_length() - 1) * exponent >= MAX_RESULT_BITS:
            raise _too_large()
    return base**exponent


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)):
        return _bounded(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _bounded(_power(left, right))
        if (isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_RESULT_BITS + 1):
            raise _too_large()
        return _bounded(_OPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _bounded(_OPS[type(node.op)](_eval(node.operand)))
    raise ToolError("calculator takes numbers and + - * / // % ** ( ) only")


def calculator(ctx: ToolContext, expression: str) -> str:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        value = _eval(tree)
    except SyntaxError as exc:
        raise ToolError(f"cannot parse {expression!r}") from exc
    except ZeroDivisionError as exc:
        raise ToolError("division by zero") from exc
    except OverflowError as exc:
        raise _too_large() from exc
    except (RecursionError, MemoryError) as exc:
        raise ToolError("expression nested too deeply") from exc
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
