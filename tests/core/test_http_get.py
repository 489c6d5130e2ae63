"""http_get: private addresses refused after DNS unless the crew allows the host, the checked
address is the one connected to, every redirect hop is checked and judged by the policy, and
the body is read only up to the cap. All traffic stays on 127.0.0.1."""

from __future__ import annotations

import gzip
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.governance.test_policies import write_policies
from tests.support import make_context
from workbench.errors import SpecError
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.spec.loader import parse_crew
from workbench.spec.schema import CrewSpec
from workbench.tools import ToolContext, ToolError, default_registry
from workbench.tools.net import (
    MAX_HTTP_BYTES,
    Target,
    address_problem,
    fetch,
    host_allowed,
    parse_allow_host,
)

BIG_BYTES = 200 * 1024 * 1024  # what the server offers; the tool must stop long before
CHUNK = b"x" * 65536
#: 50 MB of "y", gzipped to about 50 KB: made once, before any memory is measured.
BOMB = gzip.compress(b"y" * (50 * 1024 * 1024))


class Server:
    """A real HTTP server on 127.0.0.1 that records what it was asked and what it sent."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.hosts: list[str] = []
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                outer.paths.append(self.path)
                outer.hosts.append(self.headers.get("Host", ""))
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path == "/redirect":
                    self._answer(302, b"", location=query["to"][0])
                elif url.path.startswith("/chain/"):
                    left = int(url.path.rsplit("/", 1)[1])
                    if left:
                        self._answer(302, b"", location=f"/chain/{left - 1}")
                    else:
                        self._answer(200, b"end of chain")
                elif url.path == "/big":
                    self._big()
                elif url.path == "/bomb":
                    self._answer(200, BOMB, encoding="gzip")
                elif url.path == "/host":
                    self._answer(200, self.headers.get("Host", "").encode())
                else:
                    self._answer(200, b"pong " + url.path.encode())

            def _answer(self, status: int, body: bytes, location: str | None = None,
                        encoding: str | None = None) -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _big(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(BIG_BYTES))
                self.end_headers()
                try:
                    while outer.sent < BIG_BYTES:
                        self.wfile.write(CHUNK)
                        outer.sent += len(CHUNK)
                except OSError:
                    pass  # the client hung up, as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A bare listening socket on 127.0.0.1: any connection attempt shows up in its queue."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def _no_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "ws").mkdir()
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


async def _get(ctx: ToolContext, url: str) -> str:
    return await default_registry().get("http_get").invoke(ctx, {"url": url})


# -- the address guard ------------------------------------------------------------------------


async def test_loopback_and_localhost_are_refused_without_connecting(
    ctx: ToolContext, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/",
                f"http://[::ffff:127.0.0.1]:{port}/", f"http://2130706433:{port}/"):
        with pytest.raises(ToolError, match="loopback address.*allow_hosts"):
            await _get(ctx, url)
    assert _no_connection(listener)


@pytest.mark.parametrize(("url", "why"), [
    ("http://10.0.0.1/", "private"),
    ("http://192.168.1.1:8080/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://[::1]/", "loopback"),
    ("http://100.64.0.1/", "not a public address"),
    ("http://[64:ff9b::a00:1]/", "private"),
])
async def test_private_and_metadata_literals_are_refused(ctx: ToolContext, url: str,
                                                         why: str) -> None:
    # address literals: refused before any DNS or connection, so no traffic leaves
    with pytest.raises(ToolError, match=why):
        await _get(ctx, url)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "8.8.8.8"])
def test_public_addresses_pass_the_guard(address: str) -> None:
    import ipaddress

    assert address_problem(ipaddress.ip_address(address)) is None


def test_allow_hosts_entries() -> None:
    assert parse_allow_host("127.0.0.1:8080").port == 8080
    assert parse_allow_host("[::1]:80").host == "::1"
    assert parse_allow_host("LocalHost.").host == "localhost"
    assert host_allowed(("localhost",), "localhost", 1234)
    assert host_allowed(("127.0.0.1:8080",), "127.0.0.1", 8080)
    assert not host_allowed(("127.0.0.1:8080",), "127.0.0.1", 8081)
    assert not host_allowed(("localhost",), "127.0.0.1", 80)  # by name as written, not by IP
    with pytest.raises(ValueError):
        parse_allow_host("host:99999")


async def test_an_allowed_host_is_fetched_from_the_address_that_was_checked(
    ctx: ToolContext, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.allow_hosts = (f"localhost:{server.port}",)
    lookups: list[str] = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):  # the real resolver, counted
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    assert await _get(ctx, f"http://localhost:{server.port}/host") == f"localhost:{server.port}"
    # one lookup of the name: the connection went to the checked address, not a new answer
    assert lookups.count("localhost") == 1
    # and the port matters
    with pytest.raises(ToolError, match="loopback"):
        await _get(ctx, "http://localhost:1/")


async def test_fetch_connects_to_the_checked_address_not_to_the_name(server: Server) -> None:
    import ipaddress

    import httpx

    # a name that resolves nowhere: the request can only reach the server through the
    # address checked for it, with the name kept in the Host header
    url = httpx.URL(f"http://checked.invalid:{server.port}/host")
    answer = await fetch(Target(url, "checked.invalid", server.port,
                                ipaddress.ip_address("127.0.0.1")))
    assert answer.body == f"checked.invalid:{server.port}".encode()


# -- redirects (%2F: the URL asked for does not itself name the target) ----------------


async def test_a_redirect_to_a_refused_address_is_not_followed(
    ctx: ToolContext, server: Server, listener: socket.socket
) -> None:
    ctx.allow_hosts = (f"127.0.0.1:{server.port}",)
    other = listener.getsockname()[1]
    for target in (f"http://localhost:{other}/", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(ToolError, match="refuses"):
            await _get(ctx, f"{server.base}/redirect?to={target}")
    assert _no_connection(listener)


async def test_redirects_are_followed_by_hand_at_most_five(ctx: ToolContext,
                                                           server: Server) -> None:
    ctx.allow_hosts = (f"127.0.0.1:{server.port}",)
    assert await _get(ctx, f"{server.base}/chain/5") == "end of chain"
    server.paths.clear()
    with pytest.raises(ToolError, match="more than 5 redirects"):
        await _get(ctx, f"{server.base}/chain/6")
    assert len(server.paths) == 6


POLICY = """\
version: 1
default: allow
rules:
  - {id: no-secrets, on: tool_call, when: 'tool.name == "http_get" && args.url.contains("/secret")',
     effect: deny, reason: secrets stay in}
  - {id: review-admin, on: tool_call,
     when: 'tool.name == "http_get" && args.url.contains("/admin")',
     effect: require_approval, reason: admin pages need a look}
"""


def _crew(allow_hosts: list[str]) -> CrewSpec:
    return CrewSpec.model_validate({
        "name": "fetchers", "allow_hosts": allow_hosts,
        "agents": [{"name": "fetcher", "role": "Fetcher", "goal": "Fetch",
                    "tools": ["http_get"]}],
    })


async def test_every_redirect_hop_is_judged_by_the_policy(tmp_path: Path,
                                                          server: Server) -> None:
    gate = PolicyGate(load_policies(write_policies(tmp_path / "policies", POLICY)))
    run, events = make_context(_crew([f"127.0.0.1:{server.port}"]), tmp_path, gate=gate)
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"{server.base}/redirect?to=%2Fsecret"})
    assert not outcome.ok
    assert "redirect to" in outcome.output and "denied by policy: secrets stay in" \
        in outcome.output
    assert server.paths == ["/redirect?to=%2Fsecret"]  # the secret was never asked for
    hop = [e for e in events if e.kind == "policy.decision" and e.data["effect"] == "deny"]
    assert hop and hop[0].agent == "fetcher" and hop[0].data["rule_ids"] == ["no-secrets"]

    # a hop that needs approval is not followed behind the reviewer's back
    server.paths.clear()
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"{server.base}/redirect?to=%2Fadmin"})
    assert not outcome.ok and "needs approval" in outcome.output
    assert server.paths == ["/redirect?to=%2Fadmin"]

    # an allowed hop is followed
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"{server.base}/redirect?to=%2Fpublic"})
    assert outcome.ok and outcome.output == "pong /public"


async def test_a_crew_without_allow_hosts_cannot_reach_loopback(tmp_path: Path,
                                                                server: Server) -> None:
    run, _ = make_context(_crew([]), tmp_path)
    outcome = await run.call_tool("fetcher", "http_get", {"url": f"{server.base}/ok"})
    assert not outcome.ok and "loopback" in outcome.output and not server.paths


def test_allow_hosts_in_a_crew_file_is_checked(tmp_path: Path) -> None:
    text = ("name: c\nallow_hosts:\n  - 127.0.0.1:8080\n  - not a host\n"
            "agents:\n  - {name: a, role: r, goal: g}\n")
    with pytest.raises(SpecError, match=r"crew.yaml:4:"):
        parse_crew(text, "crew.yaml")
    spec = parse_crew(text.replace("  - not a host\n", "  - localhost\n"), "crew.yaml")
    assert spec.allow_hosts == ["127.0.0.1:8080", "localhost"]


# -- the size cap -----------------------------------------------------------------------------


async def test_a_huge_body_is_read_only_up_to_the_cap(ctx: ToolContext, server: Server) -> None:
    ctx.allow_hosts = (f"127.0.0.1:{server.port}",)
    tracemalloc.start()
    try:
        text = await _get(ctx, f"{server.base}/big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text.startswith("x" * 1000) and text.endswith(f"longer than {MAX_HTTP_BYTES} bytes]")
    assert text.count("x") == MAX_HTTP_BYTES
    assert peak < 8 * 1024 * 1024, peak  # the whole body would be 200 MB
    # the server could push no more than the socket buffers hold before the client hung up
    assert server.sent < BIG_BYTES // 4, server.sent


async def test_a_compressed_body_is_inflated_only_up_to_the_cap(ctx: ToolContext,
                                                                server: Server) -> None:
    ctx.allow_hosts = (f"127.0.0.1:{server.port}",)
    tracemalloc.start()
    try:
        text = await _get(ctx, f"{server.base}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text.partition("\n[truncated")[0] == "y" * MAX_HTTP_BYTES
    assert peak < 8 * 1024 * 1024, peak  # inflated whole it would be 50 MB


# -- TLS to the checked address ---------------------------------------------------------------


def _certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `name`, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.mark.parametrize(("cert_for", "ok"), [("localhost", True), ("elsewhere.test", False)])
async def test_https_to_the_checked_address_verifies_the_name(
    tmp_path: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, cert_for: str, ok: bool
) -> None:
    import ssl

    from workbench.tools import net

    ca, cert, key = _certificates(tmp_path, cert_for)
    server = Server()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.httpd.socket = tls.wrap_socket(server.httpd.socket, server_side=True)
    client = ssl.create_default_context(cafile=str(ca))
    monkeypatch.setattr(net, "_ssl", client)  # trust the test CA instead of the system's
    ctx.allow_hosts = (f"localhost:{server.port}",)
    try:
        url = f"https://localhost:{server.port}/host"
        if ok:  # connected to 127.0.0.1, yet the certificate was checked for "localhost"
            assert await _get(ctx, url) == f"localhost:{server.port}"
        else:
            with pytest.raises(ToolError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
                await _get(ctx, url)
    finally:
        server.close()
