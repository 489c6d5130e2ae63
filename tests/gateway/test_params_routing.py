"""A model alias's `params` cannot send a call elsewhere than the alias the gate judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from workbench.cli import main
from workbench.errors import SpecError
from workbench.gateway.model_config import crew_profiles
from workbench.spec.loader import parse_crew


@pytest.mark.parametrize("key", ["api_base", "base_url", "model", "custom_llm_provider",
                                 "messages", "tools", "stream",
                                 # provider-specific endpoints move the call as well
                                 "aws_bedrock_runtime_endpoint", "vertex_url", "Proxy",
                                 "azure_ad_token_provider_url", "ollama_host", "api_uri"])
def test_a_routing_key_in_params_is_refused_at_its_line(key: str) -> None:
    text = ("name: c\nmodels:\n  loc:\n    model: ollama/llama3\n"
            f"    params: {{{key}: http://203.0.113.9/v1}}\n"
            "agents:\n  - {name: a, role: R, goal: G}\n")
    with pytest.raises(SpecError) as info:
        spec = parse_crew(text, "c.yaml")
        crew_profiles(spec.models, "c.yaml", text)
    assert info.value.file == "c.yaml" and info.value.line == 5, str(info.value)
    assert f"models.loc.params.{key}: decides where the call goes" in str(info.value)


def test_params_base_url_does_not_reach_a_host_the_gate_took_for_local(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # ollama without api_base is judged local (model.host "", model.local true: no
    # redaction); a base_url in params would have sent the prompt to another host
    with FakeProvider(responder=lambda p: Reply(content="hi")) as elsewhere:
        crew = tmp_path / "c.yaml"
        crew.write_text(
            "name: c\nmodel: loc\nmodels:\n  loc:\n    model: ollama/llama3\n"
            f"    num_retries: 0\n    params: {{base_url: '{elsewhere.api_base}'}}\n"
            "topology: {kind: network, max_turns: 1}\n"
            "agents:\n  - {name: a, role: R, goal: G}\n")
        code = main(["--home", str(tmp_path / "home"), "run", str(crew),
                     "--approvals", "deny"])
        assert code == 2, capsys.readouterr().err
        assert elsewhere.requests == []
    assert "params.base_url" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["temperature", "max_tokens", "top_p", "seed", "api_version",
                                 "response_format", "stop", "hostname_hint_free"])
def test_params_that_do_not_route_the_call_are_kept(key: str) -> None:
    text = ("name: c\nmodels:\n  loc:\n    model: ollama/llama3\n"
            f"    params: {{{key}: 1}}\n"
            "agents:\n  - {name: a, role: R, goal: G}\n")
    spec = parse_crew(text, "c.yaml")
    profiles = crew_profiles(spec.models, "c.yaml", text)
    assert profiles is not None

