"""`workbench models list`: aliases resolved, key status, prices per million tokens; and the
documented local-model example crew, run against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring
from tests.fakeprovider import FakeProvider, Reply
from workbench.cli import main
from workbench.config import Settings
from workbench.gateway.credentials import SERVICE
from workbench.gateway.pricing import format_price, price_per_million
from workbench.mesh.session import Session, prepare
from workbench.spec.loader import load_crew
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "local-model.yaml"

USER = """\
models:
  fast:
    model: openai/gpt-4o-mini
    fallbacks: [local]
  local:
    model: openai/llama3.2
    api_base: http://127.0.0.1:11434/v1
    credential: none
  proxy:
    model: openai/gpt-4o
    api_base: https://llm-proxy.example/v1
  claude: anthropic/claude-3-5-sonnet-20240620
  offline: scripted/desk
domains:
  legal: fast
"""

CREW = """\
name: mixed
model: scripted/demo
models:
  local: {model: ollama/llama3.2, api_base: "http://127.0.0.1:11434"}
agents:
  - {name: lead, role: Lead, goal: Decide, model: local}
  - {name: counsel, role: Counsel, goal: Check, domain: legal}
  - {name: clerk, role: Clerk, goal: File, model: groq/llama3-8b-8192}
  - {name: scribe, role: Scribe, goal: Write}
"""


def _rows(out: str) -> dict[str, list[str]]:
    lines = [line for line in out.splitlines() if line.strip()]
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_prices_come_per_million_and_unknown_is_unknown() -> None:
    assert price_per_million("openai/gpt-4o-mini") == pytest.approx((0.15, 0.60))
    assert price_per_million("openai/llama3.2") == (None, None)
    assert price_per_million("scripted/demo") == (0.0, 0.0)
    assert [format_price(v) for v in (0.15, 0.0375, 2.5, 0.0, None)] == [
        "$0.15", "$0.0375", "$2.50", "$0", "unknown"]


def test_models_list_shows_aliases_resolved_with_keys_and_prices(
        home: Path, memory_keyring: MemoryKeyring, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(USER)
    memory_keyring.set_password(SERVICE, "openai", "sk-never-shown-123456")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out.split("\n\n")[0])
    assert rows["fast"][1:] == ["user", "openai/gpt-4o-mini", "-", "keyring", "$0.15", "$0.60",
                                "local"]
    assert rows["local"][2:8] == ["openai/llama3.2", "http://127.0.0.1:11434/v1",
                                  "not", "needed", "unknown", "unknown"]
    assert rows["claude"][4] == "none"
    # an api_base gets the provider's key unless the profile says which one, or none
    assert rows["proxy"][4] == "keyring"
    assert rows["offline"][4:] == ["not", "needed", "$0", "$0", "-"]
    assert "domain defaults: legal -> fast" in out
    assert "sk-never-shown" not in out


def test_models_list_with_a_crew_shows_its_aliases_and_each_agents_model(
        home: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(USER)
    monkeypatch.setenv("GROQ_API_KEY", "gsk-123456789")
    crew = tmp_path / "mixed.yaml"
    crew.write_text(CREW)
    assert main(["models", "list", "--crew", str(crew), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    aliases = {r["alias"]: r for r in rows if r["source"] != "agent" and r["alias"] != "-"}
    assert aliases["local"]["source"] == "crew" and aliases["local"]["provider"] == "ollama"
    assert aliases["local"]["key"] == "not needed"
    plain = {r["model"]: r for r in rows if r.get("alias") == "-"}
    assert plain["groq/llama3-8b-8192"]["key"] == "env"
    agents = {r["agent"]: r for r in rows if r["source"] == "agent"}
    assert (agents["lead"]["model"], agents["lead"]["chosen_by"]) == ("ollama/llama3.2", "agent")
    assert (agents["counsel"]["alias"], agents["counsel"]["model"],
            agents["counsel"]["chosen_by"]) == ("fast", "openai/gpt-4o-mini", "domain")
    assert agents["scribe"]["chosen_by"] == "crew"
    assert main(["models", "list", "--crew", str(crew)]) == 0
    text = capsys.readouterr().out
    assert "AGENT" in text and "CHOSEN BY" in text


def test_a_broken_user_config_is_a_located_error(home: Path, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text("models:\n  fast:\n    model: openai/x\n    tempo: 1\n")
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err
    assert f"{home / 'models.yaml'}:4: models.fast: unknown key 'tempo'" in err


def test_no_aliases_yet_says_where_to_put_them(home: Path, capsys) -> None:
    assert main(["models", "list"]) == 0
    assert "models.yaml" in capsys.readouterr().out


def test_the_documented_local_model_crew_runs_against_an_openai_compatible_server(
        tmp_path: Path) -> None:
    spec = load_crew(EXAMPLE)
    assert spec.models["local"]["api_base"] == "http://127.0.0.1:11434/v1"
    replies = [Reply(content="Three risks: coverage, handoffs, burnout."),
               Reply(content="Sound. TERMINATE")]
    with FakeProvider(replies=replies) as fp:
        crew = tmp_path / "local-model.yaml"
        crew.write_text(EXAMPLE.read_text().replace("http://127.0.0.1:11434/v1", fp.api_base))
        settings = Settings(home=tmp_path / "home")
        settings.ensure_home()
        session = Session(prepare(crew, task="Name three risks of a four-day week"),
                          settings, Store(settings.database_url))
        outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    assert {r["model"] for r in fp.requests} == {"llama3.2"}
    assert all(r["temperature"] == 0.2 for r in fp.requests)
    assert all(h["authorization"] == "Bearer none" for h in fp.headers)
    assert not outcome.totals.cost_known  # a local model has no price: unknown, not free
