"""Keys: `workbench keys`, the keyring and env paths to the provider, and no key anywhere
the workbench writes (database bytes, session folders, exports, CLI output)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring
from tests.fakeprovider import FakeProvider, Reply
from workbench.cli import main
from workbench.gateway.credentials import SERVICE, get_key
from workbench.gateway.gateway import Gateway
from workbench.gateway.types import ModelRequest

KEY = "sk-test-Zq8wLp3vRt7yUi2oPa9sDf4gHj6kLm1n"


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_keys_set_list_delete_with_a_keyring(memory_keyring: MemoryKeyring, home: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _stdin(monkeypatch, KEY + "\n")
    assert main(["keys", "set", "openai"]) == 0
    assert memory_keyring.items[(SERVICE, "openai")] == KEY
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-the-environment")
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip()}
    assert rows["openai"] == "keyring" and rows["groq"] == "env" and rows["anthropic"] == "none"
    assert KEY not in out and "gsk-from" not in out
    assert main(["keys", "delete", "openai"]) == 0
    assert (SERVICE, "openai") not in memory_keyring.items
    assert main(["keys", "delete", "openai"]) == 1


def test_keys_set_uses_a_masked_prompt_on_a_terminal(memory_keyring: MemoryKeyring,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or KEY)
    assert main(["keys", "set", "anthropic"]) == 0
    assert memory_keyring.items[(SERVICE, "anthropic")] == KEY
    assert prompts and "hidden" in prompts[0]
    assert KEY not in capsys.readouterr().out


@pytest.mark.parametrize(("stdin", "words"), [("\n", "no key given"),
                                              ("two words\n", "no spaces")])
def test_keys_set_refuses_an_empty_or_odd_key(memory_keyring: MemoryKeyring, stdin: str,
                                              words: str, monkeypatch, capsys) -> None:
    _stdin(monkeypatch, stdin)
    assert main(["keys", "set", "openai"]) == 2
    assert words in capsys.readouterr().err and not memory_keyring.items


def test_keys_set_without_a_keyring_says_what_to_do(no_keyring: None, monkeypatch,
                                                    capsys) -> None:
    _stdin(monkeypatch, KEY + "\n")
    assert main(["keys", "set", "openai"]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "no OS keyring is available" in err and "OPENAI_API_KEY" in err
    assert "keyrings.alt" in err and "PYTHON_KEYRING_BACKEND" in err
    assert "Traceback" not in err and KEY not in err + captured.out
    assert main(["keys", "delete", "openai"]) == 2
    assert main(["keys", "list"]) == 0
    assert "no OS keyring is available" in capsys.readouterr().out


def test_without_a_keyring_the_env_var_reaches_the_provider(no_keyring: None, monkeypatch
                                                           ) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert get_key("openai") == KEY
    import asyncio

    with FakeProvider(responder=lambda p: Reply(content="ok")) as fp:
        asyncio.run(Gateway().complete(ModelRequest(
            "a", "openai/fake", [{"role": "user", "content": "hi"}], api_base=fp.api_base)))
    assert fp.headers[0]["authorization"] == f"Bearer {KEY}"


async def test_a_keyring_key_wins_over_the_env_and_reaches_the_provider(
        memory_keyring: MemoryKeyring, monkeypatch) -> None:
    memory_keyring.set_password(SERVICE, "openai", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-loses")
    with FakeProvider(responder=lambda p: Reply(content="ok")) as fp:
        await Gateway().complete(ModelRequest(
            "a", "openai/fake", [{"role": "user", "content": "hi"}], api_base=fp.api_base))
    assert fp.headers[0]["authorization"] == f"Bearer {KEY}"


async def test_a_local_server_gets_a_placeholder_not_a_missing_key() -> None:
    with FakeProvider(responder=lambda p: Reply(content="ok")) as fp:
        await Gateway().complete(ModelRequest(
            "a", "openai/llama3.2", [{"role": "user", "content": "hi"}], api_base=fp.api_base))
    assert fp.headers[0]["authorization"] == "Bearer none"


async def test_a_profile_chooses_which_stored_key_is_sent(memory_keyring: MemoryKeyring
                                                          ) -> None:
    from tests.gateway.conftest import profiles

    memory_keyring.set_password(SERVICE, "openai", KEY)
    memory_keyring.set_password(SERVICE, "team_proxy", "sk-team-proxy-0000")
    with FakeProvider(responder=lambda p: Reply(content="ok")) as fp:
        gw = Gateway(profiles=profiles({
            "local": {"model": "openai/llama3.2", "api_base": fp.api_base, "credential": "none"},
            "proxy": {"model": "openai/gpt-4o", "api_base": fp.api_base,
                      "credential": "team_proxy"},
        }))
        for alias in ("local", "proxy"):
            await gw.complete(ModelRequest("a", alias, [{"role": "user", "content": "hi"}]))
    assert [h["authorization"] for h in fp.headers] == ["Bearer none",
                                                        "Bearer sk-team-proxy-0000"]


async def test_a_provider_echoing_the_key_cannot_leak_it(memory_keyring: MemoryKeyring,
                                                         monkeypatch) -> None:
    from workbench.errors import ProviderError
    from workbench.gateway import litellm_provider

    class Echo(Exception):
        status_code = 401

    class FakeLiteLLM:
        async def acompletion(self, **kwargs):
            raise Echo(f"Incorrect API key provided: {kwargs['api_key']} for {kwargs['model']}")

    memory_keyring.set_password(SERVICE, "openai", KEY)
    monkeypatch.setattr(litellm_provider, "_litellm", FakeLiteLLM())
    with pytest.raises(ProviderError) as info:
        await Gateway().complete(ModelRequest("a", "openai/x", [{"role": "user", "content": ""}]))
    assert KEY not in str(info.value) and "[redacted]" in str(info.value)
    assert all(KEY not in t for t in info.value.tried)


CREW = """\
name: keyed
model: openai/gpt-4o-mini
api_base: {api_base}
topology: {{kind: network, max_turns: 4}}
agents:
  - {{name: analyst, role: Analyst, goal: Compute the answer}}
  - {{name: critic, role: Critic, goal: Check the answer}}
"""


@pytest.mark.parametrize("where", ["keyring", "env"])
def test_a_real_session_never_writes_the_key(where: str, home: Path, tmp_path: Path,
                                             memory_keyring: MemoryKeyring, monkeypatch,
                                             capsys) -> None:
    if where == "keyring":
        memory_keyring.set_password(SERVICE, "openai", KEY)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
    replies = [Reply(content="The answer is 42."), Reply(status=401),
               Reply(content="Checked. TERMINATE")]
    with FakeProvider(replies=list(replies),
                      responder=lambda p: Reply(content="Done. TERMINATE")) as fp:
        crew = tmp_path / "keyed.yaml"
        crew.write_text(CREW.format(api_base=fp.api_base))
        code = main(["--home", str(home), "run", str(crew), "--model", "openai/gpt-4o-mini",
                     "--approvals", "deny"])
        main(["--home", str(home), "run", str(crew), "--approvals", "deny", "--json"])
    assert fp.headers and all(h["authorization"] == f"Bearer {KEY}" for h in fp.headers)
    assert code == 1  # the 401 failed the first run, with a message but no key
    out = capsys.readouterr()
    assert "AuthenticationError 401" in out.err
    export = tmp_path / "export"
    from workbench.store.db import Store

    sessions = Store(f"sqlite:///{home / 'workbench.db'}").list_sessions()
    assert len(sessions) == 2
    for s in sessions:
        for fmt in ("md", "json"):
            assert main(["--home", str(home), "sessions", "export", s["id"], "--format", fmt,
                         "-o", str(export.with_suffix("." + fmt))]) == 0
            assert KEY.encode() not in export.with_suffix("." + fmt).read_bytes()
        assert main(["--home", str(home), "sessions", "show", s["id"]]) == 0
    out2 = capsys.readouterr()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "workbench.db" for p in files)
    leaks = [str(p) for p in files if KEY.encode() in p.read_bytes()]
    assert not leaks, leaks
    for text in (out.out, out.err, out2.out, out2.err):
        assert KEY not in text


# -- a missing key is found before the first call ------------------------------------------

NEEDS_KEYS = """\
name: needs-keys
model: openai/gpt-4o-mini
models:
  proxy: {{model: openai/gpt-4o, api_base: "{api_base}", credential: team_proxy}}
  local: {{model: hosted_vllm/llama3, api_base: "{api_base}", fallbacks: [anthropic/claude-3-5-haiku]}}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: analyst, role: Analyst, goal: Compute, model: proxy}}
  - {{name: critic, role: Critic, goal: Check, model: local}}
  - {{name: writer, role: Writer, goal: Write}}
"""


def _needs_keys(tmp_path: Path, api_base: str) -> Path:
    crew = tmp_path / "needs-keys.yaml"
    crew.write_text(NEEDS_KEYS.format(api_base=api_base))
    return crew


def test_a_run_without_keys_stops_before_any_request(home: Path, tmp_path: Path,
                                                     memory_keyring: MemoryKeyring,
                                                     capsys) -> None:
    with FakeProvider() as fp:
        code = main(["--home", str(home), "run", str(_needs_keys(tmp_path, fp.api_base)),
                     "--approvals", "deny"])
    err = capsys.readouterr().err
    assert code == 2 and fp.requests == []
    # the named credential, a fallback's provider and the crew's default model, each once
    assert "no API key for team_proxy (analyst on openai/gpt-4o)" in err
    assert "run `workbench keys set team_proxy` or set TEAM_PROXY_API_KEY" in err
    assert "no API key for anthropic (critic on anthropic/claude-3-5-haiku)" in err
    assert "no API key for openai (writer on openai/gpt-4o-mini)" in err
    assert "`workbench keys set openai` or set OPENAI_API_KEY" in err
    assert "Traceback" not in err and "InternalServerError" not in err
    assert not (home / "workbench.db").exists() or not __import__("sqlite3").connect(
        home / "workbench.db").execute("select count(*) from session").fetchone()[0]


def test_keys_from_the_keyring_or_the_environment_let_the_run_go(
        home: Path, tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch) -> None:
    from workbench.gateway.credentials import missing_keys
    from workbench.spec.loader import load_crew

    crew = _needs_keys(tmp_path, "http://127.0.0.1:9/v1")
    memory_keyring.set_password(SERVICE, "team_proxy", "sk-team-proxy-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert missing_keys(load_crew(crew), home) == [
        "no API key for openai (writer on openai/gpt-4o-mini): run `workbench keys set "
        "openai` or set OPENAI_API_KEY"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert missing_keys(load_crew(crew), home) == []


def test_local_models_need_no_key(home: Path, tmp_path: Path) -> None:
    from workbench.gateway.credentials import missing_keys
    from workbench.spec.loader import load_crew

    crew = tmp_path / "local.yaml"
    crew.write_text("""\
name: local
model: scripted/demo
models:
  quiet: {model: openai/gpt-4o, api_base: "http://127.0.0.1:9/v1", credential: none}
topology: {kind: network, max_turns: 2}
agents:
  - {name: a, role: A, goal: G, model: ollama/llama3.2}
  - {name: b, role: B, goal: G, model: openai/llama3.2, api_base: "http://127.0.0.1:8/v1"}
  - {name: c, role: C, goal: G, model: quiet}
  - {name: d, role: D, goal: G}
""")
    assert missing_keys(load_crew(crew), home) == []


def test_a_domain_default_from_models_yaml_is_checked(home: Path, tmp_path: Path,
                                                     no_keyring: None) -> None:
    from workbench.gateway.credentials import missing_keys
    from workbench.spec.loader import load_crew

    home.mkdir(parents=True)
    (home / "models.yaml").write_text("domains: {legal: mistral/mistral-large-latest}\n")
    crew = tmp_path / "legal.yaml"
    crew.write_text("""\
name: legal
model: scripted/demo
topology: {kind: network, max_turns: 2}
agents:
  - {name: counsel, role: Counsel, goal: Advise, domain: legal}
  - {name: clerk, role: Clerk, goal: File}
""")
    assert missing_keys(load_crew(crew), home) == [
        "no API key for mistral (counsel on mistral/mistral-large-latest): set "
        "MISTRAL_API_KEY (this machine has no OS keyring for `workbench keys set`)"]


def test_crews_validate_warns_about_missing_keys(home: Path, tmp_path: Path,
                                                 memory_keyring: MemoryKeyring,
                                                 capsys) -> None:
    crew = _needs_keys(tmp_path, "http://127.0.0.1:9/v1")
    assert main(["--home", str(home), "crews", "validate", str(crew)]) == 0
    out = capsys.readouterr().out
    assert ": ok (needs-keys: 3 agents" in out
    assert "warning: no API key for openai (writer on openai/gpt-4o-mini)" in out
    assert "warning: no API key for team_proxy" in out
