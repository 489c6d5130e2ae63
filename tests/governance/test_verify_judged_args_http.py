"""A policy rule on http_get's URL holds for every spelling that reaches the same place:
upper case, a trailing dot, a default port, user@host, `..`, percent-encoding, a backslash or
an address in another notation is refused before any request, and a redirect is judged in
the spelling that is then fetched. All traffic stays on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.test_http_get import Server
from tests.governance.test_policies import write_policies
from tests.support import make_context
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.spec.schema import CrewSpec

# The paste site here is the loopback server's /paste; a rule names it as people write it.
POLICY = """\
version: 1
default: allow
rules:
  - {{id: no-paste, on: tool_call, effect: deny, reason: no paste sites,
     when: 'tool.name == "http_get" && args.url.startsWith("http://localhost:{port}/paste")'}}
"""


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


def _context(tmp_path: Path, server: Server):
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p",
                                                   POLICY.format(port=server.port))))
    crew = CrewSpec.model_validate({
        "name": "fetchers", "allow_hosts": [f"localhost:{server.port}"],
        "agents": [{"name": "fetcher", "role": "Fetcher", "goal": "Fetch",
                    "tools": ["http_get"]}],
    })
    return make_context(crew, tmp_path, gate=gate)


SPELLINGS = [
    "HTTP://localhost:{port}/paste",
    "http://LOCALHOST:{port}/paste",
    "http://localhost.:{port}/paste",
    "http://allowed.example@localhost:{port}/paste",
    "http://localhost:{port}/public/../paste",
    "http://localhost:{port}/./paste",
    "http://localhost:{port}/%70aste",
    "http://localhost:{port}/public/%2e%2e/paste",
    "http://localhost:{port}\\paste",
    "http://localhost:{port}/public\\..\\paste",
    "http://localhost:{port}/paste#top",
    "http://localhost:{port}",  # no path: the rule's prefix is not there, the request is /
]


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_a_url_rule_holds_for_every_spelling_of_the_url(
        tmp_path: Path, server: Server, spelling: str) -> None:
    run, _ = _context(tmp_path, server)
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": spelling.format(port=server.port)})
    assert not outcome.ok
    assert server.paths == []  # nothing reached the server


async def test_the_plain_spelling_is_judged_and_a_public_page_fetched(
        tmp_path: Path, server: Server) -> None:
    run, _ = _context(tmp_path, server)
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"http://localhost:{server.port}/paste"})
    assert not outcome.ok and "denied by policy: no paste sites" in outcome.output
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"http://localhost:{server.port}/public"})
    assert outcome.ok and outcome.output == "pong /public"
    assert server.paths == ["/public"]


async def test_a_refusal_names_the_plain_spelling(tmp_path: Path, server: Server) -> None:
    run, _ = _context(tmp_path, server)
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"http://LOCALHOST:{server.port}/a/../public"})
    assert f"write 'http://localhost:{server.port}/public'" in outcome.output


@pytest.mark.parametrize("location", [
    "http://LOCALHOST:{port}/paste",
    "http://localhost.:{port}/paste",
    "/public/../paste",
    "/%70aste",
    "/public/%2E%2E/paste",
])
async def test_a_redirect_is_judged_in_the_spelling_that_is_fetched(
        tmp_path: Path, server: Server, location: str) -> None:
    run, events = _context(tmp_path, server)
    to = location.format(port=server.port).replace("%", "%25").replace("/", "%2F")
    outcome = await run.call_tool("fetcher", "http_get",
                                  {"url": f"http://localhost:{server.port}/redirect?to={to}"})
    assert not outcome.ok and "denied by policy: no paste sites" in outcome.output
    assert server.paths == [f"/redirect?to={to}"]  # the paste page was never asked for


@pytest.mark.parametrize("url", ["http://2130706433/", "http://127.1/", "http://0x7f.0.0.1/",
                                 "http://017700000001/"])
async def test_an_address_in_another_notation_is_refused(tmp_path: Path, server: Server,
                                                         url: str) -> None:
    run, _ = _context(tmp_path, server)
    outcome = await run.call_tool("fetcher", "http_get", {"url": url})
    assert not outcome.ok and server.paths == []
