"""One policy vocabulary: every name the checker accepts has a value on a real run, and
`message.to_domains` (the recipients' domains) can be used in a rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from workbench.config import Settings
from workbench.governance.activation import NAMES, sample
from workbench.governance.policy import ACTIONS, load_policies
from workbench.governance.setup import governed
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

ENGINES = ["autogen", "crewai"]

# a marketplace star: its bids and award are judged too (task_bid, task_award)
CREW = """\
name: clerks
model: scripted/demo
topology: {kind: star, hub: clerk, allocation: marketplace, max_turns: 6}
agents:
  - name: clerk
    role: Records clerk
    goal: Keep the records
    tools: [write_file, send_email]
    domain: Records
  - {name: reader, role: Reader, goal: Read the records, domain: archive,
     capabilities: [reading]}
script:
  - {agent: clerk, call: write_file, args: {path: notes.md, content: "filed"}}
  - {agent: clerk, post: {task: "Read the notes", capability: reading}}
  - {agent: reader, say: "Read them."}
  - {agent: clerk, say: "Filed and read. TERMINATE"}
"""


def run(tmp_path: Path, engine: str, policies: Path, crew_text: str) -> list:
    crew = tmp_path / "crew.yaml"
    crew.write_text(crew_text)
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    store = Store(settings.database_url)
    seen: list = []
    session = Session(prepare(crew, engine=engine, task="File the records"), settings, store,
                      subscribers=[seen.append],
                      **governed(settings, store, "deny").session_kwargs())
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    store.close()
    return seen


def every_name() -> list[str]:
    """Each name a condition may use, as it is written in one."""
    return sorted(n if fields is None else f"{n}.{f}"
                  for n, fields in NAMES.items() for f in (fields or [None]))


def test_the_checker_and_the_activation_have_the_same_names() -> None:
    assert set(sample()) == set(NAMES)
    for name, fields in NAMES.items():
        value = sample()[name]  # type: ignore[literal-required]
        assert fields is None or set(value) == fields, name
    assert "message.to_domains" in every_name() and "tool.server" in every_name()


@pytest.mark.parametrize("engine", ENGINES)
def test_every_name_the_checker_accepts_has_a_value_on_a_real_run(tmp_path: Path,
                                                                  engine: str) -> None:
    rules = [f"  - {{id: {action}.{name}, on: {action}, when: '{name} == {name}', "
             "effect: allow}"
             for action in ACTIONS for name in every_name()]
    policies = write_policies(tmp_path / "p", "version: 1\nrules:\n" + "\n".join(rules) + "\n")
    assert len(load_policies(policies).central) == len(ACTIONS) * len(every_name())
    events = run(tmp_path, engine, policies, CREW)
    decisions = [e for e in events if e.kind == "policy.decision"]
    assert decisions
    # a name missing at run time fails its rule's evaluation, and that is a deny
    assert all(d.data["effect"] == "allow" for d in decisions), \
        [d.content for d in decisions if d.data["effect"] != "allow"]
    for action in ACTIONS:
        judged = [d for d in decisions if d.data["action"] == action]
        assert judged, action
        for d in judged:
            assert d.data["rule_ids"] == [f"{action}.{n}" for n in every_name()]


SPLIT = """\
name: split
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - {name: seller, role: Seller, goal: Sell, domain: sales}
  - {name: counsel, role: Counsel, goal: Advise, domain: Legal}
script:
  - {agent: seller, say: "Deal terms for ACME attached"}
  - {agent: counsel, say: "Reviewed the terms, fine"}
  - {agent: seller, say: "Signed. TERMINATE"}
"""
NOTHING_TO_LEGAL = """\
version: 1
rules:
  - id: nothing-to-legal
    on: message
    when: '"legal" in message.to_domains && agent.domain != "legal"'
    effect: deny
    reason: Sales talk stays out of legal
"""
LEGAL = """\
version: 1
rules:
  - {id: legal-marked, on: message, when: 'message.to_domains == ["sales"]', effect: redact}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rule_on_the_recipients_domains_withholds_only_what_it_names(tmp_path: Path,
                                                                       engine: str) -> None:
    policies = write_policies(tmp_path / "p", NOTHING_TO_LEGAL, legal=LEGAL)
    events = run(tmp_path, engine, policies, SPLIT)
    messages = [e for e in events if e.kind == "message"]
    from_seller = [m for m in messages if m.agent == "seller"]
    from_counsel = [m for m in messages if m.agent == "counsel"]
    assert from_seller and from_counsel
    assert all("withheld by policy: Sales talk stays out of legal" in m.content
               for m in from_seller)
    assert any("Reviewed the terms, fine" in m.content for m in from_counsel)
    decisions = [e for e in events if e.kind == "policy.decision"]
    assert {d.agent: d.data["rule_ids"] for d in decisions} == {
        "seller": ["nothing-to-legal"],
        # `domain: Legal` is served by legal.yaml, and sees its peer's domain
        "counsel": ["legal-marked"],
    }
    assert not any("could not be evaluated" in (d.content or "") for d in decisions)
