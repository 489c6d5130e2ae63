"""The run view: the crew's topology, the live message stream, a detail pane and totals.

A live run executes in a thread with its own event loop; the bus subscriber only appends
to a deque, and a 30 Hz timer folds what arrived into the model and repaints once. A replay
builds the same model from the store in a worker and shows it in the same view; a stored
session that is still running (in another process) is then followed: a worker polls the
database for its new events (pushed by PostgreSQL, polled on SQLite) and feeds them to
the same deque, until the run ends.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from workbench.mesh.format import format_cost, outcome_words, plural
from workbench.tui.background import freeze_heap, in_thread
from workbench.tui.clock import duration
from workbench.tui.feed import GROUPS, NOTE, Feed, RunModel
from workbench.tui.screens.base import SectionScreen
from workbench.tui.topology_art import MarketBoard, Shape, agent_colour
from workbench.tui.widgets.detail import DetailView
from workbench.tui.widgets.stream import StreamView
from workbench.tui.widgets.topology import TopologyView

FLUSH_S = 1 / 30
#: Most events folded per tick: a burst is spread over ticks instead of stalling one.
PER_TICK = 5000
#: While following a live run, the detail pane is redrawn at most this often.
DETAIL_EVERY_S = 0.25
#: Following a run in another process: how often the database is asked for new events.
FOLLOW_POLL_S = 0.3
#: Following on PostgreSQL: the longest wait for a pushed change before looking at `stop`.
FOLLOW_WAIT_S = 0.5
#: Most events read per poll (a run that is far ahead is caught up in several reads).
FOLLOW_BATCH = 2000
#: How often a follower checks that the run's process is still there (a killed run ends).
REAP_S = 2.0
STATUS_MARK = {"running": ("●", "cyan"), "completed": ("✔", "green"), "failed": ("✘", "red"),
               "cancelled": ("■", "yellow"), "waiting": ("○", "grey50"),
               "starting": ("○", "cyan"), "loading": ("○", "cyan"),
               "interrupted": ("⊘", "magenta")}


@dataclass
class ReplayLoaded(Message):
    model: RunModel
    shape: Shape | None
    last_seq: int


@dataclass
class FollowEnded(Message):
    """The followed run is no longer running (`status` is how it ended)."""

    status: str


@dataclass
class RunFinished(Message):
    outcome: Any


@dataclass
class LiveHandle:
    """The UI's grip on a run in its thread: enough to stop it, from any thread."""

    session: Any = None
    stop_requested: bool = False
    #: More subscribers of the run's events (the dialog that asks a person for a turn).
    watchers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        self.stop_requested = True
        if self.session is not None:
            self.session.cancel()


def shape_from_event(data: dict[str, Any]) -> Shape | None:
    """The topology a run announced in its first event (newer sessions carry it)."""
    raw = data.get("shape")
    if not isinstance(raw, dict):
        return None
    return Shape.from_dict(raw, data.get("topology"))


def build_replay(services: Any, session_id: str) -> tuple[RunModel, Shape | None, int]:
    """A stored session folded into a model, off the UI loop (100k events in about a second),
    with the sequence number of its last stored event (where following it goes on from)."""
    session = services.session(session_id)
    model = RunModel(live=False)
    shape = None
    apply = model.apply_row
    last_seq = 0
    for row in services.session_events(session["id"]):
        last_seq = row[0]
        if shape is None and row[2] == "run.started":
            data = json.loads(row[6]) if row[6] else {}
            shape = shape_from_event(data)
            if shape is None:
                topology = services.session_topology(session)
                agents = [a["name"] for a in data.get("agents") or []]
                shape = Shape.of(topology) if topology else Shape.guess(
                    session.get("topology") or "", agents)
            for i, name in enumerate(shape.agents):
                model.agents.setdefault(name, _agent(name, i))
        apply(*row)
    model.session_id = session["id"]
    model.crew = model.crew or session["crew_name"]
    model.engine = model.engine or session["engine"]
    model.topology = model.topology or session["topology"]
    model.task = model.task or session.get("task") or ""
    if model.status in ("waiting", "running"):
        model.status = session["status"]
    model.take_changed()
    return model, shape, last_seq


def follow_session(services: Any, session_id: str, seq: int, feed: Feed,
                   stop: threading.Event) -> str:
    """Feed a running session's new events from the database to `feed` as they land, until
    its status is no longer `running` (or `stop` is set); returns the status it ended with.

    On PostgreSQL each batch the run stores is pushed (LISTEN/NOTIFY) and read the moment it
    lands; on SQLite the database is looked at every FOLLOW_POLL_S. The run's writer stores
    its last events before it updates the status, so the read that follows the status
    change has them all.
    """
    reaped_at = time.monotonic()
    # listening before the first read: nothing stored in between is missed
    with services.listen("events", "sessions", poll_s=FOLLOW_POLL_S) as listener:
        while not stop.is_set():
            rows = services.events_after(session_id, seq, FOLLOW_BATCH)
            for row in rows:
                feed.put(row)
            if rows:
                seq = rows[-1]["seq"]
                if len(rows) == FOLLOW_BATCH:
                    continue  # far behind: read on at once
            status = services.session(session_id)["status"]
            if status != "running":
                while rows := services.events_after(session_id, seq, FOLLOW_BATCH):
                    for row in rows:
                        feed.put(row)
                    seq = rows[-1]["seq"]
                return status
            if time.monotonic() - reaped_at >= REAP_S:
                services.reap_lapsed()
                reaped_at = time.monotonic()
            _await_change(listener, session_id, stop, reaped_at + REAP_S)
    return "running"


def _await_change(listener: Any, session_id: str, stop: threading.Event,
                  until: float) -> None:
    """Return when this session changes (pushed), at `until` (time to check for a killed
    run), or on `stop`; without pushes, after one poll interval."""
    if not listener.pushed:
        stop.wait(listener.poll_s)
        return
    while not stop.is_set() and listener.pushed:
        left = until - time.monotonic()
        if left <= 0:
            return
        # short waits, so `stop` is seen soon; other sessions' notices wake no read
        notices = listener.wait(min(left, FOLLOW_WAIT_S))
        if any(n.payload.split(" ", 1)[0] == session_id for n in notices):
            return


def _agent(name: str, index: int) -> Any:
    from workbench.tui.feed import AgentInfo

    return AgentInfo(name, index)


def execute_live(services: Any, settings: Any, prepared: Any, feed: Feed,
                 handle: LiveHandle, fork: Any = None) -> Any:
    """Run a prepared crew under governance in this (worker) thread; returns its outcome.
    With `fork` (a mesh.replay.ForkSource) the run forks that session at its step."""
    store = services.store
    from workbench.engines import load_engine
    from workbench.governance.setup import governed
    from workbench.mesh.session import Session

    governance = governed(settings, store, "wait", services.reviewer)
    # what `workbench run` prints before the run (unread policy files, domains with no
    # policy file): the same lines, first in the stream; the run's own warnings come with
    # its run.started
    for note in governance.notes(prepared.spec):
        feed.put({"kind": NOTE, "ts": time.time(), "content": note})
    load_engine(prepared.engine)  # the framework import (seconds) happens here, not on the UI
    freeze_heap()
    session = Session(prepared, settings, store, subscribers=[feed.put, *handle.watchers],
                      stream=True, fork=fork, **governance.session_kwargs())
    handle.session = session
    if handle.stop_requested:
        session.cancel()
    return asyncio.run(session.execute())


class RunScreen(SectionScreen):
    SECTION = "run"
    CSS_PATH = Path(__file__).with_name("run.tcss")
    AUTO_FOCUS = "#run-stream"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "stop", "Stop run", id="run.stop",
                tooltip="Stop the live run (it is stored as cancelled)"),
        Binding("f", "filter", "Filter", id="run.filter",
                tooltip="Choose which agents and kinds of event the stream shows"),
        Binding("t", "toggle_topology", "Topology", id="run.toggle_topology",
                tooltip="Show or hide the topology drawing"),
        Binding("d", "toggle_detail", "Detail", id="run.toggle_detail",
                tooltip="Show or hide the detail pane"),
        Binding("a", "approvals", "Approvals", id="run.approvals",
                tooltip="Open the approvals queue"),
        Binding("escape", "back", "Back", id="run.back",
                tooltip="Back to where the replay was opened from"),
        Binding("F", "fork", "Fork", id="run.fork",
                tooltip="Fork this session at the selected step: Compose opens with the "
                        "crew it ran, and its run replays the steps before and goes live "
                        "there"),
    ]

    def __init__(self, replay: str | None = None) -> None:
        super().__init__()
        self.replay_id = replay
        self.model: RunModel | None = None
        self.shape: Shape | None = None
        self.feed = Feed()
        self.handle: LiveHandle | None = None
        self._detail_key: tuple[int, int] | None = None
        self._totals_text = ""
        self._status = "loading" if replay else "waiting"
        self._detail_at = 0.0
        self._detail_stale = False
        #: How many of a live run's start notes were told in a notification.
        self._noted = 0
        #: Set while a run in another process is followed from the database.
        self.following = False
        self._follow_stop = threading.Event()
        #: A marketplace's latest task and its bids, drawn on the topology: folded from the
        #: task entries up to `_market_seq`; entries before `_market_scan` were looked at.
        self.market: MarketBoard | None = None
        self._market_seq = 0
        self._market_scan = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="run-top"):
            topology = TopologyView(id="run-topology", classes="panel")
            topology.border_title = "Topology"
            yield topology
            totals = Static("", id="run-totals", classes="panel")
            totals.border_title = "Totals"
            yield totals
        stream = StreamView(self.wb.clock, id="run-stream", classes="panel",
                            empty="Loading the session…" if self.replay_id else
                            "No run yet: compose a crew (2) and run it with ctrl+r, "
                            "or replay a session from Sessions (1).")
        stream.border_title = "Messages"
        yield stream
        detail = DetailView(id="run-detail", classes="panel")
        detail.border_title = "Detail"
        yield detail

    def on_mount(self) -> None:
        self.set_interval(FLUSH_S, self._drain)
        if self.replay_id:
            self.sub_title = "replay"
            self.query_one(StreamView).loading = True
            in_thread(self, build_replay, self.wb.services, self.replay_id,
                      done=lambda r: ReplayLoaded(*r), what="opening the session",
                      group="replay")
        self._show_totals()

    def on_screen_resume(self) -> None:
        # a hidden view cannot scroll: catch up with what arrived meanwhile
        self.query_one(StreamView).sync()

    # -- live runs ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run of this process is live here (it stops when the app quits)."""
        return self.handle is not None and self._status in ("starting", "running")

    @property
    def live(self) -> bool:
        """Events are arriving: a run of this process, or one followed from the database."""
        return self.running or self.following

    def start_live(self, prepared: Any, fork: Any = None) -> None:
        if self.running:
            self.notify("A run is in progress here; stop it (ctrl+x) before starting another",
                        severity="warning")
            return
        from workbench.spec.topology import resolve

        spec = prepared.spec
        model = RunModel(live=True)
        model.crew, model.engine = spec.name, prepared.engine
        model.topology, model.task = prepared.topology, prepared.task
        handle = self.attach(model, Shape.of(resolve(spec, prepared.topology)), Feed())
        from workbench.tui.screens.human import HumanDesk, watcher

        # a human agent's turn (or a review) opens a dialog here
        desk = next(iter(self.query(HumanDesk)), None) or HumanDesk()
        if not desk.is_attached:
            self.mount(desk)
        handle.watchers.append(watcher(desk))
        in_thread(self, execute_live, self.wb.services, self.wb.settings, prepared, self.feed,
                  handle, fork, done=RunFinished, what=f"running {spec.name}",
                  group="live-run")

    def attach(self, model: RunModel, shape: Shape | None, feed: Feed) -> LiveHandle:
        """Show a live run: whatever `feed` receives (from any thread) is drawn at ~30 Hz."""
        for i, name in enumerate(shape.agents if shape else []):
            model.agents.setdefault(name, _agent(name, i))
        model.status = "starting"
        self.model, self.shape, self.feed = model, shape, feed
        self._status = "starting"
        self._noted = 0
        self.handle = LiveHandle()
        self._detail_key = None
        self._show_model()
        return self.handle

    def on_run_finished(self, message: RunFinished) -> None:
        self._drain()
        self._tell_notes(ended=True)
        outcome = message.outcome
        status = getattr(outcome, "status", "failed")
        if self.model is not None:
            self.model.status = status
        self._status = status
        severity = "information" if status == "completed" else "warning"
        text = (f"{self.model.crew if self.model else 'run'} "
                f"{outcome_words(status, getattr(outcome, 'error', ''))}")
        self.notify(text, title="Run finished", severity=severity)
        self._show_totals()

    def on_unmount(self) -> None:
        # however the app ends, a live run must not outlive it (waiting for an approval, say)
        self.stop_run()
        self._follow_stop.set()

    def stop_run(self) -> None:
        if self.handle is not None and self.running:
            self.handle.stop()

    def action_stop(self) -> None:
        if not self.running:
            self.notify("No live run to stop", severity="warning")
            return
        from workbench.tui.screens.modals import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_run()
                self.notify("Stopping the run…")

        self.app.push_screen(ConfirmModal("Stop the run? It is stored as cancelled.", "Stop"),
                             answered)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.replay_id is None
        if action in ("back", "fork"):
            return self.replay_id is not None
        return True

    def action_back(self) -> None:
        if self.replay_id is not None:
            self.dismiss()

    def action_fork(self) -> None:
        """Fork the replayed session at the selected step, in Compose."""
        from workbench.tui.fork import fork_point, fork_to_compose

        entry = self.query_one(StreamView).selected
        if self.model is None or entry is None or not self.model.session_id:
            self.notify("Select a step of the session to fork at", severity="warning")
            return
        fork_to_compose(self.app, self.model.session_id, fork_point(self.model, entry))

    def action_approvals(self) -> None:
        """To the queue: back to it when this view was opened from it (the review window
        has no other section), else the Approvals section."""
        if self.replay_id is not None and self.app.current_mode == "approvals":
            self.dismiss()
        else:
            self.wb.action_go("approvals")

    # -- replay ---------------------------------------------------------------------------

    def on_replay_loaded(self, message: ReplayLoaded) -> None:
        self.model = message.model
        self.shape = message.shape
        self._status = message.model.status
        self.query_one(StreamView).loading = False
        self._show_model()
        if message.model.status == "running" and self.replay_id is not None:
            self._follow(message.last_seq)

    def _follow(self, last_seq: int) -> None:
        """The session runs in another process: show what it stores, as it stores it."""
        model = self.model
        if model is None:
            return
        model.live = True
        self.following = True
        self.sub_title = "following a running session"
        self.query_one(StreamView).border_title = f"Messages · {model.crew} · following live"
        # the live-run group: like a run of this process, it works until the run ends, and
        # whoever waits for the UI to be idle does not wait for it
        in_thread(self, follow_session, self.wb.services, model.session_id, last_seq,
                  self.feed, self._follow_stop, done=FollowEnded,
                  what="following the running session", group="live-run")
        self._show_totals()

    def on_follow_ended(self, message: FollowEnded) -> None:
        self._drain()
        self.following = False
        self.sub_title = "replay"
        model = self.model
        if model is None:
            return
        self.query_one(StreamView).border_title = f"Messages · {model.crew}"
        if model.status in ("waiting", "running"):
            model.status = message.status
        self._status = model.status
        reason = model.result if model.status != "completed" else ""
        self.notify(f"{model.crew} {outcome_words(model.status, reason)}", title="Run finished",
                    severity="information" if model.status == "completed" else "warning")
        self._show_totals()

    # -- drawing --------------------------------------------------------------------------

    def _colours(self) -> dict[str, str]:
        if self.model is None:
            return {}
        return {name: agent_colour(info.colour) for name, info in self.model.agents.items()}

    def _show_model(self) -> None:
        topology = self.query_one(TopologyView)
        model = self.model
        kind = (self.shape.kind if self.shape else model.topology if model else "") or ""
        engine = model.engine if model else ""
        topology.border_title = " · ".join(p for p in ("Topology", kind, engine) if p)
        topology.show(self.shape, self._colours())
        self.market, self._market_seq, self._market_scan = None, 0, 0
        topology.market = None
        self._fold_market(0)
        stream = self.query_one(StreamView)
        stream.set_model(model)
        if model is not None:
            stream.border_title = f"Messages · {model.crew}"
        self._show_totals()
        self._show_detail(force=True)

    def _fold_market(self, start: int) -> None:
        """Fold the task entries from `start` on (each once, by its seq) into the bids the
        topology shows; a crew that posts no task never gets a board."""
        model = self.model
        if model is None:
            return
        entries = model.entries
        changed = False
        for entry in entries[min(start, self._market_scan):]:
            if entry.seq > self._market_seq and entry.kind.startswith("task."):
                if self.market is None:
                    self.market = MarketBoard()
                changed = self.market.fold(entry.kind, entry.agent, entry.data,
                                           entry.text) or changed
                self._market_seq = entry.seq
        self._market_scan = len(entries)
        if changed:
            self.query_one(TopologyView).show_market(self.market)

    def _drain(self) -> None:
        model = self.model
        if model is None:
            return
        n = self.feed.drain(model, PER_TICK)
        if n:
            if model.status != self._status and model.status != "waiting":
                self._status = model.status
            self.query_one(StreamView).sync()
            changed = model.take_changed()
            # an entry moved to the end (a streamed message) shifts those after it
            self._fold_market(min(changed, default=self._market_scan))
            selected = self.query_one(StreamView).selected
            if selected is not None and selected.index in changed:
                self._show_detail(force=True)
            self._tell_notes()
        if self._detail_stale and time.monotonic() - self._detail_at >= DETAIL_EVERY_S:
            self._selected()
        if model.live:
            lit = model.lit_edges(time.monotonic())
            self.query_one(TopologyView).light(lit, model.active if self.live else None)
        if n or self.live:
            self._show_totals()

    def _tell_notes(self, ended: bool = False) -> None:
        """A live run's start notes in one notification, once its run.started (which
        carries the run's own warnings) is in, or when it ended without one."""
        model = self.model
        if self.handle is None or model is None or len(model.notes) <= self._noted:
            return
        if model.started_ts is None and not ended:
            return
        told = model.notes[self._noted:]
        self._noted = len(model.notes)
        self.notify("\n".join(f"• {note}" for note in told), title="Before this run",
                    severity="warning", timeout=12)

    def _show_totals(self) -> None:
        model = self.model
        status = self._status
        mark, colour = STATUS_MARK.get(status, ("○", "grey50"))
        if model is None:
            text = f"[{colour}]{mark}[/] {status}"
        else:
            t = model.totals
            cost = format_cost(t.cost_usd, t.cost_known)
            elapsed = duration(model.elapsed(self.wb.clock.now()))
            shown = len(model.visible)
            agents = ("all agents" if model.agent_filter is None
                      else plural(len(model.agent_filter), "agent"))
            text = (
                f"[{colour}]{mark} {status}[/] · {elapsed}\n"
                f"turns [b]{t.turns}[/] · tokens [b]{t.tokens:,}[/]\n"
                f"cost [b]{cost}[/]\n"
                f"calls {t.model_calls} model · {t.tool_calls} tool\n"
                f"[dim]{shown:,}/{len(model.entries):,} shown · {agents}[/]"
            )
        if text != self._totals_text:
            self._totals_text = text
            # a fixed-size panel: new numbers need a repaint, not a layout of the screen
            self.query_one("#run-totals", Static).update(text, layout=False)

    @on(StreamView.Selected)
    def _selected(self) -> None:
        stream = self.query_one(StreamView)
        if self.live and stream.follow:
            # following a live run, the newest entry changes every frame: a few times a
            # second is plenty for the eye and keeps the UI loop free
            now = time.monotonic()
            if now - self._detail_at < DETAIL_EVERY_S:
                self._detail_stale = True
                return
            self._detail_at = now
        self._detail_stale = False
        self._show_detail()

    def _show_detail(self, force: bool = False) -> None:
        from workbench.tui.render import entry_detail

        entry = self.query_one(StreamView).selected
        body = self.query_one(DetailView)
        if entry is None or self.model is None:
            if force or self._detail_key is not None:
                body.show(Text("Select an entry to see all of it.", "dim"))
            self._detail_key = None
            return
        key = (entry.index, entry.version)
        if not force and key == self._detail_key:
            return
        self._detail_key = key
        body.show(entry_detail(entry, self.model, self.wb.clock))
        self._highlight(entry)

    def _highlight(self, entry: Any) -> None:
        """The selected message's edge is drawn lit, so the picture follows the reading."""
        if self.model is None or self.live:
            return
        lit: set[tuple[str, str]] = set()
        if entry.agent and entry.to:
            lit = {(entry.agent, t) for t in entry.to.split(",") if t}
        topology = self.query_one(TopologyView)
        topology.light(lit, entry.agent)
        if self.market is not None:
            # a selected award shows the bids on its task; anything else, the latest task
            board = (MarketBoard.of_award(entry.data) if entry.kind == "task.awarded"
                     else self.market)
            if board != topology.market:
                topology.show_market(board)

    # -- filters and layout ---------------------------------------------------------------

    def action_filter(self) -> None:
        if self.model is None:
            self.notify("Nothing to filter yet", severity="warning")
            return
        from workbench.tui.screens.modals import FilterModal

        model = self.model

        def chosen(result: tuple[set[str] | None, set[str]] | None) -> None:
            if result is None or self.model is not model:
                return
            agents, groups = result
            model.set_filters(groups, agents)
            self.query_one(StreamView).refilter()
            self._show_totals()

        self.app.push_screen(FilterModal(list(model.agents), model.agent_filter, list(GROUPS),
                                         model.groups), chosen)

    def action_toggle_topology(self) -> None:
        self.query_one("#run-top").toggle_class("-hidden")

    def action_toggle_detail(self) -> None:
        self.query_one("#run-detail").toggle_class("-hidden")
