"""Enforcement end to end, on both engines: denied actions never happen, secrets never leave,
budgets stop runs, and every decision is recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.config import Settings
from workbench.governance.setup import governed
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

ENGINES = ["autogen", "crewai"]

CREW = """\
name: guarded
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - name: clerk
    role: Records clerk
    goal: Keep the records
    tools: [write_file, send_email]
    domain: records
  - name: reader
    role: Reader
    goal: Read the records
script:
  - {agent: clerk, call: write_file, args: {path: secret.md, content: "top secret"}}
  - {agent: clerk, call: send_email, args: {to: "x@partner.com", subject: s, body: b}}
  - {agent: clerk, say: "Filed. TERMINATE"}
"""
DENY_WRITES = """\
version: 1
rules:
  - {id: no-writes, on: tool_call, when: 'tool.name == "write_file"', effect: deny,
     reason: read-only crew}
"""


def _run(tmp_path: Path, engine: str, policies: Path, crew_text: str, mode: str = "deny",
         gate=None) -> tuple[Store, object, list]:
    crew = tmp_path / "crew.yaml"
    crew.write_text(crew_text)
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    store = Store(settings.database_url)
    gov = governed(settings, store, mode)
    kwargs = gov.session_kwargs()
    if gate is not None:
        kwargs["gate"] = gate
    seen: list = []
    session = Session(prepare(crew, engine=engine, task="File the records"), settings, store,
                      subscribers=[seen.append], **kwargs)
    outcome = asyncio.run(session.execute())
    return store, outcome, seen


@pytest.mark.parametrize("engine", ENGINES)
def test_a_denied_tool_never_runs(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", DENY_WRITES)
    store, outcome, events = _run(tmp_path, engine, policies, CREW)
    assert outcome.status == "completed", outcome.error
    workspace = Path(store.list_sessions()[0]["workspace"])
    assert not (workspace / "secret.md").exists()
    decisions = [e for e in events if e.kind == "policy.decision"]
    assert any(d.data["rule_ids"] == ["no-writes"] and d.data["effect"] == "deny"
               for d in decisions)
    result = next(e for e in events if e.kind == "tool.result" and e.data["tool"] == "write_file")
    assert not result.data["ok"] and "denied by policy: read-only crew" in result.content


class ExplodingGate:
    policy_hash = "exploding"

    def decide(self, action, activation):
        if action == "tool_call":
            raise RuntimeError("policy engine crashed")
        from workbench.governance.gate import Decision
        return Decision("allow", action)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gate_that_fails_denies_the_tool(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", "version: 1\nrules: []\n")
    store, outcome, events = _run(tmp_path, engine, policies, CREW, gate=ExplodingGate())
    workspace = Path(store.list_sessions()[0]["workspace"])
    assert not (workspace / "secret.md").exists()
    outbox = workspace.parent / "outbox"
    assert not outbox.exists() or not any(outbox.iterdir())
    errors = [e for e in events if e.kind == "policy.decision"]
    assert errors and all(e.data["rule_ids"] == ["gate-error"] for e in errors)


LOOPBACK = """\
name: leaky
model: openai/loopback
api_base: {api_base}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: writer, role: Writer, goal: "Write to jane.doe@acme.com, +44 20 7946 0958, key sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456"}}
  - {{name: editor, role: Editor, goal: Edit}}
"""
DENY_MODELS = """\
version: 1
rules:
  - {id: no-openai, on: model_call, when: 'model.provider == "openai"', effect: deny,
     reason: no external models}
"""
REDACT_MODELS = """\
version: 1
rules:
  - {id: redact-external, on: model_call, when: 'model.provider != "scripted"', effect: redact,
     reason: keep secrets in}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_denied_model_call_never_leaves_the_machine(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", DENY_MODELS)
    with FakeProvider(responder=lambda p: Reply(content="hello TERMINATE")) as fp:
        store, outcome, events = _run(tmp_path, engine, policies,
                                      LOOPBACK.format(api_base=fp.api_base))
    assert fp.requests == []
    assert any(e.kind == "policy.decision" and e.data["rule_ids"] == ["no-openai"]
               for e in events)


@pytest.mark.parametrize("engine", ENGINES)
def test_personal_data_and_keys_never_reach_the_provider(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", REDACT_MODELS)
    task_secret = "Bearer abcdefghijklmnopqrstuvwxyz0123"
    crew = tmp_path / "crew.yaml"
    with FakeProvider(responder=lambda p: Reply(content="Done. TERMINATE")) as fp:
        crew.write_text(LOOPBACK.format(api_base=fp.api_base))
        settings = Settings(home=tmp_path / "home", policies=policies)
        settings.ensure_home()
        store = Store(settings.database_url)
        session = Session(prepare(crew, engine=engine, task=f"Use {task_secret}"), settings,
                          store, **governed(settings, store, "deny").session_kwargs())
        outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    sent = json.dumps(fp.requests)
    assert fp.requests
    for planted in ("jane.doe@acme.com", "7946 0958", "sk-proj-ABCDEFGHIJKLMNOP", task_secret):
        assert planted not in sent, planted
    assert "[REDACTED:email]" in sent and "[REDACTED:api_key]" in sent
    import sqlite3
    con = sqlite3.connect(tmp_path / "home" / "workbench.db")
    audit = " ".join(r[0] for r in con.execute("select payload from audit_entry"))
    assert "prompt_sha256" in audit
    for planted in ("jane.doe@acme.com", "sk-proj-ABCDEFGHIJKLMNOP", task_secret):
        assert planted not in audit


@pytest.mark.parametrize("engine", ENGINES)
def test_over_budget_stops_with_a_stored_reason(tmp_path: Path, engine: str, capsys) -> None:
    policies = write_policies(tmp_path / "p",
                              "version: 1\nbudgets: {session: {tokens: 50}}\nrules: []\n")
    home = tmp_path / "home"
    code = main(["--home", str(home), "--policies", str(policies), "run", "market-entry",
                 "--engine", engine, "--approvals", "deny"])
    assert code == 1
    assert "session budget exhausted: tokens" in capsys.readouterr().err
    session = Store(f"sqlite:///{home / 'workbench.db'}").list_sessions()[0]
    assert session["status"] == "failed"
    assert "session budget exhausted: tokens" in session["error"]


def test_shipped_crew_shows_approval_redaction_and_deny(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "support-triage", "--approvals", "deny",
                 "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    effects = {e["data"]["effect"] for e in events if e["kind"] == "policy.decision"}
    assert {"redact", "deny", "require_approval"} <= effects
    assert any(e["kind"] == "approval.requested" for e in events)
    assert main(["--home", str(home), "audit", "verify"]) == 0
