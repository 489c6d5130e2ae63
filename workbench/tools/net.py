"""http_get: an address guard after DNS, a policy check on every redirect, a streamed size cap.

Each hop's host is resolved once, every address it resolves to is checked, and the request
is sent to the checked address (the Host header and TLS server name keep the real name), so
DNS cannot answer differently between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.tools.base import ToolContext, ToolError, run_in_thread

if TYPE_CHECKING:
    import httpx

MAX_HTTP_BYTES = 100_000
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RESOLVE_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 15.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud instance metadata and similar services; some of them sit in public ranges.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
    "169.254.169.253",  # AWS DNS
    "169.254.170.2",    # AWS ECS task metadata
    "169.254.170.23",   # AWS EKS pod identity
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",      # Oracle Cloud
    "fd00:ec2::254",    # AWS over IPv6
    "fd00:ec2::23",     # AWS EKS pod identity over IPv6
))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: IPv4-compatible (::a.b.c.d, deprecated) and IPv4-translated (::ffff:0:a.b.c.d, SIIT)
#: addresses: Python's ipaddress calls ::127.0.0.1 global, yet a host or translator may
#: carry it to the IPv4 address inside.
_CARRIERS = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64 + _CARRIERS) and int(ip) > 1:  # not :: nor ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why http_get refuses to connect to `ip` by default, in words; None when it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            problem = address_problem(inner)
            if problem:
                return f"{problem} (inside the IPv6 address {ip})"
            if any(ip in net for net in _NAT64):
                return None  # a NAT64 network's way to a public IPv4 host
        ip = ipaddress.IPv6Address(int(ip))  # drop a scope id: judge the address itself
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:  # ::/8 and 240.0.0.0/4: never a public server's address
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True, slots=True)
class HostRule:
    """One `allow_hosts` entry: a host name or address, and a port or any port."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"not a host name: {host!r}") from exc


def parse_allow_host(entry: str) -> HostRule:
    """`host`, `host:port`, an IPv4 address with or without port, `[v6]:port` or bare v6."""
    entry = entry.strip()
    port: str | None = None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"not a host or host:port: {entry!r}")
            port = rest[1:]
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host = entry
    if not host:
        raise ValueError(f"not a host or host:port: {entry!r}")
    number: int | None = None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not a port: {port!r} in {entry!r}")
        number = int(port)
    return HostRule(_normal_host(host), number)


def host_allowed(allow_hosts: tuple[str, ...], host: str, port: int) -> bool:
    """Whether the crew's `allow_hosts` names this host (as written in the URL) and port."""
    for entry in allow_hosts:
        try:
            rule = parse_allow_host(entry)
        except ValueError:
            continue  # the crew schema checks entries; a bad one allows nothing
        if rule.matches(host, port):
            return True
    return False


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal is itself), off the loop."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    lookup = run_in_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = await asyncio.wait_for(lookup, RESOLVE_TIMEOUT_S)
    except TimeoutError as exc:
        raise ToolError(f"resolving {host} took longer than {RESOLVE_TIMEOUT_S:g} s") from exc
    except OSError as exc:
        raise ToolError(f"cannot resolve {host}: {exc}") from exc
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]))
        if ip not in found:
            found.append(ip)
    if not found:
        raise ToolError(f"cannot resolve {host}: no address")
    return found


@dataclass(slots=True)
class Target:
    """One hop: the URL as asked, and the address checked for it."""

    url: httpx.URL
    host: str
    port: int
    address: IPAddress


def _parse(url: str) -> httpx.URL:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ToolError(f"http_get cannot parse the URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise ToolError(f"http_get takes an http:// or https:// URL, not {url!r}")
    if not parsed.raw_host:
        raise ToolError(f"the URL {url!r} names no host")
    return parsed


#: A host name as DNS holds it: lower-case letters, digits, hyphens (and underscores, which
#: some real hosts have), dot-separated labels, no trailing dot.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
#: A last label a resolver may read as a number (`127.1`, `2130706433`, `0x7f.1`).
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normal_percent(text: str) -> str:
    """RFC 3986 normal form of percent-encoding: unreserved characters decoded (`%70` is
    `p` to every server), the rest in upper-case hex."""
    def one(match: re.Match[str]) -> str:
        byte = int(match.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else f"%{byte:02X}"

    return _PERCENT.sub(one, text)


def _without_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: `/a/./b/../c` is `/a/c`, as the server reads it."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _canonical_host(url: httpx.URL) -> str:
    raw = url.raw_host.decode("ascii", errors="replace")
    if "%" in raw or "\\" in raw:
        raise ToolError(f"the host of {str(url)!r} is percent-encoded or has a backslash; "
                        "write the host name plainly; refused")
    host = raw.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"[{ip}]" if ip.version == 6 else str(ip)
    if not _HOST_NAME.fullmatch(host):
        raise ToolError(f"{raw!r} is not a host name; refused")
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        # a resolver reads it as an address in another notation: only the dotted quad is
        # what a policy rule on the address would match
        raise ToolError(f"{raw!r} is an address in an unusual notation; write it as four "
                        "decimal numbers (like 203.0.113.5); refused")
    return host


def canonical_url(url: httpx.URL) -> str:
    """The one spelling of a URL that http_get requests, and so the one a policy judges:
    lower-case scheme and host, no trailing dot, the host name in ASCII (IDNA), no default
    port, a path with no dot segments, percent-encoding in normal form, no fragment (it is
    never sent). A user name before the host, or a backslash, is refused outright."""
    if url.userinfo:
        raise ToolError(f"the URL {str(url)!r} has a user name before the host (user@host); "
                        "a policy rule reads the host after the @; refused")
    host = _canonical_host(url)
    port = f":{url.port}" if url.port is not None else ""
    path, mark, query = url.raw_path.decode("ascii").partition("?")
    if "\\" in path or "%5c" in path.lower():
        raise ToolError(f"the path of {str(url)!r} has a backslash, which some servers read "
                        "as a slash; refused")
    path = _without_dot_segments(_normal_percent(path or "/"))
    return f"{url.scheme}://{host}{port}{path}{mark}{_normal_percent(query)}"


def _numeric_host(url: httpx.URL) -> bool:
    host = url.raw_host.decode("ascii", errors="replace").lower().rstrip(".")
    return ":" in host or _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]) is not None


async def check_target(ctx: ToolContext, url: httpx.URL) -> Target:
    """Resolve the URL's host and refuse it when any address it has is one http_get does
    not reach by default, unless the crew allows the host by name."""
    host = _normal_host(url.raw_host.decode("ascii"))
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not host_allowed(ctx.allow_hosts, host, port):
        for ip in addresses:
            problem = address_problem(ip)
            if problem:
                shown = host if host == str(ip) else f"{host} ({ip})"
                raise ToolError(
                    f"http_get refuses {shown}: {problem}. Loopback, private, link-local, "
                    "unique-local, multicast and metadata addresses are refused unless the "
                    f"crew lists the host in allow_hosts (e.g. allow_hosts: [\"{host}:{port}\"])"
                )
    return Target(url, host, port, addresses[0])


class _Inflater:
    """Undoes a gzip or deflate content encoding, never producing more than asked."""

    def __init__(self, encoding: str) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding
                                     else zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        return self._z.decompress(data, room)


@dataclass(slots=True)
class Answer:
    status: int
    location: str | None
    body: bytes
    truncated: bool
    charset: str | None


_ssl: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every request: building one costs ~100 ms."""
    global _ssl
    if _ssl is None:
        import httpx

        _ssl = httpx.create_ssl_context()
    return _ssl


async def fetch(target: Target, cap: int = MAX_HTTP_BYTES) -> Answer:
    """GET the target from its checked address, reading at most `cap` + 1 body bytes."""
    import httpx

    url = target.url
    pinned = url.copy_with(host=str(target.address))
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = target.host  # the certificate is checked for the name
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    verify = _ssl if _ssl is not None else await run_in_thread(_ssl_context)
    # A client per hop: no connection or cookie is shared between names on one address.
    # trust_env=False: a proxy from the environment would resolve and connect on its own,
    # past the address guard.
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, follow_redirects=False,
                                 trust_env=False, verify=verify) as client:
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        try:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                return Answer(response.status_code, response.headers["location"], b"", False,
                              None)
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            inflater: _Inflater | None = None
            if encoding in ("gzip", "x-gzip", "deflate"):
                inflater = _Inflater(encoding)
            elif encoding not in ("", "identity"):
                raise ToolError(f"GET {url} answered in the {encoding!r} content encoding, "
                                "which http_get does not decode")
            body = bytearray()
            limit = cap + 1
            async for chunk in response.aiter_raw():
                if inflater is not None:
                    chunk = inflater.feed(chunk, limit - len(body))
                body += chunk[: limit - len(body)]
                if len(body) >= limit:
                    break  # stop reading: closing the response drops the rest
            return Answer(response.status_code, None, bytes(body[:cap]), len(body) > cap,
                          response.charset_encoding)
        finally:
            await response.aclose()


def _text(answer: Answer) -> str:
    try:
        text = answer.body.decode(answer.charset or "utf-8", errors="replace")
    except LookupError:
        text = answer.body.decode("utf-8", errors="replace")
    if answer.truncated:
        text += f"\n[truncated: the body is longer than {MAX_HTTP_BYTES} bytes]"
    return text


async def http_get(ctx: ToolContext, url: str) -> str:
    """GET a URL; redirects are followed by hand (at most 5), each hop checked like the
    first and judged by the policy before it is requested."""
    import httpx  # only the tool needs it; keep it off start-up

    if not isinstance(url, str):
        raise ToolError("http_get takes the URL as text")
    current = _parse(url)
    # The policy judged `url` as written: a spelling that reaches another place than it
    # reads (upper case, a trailing dot, a default port, `..`, `%70`, user@host) is refused,
    # so a rule on args.url holds. An address literal meets the address guard first, which
    # says why better than its spelling does.
    try:
        spelled = canonical_url(current)
    except ToolError:
        if _numeric_host(current):
            await check_target(ctx, current)
        raise
    if spelled != url:
        if _numeric_host(current):
            await check_target(ctx, current)
        raise ToolError(f"http_get takes URLs in their plain form: write {spelled!r} "
                        f"instead of {url!r}; refused")
    for hop in range(MAX_REDIRECTS + 1):
        if hop:
            # a redirect's target is judged and fetched in the same, canonical spelling
            judged = canonical_url(current)
            current = _parse(judged)
            if canonical_url(current) != judged:
                raise ToolError(f"GET {url}: the redirect to {judged} has no stable "
                                "spelling; refused")
            if ctx.judge_url is not None:
                reason = await ctx.judge_url(judged)
                if reason:
                    raise ToolError(f"GET {url}: the redirect to {judged} is refused: {reason}")
        target = await check_target(ctx, current)
        try:
            answer = await fetch(target)
        except httpx.HTTPError as exc:
            raise ToolError(f"GET {current} failed: {type(exc).__name__}: {exc}") from exc
        if answer.location is not None:
            try:
                following = current.join(answer.location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise ToolError(f"GET {current} redirected to a bad URL: {exc}") from exc
            current = _parse(str(following))
            continue
        text = _text(answer)
        if answer.status >= 400:
            raise ToolError(f"GET {current} answered {answer.status}: {text[:500]}")
        return text
    raise ToolError(f"GET {url}: more than {MAX_REDIRECTS} redirects; stopped")
