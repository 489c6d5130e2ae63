"""The star's task marketplace: bids from facts, each award rule, policies that bar a bidder or
an award (fail closed), the events stored and exported, and the shipped crew on both engines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.config import Settings
from workbench.errors import UserInputError
from workbench.gateway.pricing import price_per_million
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.setup import governed
from workbench.mesh import events as ev
from workbench.mesh.market import (
    EXPECTED_COMPLETION_TOKENS,
    NO_RECORD,
    Bidder,
    Market,
    Record,
    past_records,
)
from workbench.mesh.session import Session, prepare
from workbench.spec.loader import parse_crew
from workbench.store.db import Store
from workbench.store.export import session_json, session_markdown

ROOT = Path(__file__).resolve().parents[2]
DESK = ROOT / "crews" / "translation-desk.yaml"
ENGINES = ["autogen", "crewai"]

PRICES = {"cheap/a": (1.0, 2.0), "dear/b": (10.0, 20.0), "mid/c": (3.0, 6.0),
          "free/d": (0.0, 0.0), "unpriced/e": (None, None)}


def bidder(name: str, model: str, caps: tuple[str, ...] = ("translation",), order: int = 0,
           domain: str = "default", prompt_chars: int = 400) -> Bidder:
    return Bidder(name, domain, model, frozenset(caps), prompt_chars, order)


def market(award: str, *bidders: Bidder, records: dict[str, Record] | None = None,
           judge: Any = None, events: list | None = None) -> Market:
    def emit(kind: str, agent: str | None, to: str | None, content: str | None,
             **data: Any) -> None:
        assert not ev.payload_problems(kind, data), ev.payload_problems(kind, data)
        if events is not None:
            events.append(ev.Event(kind, agent, to, content, data))

    return Market("lead", bidders, award, lambda m: PRICES[m], records, emit=emit, judge=judge)


def winner_of(events: list[ev.Event]) -> str | None:
    return next(e.data["winner"] for e in reversed(events) if e.kind == ev.TASK_AWARDED)


# -- bids ---------------------------------------------------------------------------------


def test_a_bid_is_the_cost_on_the_bidders_model_its_load_and_its_record() -> None:
    events: list[ev.Event] = []
    m = market("cheapest", bidder("ann", "cheap/a", prompt_chars=400),
               bidder("bob", "dear/b", order=1, prompt_chars=800),
               bidder("cy", "cheap/a", caps=("proofreading",), order=2),
               records={"bob": Record(tasks=4, done=3)}, events=events)
    m.post("Translate the notes", "Translation")
    bids = {e.agent: e.data for e in events if e.kind == ev.TASK_BID}
    assert set(bids) == {"ann", "bob"}  # cy has no translation capability: no bid
    text = len("Translate the notes\nTranslation")
    ann, bob = bids["ann"], bids["bob"]
    assert ann["prompt_tokens"] == (400 + text) // 4
    assert ann["completion_tokens"] == EXPECTED_COMPLETION_TOKENS
    assert ann["cost_usd"] == pytest.approx(
        (ann["prompt_tokens"] * 1.0 + EXPECTED_COMPLETION_TOKENS * 2.0) / 1e6)
    assert bob["cost_usd"] == pytest.approx(
        ((800 + text) // 4 * 10.0 + EXPECTED_COMPLETION_TOKENS * 20.0) / 1e6)
    assert (ann["record"], ann["past_tasks"]) == (NO_RECORD, 0)
    assert (bob["record"], bob["past_tasks"], bob["past_done"]) == (0.75, 4, 3)
    assert ann["load"] == bob["load"] == 0
    # ann won the first; while it is open, it is her load on the next
    events.clear()
    m.post("Translate the FAQ", "translation")
    assert {e.agent: e.data["load"] for e in events if e.kind == ev.TASK_BID} == \
        {"ann": 1, "bob": 0}
    # still the cheapest, she won that one too; her report closes the first of them
    assert m.next_worker() == "ann"
    m.reported("ann", "Done: les notes.", 3)
    assert (m.load("ann"), m.load("bob")) == (1, 0)


def test_the_price_comes_from_the_price_map_and_an_unknown_price_is_no_price() -> None:
    from workbench.mesh.market import _price

    events: list[ev.Event] = []
    m = Market("lead", [bidder("mini", "openai/gpt-4o-mini"),
                        bidder("big", "openai/gpt-4o", order=1),
                        bidder("local", "openai/some-local-model", order=2)],
               "cheapest", _price, emit=lambda k, a, t, c, **d: events.append(
                   ev.Event(k, a, t, c, d)))
    m.post("Translate the notes", "translation")
    bids = {e.agent: e.data for e in events if e.kind == ev.TASK_BID}
    price_in, price_out = price_per_million("openai/gpt-4o-mini")
    assert price_in and price_out
    assert bids["mini"]["cost_usd"] == pytest.approx(
        (bids["mini"]["prompt_tokens"] * price_in + EXPECTED_COMPLETION_TOKENS * price_out)
        / 1e6)
    assert bids["big"]["cost_usd"] > bids["mini"]["cost_usd"]
    assert bids["local"]["cost_usd"] is None
    assert winner_of(events) == "mini"


def test_records_come_from_earlier_sessions_of_the_crew(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", policies=ROOT / "policies")
    settings.ensure_home()
    store = Store(settings.database_url)
    first = run_desk(settings, store, "autogen")
    assert past_records(store, "translation-desk", first.session_id) == {}
    second = run_desk(settings, store, "autogen")
    bids = [e for e in store.iter_events(second.session_id) if e["kind"] == ev.TASK_BID]
    # each did the one task it won in the first session
    assert {b["agent"]: (b["data"]["record"], b["data"]["past_tasks"]) for b in bids} == {
        "lina": (1.0, 1), "marco": (1.0, 1), "edith": (1.0, 1)}
    assert past_records(store, "translation-desk")["lina"] == Record(2, 2)
    store.close()


# -- award rules --------------------------------------------------------------------------


def three() -> tuple[Bidder, ...]:
    return (bidder("ann", "dear/b"), bidder("bob", "cheap/a", order=1),
            bidder("cy", "mid/c", order=2))


def test_cheapest_awards_the_lowest_cost() -> None:
    events: list[ev.Event] = []
    market("cheapest", *three(), events=events).post("Translate", "translation")
    assert winner_of(events) == "bob"
    awarded = events[-1]
    assert [b["agent"] for b in awarded.data["bids"]] == ["bob", "cy", "ann"]
    assert [b["rank"] for b in awarded.data["bids"]] == [1, 2, 3]


def test_cheapest_breaks_a_tie_by_load_and_ranks_an_unknown_cost_last() -> None:
    events: list[ev.Event] = []
    m = market("cheapest", bidder("ann", "free/d"), bidder("bob", "free/d", order=1),
               bidder("cy", "unpriced/e", order=2), events=events)
    m.post("One", "translation")
    m.post("Two", "translation")
    winners = [e.data["winner"] for e in events if e.kind == ev.TASK_AWARDED]
    assert winners == ["ann", "bob"]  # ann's open task makes bob the cheaper-loaded
    assert events[-1].data["bids"][-1]["agent"] == "cy"


def test_best_awards_the_highest_record_and_a_tie_to_the_cheaper() -> None:
    events: list[ev.Event] = []
    records = {"ann": Record(10, 9), "bob": Record(10, 5), "cy": Record(10, 9)}
    market("best", *three(), records=records, events=events).post("Translate", "translation")
    # ann and cy both completed 90%: cy's model is cheaper than ann's
    assert winner_of(events) == "cy"
    assert [b["agent"] for b in events[-1].data["bids"]] == ["cy", "ann", "bob"]


def test_balanced_weighs_cost_load_and_record_as_documented() -> None:
    events: list[ev.Event] = []
    # bob is cheapest but has failed most of his tasks; cy costs less than ann, and did all
    records = {"ann": Record(4, 4), "bob": Record(4, 0), "cy": Record(4, 4)}
    m = market("balanced", *three(), records=records, events=events)
    m.post("Translate", "translation")
    rows = {b["agent"]: b for b in events[-1].data["bids"]}
    costs = {e.agent: e.data["cost_usd"] for e in events if e.kind == ev.TASK_BID}
    top = max(costs.values())
    for name, done in (("ann", 1.0), ("bob", 0.0), ("cy", 1.0)):
        assert rows[name]["score"] == pytest.approx(0.5 * costs[name] / top
                                                    + 0.25 * (1 - done), abs=1e-4)
    assert winner_of(events) == "cy"


def test_a_cel_award_makes_the_bids_it_holds_for_eligible_and_the_cheapest_wins() -> None:
    events: list[ev.Event] = []
    m = market('bid.cost_usd > 0.001 && bidder.name != "ann"', *three(), events=events)
    m.post("Translate", "translation")
    assert winner_of(events) == "cy"  # bob is too cheap for the condition, ann is excluded
    notes = {b["agent"]: b.get("note") for b in events[-1].data["bids"]}
    assert notes["ann"] == notes["bob"] == "the award condition does not hold"


def test_a_cel_award_that_cannot_be_evaluated_on_a_bid_leaves_it_out() -> None:
    events: list[ev.Event] = []
    m = market("bid.cost_usd < 1.0", bidder("ann", "unpriced/e"),
               bidder("bob", "dear/b", order=1), events=events)
    m.post("Translate", "translation")
    # ann's cost is unknown (null): the comparison fails, and so does her bid
    assert winner_of(events) == "bob"
    assert "could not be evaluated" in events[-1].data["bids"][-1]["note"]


def test_no_award_without_a_capable_agent() -> None:
    events: list[ev.Event] = []
    told = market("cheapest", *three(), events=events).post("Audit the books", "accounting")
    assert winner_of(events) is None and "not awarded" in told
    assert events[-1].agent is None and "accounting" in (events[-1].content or "")


@pytest.mark.parametrize(("award", "problem"), [
    ("cheapestt", "unknown name 'cheapestt'"),
    ('bid.price < 1', "unknown name 'bid.price'"),
    ("bid.cost_usd", "not true or false"),
])
def test_a_bad_award_is_bad_input_with_its_line(award: str, problem: str) -> None:
    text = DESK.read_text().replace("award: balanced", f"award: '{award}'")
    with pytest.raises(UserInputError) as err:
        parse_crew(text, "desk.yaml")
    assert "desk.yaml:" in str(err.value) and problem in str(err.value)


def test_a_marketplace_needs_a_star() -> None:
    text = DESK.read_text().replace("kind: star", "kind: network")
    with pytest.raises(UserInputError, match="marketplace is for a star"):
        parse_crew(text, "desk.yaml")


# -- policies -----------------------------------------------------------------------------

BAR_LINA = """\
version: 1
rules:
  - id: lina-on-leave
    on: task_bid
    when: 'bidder.name == "lina" && task.capability == "translation"'
    effect: deny
    reason: Lina is on leave
"""


def test_a_policy_bars_a_bidder_and_a_broken_rule_bars_all(tmp_path: Path) -> None:
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p", BAR_LINA)))
    events: list[ev.Event] = []

    def judge(action: str, agent: str, activation: dict[str, Any]) -> Any:
        return gate.decide(action, activation)  # type: ignore[arg-type]

    m = market("cheapest", bidder("lina", "cheap/a"), bidder("marco", "dear/b", order=1),
               judge=judge, events=events)
    m.post("Translate", "translation")
    lina = next(e for e in events if e.kind == ev.TASK_BID and e.agent == "lina")
    assert lina.data["eligible"] is False and "Lina is on leave" in lina.data["barred"]
    assert winner_of(events) == "marco"  # dearer, but lina may not bid
    # a rule on an unknown price cannot be evaluated: it denies (fail closed)
    broken = PolicyGate(load_policies(write_policies(tmp_path / "q", """\
version: 1
rules:
  - {id: cheap-only, on: task_bid, when: 'bid.cost_usd > 0.5', effect: deny}
""")))
    events.clear()
    market("cheapest", bidder("ann", "unpriced/e"), judge=lambda a, g, act: broken.decide(
        a, act), events=events).post("Translate", "translation")  # type: ignore[arg-type]
    assert winner_of(events) is None


def test_a_policy_on_the_award_passes_the_task_to_the_next_in_rank(tmp_path: Path) -> None:
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p", """\
version: 1
rules:
  - id: no-cheap-legal
    on: task_award
    when: 'bidder.domain == "external" && agent.name == "lead"'
    effect: deny
    reason: External agents do not get tasks from the lead
""")))
    events: list[ev.Event] = []
    activate = _activation_for({"lead": "default"})
    m = Market("lead", [bidder("ext", "cheap/a", domain="external"),
                        bidder("int", "dear/b", order=1)], "cheapest", lambda m: PRICES[m],
               emit=lambda k, a, t, c, **d: events.append(ev.Event(k, a, t, c, d)),
               judge=lambda a, g, act: gate.decide(a, act), activate=activate)  # type: ignore
    m.post("Translate", "translation")
    assert winner_of(events) == "int"
    assert "award refused by policy" in events[-1].data["bids"][0]["note"]


def _activation_for(domains: dict[str, str]) -> Any:
    from workbench.governance.activation import build

    def activate(agent: str, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = dict(build(
            {"name": agent, "role": "", "domain": domains.get(agent, "default"), "model": ""},
            {"provider": "", "name": ""}, {"cost_usd": 0.0, "tokens": 0, "turns": 0},
            {"name": "c"}))
        data.update(extra)
        return data

    return activate


# -- whole runs: both engines, the store, the export --------------------------------------


def run_desk(settings: Settings, store: Store, engine: str, seen: list | None = None) -> Any:
    session = Session(prepare(DESK, engine=engine), settings, store,
                      subscribers=[seen.append] if seen is not None else [],
                      **governed(settings, store, "deny").session_kwargs())
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    return outcome


@pytest.mark.parametrize("engine", ENGINES)
def test_the_shipped_marketplace_crew_runs_and_its_events_are_stored_and_exported(
        tmp_path: Path, engine: str) -> None:
    policies = write_policies(tmp_path / "p", (ROOT / "policies" / "central.yaml").read_text()
                              .replace("rules:\n", "rules:\n" + BAR_LINA.split("rules:\n")[1],
                                       1))
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    store = Store(settings.database_url)
    seen: list[ev.Event] = []
    outcome = run_desk(settings, store, engine, seen)
    kinds = [e.kind for e in seen if str(e.kind).startswith("task.")]
    assert kinds == ["task.posted", "task.bid", "task.bid", "task.awarded",
                     "task.posted", "task.bid", "task.bid", "task.awarded",
                     "task.done", "task.done",
                     "task.posted", "task.bid", "task.awarded", "task.done"]
    awarded = [e.data["winner"] for e in seen if e.kind == ev.TASK_AWARDED]
    assert awarded == ["marco", "marco", "edith"]  # lina may not bid on translations
    barred = [e for e in seen if e.kind == ev.POLICY_DECISION
              and e.data["action"] == "task_bid"]
    assert [d.data["rule_ids"] for d in barred] == [["lina-on-leave"]] * 2
    # marco reports on both, in the order they were awarded; then edith
    reports = [(e.agent, e.content) for e in seen if e.kind == ev.MESSAGE and e.to == "lead"]
    assert [who for who, _ in reports] == ["marco", "marco", "edith"]
    done = [(e.agent, e.data["task_id"]) for e in seen if e.kind == ev.TASK_DONE]
    assert done == [("marco", "T1"), ("marco", "T2"), ("edith", "T3")]
    # stored as they happened, payloads as declared
    stored = [e for e in store.iter_events(outcome.session_id) if e["kind"].startswith("task.")]
    assert [e["kind"] for e in stored] == kinds
    for e in stored:
        assert ev.payload_problems(e["kind"], e["data"]) == []
    exported = session_json(store, outcome.session_id)
    assert [e["kind"] for e in exported["events"] if e["kind"].startswith("task.")] == kinds
    markdown = session_markdown(store, outcome.session_id)
    assert "task T1 awarded to **marco** by `balanced`" in markdown
    assert "| - | lina |" in markdown and "Lina is on leave" in markdown
    store.close()


def test_run_json_lines_carry_the_marketplace_events(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path / "home"), "run", str(DESK), "--approvals", "deny",
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    award = next(e for e in events if e["kind"] == "task.awarded")
    assert award["agent"] == "lina" and award["to"] == "lead"
    assert [b["agent"] for b in award["data"]["bids"]] == ["lina", "marco"]
    code = main(["--home", str(tmp_path / "home"), "run", str(DESK), "--approvals", "deny"])
    printed = capsys.readouterr().out
    assert "◆ lead posts T1 (translation)" in printed and "★ T1 → lina" in printed
    assert "✓ T3 done: edith reported to lead" in printed


# -- a real model posts through the post_task tool -----------------------------------------

LOOPBACK = """\
name: loopback-desk
model: openai/loopback-model
api_base: {api_base}
topology: {{kind: star, hub: lead, allocation: marketplace, award: cheapest, max_turns: 8}}
agents:
  - {{name: lead, role: Localization lead, goal: Get texts translated}}
  - {{name: ann, role: Translator, goal: Translate texts, capabilities: [translation]}}
  - {{name: bob, role: Translator, goal: Translate texts, capabilities: [translation]}}
"""


def _hub_model(payload: dict[str, Any]) -> Any:
    """A stand-in for a real hub and its translators, told apart by the tools offered."""
    from tests.fakeprovider import Reply

    messages = payload.get("messages", [])
    tools = [t["function"]["name"] for t in payload.get("tools") or []]
    if "post_task" not in tools:
        return Reply(content="Translated: « Bonjour le monde »")
    if any("Translated:" in str(m.get("content")) for m in messages):
        return Reply(content="The greeting is translated. TERMINATE")
    if messages and messages[-1].get("role") == "tool":
        return Reply(content="Posted; waiting for the report.")
    return Reply(tool_calls=[{"name": "post_task", "arguments": {
        "task": "Translate 'Hello world' into French", "capability": "translation"}}])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_real_hub_model_posts_with_the_post_task_tool(tmp_path: Path, engine: str) -> None:
    from tests.fakeprovider import FakeProvider

    with FakeProvider(responder=_hub_model) as fp:
        crew = tmp_path / "desk.yaml"
        crew.write_text(LOOPBACK.format(api_base=fp.api_base))
        settings = Settings(home=tmp_path / "home")
        settings.ensure_home()
        store = Store(settings.database_url)
        seen: list[ev.Event] = []
        session = Session(prepare(crew, engine=engine), settings, store,
                          subscribers=[seen.append])
        outcome = asyncio.run(session.execute())
        store.close()
    assert outcome.status == "completed", outcome.error
    # only the hub is offered the tool
    offered = [r for r in fp.requests
               if "post_task" in [t["function"]["name"] for t in r.get("tools") or []]]
    assert offered and all("Localization lead" in json.dumps(r["messages"]) for r in offered)
    award = next(e for e in seen if e.kind == ev.TASK_AWARDED)
    # the loopback model has no price: both costs are unknown, and the crew's order decides
    assert award.data["winner"] == "ann" and award.data["cost_usd"] is None
    assert [b["cost_usd"] for b in award.data["bids"]] == [None, None]
    # the winner is told its task, and its answer is its report to the hub
    briefed = [r for r in fp.requests if "awarded to you" in json.dumps(r["messages"])]
    assert briefed and all("post_task" not in json.dumps(r.get("tools") or [])
                           for r in briefed)
    done = [e for e in seen if e.kind == ev.TASK_DONE]
    assert [(e.agent, e.to, e.data["task_id"]) for e in done] == [("ann", "lead", "T1")]
    assert "TERMINATE" not in outcome.result and "translated" in outcome.result


def test_policies_check_knows_the_marketplace_names(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: leave, on: task_bid, when: 'bidder.name == "lina" && task.capability == "x"',
     effect: deny}
  - {id: cap, on: task_award, when: 'bid.cost_usd > 0.01 || bid.load > 2', effect: deny}
""")
    assert [r.on for r in load_policies(folder).central] == ["task_bid", "task_award"]
    (folder / "central.yaml").write_text(
        "version: 1\nrules:\n  - {id: typo, on: task_bid, when: 'bid.price > 1', effect: deny}\n")
    assert main(["policies", "check", str(folder)]) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_the_task_the_hub_posts_reaches_the_winner_through_the_message_gate(
        tmp_path: Path, engine: str) -> None:
    """The hub's words become the winner's prompt: judged as a message from the hub to the
    winner, redacted or withheld as any message would be."""
    import yaml

    from workbench.store.recordings import iter_exchanges

    crew = yaml.safe_load(DESK.read_text(encoding="utf-8"))
    crew["script"][0]["post"]["task"] = ("Translate the notes; questions to "
                                         "jane.doe@corp.example or +1 555 123 4567")
    path = tmp_path / "translation-desk.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False, allow_unicode=True))
    policies = write_policies(tmp_path / "p", (ROOT / "policies" / "central.yaml").read_text())
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(path, engine=engine), settings, store,
                      **governed(settings, store, "deny").session_kwargs())
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    prompts = [json.dumps(x["request"]["messages"]) for x in iter_exchanges(
        store, outcome.session_id) if x["agent"] != "lead"]
    briefed = [p for p in prompts if "Task T1 from lead" in p]
    assert briefed, "the winner was never told its task"
    assert not any("jane.doe@corp.example" in p or "555 123 4567" in p for p in prompts)
    assert all("[REDACTED" in p for p in briefed)
    decisions = [e for e in store.iter_events(outcome.session_id)
                 if e["kind"] == "policy.decision" and e["data"]["action"] == "message"
                 and e["data"]["effect"] == "redact"]
    assert decisions
