"""Model exchanges: every model call of a session as sent and as answered, for forks and
replays. A request's messages are stored as what its agent's previous call of the same
purpose did not have (`base_seq`, `keep`): a conversation is not stored once per turn.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(), sa.ForeignKey("session.id"), nullable=False),
        # the seq of the call's model.call event
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        # agent, selector or manager
        sa.Column("purpose", sa.String(), nullable=False),
        # the agent's n-th answered call in its session, from 0 (what a fork matches on)
        sa.Column("call_index", sa.Integer(), nullable=False),
        # the model and provider that answered (the target of the chain)
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        # where a replayed answer came from ("SESSION@SEQ"); NULL: a provider answered
        sa.Column("replayed", sa.String()),
        # the first `keep` messages are those of the exchange at `base_seq` (its whole list)
        sa.Column("base_seq", sa.Integer()),
        sa.Column("keep", sa.Integer(), nullable=False),
        # JSON: the messages after those kept
        sa.Column("messages", sa.Text(), nullable=False),
        # JSON: tools offered, parameters, stream, candidates (no key, no api_base)
        sa.Column("request", sa.Text(), nullable=False),
        # JSON: text, tool calls, usage, cost, finish reason, handoff
        sa.Column("response", sa.Text(), nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_exchange_session_seq"),
    )


def downgrade() -> None:
    op.drop_table("exchange")
