"""TUI figures: first frame against a bare Textual app, a live stream of 10,000 events/s for
10 s (worst UI stall), and opening a stored session of 100,000 events (time, peak RSS).

Each figure comes from a child process on a pseudo-terminal, so it includes real terminal
output. `python -m tests.perf.bench_tui` prints them; `python -m tests.perf tui` too.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRST_FRAME_LIMIT_S = 0.6
FIRST_FRAME_RATIO = 2.0
STALL_LIMIT_MS = 100.0
REPLAY_LIMIT_S = 1.0
REPLAY_RSS_LIMIT_MB = 300.0

BARE_APP = """
import os, time
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("hello")

    def on_mount(self):
        self.call_after_refresh(self.first_frame)

    def first_frame(self):
        with open(os.environ["WORKBENCH_FIRST_FRAME_FILE"], "w") as fh:
            fh.write(repr(time.time()))
        self.exit()


Bare().run()
"""


def _on_pty(cmd: list[str], env: dict[str, str], size: tuple[int, int] = (120, 40),
            timeout: float = 120.0) -> int:
    """Run `cmd` on a pseudo-terminal of `size` (columns, rows), draining what it draws."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            cwd=ROOT, close_fds=True)
    os.close(slave)
    deadline = time.monotonic() + timeout
    tail = b""
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"{cmd[-1]} did not finish in {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    tail = (tail + os.read(master, 1 << 16))[-4000:]
                except OSError:
                    break
        code = proc.wait()
    finally:
        os.close(master)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[1:4])} exited {code}: "
                           f"{tail.decode(errors='replace')[-1500:]}")
    return code


def _env(**extra: str | None) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- first frame ----------------------------------------------------------------------------


def _first_frame(cmd: list[str], env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "first-frame"
        started = time.time()
        _on_pty(cmd, {**env, "WORKBENCH_FIRST_FRAME_FILE": str(out)}, size=(80, 24))
        return float(out.read_text()) - started


def first_frame(runs: int = 5) -> dict[str, Any]:
    """Process start to first frame: `workbench` vs a bare Textual app, alternating runs.

    Measured twice: with the environment as it is (PYTHONDONTWRITEBYTECODE=1 here means
    every module is compiled from source at each start), and with a warm bytecode cache,
    as a normal install has.
    """
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE_APP)
        home = Path(tmp) / "home"
        wb = [sys.executable, "-m", "workbench.cli", "--home", str(home)]
        modes = {
            "as_configured": _env(),
            "bytecode_cached": _env(PYTHONDONTWRITEBYTECODE=None,
                                    PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache")),
        }
        for mode, env in modes.items():
            _first_frame([sys.executable, str(bare)], env)  # warm the file cache (and pycs)
            _first_frame(wb, env)
            bare_s, wb_s = [], []
            for _ in range(runs):
                bare_s.append(_first_frame([sys.executable, str(bare)], env))
                wb_s.append(_first_frame(wb, env))
            b, w = statistics.median(bare_s), statistics.median(wb_s)
            figures[f"{mode}_bare_first_frame_s"] = round(b, 3)
            figures[f"{mode}_workbench_first_frame_s"] = round(w, 3)
            figures[f"{mode}_ratio"] = round(w / b, 2)
            figures[f"{mode}_meets_targets"] = w <= FIRST_FRAME_LIMIT_S and w / b <= \
                FIRST_FRAME_RATIO
    return figures


# -- live stream ----------------------------------------------------------------------------


def _child_live(out: str, rate: int, seconds: float) -> None:
    """In the child: the run view fed `rate` events/s from a thread, stalls measured."""
    import threading

    from workbench.config import Settings
    from workbench.mesh.bus import EventBus
    from workbench.mesh.events import Event
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.feed import Feed, RunModel
    from workbench.tui.topology_art import Shape

    agents = ["lead", "analyst", "writer", "critic"]
    tick = 0.005

    class Bench(WorkbenchApp):
        def on_mount(self) -> None:
            self.run_worker(self.bench(), exclusive=False)

        async def bench(self) -> None:
            await self.switch_mode("run")
            screen = self.screen
            feed = Feed()
            model = RunModel(live=True)
            model.crew, model.engine, model.topology = "bench", "autogen", "star"
            screen.attach(model, Shape("star", agents, hub="lead", spokes=agents[1:]), feed)
            screen._status = "running"
            gaps: list[float] = []
            last = [time.perf_counter()]

            def beat() -> None:
                now = time.perf_counter()
                gaps.append(now - last[0] - tick)
                last[0] = now

            self.set_interval(tick, beat)
            produced = [0]
            stop = threading.Event()

            def produce() -> None:
                bus = EventBus("bench")
                bus.subscribe(feed.put)
                per_slot = max(1, rate // 100)
                start = time.perf_counter()
                slot = 0
                turn = 0
                while not stop.is_set():
                    for _ in range(per_slot):
                        i = produced[0]
                        agent = agents[(i // 60) % len(agents)]
                        step = i % 60
                        if step < 50:
                            bus.publish(Event("message.delta", agent, None, f"tok{i} "))
                        elif step == 50:
                            bus.publish(Event("model.call", agent, None, None, {
                                "model": "scripted/demo", "prompt_tokens": 300,
                                "completion_tokens": 50, "cost_usd": 0.0, "latency_ms": 3}))
                        elif step == 51:
                            turn += 1
                            bus.publish(Event("message", agent, "lead", f"message {turn}",
                                              {"turn": turn}))
                        elif step == 52:
                            bus.publish(Event("tool.requested", agent, None, None, {
                                "tool": "calculator", "args": {"expression": "6*7"},
                                "call_id": f"c{i}"}))
                        elif step == 53:
                            bus.publish(Event("policy.decision", agent, None, "allowed", {
                                "action": "tool_call", "effect": "allow",
                                "rule_ids": ["r1"]}))
                        elif step == 54:
                            bus.publish(Event("tool.result", agent, None, "42", {
                                "tool": "calculator", "call_id": f"c{i - 2}", "ok": True}))
                        else:
                            bus.publish(Event("handoff", agent, "lead", "over to you"))
                        produced[0] += 1
                    slot += 1
                    wait = start + slot * 0.01 - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)

            started = time.perf_counter()
            producer = threading.Thread(target=produce, daemon=True)
            producer.start()
            import asyncio

            await asyncio.sleep(seconds)
            stop.set()
            producer.join()
            sent_for = time.perf_counter() - started
            while feed.inbox:
                await asyncio.sleep(0.01)
            drained_for = time.perf_counter() - started
            await asyncio.sleep(0.1)
            worst = max(gaps) if gaps else 0.0
            Path(out).write_text(json.dumps({
                "events_sent": produced[0],
                "events_shown": model.events,
                "send_rate_per_s": round(produced[0] / sent_for),
                "entries": len(model.entries),
                "drained_after_s": round(drained_for - sent_for, 3),
                "worst_stall_ms": round(worst * 1000, 1),
                "p99_stall_ms": round(sorted(gaps)[int(len(gaps) * 0.99)] * 1000, 1)
                if gaps else 0.0,
                "timer_beats": len(gaps),
            }))
            self.exit(0)

    with tempfile.TemporaryDirectory() as tmp:
        Bench(Settings(home=Path(tmp)), poll=False).run()


def live_stream(rate: int = 10_000, seconds: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "live.json"
        _on_pty([sys.executable, "-m", "tests.perf.bench_tui", "child-live", str(out),
                 str(rate), str(seconds)], _env(), timeout=seconds + 90)
        figures = json.loads(out.read_text())
    figures["stall_limit_ms"] = STALL_LIMIT_MS
    figures["meets_target"] = (figures["worst_stall_ms"] <= STALL_LIMIT_MS
                               and figures["events_shown"] == figures["events_sent"])
    return figures


# -- replay of a stored session -------------------------------------------------------------


def _fill(home: Path, n: int) -> str:
    """A session of `n` stored events shaped like a real run (messages, tools, decisions)."""
    from workbench.store.db import Store

    store = Store(f"sqlite:///{home / 'workbench.db'}")
    sid = "bench" + "0" * 27
    store.create_session(id=sid, crew_name="market-entry", engine="autogen", topology="star",
                         status="completed", started_at=time.time() - 3600)
    agents = ["lead", "analyst", "writer"]
    text = ("The serviceable market is about 25 million EUR a year: 1.2 million SMEs, "
            "six percent adoption, 348 EUR a year each. ") * 2
    batch: list[dict[str, Any]] = []
    shape = {"topology": "star", "agents": agents, "hub": "lead", "executors": [],
             "edges": []}
    for seq in range(1, n + 1):
        agent = agents[seq % 3]
        step = seq % 5
        if seq == 1:
            row = ("run.started", None, None, "bench", {"crew": "market-entry",
                                                        "engine": "autogen", "shape": shape,
                                                        "agents": [{"name": a} for a in agents]})
        elif step == 0:
            row = ("message", agent, "lead", text, {"turn": seq})
        elif step == 1:
            row = ("model.call", agent, None, None, {"model": "scripted/demo",
                                                     "prompt_tokens": 300,
                                                     "completion_tokens": 60, "cost_usd": 0.0})
        elif step == 2:
            row = ("tool.requested", agent, None, None, {"tool": "calculator",
                                                         "args": {"expression": "6*7"},
                                                         "call_id": f"c{seq}"})
        elif step == 3:
            row = ("tool.result", agent, None, "42", {"tool": "calculator",
                                                      "call_id": f"c{seq - 1}", "ok": True})
        else:
            row = ("policy.decision", agent, None, "allowed", {"action": "tool_call",
                                                                "effect": "allow",
                                                                "rule_ids": ["r1"]})
        kind, ag, to, content, data = row
        batch.append({"session_id": sid, "seq": seq, "ts": time.time(), "kind": kind,
                      "agent": ag, "to_agent": to, "content": content,
                      "data": json.dumps(data)})
        if len(batch) == 5000:
            store.insert_events(batch)
            batch = []
    if batch:
        store.insert_events(batch)
    store.close()
    return sid


def _peak_rss_kb() -> int:
    """This process's peak resident size. Not getrusage's ru_maxrss: Linux carries that over
    an exec from the forking parent, so a child of a big benchmark process would report the
    parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child_replay(home: str, session_id: str, out: str) -> None:
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.run import RunScreen

    class Bench(WorkbenchApp):
        """Opens the session the way a person does: from the loaded sessions list."""

        def on_mount(self) -> None:
            self.set_timer(0.05, self.open)

        def open(self) -> None:
            if getattr(self.screen, "_shown", None) is None:
                self.set_timer(0.05, self.open)
                return
            self.started = time.perf_counter()
            self.push_screen(Replay(replay=session_id))

    class Replay(RunScreen):
        def on_replay_loaded(self, message: Any) -> None:
            # RunScreen's own handler runs too (Textual calls each class's handler)
            self.call_after_refresh(self.shown)

        def shown(self) -> None:
            app: Any = self.app
            Path(out).write_text(json.dumps({
                "events": self.model.events if self.model else 0,
                "entries": len(self.model.entries) if self.model else 0,
                "open_s": round(time.perf_counter() - app.started, 3),
                "peak_rss_mb": round(_peak_rss_kb() / 1024, 1),
            }))
            app.exit(0)

    Bench(Settings(home=Path(home)), poll=False).run()


def replay(n: int = 100_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        started = time.perf_counter()
        sid = _fill(home, n)
        filled = time.perf_counter() - started
        out = Path(tmp) / "replay.json"
        _on_pty([sys.executable, "-m", "tests.perf.bench_tui", "child-replay", str(home), sid,
                 str(out)], _env(), timeout=120)
        figures = json.loads(out.read_text())
    figures["db_fill_s"] = round(filled, 2)
    figures["meets_target"] = (figures["open_s"] <= REPLAY_LIMIT_S
                               and figures["peak_rss_mb"] <= REPLAY_RSS_LIMIT_MB
                               and figures["events"] == n)
    return figures


def measure() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, fn in (("first_frame", first_frame), ("live", live_stream), ("replay", replay)):
        for key, value in fn().items():
            figures[f"{name}.{key}"] = value
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child-live":
        _child_live(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "child-replay":
        _child_replay(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        for key, value in measure().items():
            print(f"{key}: {value}")
