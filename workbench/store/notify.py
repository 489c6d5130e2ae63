"""Change notices between processes: PostgreSQL's LISTEN/NOTIFY, or a cheap poll's tick on SQLite.

A writer sends a notice in the transaction that makes the change (`send`), so it is
delivered when, and only if, the change commits. A reader opens a `Listener` *before* it
looks at the state it waits on, then alternates: look, `wait`. On PostgreSQL `wait` returns
as soon as a notice arrives (a decision reaches a waiting run in milliseconds); on SQLite,
which has no notices, it sleeps one poll interval and returns none, and the reader simply
looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: An approval was requested, decided or expired: payload "<approval id> <status> <session>".
APPROVALS = "workbench_approvals"
#: A session's events were stored: payload "<session id> <newest seq>".
EVENTS = "workbench_events"
#: A session's row changed (its status, its end): payload "<session id> <status>".
SESSIONS = "workbench_sessions"

#: Without notices, how often a reader looks again.
POLL_S = 0.25
#: With notices, a reader still looks this often: a notice lost with a dropped connection
#: delays a change, it never hides it.
RECHECK_S = 5.0


@dataclass(frozen=True, slots=True)
class Notice:
    channel: str
    payload: str


def pushes(engine: Engine) -> bool:
    """Does this database push notices (PostgreSQL), or must readers poll (SQLite)?"""
    return engine.dialect.name == "postgresql"


def send(conn: Connection, channel: str, payload: str) -> None:
    """Queue a notice in `conn`'s transaction (sent at its commit); nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                     {"channel": channel, "payload": payload[:7900]})


class Listener:
    """Waits for notices on some channels; this base class is the poll (no notices)."""

    #: True when notices are pushed: `wait` then returns early on a change.
    pushed = False

    def __init__(self, channels: tuple[str, ...], poll_s: float = POLL_S) -> None:
        self.channels = channels
        self.poll_s = poll_s
        #: How long a reader may go without looking again.
        self.recheck_s = poll_s

    def wait(self, timeout: float) -> list[Notice]:
        """Block up to `timeout` seconds (a poll: at most one interval); the notices."""
        time.sleep(max(0.0, min(timeout, self.poll_s)))
        return []

    async def wait_async(self, timeout: float) -> list[Notice]:
        await asyncio.sleep(max(0.0, min(timeout, self.poll_s)))
        return []

    def close(self) -> None:
        pass

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PgListener(Listener):
    """A dedicated autocommit psycopg connection that LISTENs (a pooled one would carry
    the subscription into other work)."""

    pushed = True

    def __init__(self, conninfo: str, channels: tuple[str, ...]) -> None:
        import psycopg
        from psycopg import sql

        super().__init__(channels)
        self.recheck_s = RECHECK_S
        self._conn: Any = psycopg.connect(conninfo, autocommit=True)
        try:
            for channel in channels:
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:
            self._conn.close()
            raise

    def wait(self, timeout: float) -> list[Notice]:
        """Block until a notice arrives (then take any others already there) or `timeout`."""
        out: list[Notice] = []
        try:
            for n in self._conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                out.append(Notice(n.channel, n.payload))
            if out:
                for n in self._conn.notifies(timeout=0.0):
                    out.append(Notice(n.channel, n.payload))
        except Exception as exc:  # the connection dropped: readers fall back to looking
            log.warning("listening for changes failed (%s); looking again instead", exc)
            self.close()
            self.pushed = False
            self.recheck_s = self.poll_s
            time.sleep(min(timeout, self.poll_s))
        return out

    async def wait_async(self, timeout: float) -> list[Notice]:
        if not self.pushed:
            return await super().wait_async(timeout)
        return await asyncio.to_thread(self.wait, timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


def listen(engine: Engine, *channels: str, poll_s: float = POLL_S) -> Listener:
    """A listener on `channels` of `engine`'s database: pushed on PostgreSQL (a poll when
    LISTEN is not possible there, e.g. behind a transaction pooler), a poll elsewhere."""
    if pushes(engine):
        try:
            url = engine.url.set(drivername="postgresql")
            return PgListener(url.render_as_string(hide_password=False), channels)
        except Exception as exc:
            log.warning("cannot listen for changes (%s); polling instead", exc)
    return Listener(channels, poll_s)
