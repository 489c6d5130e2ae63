"""The database: engine with SQLite tuned for a single writer, migrations, and session queries."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, func, inspect, select, text, update
from sqlalchemy.engine import Engine, make_url

from workbench.errors import UserInputError
from workbench.store.models import CrewSnapshot, EventRow, SessionRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration; a database at another revision is upgraded when opened.
HEAD_REVISION = "0003"

SESSIONS = SessionRow.__table__
EVENTS = EventRow.__table__
SNAPSHOTS = CrewSnapshot.__table__


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # an unknown dialect or a missing driver is a user's input problem
        raise UserInputError(f"cannot use database URL {_shown(url)!r}: {exc}") from None


def _shown(url: str) -> str:
    """A database URL fit for a message: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even parseable as a URL: mask what looks like a password
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def describe_error(exc: BaseException) -> str:
    """A database error in one line: the driver's own words, without SQL or links."""
    orig = getattr(exc, "orig", None)
    err = orig if isinstance(orig, BaseException) else exc
    words = str(err).strip().splitlines()
    return f"{type(err).__name__}: {words[0]}" if words else type(err).__name__


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (alembic is imported only when needed)."""
    with engine.connect() as conn:
        current = None
        if inspect(conn).has_table("alembic_version"):
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """Sessions, crew snapshots and events on one database."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        #: Opened as an unchanging file (a read-only folder where SQLite cannot share locks).
        self.immutable = False
        self.engine = make_engine(url)
        if migrate:
            try:
                upgrade(self.engine)
            except UserInputError:
                raise
            except Exception as exc:
                raise UserInputError(f"cannot open the database {url}: {exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, for a SQLite database in a file (else None)."""
        if self.engine.dialect.name != "sqlite":
            return None
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).resolve()

    def sqlite_uri(self, read_only: bool = True) -> str | None:
        """A sqlite3 `file:` URI of the database file, read-only by default (else None)."""
        path = self.sqlite_path
        if path is None:
            return None
        uri = f"file:{quote(str(path))}"
        if read_only:
            uri += "?mode=ro" + ("&immutable=1" if self.immutable else "")
        return uri

    # -- writes ---------------------------------------------------------------------------

    def snapshot_crew(self, name: str, source_path: str, yaml_text: str) -> int:
        digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
        with self.engine.begin() as conn:
            found = conn.execute(select(SNAPSHOTS.c.id).where(SNAPSHOTS.c.digest == digest))
            row = found.first()
            if row:
                return row[0]
            result = conn.execute(SNAPSHOTS.insert().values(
                name=name, digest=digest, source_path=source_path, text=yaml_text,
                created_at=time.time(),
            ))
            return result.inserted_primary_key[0]

    def create_session(self, **values: Any) -> None:
        defaults = dict(status="running", started_at=time.time(), turns=0, prompt_tokens=0,
                        completion_tokens=0, cost_usd=0.0, cost_unknown_calls=0, model_calls=0,
                        tool_calls=0, policy_hash="", workspace="", task="")
        with self.engine.begin() as conn:
            conn.execute(SESSIONS.insert().values(**{**defaults, **values}))

    def update_session(self, session_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == session_id).values(**values))

    def insert_events(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(EVENTS.insert(), rows)

    # -- reads ----------------------------------------------------------------------------

    def list_sessions(self, limit: int = 200, search: str = "") -> list[dict[str, Any]]:
        q = select(SESSIONS).order_by(SESSIONS.c.started_at.desc()).limit(limit)
        if search:
            like = f"%{search}%"
            q = q.where(SESSIONS.c.crew_name.like(like) | SESSIONS.c.task.like(like)
                        | SESSIONS.c.id.like(like) | SESSIONS.c.status.like(like))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def get_session(self, session_id: str) -> dict[str, Any]:
        """A session by id or by a unique prefix of it."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SESSIONS).where(SESSIONS.c.id.like(f"{session_id}%")).limit(2)
            ).all()
        if not rows:
            raise UserInputError(f"no session {session_id!r}; see `workbench sessions list`")
        if len(rows) > 1 and rows[0]._mapping["id"] != session_id:
            raise UserInputError(f"session id {session_id!r} is ambiguous; give more of it")
        return dict(rows[0]._mapping)

    def crew_text(self, snapshot_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(SNAPSHOTS.c.text).where(SNAPSHOTS.c.id == snapshot_id)
            ).scalar()

    def count_events(self, session_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(EVENTS).where(EVENTS.c.session_id == session_id)
            ).scalar_one()

    def iter_events(self, session_id: str, after_seq: int = 0,
                    batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Events of a session in seq order, as event dicts (data decoded)."""
        last = after_seq
        cols = [EVENTS.c.session_id, EVENTS.c.seq, EVENTS.c.ts, EVENTS.c.kind, EVENTS.c.agent,
                EVENTS.c.to_agent, EVENTS.c.content, EVENTS.c.data]
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(*cols).where(EVENTS.c.session_id == session_id, EVENTS.c.seq > last)
                    .order_by(EVENTS.c.seq).limit(batch)
                ).all()
            for r in rows:
                yield {
                    "session_id": r[0], "seq": r[1], "ts": r[2], "kind": r[3], "agent": r[4],
                    "to": r[5], "content": r[6], "data": json.loads(r[7]) if r[7] else {},
                }
            if len(rows) < batch:
                return
            last = rows[-1][1]

    def events_after(self, session_id: str, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        """At most `limit` events of a session after `seq`, in seq order (data decoded): what
        a viewer following a run in another process reads on each poll."""
        cols = [EVENTS.c.session_id, EVENTS.c.seq, EVENTS.c.ts, EVENTS.c.kind, EVENTS.c.agent,
                EVENTS.c.to_agent, EVENTS.c.content, EVENTS.c.data]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols).where(EVENTS.c.session_id == session_id, EVENTS.c.seq > seq)
                .order_by(EVENTS.c.seq).limit(limit)
            ).all()
        return [{"session_id": r[0], "seq": r[1], "ts": r[2], "kind": r[3], "agent": r[4],
                 "to": r[5], "content": r[6], "data": json.loads(r[7]) if r[7] else {}}
                for r in rows]
