"""What the screens ask of the core, as blocking calls that workers run off the UI loop.

Nothing here touches a widget, and every heavy import (sqlalchemy, litellm, keyring,
pydantic) happens inside a call, never when this module is imported.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Settings


def display_path(path: str | Path) -> str:
    """A path as a person reads it: relative to the working folder, or under `~`."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        pass
    try:
        return "~/" + str(p.resolve().relative_to(Path.home().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(p)


#: A listener for pushed changes wakes this often to see whether it should stop.
WATCH_WAIT_S = 0.5
#: After a lost listening connection, how long before listening again.
RELISTEN_S = 5.0

#: A session file larger than this is shown cut (the modal is for reading, not for data).
FILE_SHOWN_BYTES = 200_000


@dataclass
class SnapshotView:
    """The crew file exactly as a session ran it, and how it compares with the file now."""

    crew: str
    digest: str
    source_path: str
    created_at: float
    text: str
    now: str = ""
    #: When the session (that ran this version) started.
    started_at: float = 0.0
    #: Which version of the crew this is (1: the first this database saw) and of how many.
    version: int = 0
    versions: int = 0


@dataclass
class SessionComparison:
    """Two sessions compared (a mesh.compare.Comparison) and each side's crew version."""

    comparison: Any
    versions: tuple[int, int] = (0, 0)


@dataclass
class EvalComparison:
    """Two stored evals (get_eval dicts), their cases' deltas (regressions first), and the
    diff of their crew files (empty: the same file)."""

    first: dict[str, Any]
    second: dict[str, Any]
    deltas: list[Any]
    crew_diff: list[str]


@dataclass
class SessionFile:
    """A file a session's tools wrote: `folder` is workspace or outbox."""

    folder: str
    path: str
    size: int


@dataclass
class SessionFiles:
    root: Path
    files: list[SessionFile]


@dataclass
class ReviewItem:
    """A request in the approvals queue, with what a reviewer needs around it."""

    approval: Any
    crew: str = ""
    task: str = ""
    session_status: str = ""
    #: The tool's tags (`external` asks before approving); None when they cannot be told.
    tags: frozenset[str] | None = frozenset()

    @property
    def external(self) -> bool:
        """Acts outside the workbench (or might: unknown tags count as external)."""
        return self.tags is None or "external" in self.tags


@dataclass
class PendingSummary:
    count: int
    newest_id: str | None = None
    newest_text: str = ""


@dataclass
class RuleRow:
    id: str
    on: str
    effect: str
    when: str
    reason: str
    source: str
    where: str
    overridable: bool = False
    note: str = ""


@dataclass
class PolicyView:
    folder: str
    error: str | None = None
    default: str = "allow"
    budgets: dict[str, float] = field(default_factory=dict)
    hash: str = ""
    central: list[RuleRow] = field(default_factory=list)
    domains: dict[str, list[RuleRow]] = field(default_factory=dict)

    def effective(self, domain: str) -> list[RuleRow]:
        """Central rules as they apply to `domain` (noting which ones it may lift), then its own."""
        from workbench.governance.effective import effective_rules

        local = None if domain == "central" else self.domains.get(domain, [])
        return [RuleRow(**{**e.rule.__dict__, "note": e.note})
                for e in effective_rules(self.central, local)]


@dataclass
class KeyRow:
    provider: str
    source: str
    env_var: str


@dataclass
class KeyStatus:
    available: bool
    backend: str
    help: str
    rows: list[KeyRow]


@dataclass
class CatalogRow:
    model: str
    provider: str
    mode: str
    context: int | None
    input_per_million: float | None
    output_per_million: float | None


def model_catalog() -> list[CatalogRow]:
    """LiteLLM's local model map (imported here, seconds of work: call it from a worker)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from workbench.gateway.litellm_provider import load_litellm

    litellm = load_litellm()
    rows = []
    for name, info in sorted(litellm.model_cost.items()):
        if name == "sample_spec" or not isinstance(info, dict):
            continue
        rows.append(_catalog_row(name, info))
    return rows


def _catalog_row(name: str, info: dict[str, Any]) -> CatalogRow:
    from workbench.gateway.pricing import per_million

    context = info.get("max_input_tokens") or info.get("max_tokens")
    return CatalogRow(
        name, str(info.get("litellm_provider") or "-"), str(info.get("mode") or "-"),
        int(context) if isinstance(context, int | float) else None,
        per_million(info.get("input_cost_per_token")),
        per_million(info.get("output_cost_per_token")),
    )


def _email_text(raw: bytes) -> str:
    """An outbox message as a person reads it: its headers, then the decoded text."""
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    head = "\n".join(f"{k}: {msg[k]}" for k in ("From", "To", "Cc", "Subject", "Date")
                     if msg[k])
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
    except (LookupError, KeyError, ValueError):
        return raw.decode("utf-8", errors="replace")
    return f"{head}\n\n{body}"


class Services:
    """Opens the store on first use (sqlalchemy costs ~0.5 s: never before the first frame)."""

    def __init__(self, settings: Settings, reviewer: str | None = None,
                 catalog: Callable[[], list[CatalogRow]] = model_catalog,
                 now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._reviewer = reviewer
        self._catalog = catalog
        self._now = now
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from workbench.store.db import Store

                self.settings.ensure_home()
                self._store = Store(self.settings.database_url)
                self._heavy_import_done()
            return self._store

    @staticmethod
    def _heavy_import_done() -> None:
        from workbench.tui.background import freeze_heap

        freeze_heap()

    @property
    def reviewer(self) -> str:
        """The name decisions are recorded under: given, else WORKBENCH_REVIEWER or the OS user."""
        if self._reviewer is None:
            from workbench.governance.reviewer import default_reviewer

            self._reviewer = default_reviewer()
        return self._reviewer

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        from workbench.governance.reviewer import checked_reviewer

        self._reviewer = checked_reviewer(name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- sessions ---------------------------------------------------------------------

    def list_sessions(self, search: str = "", status: str = "", limit: int = 500
                      ) -> list[dict[str, Any]]:
        """Sessions newest first, each with its count of pending approvals."""
        store = self.store
        store.reap_lapsed_sessions()  # a run whose process is gone shows as interrupted
        rows = store.list_sessions(limit=limit, search=search)
        if status:
            rows = [r for r in rows if r["status"] == status]
        pending = self._pending_by_session()
        versions = self._crew_versions({r["crew_snapshot_id"] for r in rows})
        for r in rows:
            r["pending"] = pending.get(r["id"], 0)
            r["version"], r["snapshot"] = versions.get(r["crew_snapshot_id"], (0, ""))
        return rows

    def _crew_versions(self, ids: set[int | None]) -> dict[int, tuple[int, str]]:
        """Snapshot id -> (which version of its crew it is, 1 for the first this database
        saw; its digest)."""
        from sqlalchemy import bindparam, text

        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
        with self.store.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.id, c.digest, (SELECT count(*) FROM crew_snapshot o "
                "WHERE o.name = c.name AND o.id <= c.id) FROM crew_snapshot c "
                "WHERE c.id IN :ids").bindparams(bindparam("ids", expanding=True)),
                {"ids": sorted(ids)}).all()
        return {i: (n, digest) for i, digest, n in rows}

    def crew_snapshot(self, session_id: str) -> SnapshotView:
        """The crew file a session ran (its snapshot), and whether the crew file of that name
        is still the same."""
        from sqlalchemy import text

        from workbench.errors import UserInputError, WorkbenchError

        session = self.store.get_session(session_id)
        with self.store.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT name, digest, source_path, created_at, text FROM crew_snapshot "
                "WHERE id = :id"), {"id": session.get("crew_snapshot_id")}).first()
        if row is None:
            raise UserInputError(f"session {session['id'][:12]} kept no copy of its crew file")
        view = SnapshotView(*row, started_at=session["started_at"])
        view.version, _ = self._crew_versions({session.get("crew_snapshot_id")}).get(
            session.get("crew_snapshot_id"), (0, ""))
        with self.store.engine.connect() as conn:
            view.versions = conn.execute(text(
                "SELECT count(*) FROM crew_snapshot WHERE name = :name"),
                {"name": view.crew}).scalar_one()
        if view.source_path:
            view.source_path = display_path(view.source_path)
        try:
            from workbench.config import SHIPPED_CREWS
            from workbench.crews import find_crew

            current = find_crew(session["crew_name"], self.settings)
            same = current.read_text(encoding="utf-8") == view.text
            shipped = current.resolve().is_relative_to(SHIPPED_CREWS.resolve())
            where = f"the shipped {session['crew_name']}" if shipped else display_path(current)
            view.now = (f"{where} is still this version" if same else
                        f"{where} has changed since")
        except (WorkbenchError, OSError):
            view.now = f"no crew named {session['crew_name']} now"
        return view

    def session_folder(self, session_id: str) -> Path:
        """Where a session's tools wrote: the folder holding its workspace and outbox."""
        session = self.store.get_session(session_id)
        if session.get("workspace"):
            return Path(session["workspace"]).parent
        return self.settings.session_dir(session["id"])

    def session_files(self, session_id: str) -> SessionFiles:
        """Every file in the session's workspace and outbox, by folder then path."""
        root = self.session_folder(session_id)
        files = []
        for folder in ("workspace", "outbox"):
            base = root / folder
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    files.append(SessionFile(folder, path.relative_to(base).as_posix(),
                                             path.stat().st_size))
        return SessionFiles(root, files)

    def read_session_file(self, session_id: str, folder: str, path: str) -> str:
        """A session file's text (cut past FILE_SHOWN_BYTES); never a file outside it."""
        from workbench.errors import UserInputError

        base = (self.session_folder(session_id) / folder).resolve()
        target = (base / path).resolve()
        if folder not in ("workspace", "outbox") or not target.is_relative_to(base):
            raise UserInputError(f"{folder}/{path} is not a file of this session")
        with target.open("rb") as fh:
            raw = fh.read(FILE_SHOWN_BYTES + 1)
        if target.suffix == ".eml" and len(raw) <= FILE_SHOWN_BYTES:
            return _email_text(raw)
        if b"\0" in raw[:8192]:
            return f"(a binary file of {target.stat().st_size:,} bytes; not shown)"
        body = raw[:FILE_SHOWN_BYTES].decode("utf-8", errors="replace")
        if len(raw) > FILE_SHOWN_BYTES:
            body += f"\n… (cut: the file has {target.stat().st_size:,} bytes)"
        return body

    def events_after(self, session_id: str, seq: int, limit: int = 1000
                     ) -> list[dict[str, Any]]:
        """A session's events after `seq` (following a run another process writes)."""
        return self.store.events_after(session_id, seq, limit)

    def reap_lapsed(self) -> None:
        """Mark runs whose process is gone `interrupted` (a followed run that was killed
        ends instead of running for ever)."""
        self.store.reap_lapsed_sessions()

    def listen(self, *channels: str, poll_s: float | None = None) -> Any:
        """A listener for changes to the store (channels: "approvals", "events", "sessions"):
        pushed by PostgreSQL as they commit, a poll of `poll_s` on SQLite. Open it before
        reading what is waited on; see workbench.store.notify."""
        from workbench.store import notify

        names = {"approvals": notify.APPROVALS, "events": notify.EVENTS,
                 "sessions": notify.SESSIONS}
        return notify.listen(self.store.engine, *(names[c] for c in channels),
                             poll_s=notify.POLL_S if poll_s is None else poll_s)

    def pushes(self) -> bool:
        """Does the database push changes (PostgreSQL), or must screens poll (SQLite)?"""
        from workbench.store import notify

        return notify.pushes(self.store.engine)

    def watch_approvals(self, changed: Callable[[], None], stop: threading.Event) -> bool:
        """Call `changed()` each time an approval is requested, decided or expires anywhere
        on this database, until `stop` is set; blocking (run it in a worker thread).

        Returns False at once when the database cannot push (SQLite), or cannot LISTEN
        (PostgreSQL behind a transaction pooler): the screen's own poll is then all there
        is. A connection dropped later is listened on again after a pause (the poll covers
        the gap).
        """
        if not self.pushes():
            return False
        listened = False
        while not stop.is_set():
            with self.listen("approvals") as listener:
                if listener.pushed:
                    listened = True
                    changed()  # whatever landed before listening began
                elif not listened:
                    return False
                while listener.pushed and not stop.is_set():
                    # short waits: `stop` is seen within one of them
                    if listener.wait(WATCH_WAIT_S):
                        changed()
            stop.wait(RELISTEN_S)
        return True

    def _pending_by_session(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.store.engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT session_id, count(*) FROM approval WHERE status = 'pending' "
                "AND expires_at > :now GROUP BY session_id"), {"now": self._now()}).all())

    def session(self, session_id: str) -> dict[str, Any]:
        return self.store.get_session(session_id)

    def session_events(self, session_id: str) -> Iterator[tuple[Any, ...]]:
        """A stored session's events in order, as (seq, ts, kind, agent, to, content, data),
        `data` as its JSON text (the run view decodes what it needs, when it needs it).

        Tuples from one streamed query rather than `Store.iter_events` dicts: a replay of
        100,000 events must open in well under two seconds.
        """
        import sqlite3

        from sqlalchemy import text

        query = ("SELECT seq, ts, kind, agent, to_agent, content, coalesce(data, '') FROM event "
                 "WHERE session_id = :sid ORDER BY seq")
        with self.store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                # the driver's own cursor on SQLite: its tuples as they are, a batch at a time
                cursor = raw.execute(query, {"sid": session_id})
                while rows := cursor.fetchmany(5000):
                    yield from rows
                return
            yield from conn.execution_options(yield_per=5000).execute(
                text(query), {"sid": session_id})

    def session_topology(self, session: dict[str, Any]) -> Any:
        """The resolved topology of a stored session, from the crew file it ran (or None)."""
        from workbench.errors import WorkbenchError
        from workbench.spec.loader import parse_crew
        from workbench.spec.topology import resolve

        snapshot = session.get("crew_snapshot_id")
        text = self.store.crew_text(snapshot) if snapshot is not None else None
        if not text:
            return None
        try:
            spec = parse_crew(text, session["crew_name"])
        except WorkbenchError:
            return None
        try:
            return resolve(spec, session.get("topology") or None)
        except Exception:
            return None

    def export_session(self, session_id: str, fmt: str) -> Path:
        """Write a session to <home>/exports as Markdown or JSON; returns the file."""
        from workbench.store.export import export_path, session_json, session_markdown

        s = self.store.get_session(session_id)
        folder = self.settings.home / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = export_path(folder, s["crew_name"], s["id"], fmt)
        if fmt == "json":
            body = json.dumps(session_json(self.store, s["id"]), indent=2, default=str)
        else:
            body = session_markdown(self.store, s["id"])
        path.write_text(body + "\n", encoding="utf-8")
        return path

    # -- comparing sessions and evals ---------------------------------------------------

    def compare_sessions(self, a_id: str, b_id: str) -> SessionComparison:
        """Two stored sessions side by side (mesh.compare), with each side's crew version."""
        from workbench.mesh.compare import load_comparison

        comparison = load_comparison(self.store, a_id, b_id)
        versions = self._crew_versions({comparison.a.snapshot_id, comparison.b.snapshot_id})
        return SessionComparison(comparison, (
            versions.get(comparison.a.snapshot_id or -1, (0, ""))[0],
            versions.get(comparison.b.snapshot_id or -1, (0, ""))[0]))

    def list_evals(self) -> list[dict[str, Any]]:
        """Eval runs newest first, each with its crew version."""
        from workbench.store.evals import list_evals_with_versions

        return list_evals_with_versions(self.store)

    def eval_detail(self, eval_id: str) -> dict[str, Any]:
        """An eval run with its case runs and their checks (store.evals.get_eval)."""
        from workbench.store.evals import get_eval

        return get_eval(self.store, eval_id)

    def compare_evals(self, first: str, second: str) -> EvalComparison:
        """Two stored evals case by case, regressions first, with the crew change."""
        from workbench.mesh.compare import crew_diff
        from workbench.mesh.evaluate import compare_evals
        from workbench.store.evals import get_eval

        a, b = get_eval(self.store, first), get_eval(self.store, second)
        texts = [self.store.crew_text(e["crew_snapshot_id"]) if e["crew_snapshot_id"] else None
                 for e in (a, b)]
        diff = crew_diff(texts[0], texts[1], f"E1 {a['crew_name']} (eval {a['id'][:12]})",
                         f"E2 {b['crew_name']} (eval {b['id'][:12]})")
        return EvalComparison(a, b, compare_evals(a, b), diff)

    def eval_history(self) -> list[dict[str, Any]]:
        """Finished eval runs oldest first with crew version and pass rate."""
        from workbench.store.evals import pass_rate_history

        return pass_rate_history(self.store)

    # -- approvals --------------------------------------------------------------------

    def pending_summary(self) -> PendingSummary:
        from workbench.governance import approvals

        store = self.store
        approvals.expire_overdue(store)
        count = approvals.count_pending(store)
        if not count:
            return PendingSummary(0)
        newest = approvals.list_approvals(store, pending_only=True, limit=1)
        if not newest:
            return PendingSummary(count)
        a = newest[0]
        return PendingSummary(count, a.id, f"{a.agent} wants {a.tool}: {a.reason}")

    def approvals(self, pending_only: bool = True) -> list[Any]:
        from workbench.governance.approvals import list_approvals

        return list_approvals(self.store, pending_only=pending_only)

    def review_queue(self, pending_only: bool = True) -> list[ReviewItem]:
        """The queue as the review screen shows it: each request with its session's crew,
        task and status, and (for pending ones) its tool's tags."""
        from sqlalchemy import bindparam, text

        items = [ReviewItem(a) for a in self.approvals(pending_only)]
        sids = sorted({i.approval.session_id for i in items})
        if sids:
            with self.store.engine.connect() as conn:
                sessions = {r[0]: r[1:] for r in conn.execute(text(
                    "SELECT id, crew_name, task, status FROM session WHERE id IN :ids")
                    .bindparams(bindparam("ids", expanding=True)), {"ids": sids})}
            for item in items:
                crew, task, status = sessions.get(item.approval.session_id, ("", "", ""))
                item.crew, item.task, item.session_status = crew, task or "", status
        for item in items:
            if item.approval.status == "pending":
                item.tags = self._tool_tags(item.approval)
        return items

    def _tool_tags(self, a: Any) -> frozenset[str] | None:
        """A requested tool's tags: the built-in tool's own, else those the run recorded
        with the request; None if neither tells."""
        from sqlalchemy import text

        from workbench.tools.registry import ToolRegistry

        registry = ToolRegistry()
        if a.tool in registry.names():
            return frozenset(registry.get(a.tool).tags)
        with self.store.engine.connect() as conn:
            for (data,) in conn.execute(text(
                    "SELECT data FROM event WHERE session_id = :sid "
                    "AND kind = 'approval.requested'"), {"sid": a.session_id}):
                d = json.loads(data) if data else {}
                if d.get("approval_id") == a.id and isinstance(d.get("tags"), list):
                    return frozenset(d["tags"])
        return None

    def decide(self, approval_id: str, decision: str, reason: str | None = None,
               args: dict[str, Any] | None = None, always: bool = False) -> Any:
        from workbench.governance.approvals import decide

        return decide(self.store, approval_id, decision, self.reviewer, reason=reason,
                      args=args, always=always)

    # -- crews ------------------------------------------------------------------------

    def crews(self) -> list[Any]:
        from workbench.crews import list_crews

        return list_crews(self.settings)

    def save_crew(self, name: str, text: str) -> Path:
        from workbench.crews import user_crew_path

        path = user_crew_path(self.settings, name)  # refuses a name that is not a file name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    # -- policies and audit -----------------------------------------------------------

    def policy_view(self) -> PolicyView:
        from workbench.governance.policy import PolicyError, load_policies

        folder = self.settings.policy_dir()
        view = PolicyView(display_path(folder))
        try:
            policy = load_policies(folder)
        except PolicyError as exc:
            view.error = str(exc)
            return view
        view.default, view.budgets, view.hash = policy.default, dict(policy.budgets), policy.hash

        def row(r: Any) -> RuleRow:
            where = f"{Path(r.file).name}:{r.line}" if r.line else Path(r.file).name
            return RuleRow(r.id, r.on, r.effect, " ".join(r.when.split()), r.reason,
                           r.domain or "central", where, r.overridable)

        view.central = [row(r) for r in policy.central]
        view.domains = {d: [row(r) for r in rules] for d, rules in sorted(policy.domains.items())}
        return view

    def audit_head(self) -> tuple[int, str]:
        from workbench.store.audit import AuditChain

        return AuditChain(self.store).head()

    def audit_verify(self) -> Any:
        from workbench.store.audit import AuditChain

        return AuditChain(self.store).verify()

    # -- keys and models --------------------------------------------------------------

    def key_status(self) -> KeyStatus:
        from workbench.gateway import credentials as cred

        rows = [KeyRow(k.provider, k.source, k.env_var)
                for k in cred.key_sources(self.settings.home)]
        available = cred.keyring_available()
        return KeyStatus(available, cred.keyring_name() if available else "none",
                         cred.NO_KEYRING_HELP, rows)

    def set_key(self, provider: str, key: str) -> None:
        from workbench.gateway import credentials as cred

        cred.store_key(cred.check_provider(provider), key)

    def delete_key(self, provider: str) -> bool:
        from workbench.gateway import credentials as cred

        return cred.remove_key(provider)

    def model_catalog(self) -> list[CatalogRow]:
        rows = self._catalog()
        self._heavy_import_done()
        return rows
