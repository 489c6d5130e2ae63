"""Key status and prices read the same in `workbench keys list` / `models list` and the
Models screen: one listing and one price format in the gateway, used by both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring
from workbench.cli import main
from workbench.config import Settings
from workbench.errors import UserInputError
from workbench.gateway.credentials import SERVICE, key_sources
from workbench.gateway.pricing import format_price

KEY = "sk-test-Zq8wLp3vRt7yUi2oPa9sDf4gHj6kLm1n"

MODELS = """\
models:
  fw: fireworks_ai/llama-v3p1-8b-instruct
  local: ollama/llama3.2
  fast: openai/gpt-4o-mini
"""


def _services(home: Path):
    from workbench.tui.services import Services

    return Services(Settings.from_args(str(home), None, None))


def _cli_rows(out: str) -> list[tuple[str, str, str]]:
    lines = [x for x in out.splitlines() if x.strip()]
    assert lines[0].split() == ["PROVIDER", "KEY", "ENV", "VAR"]
    return [tuple(x.split()) for x in lines[1:] if not x.startswith("keyring:")]  # type: ignore[misc]


def test_keys_list_and_the_models_screen_list_the_same_providers(
        memory_keyring: MemoryKeyring, home: Path, monkeypatch, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(MODELS)
    memory_keyring.items[(SERVICE, "openai")] = KEY
    monkeypatch.setenv("FIREWORKS_AI_API_KEY", "fw-from-the-environment")
    assert main(["keys", "list"]) == 0
    cli = _cli_rows(capsys.readouterr().out)
    screen = [(r.provider, r.source, r.env_var) for r in _services(home).key_status().rows]
    assert cli == screen
    sources = {k.provider: k.source for k in key_sources(home)}
    # a provider only an alias names is listed; a local one needs no key and is not
    assert sources["fireworks_ai"] == "env" and "ollama" not in sources
    assert sources["openai"] == "keyring" and sources["anthropic"] == "none"


def test_a_broken_models_yaml_does_not_hide_the_keys(home: Path, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text("models: [not, a, mapping\n")
    assert [k.provider for k in key_sources(home)][:2] == ["openai", "anthropic"]
    assert main(["keys", "list"]) == 0
    assert [r.provider for r in _services(home).key_status().rows][:2] == ["openai", "anthropic"]


def test_the_models_screen_refuses_what_keys_set_refuses(
        memory_keyring: MemoryKeyring, home: Path) -> None:
    services = _services(home)
    with pytest.raises(UserInputError, match="needs no key"):
        services.set_key("scripted", KEY)
    with pytest.raises(UserInputError, match="not a provider name: use LiteLLM's prefix"):
        services.set_key("Open AI", KEY)
    with pytest.raises(UserInputError, match="no spaces or line breaks"):
        services.set_key("openai", "two words")
    assert not memory_keyring.items
    services.set_key(" OpenAI ", f" {KEY}\n")
    assert memory_keyring.items == {(SERVICE, "openai"): KEY}
    assert services.delete_key("openai") and not memory_keyring.items
    assert not services.delete_key("openai")


@pytest.mark.parametrize("value", [0.15, 0.0375, 0.075, 0.5, 1.875, 2.5, 12.3456, 1500.0,
                                   0.0, None])
def test_prices_read_the_same_in_models_list_and_the_models_screen(value) -> None:
    from workbench.tui.screens.models import price

    assert price(value) == format_price(value, unknown="-")


def test_a_price_over_a_dollar_keeps_its_digits() -> None:
    from workbench.tui.screens.models import price

    assert [price(v) for v in (1.875, 2.5, 1500.0, None)] == ["$1.875", "$2.50", "$1,500.00",
                                                              "-"]
    assert format_price(None) == "unknown"
