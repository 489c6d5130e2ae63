"""The event bus: a subscriber that blocks never blocks a publisher, and every subscriber
sees the events in seq order, even with several threads publishing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import event as sa_event

from tests.support import ROOT
from workbench.mesh.bus import EventBus
from workbench.mesh.events import Event


def test_a_subscriber_that_blocks_does_not_block_publish() -> None:
    bus = EventBus("s1")
    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow(event: Event) -> None:  # a terminal nobody reads, a locked database
        entered.set()
        released.append(release.wait(30))

    bus.subscribe(slow, blocking=True)
    fast: list[int] = []
    bus.subscribe(lambda e: fast.append(e.seq))
    bus.publish(Event("message", "a", "b", "one"))
    assert entered.wait(30)
    # the slow subscriber is still inside its first event: publishing does not wait for it
    bus.publish(Event("message", "a", "b", "two"))
    assert fast == [1, 2]
    release.set()
    assert bus.close(30)
    # had publish waited, the slow subscriber's waits would have timed out (False)
    assert released == [True, True]


def test_every_subscriber_sees_seq_order_under_concurrent_publishers() -> None:
    bus = EventBus("s1")
    direct: list[int] = []
    queued: list[int] = []
    bus.subscribe(lambda e: direct.append(e.seq))
    bus.subscribe(lambda e: queued.append(e.seq), blocking=True)
    start = threading.Barrier(4)

    def publish(who: str) -> None:
        start.wait()
        for i in range(2000):
            bus.publish(Event("message", who, None, str(i)))

    threads = [threading.Thread(target=publish, args=(f"agent{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.close(30)
    assert direct == list(range(1, 8001))
    assert queued == list(range(1, 8001))


def test_flush_waits_until_a_blocking_subscriber_has_seen_everything() -> None:
    bus = EventBus("s1")
    seen: list[int] = []
    gate = threading.Event()

    def slow(event: Event) -> None:
        gate.wait(30)
        seen.append(event.seq)

    bus.subscribe(slow, blocking=True)
    for _ in range(3):
        bus.publish(Event("message"))
    assert seen == []
    gate.set()
    assert bus.flush(30)
    assert seen == [1, 2, 3]
    bus.close(30)


def test_a_failing_blocking_subscriber_still_gets_the_next_events() -> None:
    bus = EventBus("s1")
    seen: list[int] = []

    def fragile(event: Event) -> None:
        if event.seq == 1:
            raise BrokenPipeError("the terminal went away")
        seen.append(event.seq)

    bus.subscribe(fragile, blocking=True)
    publisher_seen = [bus.publish(Event("message")).seq for _ in range(3)]
    assert bus.close(30)
    assert publisher_seen == [1, 2, 3] and seen == [2, 3]


def test_the_session_row_is_updated_off_the_run_s_threads(tmp_path: Path, monkeypatch) -> None:
    """The running totals' SQL UPDATE runs on its own thread, never on the engine's loop."""
    import workbench.mesh.session as session_module
    from workbench.config import Settings
    from workbench.store.db import Store

    monkeypatch.setattr(session_module, "PROGRESS_S", 0.0)
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    progress_threads: list[str] = []

    def record(conn, cursor, statement: str, *args) -> None:
        # the final update sets the status too; the running ones only the totals
        if statement.startswith("UPDATE session SET turns") and "status" not in statement:
            progress_threads.append(threading.current_thread().name)

    sa_event.listen(store.engine, "before_cursor_execute", record)
    session = session_module.Session(
        session_module.prepare(ROOT / "crews" / "support-triage.yaml", task="PDF export fails"),
        settings, store)
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    assert progress_threads and set(progress_threads) == {"session-progress"}
    assert store.get_session(outcome.session_id)["turns"] == outcome.totals.turns
    store.close()


class _StuckTerminal:
    """A terminal nobody reads: the first write blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.release.wait(300)
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_a_stuck_terminal_does_not_hold_up_the_run(tmp_path: Path) -> None:
    """The run does all its work while the printer waits on the terminal; the printed
    output is complete, summary last, when the run returns."""
    from workbench.cli.printer import RunPrinter
    from workbench.config import Settings
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    terminal = _StuckTerminal()
    ended = threading.Event()
    session = Session(prepare(ROOT / "crews" / "support-triage.yaml", task="PDF export fails"),
                      settings, store,
                      subscribers=[lambda e: e.kind == "run.completed" and ended.set(),
                                   RunPrinter(out=terminal, color=False)])
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(session.execute())))
    runner.start()
    # had the printer been called on the run's threads, the run would wait on the terminal
    assert ended.wait(120)
    assert terminal.lines == []
    terminal.release.set()
    runner.join(120)
    assert outcome and outcome[0].status == "completed"
    printed = "".join(terminal.lines)
    assert printed.startswith("▶ support-triage") and "✔ completed" in printed
    assert printed.rstrip().splitlines()[-1].startswith("  result:")
    store.close()
