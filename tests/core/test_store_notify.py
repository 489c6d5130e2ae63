"""Change notices: PostgreSQL pushes what another process commits; SQLite readers poll."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pg import Backend
from workbench.store import notify
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
from workbench.store.db import Store
store = Store(sys.argv[1])
store.create_session(id="s1", crew_name="c", engine="autogen", topology="star")
store.insert_events([{"session_id": "s1", "seq": n, "ts": 1.0, "kind": "message",
                      "agent": "a", "to_agent": None, "content": "hi\\x00there", "data": None}
                     for n in (1, 2, 3)])
store.update_session("s1", status="completed")
"""


def test_postgres_pushes_what_another_process_commits(pg_url: str) -> None:
    store = Store(pg_url)
    with store.listen(notify.EVENTS, notify.SESSIONS) as listener:
        assert listener.pushed
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, pg_url], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True)
        got: list[notify.Notice] = []
        deadline = time.monotonic() + 60
        while len(got) < 2 and time.monotonic() < deadline:
            # a long timeout: only a pushed notice can end these waits early
            got += listener.wait(60)
        assert writer.wait(60) == 0, writer.stderr.read() if writer.stderr else ""
    assert got == [notify.Notice(notify.EVENTS, "s1 3"),
                   notify.Notice(notify.SESSIONS, "s1 completed")]
    # PostgreSQL's text holds no NUL: the event is stored with U+FFFD in its place
    assert [e["content"] for e in store.events_after("s1", 0)] == ["hi\ufffdthere"] * 3


def test_a_change_rolled_back_sends_nothing(pg_url: str) -> None:
    store = Store(pg_url)
    with store.listen(notify.APPROVALS) as listener:
        with pytest.raises(RuntimeError), store.engine.begin() as conn:
            notify.send(conn, notify.APPROVALS, "ap1 approved s1")
            raise RuntimeError("rolled back")
        with store.engine.begin() as conn:
            notify.send(conn, notify.APPROVALS, "ap2 approved s1")
        assert listener.wait(30) == [notify.Notice(notify.APPROVALS, "ap2 approved s1")]


def test_sqlite_readers_poll(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    with store.listen(notify.APPROVALS, poll_s=0.01) as listener:
        assert not listener.pushed and listener.recheck_s == 0.01
        started = time.monotonic()
        assert listener.wait(60) == []  # one poll interval, not the timeout
        assert time.monotonic() - started < 30


def test_a_listener_that_cannot_connect_falls_back_to_polling(backend: Backend) -> None:
    """LISTEN is impossible behind a transaction pooler; waiting must still work."""
    from workbench.store.notify import listen

    store = Store(backend.url)
    if backend.is_postgres:  # a server that is not there
        from sqlalchemy import create_engine

        from tests.pg import free_port

        engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x")
    else:
        engine = store.engine
    listener = listen(engine, notify.APPROVALS, poll_s=0.01)
    assert not listener.pushed and listener.wait(60) == []
