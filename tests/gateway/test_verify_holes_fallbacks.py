"""Fallbacks are governed like primaries in whole runs, on both engines, through routed
aliases and in forks: two loopback servers, the primary dropping every connection, and
assertions on the bytes each of them received and on what the run's `model.call` says."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from workbench.cli import main

pytestmark = pytest.mark.usefixtures("warm_litellm")

ROOT = Path(__file__).resolve().parents[2]
#: The shipped policies: prompts to a provider other than scripted, ollama or hosted_vllm
#: are redacted, unvetted providers are denied.
POLICIES = ROOT / "policies"
PLANTED = ("jane.doe@acme.com", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456")
TASK = f"Mail {PLANTED[0]} the key {PLANTED[1]}."
LOCAL, EXTERNAL, UNVETTED = "hosted_vllm/local-model", "openai/gpt-4o-mini", "mistral/small"

CREW = """\
name: chained
model: {model}
models:
  main: {{model: "{primary}", api_base: "{primary_base}", fallbacks: [backup], num_retries: 0,
         timeout: 10}}
  backup: {{model: "{fallback}", api_base: "{fallback_base}", num_retries: 0, timeout: 10}}
  smart:
    route:
      - {{when: 'request.prompt_tokens > 100000', use: backup}}
      - {{use: main}}
topology: {{kind: network, max_turns: 1}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
"""


class DroppingServer:
    """A loopback server that reads each request whole, keeps it, and drops the connection
    (a reset) without a word of answer: a provider that is down."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.api_base = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DroppingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                self.received.append(self._read(conn))
                # SO_LINGER 0: close with a reset, as a crashed server does
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return data
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            return head + b"\r\n\r\n" + body
        except OSError:
            return data

    def text(self) -> str:
        return b"\n".join(self.received).decode(errors="replace")


def _run(tmp_path: Path, capsys, engine: str, model: str, primary: str, primary_base: str,
         fallback: str, fallback_base: str, *extra: str,
         policies: Path = POLICIES) -> list[dict]:
    crew = tmp_path / "chained.yaml"
    crew.write_text(CREW.format(model=model, primary=primary, primary_base=primary_base,
                                fallback=fallback, fallback_base=fallback_base))
    capsys.readouterr()
    code = main(["--home", str(tmp_path / "home"), "--policies", str(policies), "run",
                 str(crew), "--engine", engine, "--task", TASK, "--approvals", "deny",
                 "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _calls(events: list[dict]) -> list[dict]:
    return [e["data"] for e in events if e["kind"] == "model.call"]


def _assert_raw(text: str) -> None:
    for planted in PLANTED:
        assert planted in text


def _assert_redacted(text: str) -> None:
    assert "[REDACTED:email]" in text and "[REDACTED:api_key]" in text
    for planted in PLANTED:
        assert planted not in text


@pytest.mark.parametrize("model", ["main", "smart"])
@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_local_primary_that_drops_falls_back_redacted(tmp_path: Path, capsys, engine: str,
                                                        model: str) -> None:
    """The local primary may see the prompt as it is; the external fallback only redacted;
    each model.call names the model that answered and the decision for every target."""
    with DroppingServer() as local, \
            FakeProvider(responder=lambda p: Reply(content="sent. TERMINATE")) as external:
        events = _run(tmp_path, capsys, engine, model, LOCAL, local.api_base, EXTERNAL,
                      external.api_base)
    # one attempt on each target per call: nothing is sent again behind the record's back
    assert external.requests and len(local.received) == len(external.requests)
    _assert_raw(local.text())
    _assert_redacted(json.dumps(external.requests))
    calls = _calls(events)
    assert calls
    for call in calls:
        assert call["model"] == EXTERNAL and call["provider"] == "openai"
        assert call["fallback_from"] == "main" and call["requested"] == model
        assert [(d["target"], d["model"], d["effect"]) for d in call["decisions"]] == [
            ("main", LOCAL, "allow"), ("backup", EXTERNAL, "redact")]
        assert call["decisions"][1]["rule_ids"] == ["prompts-to-external-providers-redacted"]
        if model == "smart":
            assert call["route"] == [{"alias": "smart", "index": 2, "when": "", "use": "main"}]


def test_an_external_primary_that_drops_was_sent_only_the_redacted_prompt(
        tmp_path: Path, capsys) -> None:
    """The other way round: what the dropped external primary received was redacted, and
    the local fallback that answered got the prompt as it is."""
    with DroppingServer() as external, \
            FakeProvider(responder=lambda p: Reply(content="sent. TERMINATE")) as local:
        events = _run(tmp_path, capsys, "autogen", "main", EXTERNAL, external.api_base, LOCAL,
                      local.api_base)
    assert external.received
    _assert_redacted(external.text())
    _assert_raw(json.dumps(local.requests))
    [call] = _calls(events)
    assert call["model"] == LOCAL and call["fallback_from"] == "main"
    assert [(d["target"], d["effect"]) for d in call["decisions"]] == [
        ("main", "redact"), ("backup", "allow")]


def test_an_unvetted_fallback_of_a_dropping_primary_receives_nothing(tmp_path: Path,
                                                                     capsys) -> None:
    with DroppingServer() as local, FakeProvider() as unvetted:
        crew = tmp_path / "chained.yaml"
        crew.write_text(CREW.format(model="main", primary=LOCAL, primary_base=local.api_base,
                                    fallback=UNVETTED, fallback_base=unvetted.api_base))
        code = main(["--home", str(tmp_path / "home"), "--policies", str(POLICIES), "run",
                     str(crew), "--task", TASK, "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert local.received and unvetted.requests == []
    assert "not tried (blocked by policy): backup" in err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [call] = _calls(events)
    assert call["ok"] is False
    assert [(d["target"], d["effect"]) for d in call["decisions"]] == [
        ("main", "allow"), ("backup", "deny")]


def test_a_fork_is_governed_live_and_sends_nothing_while_it_replays(tmp_path: Path,
                                                                   capsys) -> None:
    """`run --from SESSION@1` goes live at once: the same chain, judged target by target.
    `run --from SESSION` answers from the recording: neither server hears of it, and the
    replayed call is judged for the route's targets as the fork's policy says (here one
    that no longer trusts the local server)."""
    with DroppingServer() as local, \
            FakeProvider(responder=lambda p: Reply(content="sent. TERMINATE")) as external:
        source = _run(tmp_path, capsys, "autogen", "main", LOCAL, local.api_base, EXTERNAL,
                      external.api_base)
        sid = source[0]["session_id"]
        before = len(local.received), len(external.requests)
        live = _run(tmp_path, capsys, "autogen", "main", LOCAL, local.api_base, EXTERNAL,
                    external.api_base, "--from", f"{sid}@1")
        assert len(external.requests) > before[1] and len(local.received) > before[0]
        _assert_raw(local.text())
        _assert_redacted(json.dumps(external.requests))
        [call] = _calls(live)
        assert call["model"] == EXTERNAL and call["fallback_from"] == "main"
        assert "replayed" not in call
        counts = len(local.received), len(external.requests)
        stricter = tmp_path / "stricter"
        shutil.copytree(POLICIES, stricter)
        central = stricter / "central.yaml"
        central.write_text(central.read_text() + STRICTER)
        replayed = _run(tmp_path, capsys, "autogen", "main", LOCAL, local.api_base, EXTERNAL,
                        external.api_base, "--from", sid, policies=stricter)
        assert (len(local.received), len(external.requests)) == counts
    [call] = _calls(replayed)
    assert call["replayed"].startswith(sid) and call["model"] == EXTERNAL
    assert [(d["target"], d["effect"]) for d in call["decisions"]] == [
        ("main", "deny"), ("backup", "redact")]


STRICTER = """
  - id: no-local-servers
    on: model_call
    when: 'model.provider == "hosted_vllm"'
    effect: deny
    reason: the local server is retired
"""


@pytest.mark.parametrize("model", [LOCAL, "ollama/llama3.2"])
@pytest.mark.parametrize("retries", [0, 1])
async def test_a_dropped_connection_is_sent_again_only_as_a_counted_attempt(
        model: str, retries: int) -> None:
    """LiteLLM's own HTTP handler used to send the request again on a new connection when
    the first one dropped: the server heard every attempt twice, the record said once."""
    from workbench.errors import ProviderError
    from workbench.gateway.gateway import Gateway
    from workbench.gateway.model_config import parse_profiles
    from workbench.gateway.profiles import ModelProfiles
    from workbench.gateway.types import ModelRequest

    with DroppingServer() as server:
        profiles = ModelProfiles(parse_profiles({"m": {
            "model": model, "api_base": server.api_base, "num_retries": retries,
            "backoff": 0.01, "max_backoff": 0.02, "timeout": 10}}, "models.yaml"))
        with pytest.raises(ProviderError) as info:
            await Gateway(profiles=profiles).complete(
                ModelRequest("writer", "m", [{"role": "user", "content": "hi"}]))
    assert len(server.received) == retries + 1
    assert info.value.attempts == retries + 1  # type: ignore[attr-defined]
