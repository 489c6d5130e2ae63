"""Crew snapshots, sessions and events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crew_snapshot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False, unique=True),
        sa.Column("source_path", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_crew_snapshot_name", "crew_snapshot", ["name"])
    op.create_table(
        "session",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("crew_name", sa.String(), nullable=False),
        sa.Column("crew_snapshot_id", sa.Integer(), sa.ForeignKey("crew_snapshot.id")),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("topology", sa.String(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float()),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_unknown_calls", sa.Integer(), nullable=False),
        sa.Column("model_calls", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("policy_hash", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
    )
    op.create_index("ix_session_crew_name", "session", ["crew_name"])
    op.create_index("ix_session_status", "session", ["status"])
    op.create_index("ix_session_started_at", "session", ["started_at"])
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.String(), sa.ForeignKey("session.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("agent", sa.String()),
        sa.Column("to_agent", sa.String()),
        sa.Column("content", sa.Text()),
        sa.Column("data", sa.Text()),
        sa.UniqueConstraint("session_id", "seq", name="uq_event_session_seq"),
    )
    op.create_index("ix_event_session_kind", "event", ["session_id", "kind"])


def downgrade() -> None:
    op.drop_table("event")
    op.drop_table("session")
    op.drop_table("crew_snapshot")
