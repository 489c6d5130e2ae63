"""The database: engine with SQLite tuned for a single writer, migrations, and session queries."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, func, inspect, or_, select, text, update
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from workbench.errors import UserInputError
from workbench.store import notify
from workbench.store.models import CrewSnapshot, EventRow, SessionRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration; a database at another revision is upgraded when opened.
HEAD_REVISION = "0009"

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


def _sqlite_read_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA query_only=ON")  # a read-only open never even tries to write
    cur.close()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for other databases and in-memory ones."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _writable(path: Path) -> bool:
    """May this process write the database file and its folder (SQLite keeps its WAL and
    lock files beside it)? False on a read-only mount, for root too."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def make_engine(url: str, read_only: bool = False, immutable: bool = False) -> Engine:
    """An engine for `url`; `read_only` opens a SQLite file with mode=ro (no WAL switch, no
    migration, writes refused), `immutable` also without any lock or shared-memory file."""
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if read_only and path is not None:
            query = {"mode": "ro", "uri": "true"}
            if immutable:
                query["immutable"] = "1"
            ro_url = URL.create("sqlite", database=f"file:{quote(str(path.resolve()))}",
                                query=query)
            engine = create_engine(ro_url, connect_args={"check_same_thread": False,
                                                         "timeout": 10})
            event.listen(engine, "connect", _sqlite_read_pragmas)
            return engine
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
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


def revision(engine: Engine) -> str | None:
    """The database's migration revision (None: a new, empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


#: Key of the PostgreSQL advisory lock that serializes migrations.
_PG_MIGRATION_LOCK = 0x776F726B62656E63  # "workbenc"


@contextmanager
def migration_lock(engine: Engine, path: Path | None = None) -> Iterator[None]:
    """One migrating process at a time: for a SQLite file an flock on `<db>.lock` beside it,
    for PostgreSQL an advisory lock; others wait, then find the work done."""
    if path is not None:
        try:
            import fcntl
        except ImportError:  # not on a POSIX system: SQLite's own locking must do
            yield
            return
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                             {"key": _PG_MIGRATION_LOCK})
        return
    yield


def upgrade(engine: Engine, path: Path | None = None) -> None:
    """Bring the schema to the newest revision (alembic is imported only when needed).

    Several processes opening a new database at once (three runs started together) must not
    all create its tables: the migration runs under `migration_lock`, and the revision is
    read again once the lock is held.
    """
    if revision(engine) == HEAD_REVISION:
        return
    with migration_lock(engine, path):
        if revision(engine) == HEAD_REVISION:  # another process migrated while we waited
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        with engine.connect() as conn, _driver_transaction(conn):
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()


@contextmanager
def _driver_transaction(conn: Connection) -> Iterator[None]:
    """The whole upgrade in one transaction, so that one stopped half-way (Ctrl-C, a kill, a
    failing step) leaves the previous revision intact for the next open to finish.

    PostgreSQL runs DDL inside the transaction SQLAlchemy begins. Python's sqlite3 in its
    legacy mode begins a transaction only before INSERT/UPDATE/DELETE and runs CREATE TABLE
    in autocommit, each statement committed at once; so for SQLite the driver is told to stay
    out (isolation_level None) and the transaction is begun by hand, IMMEDIATE to hold the
    write lock from the start. The connection goes back to its pool as it came.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    previous = raw.isolation_level
    raw.isolation_level = None  # no transaction is open yet, so this commits nothing
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
    finally:
        if raw.in_transaction:  # not committed: a failure or an interrupt
            conn.rollback()
        raw.isolation_level = previous


#: A running session's lease lasts this long unless renewed; its run renews it every RENEW_S.
LEASE_S = 60.0
RENEW_S = 10.0
#: On this host a live owner process keeps its session, but a lease this far past (the
#: process id reused by another program) lapses all the same.
STALE_S = 10 * LEASE_S
HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    """Is process `pid` (on this host) still there? A zombie (killed, not yet waited for by
    its parent) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # there, but another user's
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc: alive is all os.kill can say
        return True
    return state not in ("Z", "X")


def _process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch, to about a second), or None
    where /proc cannot say."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def _lapsed(pid: int | None, host: str | None, lease: float | None, started: float,
            now: float) -> str | None:
    """Why a running session's lease lapsed, or None while it holds."""
    if lease is None:  # a session from before leases: its start is all there is
        lease = started + LEASE_S
    if host == HOST and pid and os.name != "nt":  # os.kill(pid, 0) is no probe on Windows
        if pid == os.getpid():
            return None
        if not _alive(pid):
            return f"its process {pid} ended without finishing it"
        born = _process_start(pid)
        # the run's process began before its run; a minute's slack for clock steps
        if born is not None and born > started + LEASE_S:
            return (f"its process {pid} ended without finishing it (that id now belongs to "
                    "another program)")
        if lease > now - STALE_S:
            return None
    if lease <= now:
        owner = f" by process {pid} on {host}" if pid else ""
        return f"its lease, last renewed{owner}, lapsed {now - lease:.0f} s ago"
    return None


#: An event row's columns, in the order `Store.insert_event_rows` takes them.
EVENT_COLUMNS = ("session_id", "seq", "ts", "kind", "agent", "to_agent", "content", "data")
_PG_COPY_EVENTS = f"COPY event ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_PG_EVENT_TYPES = ["varchar", "int4", "float8", "varchar", "varchar", "varchar", "text", "text"]


def _no_nul(value: str | None) -> str | None:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a NUL in what an agent or a tool
    said (a binary file read as text) becomes U+FFFD rather than failing the whole run.
    (An event's data is JSON, where a NUL is escaped.)"""
    if value and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


class Store:
    """Sessions, crew snapshots and events on one database."""

    def __init__(self, url: str, migrate: bool = True, read_only: bool = False) -> None:
        self.url = url
        #: The SQLite database file (None for other databases and in-memory ones).
        self.path = sqlite_file(url)
        #: Opened read-only: nothing is migrated, written or reaped.
        self.read_only = read_only and self.path is not None
        #: Opened as an unchanging file (a read-only folder where SQLite cannot share locks).
        self.immutable = False
        if self.read_only:
            self.engine = make_engine(url, read_only=True)
            self._open_read_only()
            return
        self.engine = make_engine(url)
        if migrate:
            try:
                upgrade(self.engine, self.path)
            except UserInputError:
                raise
            except Exception as exc:
                raise UserInputError(f"cannot open the database {_shown(url)}: "
                                     f"{describe_error(exc)}") from None

    @classmethod
    def for_reading(cls, url: str) -> Store:
        """The store for a command that only reads (`sessions list`, `audit verify`): a
        database this process may not write (a read-only home or mount) is opened read-only,
        with no migration and no WAL files; any other is opened as usual."""
        path = sqlite_file(url)
        if path is not None and not _writable(path):
            if not path.exists():
                raise UserInputError(f"there is no database at {path} yet, and its folder is "
                                     "read-only")
            return cls(url, read_only=True)
        return cls(url)

    def _open_read_only(self) -> None:
        try:
            current = revision(self.engine)
        except Exception:
            # a WAL database whose folder nobody may write: SQLite cannot create the shared
            # memory file readers coordinate through, so the file is read as it stands
            self.engine.dispose()
            self.immutable = True
            self.engine = make_engine(self.url, read_only=True, immutable=True)
            try:
                current = revision(self.engine)
            except Exception as exc:
                raise UserInputError(f"cannot open the database {self.path} read-only: "
                                     f"{describe_error(exc)}") from None
        if current != HEAD_REVISION:
            raise UserInputError(
                f"the database {self.path} is read-only here and at revision "
                f"{current or 'none'}; this workbench needs {HEAD_REVISION}: open it once "
                "with write access to upgrade it")

    def close(self) -> None:
        self.engine.dispose()

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, for a SQLite database in a file (else None)."""
        return self.path.resolve() if self.path is not None else None

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
        query = select(SNAPSHOTS.c.id).where(SNAPSHOTS.c.digest == digest)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found is not None:
            return found
        try:
            with self.engine.begin() as conn:
                result = conn.execute(SNAPSHOTS.insert().values(
                    name=name, digest=digest, source_path=source_path, text=yaml_text,
                    created_at=time.time(),
                ))
                return result.inserted_primary_key[0]
        except IntegrityError:  # the same crew, stored by another run starting with this one
            with self.engine.connect() as conn:
                return conn.execute(query).scalar_one()

    def create_session(self, **values: Any) -> None:
        """A new session row; a running one is leased to this process (see `renew_lease`)."""
        now = time.time()
        defaults = dict(status="running", started_at=now, turns=0, prompt_tokens=0,
                        completion_tokens=0, cost_usd=0.0, cost_unknown_calls=0, model_calls=0,
                        tool_calls=0, policy_hash="", workspace="", task="",
                        owner_pid=os.getpid(), owner_host=HOST, lease_expires_at=now + LEASE_S)
        with self.engine.begin() as conn:
            conn.execute(SESSIONS.insert().values(**{**defaults, **values}))

    def renew_lease(self, session_id: str, lease_s: float = LEASE_S) -> bool:
        """Extend a running session's lease; False when it is no longer running (another
        process found its lease lapsed and marked it interrupted)."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(SESSIONS)
                .where(SESSIONS.c.id == session_id, SESSIONS.c.status == "running")
                .values(lease_expires_at=time.time() + lease_s)
            ).rowcount == 1

    def reap_lapsed_sessions(self, now: float | None = None) -> list[str]:
        """Mark running sessions whose lease lapsed `interrupted`; returns their ids.

        On this host a session whose owner process is gone is lapsed at once; across hosts,
        when its lease time passed. Each is marked exactly once (a conditional update, so
        several processes reaping together agree), keeps all it recorded, gets an audit
        entry, and its pending approvals expire: nothing waits for them any more. A
        read-only store reaps nothing.
        """
        if self.read_only:
            return []
        now = time.time() if now is None else now
        cols = [SESSIONS.c.id, SESSIONS.c.owner_pid, SESSIONS.c.owner_host,
                SESSIONS.c.lease_expires_at, SESSIONS.c.started_at]
        with self.engine.connect() as conn:
            running = conn.execute(select(*cols).where(SESSIONS.c.status == "running")).all()
        reaped = []
        for sid, pid, host, lease, started in running:
            reason = _lapsed(pid, host, lease, started, now)
            if reason is None:
                continue
            # only as judged: a renewal in between keeps the session running
            same_lease = SESSIONS.c.lease_expires_at.is_(None) if lease is None else \
                SESSIONS.c.lease_expires_at == lease
            with self.engine.begin() as conn:
                changed = conn.execute(
                    update(SESSIONS)
                    .where(SESSIONS.c.id == sid, SESSIONS.c.status == "running", same_lease)
                    .values(status="interrupted", ended_at=now, error=f"interrupted: {reason}")
                ).rowcount
                if changed:
                    notify.send(conn, notify.SESSIONS, f"{sid} interrupted")
            if changed:
                self._interrupted(sid, reason, pid, host, lease, now)
                reaped.append(sid)
        return reaped

    def _interrupted(self, session_id: str, reason: str, pid: int | None, host: str | None,
                     lease: float | None, now: float) -> None:
        """Record an interruption in the audit, and expire what waited for a reviewer."""
        from workbench.store.audit import AuditChain, AuditRecord

        records = [AuditRecord(session_id, "workbench", "session.interrupted",
                               {"reason": reason, "owner_pid": pid, "owner_host": host,
                                "lease_expires_at": lease}, now)]
        why = f"the run was interrupted before a decision ({reason})"
        with self.engine.connect() as conn:
            pending = conn.execute(text(
                "SELECT id, tool FROM approval WHERE session_id = :sid AND status = 'pending'"),
                {"sid": session_id}).all()
        for approval_id, tool in pending:
            with self.engine.begin() as conn:
                changed = conn.execute(text(
                    "UPDATE approval SET status = 'expired', reviewer = 'workbench', "
                    "decision_reason = :why, decided_at = :now "
                    "WHERE id = :id AND status = 'pending'"),
                    {"why": why, "now": now, "id": approval_id}).rowcount
                if changed:
                    notify.send(conn, notify.APPROVALS, f"{approval_id} expired {session_id}")
            if changed:  # as `approvals.decide` records an expiry
                records.append(AuditRecord(session_id, "workbench", "approval.decided",
                                           {"approval_id": approval_id, "decision": "expired",
                                            "tool": tool, "reason": why, "always": False,
                                            "edited_args": None}, now))
        AuditChain(self).append(records)

    def update_session(self, session_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == session_id).values(**values))
            if "status" in values:  # followers learn at once that a run ended
                notify.send(conn, notify.SESSIONS, f"{session_id} {values['status']}")

    def insert_events(self, rows: list[dict[str, Any]]) -> None:
        """Store a batch of event rows in one transaction; on PostgreSQL, followers of each
        session in it are told its newest seq."""
        if self._pushes:
            self.insert_event_rows([tuple(r.get(c) for c in EVENT_COLUMNS) for r in rows])
            return
        with self.engine.begin() as conn:
            conn.execute(EVENTS.insert(), rows)

    def insert_event_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Store event rows given as tuples in EVENT_COLUMNS order, in one transaction.

        On PostgreSQL by COPY (binary), several times faster than INSERTs, and the
        followers of each session in the batch are told its newest seq when it commits.
        """
        if not self._pushes:
            # the kind as a plain str: a driver need not know the str subclass it may be
            self.insert_events([dict(zip(EVENT_COLUMNS, (*r[:3], str(r[3]), *r[4:]),
                                         strict=True)) for r in rows])
            return
        newest: dict[str, int] = {}
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(_PG_COPY_EVENTS) as copy:
                copy.set_types(_PG_EVENT_TYPES)
                for sid, seq, ts, kind, agent, to, content, data in rows:
                    if seq > newest.get(sid, -1):
                        newest[sid] = seq
                    copy.write_row((sid, seq, float(ts), str(kind), _no_nul(agent), _no_nul(to),
                                    _no_nul(content), data))
            for sid, seq in newest.items():
                notify.send(conn, notify.EVENTS, f"{sid} {seq}")

    # -- notices --------------------------------------------------------------------------

    @property
    def _pushes(self) -> bool:
        return notify.pushes(self.engine)

    def listen(self, *channels: str, poll_s: float = notify.POLL_S) -> notify.Listener:
        """A listener for changes on `channels` (notify.APPROVALS, EVENTS, SESSIONS): open it
        before looking at the state waited on, then look and `wait` in turn. PostgreSQL
        pushes each change as it commits; SQLite is looked at every `poll_s`."""
        return notify.listen(self.engine, *channels, poll_s=poll_s)

    # -- reads ----------------------------------------------------------------------------

    def list_sessions(self, limit: int = 200, search: str = "") -> list[dict[str, Any]]:
        q = select(SESSIONS).order_by(SESSIONS.c.started_at.desc()).limit(limit)
        if search:
            # ignoring case on every backend (SQLite's LIKE does, PostgreSQL's does not), and
            # a typed % or _ is itself, not a wildcard
            q = q.where(or_(*(c.icontains(search, autoescape=True) for c in (
                SESSIONS.c.crew_name, SESSIONS.c.task, SESSIONS.c.id, SESSIONS.c.status))))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def get_session(self, session_id: str) -> dict[str, Any]:
        """A session by id or by a unique prefix of it (taken as typed: `%` and `_` match
        only themselves, and an empty id matches nothing)."""
        if not session_id.strip():
            raise UserInputError("give a session id (or a unique prefix of one); see "
                                 "`workbench sessions list`")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SESSIONS).where(SESSIONS.c.id.startswith(session_id, autoescape=True))
                .limit(2)
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
