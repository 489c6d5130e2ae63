"""`workbench sessions compare`: the crew diff, turns aligned by agent, the first divergence;
the runs compared are stored on SQLite and on PostgreSQL (the `backend` fixture, tests/pg.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.pg import Backend
from workbench.cli import main
from workbench.mesh.compare import align, build_side, compare, load_comparison
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
MARKET = ROOT / "crews" / "market-entry.yaml"


@pytest.fixture
def home(home: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's home, with its database on the test's backend (WORKBENCH_DB)."""
    monkeypatch.setenv("WORKBENCH_DB", backend.url)
    return home


def _store() -> Store:
    return Store(os.environ["WORKBENCH_DB"])


def _run(home: Path, crew: Path) -> str:
    assert main(["--home", str(home), "run", str(crew), "--approvals", "deny"]) == 0
    return _store().list_sessions(limit=1)[0]["id"]


@pytest.fixture
def two_runs(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """market-entry as shipped, then with the analyst's role and its answer edited."""
    edited = tmp_path / "edited" / "market-entry.yaml"
    edited.parent.mkdir()
    text = MARKET.read_text()
    assert "role: Market analyst" in text and "about 25 million EUR" in text
    edited.write_text(text.replace("role: Market analyst", "role: Senior market analyst")
                      .replace("about 25 million EUR", "about 31 million EUR"))
    a = _run(home, MARKET)
    b = _run(home, edited)
    capsys.readouterr()
    return a, b


def test_compare_shows_the_crew_diff_and_the_first_divergence(
        home: Path, two_runs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_runs
    assert main(["--home", str(home), "sessions", "compare", a[:10], b[:10],
                 "--width", "100"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert "-    role: Market analyst" in out and "+    role: Senior market analyst" in out
    # the analyst's edited answer is the first thing that differs; the lead's opening is not
    marker = next(i for i, line in enumerate(lines) if "first divergence: message" in line)
    diverged = lines[marker + 1]
    assert diverged.startswith("≠    2") and "analyst → lead" in diverged
    before = "\n".join(lines[:marker])
    assert "=    1" in before and "Analyst, size the Nordic" in before
    after = "\n".join(lines[marker:])
    assert "about 25 million EUR" in after and "about 31 million EUR" in after
    assert "lead" in out and "analyst" in out and "writer" in out  # per agent


def test_compare_json_is_one_object_with_rows_and_totals(
        home: Path, two_runs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_runs
    assert main(["--home", str(home), "sessions", "compare", a, b, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"]["id"] == a and data["b"]["id"] == b
    assert not data["same_crew"] and any("Senior market analyst" in d for d in data["crew_diff"])
    first = data["rows"][data["first_divergence"]]
    assert first["a"]["agent"] == first["b"]["agent"] == "analyst"
    assert first["differences"] == ["message"]
    assert [r["same"] for r in data["rows"][: data["first_divergence"]]] == \
        [True] * data["first_divergence"]
    tools = [t["tool"] for t in first["a"]["tools"]]
    assert tools == ["calculator", "write_file"]
    writer = data["a"]["agents"]["writer"]
    assert writer["tool_calls"] == 2 and writer["turns"] == 1 and writer["tokens"] > 0
    assert data["a"]["status"] == data["b"]["status"] == "completed"


def test_a_session_compared_with_itself_agrees(home: Path, capsys) -> None:
    a = _run(home, MARKET)
    capsys.readouterr()
    store = _store()
    c = load_comparison(store, a, a)
    assert c.same_crew and c.first_divergence is None and c.rows
    assert main(["--home", str(home), "sessions", "compare", a, a]) == 0
    out = capsys.readouterr().out
    assert "Crew: the same crew file" in out and "agree turn for turn" in out


def test_an_unknown_session_is_bad_input(home: Path, capsys) -> None:
    a = _run(home, MARKET)
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "compare", a, "nosuchsession"]) == 2
    assert "no session 'nosuchsession'" in capsys.readouterr().err


# -- the pure functions, over hand-made events -------------------------------------------------


def _session(sid: str) -> dict:
    return {"id": sid, "crew_name": "c", "engine": "autogen", "topology": "network",
            "task": "t", "status": "completed", "result": "done", "error": None,
            "started_at": 100.0, "ended_at": 110.0, "turns": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "cost_usd": 0.0, "cost_unknown_calls": 0,
            "model_calls": 0, "tool_calls": 0, "crew_snapshot_id": 1}


def _events(*specs: tuple) -> list[dict]:
    out = []
    for seq, (kind, agent, content, data) in enumerate(specs, start=1):
        out.append({"seq": seq, "ts": 100.0 + seq, "kind": kind, "agent": agent,
                    "to": None, "content": content, "data": data})
    return out


def test_a_turn_gathers_its_calls_tools_and_approvals_and_an_unfinished_one_counts() -> None:
    events = _events(
        ("model.call", "a", None, {"prompt_tokens": 10, "completion_tokens": 5,
                                   "cost_usd": 0.01, "latency_ms": 500, "model": "m"}),
        ("tool.requested", "a", None, {"tool": "send_email", "args": {"to": "x@y.z"},
                                       "call_id": "c1"}),
        ("approval.requested", "a", "external", {"tool": "send_email"}),
        ("approval.decided", "a", "no", {"tool": "send_email", "decision": "rejected",
                                         "reviewer": "ann"}),
        ("tool.result", "a", "rejected by ann", {"tool": "send_email", "call_id": "c1",
                                                 "ok": False}),
        ("message", "a", "I could not send it", {}),
        ("model.call", "b", None, {"prompt_tokens": 3, "completion_tokens": 1,
                                   "cost_usd": None}),
        ("tool.requested", "b", None, {"tool": "calculator", "args": {"expression": "1+1"},
                                       "call_id": "c2"}),
    )
    side = build_side(_session("s1"), events)
    assert [t.agent for t in side.steps] == ["a", "b"]
    first, unfinished = side.steps
    assert first.content == "I could not send it" and first.tokens == 15
    assert first.tools[0].ok is False and first.tools[0].output == "rejected by ann"
    assert first.approvals[0].decision == "rejected" and first.approvals[0].reviewer == "ann"
    assert unfinished.content is None and unfinished.tools[0].ok is None
    assert side.agents["a"].cost_usd == pytest.approx(0.01) and side.agents["a"].model_s == 0.5
    assert side.agents["b"].cost_unknown_calls == 1 and side.agents["b"].turns == 0


def test_alignment_keeps_speakers_in_order_and_marks_turns_only_one_side_has() -> None:
    a = build_side(_session("a"), _events(
        ("message", "lead", "go", {}), ("message", "analyst", "25", {}),
        ("message", "lead", "done", {})))
    b = build_side(_session("b"), _events(
        ("message", "lead", "go", {}), ("message", "analyst", "31", {}),
        ("message", "critic", "check it", {}), ("message", "lead", "done", {})))
    rows = align(a.steps, b.steps)
    assert [(r.a and r.a.agent, r.b and r.b.agent, r.differences) for r in rows] == [
        ("lead", "lead", []),
        ("analyst", "analyst", ["message"]),
        (None, "critic", ["only in B"]),
        ("lead", "lead", []),
    ]
    c = compare(_session("a"), [], "x: 1\n", _session("b"), [], "x: 2\n")
    assert c.crew_diff[-2:] == ["-x: 1", "+x: 2"] and c.first_divergence is None
