"""A credential in a crew file is refused by `crews validate` as by `run`, in the spellings
beyond `api_key`: an Authorization header, a URL with a user, password or key in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main

CREW = """\
name: k
model: openai/gpt-4o-mini
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: a, role: W, goal: W, model: {model}{agent_extra}}}
{models}"""


@pytest.mark.parametrize(("model", "agent_extra", "models", "line", "where"), [
    ("fast", "", "models:\n  fast: {model: openai/gpt-4o-mini, params: {extra_headers: "
     "{Authorization: Bearer sk-SECRET}}}\n", 7, "models.fast.params.extra_headers.Authorization"),
    ("fast", "", "models:\n  fast: {model: openai/gpt-4o-mini, params: {extra_headers: "
     "{proxy-authorization: sk-SECRET}}}\n", 7,
     "models.fast.params.extra_headers.proxy-authorization"),
    ("fast", "", "models:\n  fast: {model: openai/gpt-4o-mini, api_base: "
     "'https://me:sk-SECRET@llm.example/v1'}\n", 7, "models.fast.api_base: the URL carries"),
    ("fast", "", "models:\n  fast: {model: openai/gpt-4o-mini, api_base: "
     "'https://llm.example/v1?api_key=sk-SECRET'}\n", 7, "models.fast.api_base: the URL"),
    ("fast", "", "models:\n  fast: {model: openai/gpt-4o-mini, params: {base_url: "
     "'https://llm.example/v1?key=sk-SECRET'}}\n", 7, "models.fast.params.base_url"),
    ("openai/gpt-4o-mini", ", api_base: 'http://me:sk-SECRET@127.0.0.1:9/v1'", "", 5,
     "agents.0.api_base: the URL carries a credential"),
])
def test_a_credential_in_the_crew_is_refused_by_validate_and_run(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], model: str,
        agent_extra: str, models: str, line: int, where: str) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW.format(model=model, agent_extra=agent_extra, models=models))
    assert main(["crews", "validate", str(crew)]) == 2
    at_validate = capsys.readouterr().err
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    at_run = capsys.readouterr().err
    assert at_validate == at_run
    assert f"{crew}:{line}: {where}" in at_validate, at_validate
    assert "API keys never go in files" in at_validate
    assert "SECRET" not in at_validate and "Traceback" not in at_validate


def test_a_url_and_headers_without_credentials_pass(tmp_path: Path, home: Path,
                                                    capsys) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW.format(
        model="fast", agent_extra="",
        models="models:\n  fast: {model: openai/gpt-4o-mini, api_base: "
               "'https://llm.example/v1?region=eu', params: {extra_headers: "
               "{X-Trace: '1'}}}\n"))
    assert main(["crews", "validate", str(crew)]) == 0, capsys.readouterr().err


MCP = """\
name: m
model: scripted/demo
topology: {{kind: network, max_turns: 2}}
mcp_servers:
  remote: {server}
agents:
  - {{name: a, role: W, goal: W, tools: ["mcp:remote"]}}
"""


@pytest.mark.parametrize(("server", "where"), [
    ('{url: "https://mcp.example/mcp", headers: {Authorization: "Bearer sk-SECRET"}}',
     "mcp_servers.remote.headers.Authorization: a credential is not written in the crew"),
    ('{url: "https://mcp.example/mcp", headers: {X-Docs-Token: sk-SECRET}}',
     "mcp_servers.remote.headers.X-Docs-Token: a credential is not written"),
    ("{command: python3, env: {OPENAI_API_KEY: sk-SECRET}}",
     "mcp_servers.remote.env.OPENAI_API_KEY: a credential is not written"),
    ('{url: "https://me:sk-SECRET@mcp.example/mcp"}',
     "mcp_servers.remote.url: the URL carries a credential"),
])
def test_a_literal_credential_of_an_mcp_server_is_refused(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], server: str,
        where: str) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(MCP.format(server=server))
    assert main(["crews", "validate", str(crew)]) == 2
    err = capsys.readouterr().err
    assert f"{crew}:5: {where}" in err, err
    assert "SECRET" not in err


@pytest.mark.parametrize("server", [
    '{url: "https://mcp.example/mcp", headers: {Authorization: "Bearer ${DOCS_TOKEN}"}}',
    '{command: python3, env: {OPENAI_API_KEY: "${OPENAI_API_KEY}", LOG_LEVEL: debug}}',
    '{url: "https://mcp.example/mcp", headers: {X-Trace: "1"}}',
])
def test_credentials_from_the_environment_pass(tmp_path: Path, home: Path, capsys,
                                               server: str) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(MCP.format(server=server))
    assert main(["crews", "validate", str(crew)]) == 0, capsys.readouterr().err
