"""A policy rule on send_email's arguments holds for the message written: an encoded-word
subject (which a mail reader decodes) or a mixed-case recipient cannot slip past it."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.governance.test_enforcement import _run
from tests.governance.test_policies import write_policies

ENGINES = ["autogen", "crewai"]

CREW = """\
name: mailer
model: scripted/demo
topology: {{kind: network, max_turns: 4}}
agents:
  - name: clerk
    role: Clerk
    goal: Send the notes
    tools: [send_email]
    domain: communications
script:
  - {{agent: clerk, call: send_email, args: {{to: "{to}", subject: "{subject}", body: b}}}}
  - {{agent: clerk, say: "Sent. TERMINATE"}}
"""
CENTRAL = """\
version: 1
rules:
  - {id: no-confidential-subjects, on: tool_call, effect: deny, reason: keep it in,
     when: 'tool.name == "send_email" && args.subject.contains("confidential")'}
"""
# the shipped domain rule, word for word
COMMS = (Path(__file__).parents[2] / "policies" / "domains" / "communications.yaml").read_text()


def _subjects(store) -> list[str]:
    workspace = Path(store.list_sessions()[0]["workspace"])
    outbox = workspace.parent / "outbox"
    found = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    return [str(BytesParser(policy=policy.default).parsebytes(p.read_bytes())["Subject"])
            for p in found]


def _result(events) -> object:
    return next(e for e in events if e.kind == "tool.result" and e.data["tool"] == "send_email")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("subject", [
    "=?utf-8?q?c=6Fnfidential?= plans",
    "=?utf-8?b?Y29uZmlkZW50aWFs?= plans",
    "=?UTF-8?Q?con?= =?UTF-8?Q?fidential?= plans",
])
def test_a_rule_on_the_subject_holds_against_an_encoded_subject(
        tmp_path: Path, engine: str, subject: str) -> None:
    policies = write_policies(tmp_path / "p", CENTRAL)
    crew = CREW.format(to="board@example.com", subject=subject)
    store, outcome, events = _run(tmp_path, engine, policies, crew)
    assert outcome.status == "completed", outcome.error
    assert not any("confidential" in s for s in _subjects(store))
    result = _result(events)
    assert not result.data["ok"] and "write the subject as plain text" in result.content


@pytest.mark.parametrize("engine", ENGINES)
def test_the_plain_subject_is_judged_and_denied(tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", CENTRAL)
    crew = CREW.format(to="board@example.com", subject="confidential plans")
    store, outcome, events = _run(tmp_path, engine, policies, crew)
    assert _subjects(store) == []
    assert "denied by policy: keep it in" in _result(events).content


@pytest.mark.parametrize("to", ["dana@GMAIL.com", "Dana@Gmail.Com", "dana@OUTLOOK.COM"])
def test_the_personal_mailbox_rule_holds_in_any_case(tmp_path: Path, to: str) -> None:
    policies = write_policies(tmp_path / "p", "version: 1\nrules: []\n",
                              communications=COMMS)
    store, outcome, events = _run(tmp_path, "autogen", policies,
                                  CREW.format(to=to, subject="Board notes"))
    assert outcome.status == "completed", outcome.error
    assert _subjects(store) == []
    result = _result(events)
    assert not result.data["ok"] and "write the address in lower case" in result.content


def test_a_plain_subject_in_any_language_is_sent(tmp_path: Path) -> None:
    policies = write_policies(tmp_path / "p", CENTRAL)
    store, outcome, _ = _run(tmp_path, "autogen", policies,
                             CREW.format(to="board@example.com", subject="Grüße, café"))
    assert _subjects(store) == ["Grüße, café"]
