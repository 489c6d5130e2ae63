"""The tables: crew snapshots, sessions and their events (append-only, ordered by seq)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class CrewSnapshot(SQLModel, table=True):
    """The exact crew file a session ran, kept so a run can be reproduced and compared."""

    __tablename__ = "crew_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    digest: str = Field(unique=True)
    source_path: str = ""
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: float


class SessionRow(SQLModel, table=True):
    __tablename__ = "session"

    id: str = Field(primary_key=True)
    crew_name: str = Field(index=True)
    crew_snapshot_id: int | None = Field(default=None, foreign_key="crew_snapshot.id")
    engine: str
    topology: str
    task: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="running", index=True)
    started_at: float = Field(index=True)
    ended_at: float | None = None
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    policy_hash: str = ""
    workspace: str = ""
    #: While it runs, the session's lease: the process that runs it, and until when the lease
    #: holds unless renewed (a lapsed lease marks the session interrupted).
    owner_pid: int | None = None
    owner_host: str | None = None
    lease_expires_at: float | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_event_session_seq"),
        Index("ix_event_session_kind", "session_id", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="session.id")
    seq: int
    ts: float
    kind: str
    agent: str | None = None
    to_agent: str | None = None
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
