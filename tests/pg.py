"""A real, throw-away PostgreSQL cluster for the tests, and a `backend` fixture over both databases.

The cluster is Debian's `postgresql` binaries (`/usr/lib/postgresql/*/bin`), initialised in a
temp folder owned by the `postgres` user (initdb refuses root), listening on 127.0.0.1 on a
free port with its socket in that folder, and stopped when the session ends. Each test that
asks for the `backend` fixture gets a SQLite file or a fresh PostgreSQL database copied from
a migrated template (a file copy, no migration per test).

Without the binaries the PostgreSQL cases are skipped, saying why; with `CI` set they fail:
CI must run both backends.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The database every test database is copied from (migrated to head once).
TEMPLATE = "wb_template"


def pg_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL's binaries, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One PostgreSQL server in a temp folder; `url(db)` gives a SQLAlchemy URL for a database."""

    def __init__(self, bin_dir: Path, durable: bool = False) -> None:
        self.bin = bin_dir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        self.started = False

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_root:  # initdb and the server refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check,
                              stdin=subprocess.DEVNULL, timeout=120)

    def start(self) -> PgCluster:
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        done = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                         "--encoding=UTF8", "--locale=C", "--no-sync", check=False)
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1",
                   "-c max_connections=200", "-c shared_buffers=64MB"]
        if not self.durable:  # a throw-away cluster: nothing needs to survive a crash
            options += ["-c fsync=off", "-c synchronous_commit=off",
                        "-c full_page_writes=off"]
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                         "-o", " ".join(options), "-w", "-t", "60", "start", check=False)
        if done.returncode:
            log = (self.root / "server.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}\n{tail}")
        self.started = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement on the maintenance database, outside a transaction."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres "
                             "dbname=postgres", autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its name."""
        name = f"wb_test_{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def make_template(self) -> None:
        """Migrate a database once; test databases are copied from it."""
        from workbench.store.db import Store

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        store = Store(self.url(TEMPLATE))
        store.close()


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The session's PostgreSQL server (skipped without the binaries, failed in CI)."""
    bin_dir = pg_bin()
    if bin_dir is None:
        why = ("PostgreSQL is not installed (apt-get install postgresql); its binaries are "
               "not in /usr/lib/postgresql/*/bin")
        if _in_ci():
            pytest.fail(f"CI must test PostgreSQL: {why}")
        pytest.skip(why)
    cluster = PgCluster(bin_dir)
    try:
        cluster.start()
        cluster.make_template()
    except Exception:
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = pg_cluster.create_database(TEMPLATE)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@dataclass
class Backend:
    """A database for one test: its URL, which kind it is, and plain SQL on it."""

    kind: str  # "sqlite" or "postgres"
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run one statement in its own transaction; the rows it returns (if any)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params or {})
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def scalar(self, statement: str, params: dict[str, Any] | None = None) -> Any:
        rows = self.sql(statement, params)
        return rows[0][0] if rows else None

    def drop_audit_triggers(self) -> None:
        """What an intruder with write access does first."""
        for name in ("audit_entry_no_update", "audit_entry_no_delete"):
            on = " ON audit_entry" if self.is_postgres else ""
            self.sql(f"DROP TRIGGER IF EXISTS {name}{on}")

    def restore_audit_triggers(self) -> None:
        """As the migrations made them: a careful intruder puts them back."""
        for statement in ("update", "delete"):
            if self.is_postgres:
                self.sql(f"CREATE TRIGGER audit_entry_no_{statement} BEFORE {statement} ON "
                         "audit_entry FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()")
            else:
                self.sql(f"CREATE TRIGGER audit_entry_no_{statement} BEFORE {statement} ON "
                         "audit_entry BEGIN SELECT RAISE(ABORT, 'the audit trail is "
                         "append-only'); END")


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each test runs on a SQLite file and on a fresh PostgreSQL database, both migrated."""
    if request.param == "sqlite":
        from workbench.store.db import Store

        url = f"sqlite:///{tmp_path / 'wb.db'}"
        Store(url).close()
        yield Backend("sqlite", url)
        return
    yield Backend("postgres", request.getfixturevalue("pg_url"))


@pytest.fixture
def blank_pg(pg_cluster: PgCluster) -> Iterator[str]:
    """An empty PostgreSQL database (not migrated), dropped after the test."""
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; that value (fails on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
