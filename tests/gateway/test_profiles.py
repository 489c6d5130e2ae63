"""Model profiles: validation with file:line, alias resolution, and the agent's model order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.conftest import profiles
from tests.support import make_context
from workbench.config import Settings
from workbench.errors import SpecError
from workbench.gateway.model_config import (
    crew_profiles,
    load_profiles,
    load_user_config,
    parse_user_config,
)
from workbench.gateway.types import ModelRequest
from workbench.mesh.session import Session, prepare
from workbench.spec.loader import parse_crew
from workbench.store.db import Store

CREW = """\
name: routed
model: scripted/demo
models:
  fast:
    model: openai/gpt-4o-mini
    temperature: 0.1
    fallbacks: [careful, groq/llama3-8b-8192]
  careful:
    model: anthropic/claude-3-5-sonnet-latest
    api_base: https://proxy.example/v1
    timeout: 5
agents:
  - {name: lead, role: Lead, goal: Decide, model: fast}
  - {name: counsel, role: Counsel, goal: Check, domain: legal}
  - {name: clerk, role: Clerk, goal: File}
"""


def _spec(text: str = CREW):
    return parse_crew(text, "crew.yaml")


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("  fast:\n    model: openai/x\n    colour: blue\n", 5, "unknown key 'colour'"),
        ("  fast:\n    model: openai/x\n    api_key: sk-123\n", 5, "keys never go in files"),
        ("  fast:\n    model: openai/x\n    params: {secret_token: x}\n", 5, "keys never go"),
        # nested, and in other spellings
        ("  fast:\n    model: openai/x\n    params:\n      extra_body:\n        api_key: sk-1\n",
         7, "params.extra_body.api_key: API keys never go"),
        ("  fast:\n    model: openai/x\n    params: {X-Auth-Token: t}\n", 5, "keys never go"),
        ("  fast:\n    model: openai/x\n    passphrase: p\n", 5, "keys never go"),
        ("  fast:\n    temperature: 0.2\n", 3, "missing required key 'model'"),
        ("  fast:\n    model: openai/x\n    timeout: -1\n", 5, "between"),
        ("  fast:\n    model: openai/x\n    num_retries: 1.5\n", 5, "whole number"),
        ("  fast:\n    model: openai/x\n    api_base: localhost:1234\n", 5, "http://"),
        ("  fast:\n    model: openai/x\n    fallbacks: 3\n", 5, "list of aliases"),
        ("  openai/fast:\n    model: openai/x\n", 3, "no '/'"),
        ("  fast: [1, 2]\n", 3, "must be a mapping"),
    ],
)
def test_a_bad_models_section_is_a_located_error(body: str, line: int, words: str) -> None:
    text = f"name: c\nmodels:\n{body}agents:\n  - {{name: a, role: R, goal: G}}\n"
    with pytest.raises(SpecError) as info:  # validation checks `models:` as the run does
        spec = parse_crew(text, "c.yaml")
        crew_profiles(spec.models, "c.yaml", text)
    assert info.value.file == "c.yaml" and info.value.line == line, str(info.value)
    assert words in str(info.value)


def test_prepare_reports_the_models_error_with_its_line(tmp_path: Path) -> None:
    crew = tmp_path / "bad.yaml"
    crew.write_text(CREW.replace("    timeout: 5\n", "    timeout: soon\n"))
    with pytest.raises(SpecError) as info:
        prepare(crew)
    assert str(info.value).startswith(f"{crew}:11: models.careful.timeout: must be a number")


def test_an_unknown_fallback_name_is_reported_where_its_alias_is() -> None:
    text = CREW.replace("[careful, groq/llama3-8b-8192]", "[carefull]")
    with pytest.raises(SpecError) as info:
        load_profiles(None, _spec(text), "crew.yaml", text)
    assert info.value.line == 4 and "'carefull' is neither an alias" in str(info.value)


def test_an_alias_resolves_to_its_chain_with_its_settings() -> None:
    route = crew_profiles(_spec().models).resolve("fast", api_base="http://crew-base/v1")
    labels = [t.label for t in route.targets]
    assert labels == ["fast", "careful", "groq/llama3-8b-8192"]
    fast, careful, groq = route.targets
    assert fast.model == "openai/gpt-4o-mini" and fast.params["temperature"] == 0.1
    assert fast.api_base == "http://crew-base/v1"  # no api_base of its own: the agent's
    assert careful.api_base == "https://proxy.example/v1" and careful.timeout == 5
    # a plain-string fallback inherits the primary's settings, never its api_base
    assert groq.api_base is None and groq.params["temperature"] == 0.1


def test_a_plain_model_string_is_its_own_route() -> None:
    route = profiles({}).resolve("openai/gpt-4o", "http://x/v1")
    assert [(t.model, t.api_base) for t in route.targets] == [("openai/gpt-4o", "http://x/v1")]


def test_fallback_cycles_are_cut() -> None:
    p = profiles({"a": {"model": "openai/a", "fallbacks": ["b"]},
                  "b": {"model": "openai/b", "fallbacks": ["a", "c"]},
                  "c": "openai/c"})
    assert [t.label for t in p.resolve("a").targets] == ["a", "b", "c"]


def test_resolution_order_agent_then_domain_then_crew() -> None:
    spec = _spec()
    p = profiles({"careful": "anthropic/claude-3-5-sonnet-latest"}, {"legal": "careful"})
    assert [p.model_for(spec, a) for a in spec.agents] == ["fast", "careful", "scripted/demo"]
    p.assign(spec)
    assert [spec.model_for(a) for a in spec.agents] == ["fast", "careful", "scripted/demo"]


def test_crew_aliases_override_the_users(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "models:\n  fast: openai/gpt-3.5-turbo\n  mine: mistral/mistral-small\n"
        "domains:\n  legal: mine\n"
    )
    merged = load_profiles(tmp_path, _spec(), "crew.yaml", CREW)
    assert merged.get("fast").model == "openai/gpt-4o-mini"
    assert merged.get("fast").source == "crew" and merged.get("mine").source == "user"
    assert merged.domains == {"legal": "mine"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("models:\n  fast: {model: openai/x, top_k: 3}\n", 2, "unknown key 'top_k'"),
        ("domains:\n  legal: nosuch\n", 2, "'nosuch' is neither an alias"),
        ("models:\n  a: openai/x\nextra: 1\n", 3, "unknown key 'extra'"),
        ("models:\n  a: openai/x\n  a: openai/y\n", 3, "duplicate key"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_user_config_errors_are_located(tmp_path: Path, text: str, line: int,
                                        words: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_user_config(tmp_path)
    assert info.value.file == str(path) and info.value.line == line, str(info.value)
    assert words in str(info.value)


def test_user_config_is_optional_and_may_be_empty(tmp_path: Path) -> None:
    assert not load_user_config(tmp_path).profiles
    assert not parse_user_config("", "models.yaml").profiles


def test_governance_sees_the_resolved_provider_not_the_alias(tmp_path: Path) -> None:
    ctx, _ = make_context(_spec(), tmp_path)
    activation = ctx.activation("lead")
    assert activation["agent"]["model"] == "fast"
    assert activation["model"] == {"provider": "openai", "name": "gpt-4o-mini", "host": "",
                                   "local": False}
    assert ctx.activation("clerk")["model"] == {"provider": "scripted", "name": "demo",
                                                "host": "", "local": True}


def test_a_session_applies_domain_defaults_and_model_overrides(tmp_path: Path,
                                                                monkeypatch) -> None:
    for var in ("OPENAI_API_KEY", "GROQ_API_KEY"):  # a session needs its keys to be made
        monkeypatch.setenv(var, "sk-test-never-sent")
    home = tmp_path / "home"
    home.mkdir()
    (home / "models.yaml").write_text(
        "models:\n  offline: scripted/legal-desk\ndomains:\n  legal: offline\n")
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW)
    settings = Settings(home=home)
    store = Store(settings.database_url)
    session = Session(prepare(crew), settings, store)
    assert session.ctx.agent("counsel").model == "offline"
    assert session.ctx.activation("counsel")["model"]["name"] == "legal-desk"
    # --model beats every other choice, the domain default included
    session = Session(prepare(crew, model="scripted/other"), settings, store)
    assert {a.model for a in session.prepared.spec.agents} == {"scripted/other"}


async def test_an_alias_to_the_scripted_model_stays_offline(tmp_path: Path) -> None:
    spec = _spec(CREW.replace("model: openai/gpt-4o-mini", "model: scripted/fast-desk"))
    ctx, events = make_context(spec, tmp_path)
    response = await ctx.complete(ModelRequest("lead", "fast", [{"role": "user", "content": "hi"}]))
    assert response.provider == "scripted"
    call = next(e for e in events if e.kind == "model.call")
    assert call.data["requested"] == "fast" and call.data["model"] == "scripted/fast-desk"



def test_a_run_carries_the_crews_models_parsed_once(tmp_path: Path, monkeypatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(var, "sk-test-never-sent")
    home = tmp_path / "home"
    home.mkdir()
    (home / "models.yaml").write_text("models:\n  mine: mistral/mistral-small\n")
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW)
    prepared = prepare(crew)
    assert sorted(prepared.models.profiles) == ["careful", "fast"]
    settings = Settings(home=home)
    session = Session(prepared, settings, Store(settings.database_url))
    in_force = session.ctx.gateway.profiles
    # the session lays the user's aliases under the very profiles the run prepared
    assert in_force.get("fast") is prepared.models.get("fast")
    assert in_force.get("mine").source == "user"
    assert session.ctx.activation("lead")["model"] == {"provider": "openai",
                                                       "name": "gpt-4o-mini", "host": "",
                                                       "local": False}
