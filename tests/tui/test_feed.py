"""How events fold into the run view's entries: streaming, pairing, totals, filters, drawing."""

from __future__ import annotations

from workbench.mesh.events import Event
from workbench.tui.feed import Feed, RunModel
from workbench.tui.topology_art import Shape, draw


def ev(kind: str, agent: str | None = None, to: str | None = None, content: str | None = None,
       **data) -> Event:
    return Event(kind, agent, to, content, data)


def test_streamed_tokens_grow_one_entry_that_the_message_completes() -> None:
    model = RunModel(live=True)
    for token in ("Hel", "lo ", "team"):
        model.apply(ev("message.delta", "lead", content=token))
    assert len(model.entries) == 1
    entry = model.entries[0]
    assert entry.streaming and entry.text == "Hello team"
    model.apply(ev("model.call", "lead", prompt_tokens=10, completion_tokens=3, cost_usd=0.001,
                   model="openai/gpt-4o-mini", latency_ms=120.0))
    model.apply(ev("message", "lead", "analyst", "Hello team.", turn=1))
    assert not entry.streaming and entry.text == "Hello team." and entry.to == "analyst"
    assert entry.model["model"] == "openai/gpt-4o-mini"
    # in sequence order: the model call came before the message it produced
    assert [e.kind for e in model.entries] == ["model.call", "message"]
    assert model.totals.tokens == 13 and model.totals.turns == 1


def test_a_retried_stream_starts_its_entry_over() -> None:
    model = RunModel(live=True)
    model.apply(ev("message.delta", "lead", content="the ans"))
    model.apply(ev("message.delta", "lead", content="", restart=True))
    model.apply(ev("message.delta", "lead", content="the answer is 42"))
    assert len(model.entries) == 1 and model.entries[0].text == "the answer is 42"
    model.apply(ev("message", "lead", "analyst", "the answer is 42", turn=1))
    assert [e.text for e in model.entries] == ["the answer is 42"]


def test_a_stream_that_ends_in_a_tool_call_is_not_overwritten_by_the_next_message() -> None:
    model = RunModel()
    model.apply(ev("message.delta", "analyst", content="Let me compute"))
    model.apply(ev("model.call", "analyst"))
    model.apply(ev("tool.requested", "analyst", tool="calculator", args={"x": 1}, call_id="c1"))
    model.apply(ev("message", "analyst", "lead", "It is 42."))
    messages = [e for e in model.entries if e.kind == "message"]
    assert [m.text for m in messages] == ["Let me compute", "It is 42."]


def test_tool_results_pair_with_their_calls_by_call_id_or_in_order() -> None:
    model = RunModel()
    model.apply(ev("tool.requested", "a", tool="t", args={}, call_id="1"))
    model.apply(ev("tool.requested", "a", tool="t", args={}, call_id="2"))
    model.apply(ev("tool.result", "a", content="two", tool="t", call_id="2", ok=True))
    model.apply(ev("tool.result", "a", content="one", tool="t", call_id="1", ok=False))
    model.apply(ev("tool.requested", "b", tool="u", args={}))
    model.apply(ev("tool.result", "b", content="done", tool="u", ok=True))
    calls = [e for e in model.entries if e.kind == "tool.requested"]
    assert [c.result[:2] for c in calls] == [(False, "one"), (True, "two"), (True, "done")]
    assert len(model.entries) == 3


def test_filters_keep_order_and_new_entries_respect_them() -> None:
    model = RunModel()
    model.apply(ev("message", "a", "b", "hi"))
    model.apply(ev("policy.decision", "a", content="no", effect="deny", rule_ids=["r"]))
    model.apply(ev("message", "b", "a", "yo"))
    model.set_filters({"message"}, {"b"})
    assert [model.entries[i].text for i in model.visible] == ["yo"]
    model.apply(ev("message", "b", "a", "again"))
    model.apply(ev("message", "a", "b", "hidden"))
    assert [model.entries[i].text for i in model.visible] == ["yo", "again"]


def test_model_calls_are_opt_in_rows_but_always_counted() -> None:
    model = RunModel()
    model.apply(ev("model.call", "a", prompt_tokens=5, completion_tokens=5, cost_usd=None))
    assert model.visible == [] and model.totals.cost_unknown_calls == 1


def test_the_run_summary_is_authoritative() -> None:
    model = RunModel()
    model.apply(ev("run.started", content="task", crew="c", engine="autogen",
                   topology="star", agents=[{"name": "a", "role": "R"}]))
    model.apply(ev("run.completed", content="done", status="completed", turns=7,
                   prompt_tokens=100, completion_tokens=20, cost_usd=0.5, cost_known=True,
                   model_calls=3, tool_calls=1, elapsed_s=2.5))
    assert model.status == "completed" and model.totals.turns == 7
    assert model.elapsed(now=10**10) == 2.5 and model.agents["a"].role == "R"


def test_edges_light_up_in_live_runs_only() -> None:
    live, replay = RunModel(live=True), RunModel(live=False)
    for model in (live, replay):
        model.apply(ev("message", "lead", "a,b", "go"))
    assert live.lit_edges() == {("lead", "a"), ("lead", "b")}
    assert replay.lit_edges() == set() and replay.edge_count[("lead", "a")] == 1
    assert live.lit_edges(now=10**12) == set()


def test_the_feed_drains_in_bounded_batches() -> None:
    feed, model = Feed(), RunModel()
    for i in range(12):
        feed.put(ev("message", "a", "b", str(i)))
    assert feed.drain(model, limit=5) == 5 and len(feed.inbox) == 7
    feed.drain(model)
    assert [e.text for e in model.entries][-1] == "11"


def test_topologies_are_drawn_with_every_agent() -> None:
    shapes = [
        Shape("star", ["lead", "a", "b"], hub="lead", spokes=["a", "b"]),
        Shape("layered", ["p", "x", "y", "r"], planner="p", executors=["x", "y"], reviewer="r"),
        Shape("network", ["a", "b", "c"]),
        Shape("graph", ["a", "b", "c"], edges=[("a", "b", None), ("b", "c", "APPROVE")]),
    ]
    for shape in shapes:
        text = draw(shape, 60, lit=[(shape.agents[0], shape.agents[1])]).plain
        assert all(name in text for name in shape.agents), text
        assert any(ch in text for ch in "┬┴┼─")
    assert "when 'APPROVE'" in draw(shapes[3], 60).plain


def test_a_wide_crew_is_squeezed_into_narrow_terminals() -> None:
    names = [f"agent_number_{i}" for i in range(8)]
    lines = draw(Shape("network", names), 40).plain.splitlines()
    assert all(len(line) <= 40 for line in lines)


def _rows(model: RunModel) -> list[tuple[str, str | None, int]]:
    return [(e.kind, e.agent, e.seq) for e in model.entries]


def test_a_streamed_message_takes_its_place_in_the_sequence() -> None:
    model = RunModel(live=True)
    model.set_filters({"message", "handoff", "model"}, None)
    events = [ev("message", "critic", "lead", "Earlier."),
              ev("message.delta", "lead", content="Analyst, go."),
              ev("model.call", "lead"), ev("handoff", "lead", "analyst", "Analyst, go."),
              ev("message", "lead", "analyst", "Analyst, go.")]
    for seq, e in enumerate(events, 1):
        e.seq = seq
        model.apply(e)
    assert [e.kind for e in model.entries] == ["message", "model.call", "handoff", "message"]
    assert [e.index for e in model.entries] == [0, 1, 2, 3]
    assert model.visible == [0, 1, 2, 3]
    assert model.entries[3].text == "Analyst, go." and not model.entries[3].streaming
    model.set_filters({"message"}, None)
    assert model.visible == [0, 3]
    # rows shown under the default filters stay right through a move
    hidden = RunModel(live=True)
    for seq, e in enumerate(events, 1):
        e.seq = seq
        hidden.apply(e)
    assert hidden.visible == [i for i, e in enumerate(hidden.entries) if hidden._passes(e)]
    assert [hidden.entries[i].kind for i in hidden.visible] == ["message", "handoff", "message"]
    assert [e.seq for e in model.entries] == sorted(e.seq for e in model.entries)


def test_the_live_view_shows_a_run_in_the_order_replay_does(tmp_path) -> None:
    """A real streamed run: what the live view folded equals the stored events in seq order."""
    import asyncio

    from tests.support import CREWS
    from workbench.config import Settings
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    feed = Feed()
    session = Session(prepare(CREWS / "market-entry.yaml", engine="autogen",
                              task="Size the market"),
                      settings, store, subscribers=[feed.put], stream=True)
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    live = RunModel(live=True)
    feed.drain(live)
    replay = RunModel(live=False)
    replay.apply_all(store.iter_events(session.session_id))
    assert any(e.kind == "handoff" for e in replay.entries)
    assert _rows(live) == _rows(replay)
    seqs = [e.seq for e in live.entries]
    assert seqs == sorted(seqs)
    assert [live.entries[i].seq for i in live.visible] == [
        replay.entries[i].seq for i in replay.visible]
