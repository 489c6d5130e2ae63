"""The run view: topology, the live message stream, a detail pane, totals and filters."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Select, Static

from workbench.tui.widgets.stream import Entry, EventStream
from workbench.tui.widgets.topology import TopologyView

KIND_FILTERS: list[tuple[str, str]] = [
    ("messages", "message"),
    ("tools", "tool.requested,tool.result"),
    ("policy", "policy.decision,approval.requested,approval.decided"),
    ("models", "model.call"),
]
FLUSH_HZ = 30


class RunScreen(Screen):
    """Live when given a prepared run, a replay when given a stored session id."""

    CSS_PATH = "run.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="run.back"),
        Binding("ctrl+x", "stop", "Stop run", id="run.stop"),
        Binding("f", "focus_filters", "Filter", id="run.filter"),
        Binding("end", "follow", "Follow", id="run.follow"),
    ]

    def __init__(self, prepared: Any = None, session_id: str | None = None) -> None:
        super().__init__()
        self.prepared = prepared
        self.session_id = session_id
        self.session: Any = None
        self._pending: deque[dict[str, Any]] = deque()
        self._totals = {"turns": 0, "tokens": 0, "cost": 0.0, "unknown": 0, "first": None,
                        "last": None, "status": "starting" if prepared else "loading"}
        self._agents: list[str] = []
        self._ended = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="totals")
        with Horizontal(id="run-body"):
            with Vertical(id="side"):
                yield TopologyView(id="topology")
                yield Select([], prompt="all agents", id="agent-filter", allow_blank=True)
                yield Select(KIND_FILTERS, prompt="all events", id="kind-filter",
                             allow_blank=True)
            with Vertical(id="main"):
                yield EventStream(id="stream")
                with VerticalScroll(id="detail-box"):
                    yield Static("Select an entry to see it in full.", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventStream).focus()
        self.set_interval(1 / FLUSH_HZ, self._flush)
        self._show_totals()
        if self.prepared is not None:
            self.title = f"run · {self.prepared.spec.name}"
            self._run()
        else:
            self.title = f"session · {self.session_id[:12] if self.session_id else ''}"
            self._replay()

    # -- feeding --------------------------------------------------------------------------

    def enqueue(self, event: Any) -> None:
        """Bus subscriber: runs on the run's thread, only appends (never touches widgets)."""
        self._pending.append(event.to_dict())

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run(self) -> None:
        import asyncio

        from workbench.governance.setup import governed
        from workbench.mesh.session import Session

        services = self.app.services
        store = services.store
        governance = governed(services.settings, store, "wait")
        self.session = Session(self.prepared, services.settings, store,
                               subscribers=[self.enqueue], stream=True,
                               **governance.session_kwargs())
        self.session_id = self.session.session_id
        try:
            outcome = asyncio.run(self.session.execute())
        finally:
            self._ended.set()
        self.app.call_from_thread(self._ended_run, outcome)

    def _ended_run(self, outcome: Any) -> None:
        severity = "information" if outcome.status == "completed" else "warning"
        message = f"run {outcome.status}" + (f": {outcome.error}" if outcome.error else "")
        self.notify(message, title=self.prepared.spec.name, severity=severity)
        self.app.refresh_sessions()

    @work(thread=True, exclusive=True, group="replay", exit_on_error=False)
    def _replay(self) -> None:
        store = self.app.services.store
        session = store.get_session(self.session_id)
        self.session_id = session["id"]
        batch: list[dict[str, Any]] = []
        for event in store.iter_events(session["id"], batch=20_000):
            batch.append(event)
            if len(batch) >= 20_000:
                self._pending.extend(batch)
                batch = []
        self._pending.extend(batch)
        self._totals["status"] = session["status"]

    def _flush(self) -> None:
        if not self._pending:
            return
        n = len(self._pending)
        batch = [self._pending.popleft() for _ in range(n)]
        stream = self.query_one(EventStream)
        topology = self.query_one(TopologyView)
        new_agents = False
        for e in batch:
            kind, d = e["kind"], e.get("data") or {}
            t = self._totals
            t["first"] = t["first"] or e["ts"]
            t["last"] = e["ts"]
            if kind == "run.started":
                self._agents = [a["name"] for a in d.get("agents", [])]
                for a in self._agents:
                    stream.color(a)
                shape = d.get("shape") or {"topology": d.get("topology"),
                                           "agents": self._agents}
                topology.set_shape(shape, {a: stream.color(a) for a in self._agents})
                new_agents = True
                t["status"] = "running"
            elif kind == "message":
                t["turns"] += 1
                targets = [x for x in (e.get("to") or "").split(",") if x]
                topology.message_passed(e.get("agent") or "", targets, e["ts"])
            elif kind == "model.call":
                t["tokens"] += (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
                if d.get("cost_usd") is None:
                    t["unknown"] += 1
                else:
                    t["cost"] += d["cost_usd"]
            elif kind in ("run.completed", "run.failed"):
                t["status"] = d.get("status") or kind.split(".")[1]
        stream.add_events(batch)
        topology.tick(self._totals["last"])
        if new_agents:
            select = self.query_one("#agent-filter", Select)
            select.set_options([(a, a) for a in self._agents])
        self._show_totals()

    def _show_totals(self) -> None:
        t = self._totals
        elapsed = (t["last"] - t["first"]) if t["first"] and t["last"] else 0.0
        if self.session is not None and t["status"] == "running" and t["first"]:
            elapsed = time.time() - t["first"]
        cost = f"${t['cost']:.4f}" + (" + unknown" if t["unknown"] else "")
        status_style = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(
            t["status"], "cyan")
        line = Text.assemble(
            (f" {t['status']} ", f"bold reverse {status_style}"),
            f"  turns {t['turns']}  ·  tokens {t['tokens']:,}  ·  {cost}  ·  {elapsed:.1f} s",
            ("  ·  scripted model" if self._scripted() else "", "dim"),
        )
        self.query_one("#totals", Static).update(line)

    def _scripted(self) -> bool:
        return bool(self.prepared and self.prepared.spec.model.startswith("scripted/"))

    # -- interaction ----------------------------------------------------------------------

    @on(EventStream.Selected)
    def _show_detail(self, message: EventStream.Selected) -> None:
        self.query_one("#detail", Static).update(detail_text(message.entry))

    @on(Select.Changed)
    def _filter(self) -> None:
        agent = self.query_one("#agent-filter", Select).value
        kinds = self.query_one("#kind-filter", Select).value
        self.query_one(EventStream).set_filters(
            agent if isinstance(agent, str) else None,
            set(kinds.split(",")) if isinstance(kinds, str) else None,
        )

    def action_focus_filters(self) -> None:
        self.query_one("#agent-filter", Select).focus()

    def action_follow(self) -> None:
        self.query_one(EventStream).action_last()

    def action_stop(self) -> None:
        if self.session is not None and not self._ended.is_set():
            self.session.cancel()
            self.notify("stopping the run…")
        else:
            self.notify("no run in progress", severity="warning")

    def action_back(self) -> None:
        self.app.pop_screen()


def detail_text(entry: Entry | None) -> Text:
    if entry is None:
        return Text("Select an entry to see it in full.", style="dim")
    e = entry.event
    d = e.get("data") or {}
    out = Text()
    out.append(f"{e['kind']}", style="bold")
    out.append(f"  #{e.get('seq')}  {e.get('agent') or ''}", style="dim")
    if e.get("to"):
        out.append(f" → {e['to']}", style="dim")
    out.append("\n")
    if e.get("content"):
        out.append(e["content"] + "\n")
    for key in ("model", "provider", "prompt_tokens", "completion_tokens", "cost_usd",
                "latency_ms", "effect", "rule_ids", "reasons", "lifted", "tool", "reviewer",
                "decision", "approval_id"):
        if key in d and d[key] not in (None, [], ""):
            value = d[key]
            if key == "cost_usd":
                value = f"${value:.6f}"
            out.append(f"{key}: ", style="bold dim")
            out.append(f"{value if not isinstance(value, list) else ', '.join(map(str, value))}\n")
    if d.get("args"):
        out.append("args: ", style="bold dim")
        out.append(json.dumps(d["args"], indent=2, ensure_ascii=False) + "\n")
    for result in entry.extra:
        ok = (result.get("data") or {}).get("ok")
        out.append("result: ", style="bold dim")
        out.append((result.get("content") or "") + "\n", style="green" if ok else "red")
    return out
