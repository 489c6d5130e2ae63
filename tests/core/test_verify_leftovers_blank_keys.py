"""A blank or white-space-only API key (environment or keyring) counts as no key: the run is
refused up front (exit 2, naming the provider and the fix), nothing is sent, and
`keys list` and `keys set` treat it as missing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring
from tests.fakeprovider import FakeProvider
from workbench.cli import main
from workbench.gateway.credentials import ENV_VARS, SERVICE, get_key, key_source

CREW = """\
name: blank-key
model: keyed
models:
  keyed: {{model: openai/gpt-4o-mini, api_base: "{api_base}", credential: openai}}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
"""


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("blank", ["", "  ", "\t\n"])
def test_a_blank_env_key_stops_the_run_before_any_request(
        blank: str, home: Path, tmp_path: Path, memory_keyring: MemoryKeyring,
        monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    with FakeProvider() as fp:
        crew = tmp_path / "blank-key.yaml"
        crew.write_text(CREW.format(api_base=fp.api_base))
        code = main(["--home", str(home), "run", str(crew), "--approvals", "deny"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fp.requests == []
    assert "no API key for openai (writer on openai/gpt-4o-mini)" in err
    assert "`workbench keys set openai` or set OPENAI_API_KEY" in err
    assert "Traceback" not in err


def test_a_blank_keyring_key_counts_as_missing(memory_keyring: MemoryKeyring,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    memory_keyring.set_password(SERVICE, "openai", "   ")
    assert get_key("openai") is None and key_source("openai") is None
    # a usable variable still wins over a blank keyring entry
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0000")
    assert get_key("openai") == "sk-from-env-0000" and key_source("openai") == "env"


def test_keys_list_shows_a_blank_env_key_as_none(home: Path, memory_keyring: MemoryKeyring,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys) -> None:
    monkeypatch.setenv("GROQ_API_KEY", " ")
    assert main(["--home", str(home), "keys", "list"]) == 0
    rows = {line.split()[0]: line.split()[1]
            for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    assert rows["groq"] == "none"


@pytest.mark.parametrize("stdin", ["", "\n", "   \n", "\t \n"])
def test_keys_set_refuses_a_blank_key(stdin: str, home: Path, memory_keyring: MemoryKeyring,
                                      monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["--home", str(home), "keys", "set", "openai"]) == 2
    assert "no key given for openai" in capsys.readouterr().err
    assert not memory_keyring.items
