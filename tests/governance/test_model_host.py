"""`model.host` and `model.local`: where a model call is really sent, as policies see it.

The shipped rule spares ollama and hosted_vllm from redaction only when the call stays on
this machine or its private network; pointed at a remote api_base they get the prompt
redacted. The remote server is reached, offline, through a plain-HTTP forward proxy on
127.0.0.1 (LiteLLM's client honours HTTP_PROXY), so the request really names its remote
host and the bytes that left are the ones asserted on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.governance.activation import sample
from workbench.governance.model_host import host_is_local, host_of, model_view
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
PLANTED = ("jane.doe@acme.com", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456")
TASK = f"Mail {PLANTED[0]} the key {PLANTED[1]}."


# -- classification -----------------------------------------------------------------------

@pytest.mark.parametrize(("api_base", "host", "local"), [
    ("http://127.0.0.1:8000/v1", "127.0.0.1", True),          # loopback
    ("http://127.9.8.7/v1", "127.9.8.7", True),               # all of 127/8
    ("http://[::1]:11434", "::1", True),                      # IPv6 loopback
    ("http://LocalHost:8000/v1", "localhost", True),          # the name, any case
    ("localhost:8000", "localhost", True),                    # no scheme
    ("http://10.1.2.3/v1", "10.1.2.3", True),                 # RFC 1918
    ("http://172.16.0.1/v1", "172.16.0.1", True),
    ("http://172.31.255.254/v1", "172.31.255.254", True),
    ("http://172.32.0.1/v1", "172.32.0.1", False),            # just outside 172.16/12
    ("http://192.168.1.20:8000/v1", "192.168.1.20", True),
    ("http://[fd12:3456::1]/v1", "fd12:3456::1", True),       # unique local, fc00::/7
    ("http://169.254.10.1/v1", "169.254.10.1", True),         # link-local
    ("http://[fe80::1]/v1", "fe80::1", True),
    ("http://[::ffff:192.168.0.9]/v1", "::ffff:192.168.0.9", True),  # v4-mapped private
    ("http://[::ffff:8.8.8.8]/v1", "::ffff:8.8.8.8", False),
    ("http://8.8.8.8/v1", "8.8.8.8", False),                  # public
    ("http://100.64.0.1/v1", "100.64.0.1", False),            # carrier-grade NAT: not ours
    ("http://192.0.2.1/v1", "192.0.2.1", False),              # documentation: not private
    ("http://0.0.0.0:8000/v1", "0.0.0.0", False),
    ("https://vllm.example.com/v1", "vllm.example.com", False),  # a name is never resolved
    ("https://VLLM.Example.COM./v1", "vllm.example.com", False),
    ("http://localhost.example.com/v1", "localhost.example.com", False),
    ("http://127.0.0.1.nip.io/v1", "127.0.0.1.nip.io", False),
    ("http://intranet/v1", "intranet", False),
    ("http://127.1/v1", "127.1", False),                      # not a literal ipaddress reads
    ("http://user:pw@10.0.0.5:9/v1", "10.0.0.5", True),       # userinfo is not the host
])
def test_host_and_local_of_each_address_class(api_base: str, host: str, local: bool) -> None:
    assert host_of(api_base) == host
    assert host_is_local(host) is local
    assert model_view("hosted_vllm", "m", api_base) == {
        "provider": "hosted_vllm", "name": "m", "host": host, "local": local}


@pytest.mark.parametrize(("provider", "local"), [
    ("ollama", True),          # LiteLLM's default is http://localhost:11434
    ("scripted", True),        # answered in this process
    ("hosted_vllm", False),    # no default endpoint: not known to be local
    ("openai", False), ("anthropic", False), ("routed", False),
])
def test_without_an_api_base_only_ollama_and_scripted_are_local(provider: str,
                                                                local: bool) -> None:
    assert model_view(provider, "m", None, env={}) == {
        "provider": provider, "name": "m", "host": "", "local": local}
    assert model_view(provider, "m", "  ", env={})["local"] is local


def test_the_environment_base_litellm_uses_without_an_api_base_counts() -> None:
    remote = {"OLLAMA_API_BASE": "https://ollama.example.com",
              "HOSTED_VLLM_API_BASE": "http://10.0.0.7:8000/v1"}
    assert model_view("ollama", "m", None, env=remote) == {
        "provider": "ollama", "name": "m", "host": "ollama.example.com", "local": False}
    assert model_view("hosted_vllm", "m", None, env=remote) == {
        "provider": "hosted_vllm", "name": "m", "host": "10.0.0.7", "local": True}
    # the target's own api_base wins over the environment, as in LiteLLM
    assert model_view("ollama", "m", "http://127.0.0.1:11434", env=remote)["local"] is True


def test_scripted_sends_nowhere_whatever_its_api_base() -> None:
    assert model_view("scripted", "demo", "https://far.example.com") == {
        "provider": "scripted", "name": "demo", "host": "", "local": True}


def test_the_zero_activation_has_a_boolean_local() -> None:
    assert sample()["model"] == {"provider": "", "name": "", "host": "", "local": False}


# -- the shipped rule ---------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "api_base", "effect"), [
    ("hosted_vllm", "http://127.0.0.1:8000/v1", "allow"),
    ("hosted_vllm", "http://192.168.1.20:8000/v1", "allow"),
    ("hosted_vllm", "https://vllm.example.com/v1", "redact"),
    ("hosted_vllm", None, "redact"),
    ("ollama", None, "allow"),
    ("ollama", "http://localhost:11434", "allow"),
    ("ollama", "https://ollama.example.com", "redact"),
    ("openai", "http://127.0.0.1:8000/v1", "redact"),   # only the local servers are spared
    ("openai", None, "redact"),
    ("scripted", None, "allow"),
])
def test_the_shipped_rule_spares_only_local_servers(provider: str, api_base: str | None,
                                                    effect: str) -> None:
    gate = PolicyGate(load_policies(POLICIES))
    facts = dict(sample(), model=model_view(provider, "m", api_base, env={}))
    decision = gate.decide("model_call", facts)  # type: ignore[arg-type]
    assert decision.effect == effect
    expected = ["prompts-to-external-providers-redacted"] if effect == "redact" else []
    assert decision.rule_ids == expected


# -- policies check ------------------------------------------------------------------------

@pytest.mark.parametrize("when", [
    "model.local",
    "!model.local",
    'model.host == "127.0.0.1"',
    'model.host.endsWith(".internal") && !model.local',
    'model.provider in ["ollama", "hosted_vllm"] && model.local',
])
def test_policies_check_accepts_host_and_local(tmp_path: Path, when: str) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules:\n"
                            f"  - {{id: r, on: model_call, when: '{when}', effect: deny}}\n")
    assert main(["policies", "check", str(folder)]) == 0


@pytest.mark.parametrize(("when", "problem"), [
    ("model.host", "gives a string, not true or false"),
    ("model.remote", "unknown name 'model.remote'"),
])
def test_policies_check_refuses_a_wrong_use(tmp_path: Path, capsys, when: str,
                                            problem: str) -> None:
    folder = write_policies(tmp_path / "p", "version: 1\nrules:\n"
                            f"  - {{id: r, on: model_call, when: '{when}', effect: deny}}\n")
    assert main(["policies", "check", str(folder)]) == 2
    assert problem in capsys.readouterr().err


# -- whole runs ---------------------------------------------------------------------------

CREW = """\
name: hosted
model: hosted_vllm/served
api_base: "{api_base}"
topology: {{kind: network, max_turns: 1}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
"""


def _run(tmp_path: Path, capsys, crew_text: str, policies: Path = POLICIES) -> list[dict]:
    crew = tmp_path / "hosted.yaml"
    crew.write_text(crew_text)
    capsys.readouterr()
    code = main(["--home", str(tmp_path / "home"), "--policies", str(policies), "run",
                 str(crew), "--task", TASK, "--approvals", "deny", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _sent(fp: FakeProvider) -> str:
    return json.dumps(fp.requests)


@pytest.mark.usefixtures("warm_litellm")
def test_hosted_vllm_on_loopback_gets_the_prompt_as_it_is(tmp_path: Path, capsys) -> None:
    with FakeProvider(responder=lambda p: Reply(content="sent. TERMINATE")) as fp:
        events = _run(tmp_path, capsys, CREW.format(api_base=fp.api_base))
    sent = _sent(fp)
    assert fp.requests and all(planted in sent for planted in PLANTED)
    call = next(e["data"] for e in events if e["kind"] == "model.call")
    assert all(d["effect"] == "allow" for d in call.get("decisions", []))
    assert not [e for e in events if e["kind"] == "policy.decision"
                and e["data"]["action"] == "model_call"]


@pytest.mark.usefixtures("warm_litellm")
def test_hosted_vllm_on_a_remote_host_gets_the_prompt_redacted(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same crew pointed at a remote name: the request that leaves (through a proxy,
    as a remote call does) carries no planted secret."""
    with FakeProvider(responder=lambda p: Reply(content="sent. TERMINATE")) as proxy:
        for var in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(var, proxy.api_base.removesuffix("/v1"))
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        events = _run(tmp_path, capsys, CREW.format(api_base="http://vllm.example.test/v1"))
    # it really went out for the remote host
    assert [h["host"] for h in proxy.headers] == ["vllm.example.test"]
    sent = _sent(proxy)
    assert "[REDACTED:email]" in sent and "[REDACTED:api_key]" in sent
    assert not any(planted in sent for planted in PLANTED)
    call = next(e["data"] for e in events if e["kind"] == "model.call")
    assert call["decisions"] == [{"target": "hosted_vllm/served", "model": "hosted_vllm/served",
                                  "effect": "redact",
                                  "rule_ids": ["prompts-to-external-providers-redacted"]}]


HOSTS = """\
version: 1
rules:
  - id: no-calls-to-the-loopback-literal
    on: model_call
    when: 'model.host == "127.0.0.1" && model.local'
    effect: deny
    reason: not that address
  - id: primary-host-seen
    on: message
    when: 'model.host == "127.0.0.1" && model.local && model.provider == "hosted_vllm"'
    effect: redact
    reason: the agent's own model is on the loopback literal
"""

CHAIN = """\
name: hosts
model: main
models:
  main: {{model: "hosted_vllm/first", api_base: "{first}", fallbacks: [backup], num_retries: 0,
         timeout: 10}}
  backup: {{model: "hosted_vllm/second", api_base: "{second}", num_retries: 0, timeout: 10}}
topology: {{kind: network, max_turns: 1}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
"""


@pytest.mark.usefixtures("warm_litellm")
def test_each_target_and_the_agents_own_model_are_judged_by_their_host(
        tmp_path: Path, capsys) -> None:
    """A rule on `model.host` refuses the primary at 127.0.0.1 (it receives nothing) and
    passes the fallback reached as `localhost`; message decisions see the agent's primary."""
    policies = write_policies(tmp_path / "p", HOSTS)
    with FakeProvider(responder=lambda p: Reply(content="first. TERMINATE")) as first, \
            FakeProvider(responder=lambda p: Reply(content="second. TERMINATE")) as second:
        events = _run(tmp_path, capsys, CHAIN.format(
            first=first.api_base,
            second=second.api_base.replace("127.0.0.1", "localhost")), policies)
    assert first.requests == [] and len(second.requests) == 1
    call = next(e["data"] for e in events if e["kind"] == "model.call")
    assert [(d["target"], d["effect"], d["rule_ids"]) for d in call["decisions"]] == [
        ("main", "deny", ["no-calls-to-the-loopback-literal"]), ("backup", "allow", [])]
    messages = [e["data"] for e in events
                if e["kind"] == "policy.decision" and e["data"]["action"] == "message"]
    assert messages and all(d["rule_ids"] == ["primary-host-seen"] for d in messages)
