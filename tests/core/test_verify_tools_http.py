"""http_get's address guard and IPv6 forms that carry an IPv4 address in their low 32 bits:
IPv4-compatible (::a.b.c.d) and IPv4-translated (::ffff:0:a.b.c.d) addresses, which Python's
ipaddress calls global, are refused like the address they carry; NAT64 to a public host is
not."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from workbench.tools import ToolContext, ToolError, default_registry
from workbench.tools.net import address_problem


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


@pytest.mark.parametrize(("url", "why"), [
    ("http://[::127.0.0.1]/", "loopback"),
    ("http://[::7f00:1]:8080/", "loopback"),
    ("http://[::169.254.169.254]/", "metadata"),
    ("http://[::10.0.0.1]/", "private"),
    ("http://[::ffff:0:127.0.0.1]/", "loopback"),
    ("http://[::ffff:0:a9fe:a9fe]/", "metadata"),
    ("http://[::8.8.8.8]/", "reserved"),
])
async def test_ipv6_forms_carrying_an_ipv4_address_are_refused_before_connecting(
        ctx: ToolContext, url: str, why: str) -> None:
    # before: the guard let them pass and the tool tried to connect ("ConnectError")
    with pytest.raises(ToolError, match=f"http_get refuses .*{why}"):
        await default_registry().get("http_get").invoke(ctx, {"url": url})


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "64:ff9b::5db8:d822"])
def test_nat64_to_a_public_ipv4_host_still_passes(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_nat64_to_loopback_is_refused() -> None:
    assert "loopback" in (address_problem(ipaddress.ip_address("64:ff9b::7f00:1")) or "")
