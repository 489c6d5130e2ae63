"""Human questions: a person's turn (or feedback) a run waits for, answerable from any process.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "human_question",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("session_id", sa.String(), sa.ForeignKey("session.id"), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        # turn: a human agent's turn; feedback: a review of an agent's answer
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        # pending, answered, or skipped (expired, or the run ended first)
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("answer", sa.Text()),
        sa.Column("answered_by", sa.String()),
        sa.Column("how", sa.String()),
        # why a skipped question got no answer
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("answered_at", sa.Float()),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_human_question_status", "human_question", ["status"])
    op.create_index("ix_human_question_session", "human_question", ["session_id"])


def downgrade() -> None:
    op.drop_table("human_question")
