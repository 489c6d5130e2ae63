"""Eval results: an eval run of a crew over a cases file, each case run (linked to its
session) and each check's outcome (a judge's score and reason too).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_run",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("crew_name", sa.String(), nullable=False),
        sa.Column("crew_snapshot_id", sa.Integer(), sa.ForeignKey("crew_snapshot.id")),
        sa.Column("cases_path", sa.Text(), nullable=False),
        sa.Column("cases_digest", sa.String(), nullable=False),
        # --model, when every agent ran on one model
        sa.Column("model", sa.String()),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        # running, completed, cancelled (Ctrl-C: what ran is kept), failed
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float()),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_unknown_calls", sa.Integer(), nullable=False),
    )
    op.create_index("ix_eval_run_crew", "eval_run", ["crew_name"])
    op.create_index("ix_eval_run_started", "eval_run", ["started_at"])
    op.create_table(
        "eval_case",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("eval_id", sa.String(), sa.ForeignKey("eval_run.id"), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        # the case's place in the cases file (case runs finish in any order)
        sa.Column("position", sa.Integer(), nullable=False),
        # 1..K with --repeat K
        sa.Column("attempt", sa.Integer(), nullable=False),
        # none when the case could not start a session (a missing key, bad inputs)
        sa.Column("session_id", sa.String(), sa.ForeignKey("session.id")),
        # passed, failed, error, not_scored, cancelled
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("checks_passed", sa.Integer(), nullable=False),
        sa.Column("checks_total", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_unknown_calls", sa.Integer(), nullable=False),
        sa.Column("elapsed_s", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("eval_id", "case_id", "attempt", name="uq_eval_case_attempt"),
    )
    op.create_index("ix_eval_case_eval", "eval_case", ["eval_id"])
    op.create_index("ix_eval_case_session", "eval_case", ["session_id"])
    op.create_table(
        "eval_check",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("eval_case_id", sa.Integer(), sa.ForeignKey("eval_case.id"), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        # the check as written in the cases file (JSON)
        sa.Column("spec", sa.Text(), nullable=False),
        # passed, failed, error, not_scored
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("reason", sa.Text()),
        sa.Column("judge_session_id", sa.String(), sa.ForeignKey("session.id")),
    )
    op.create_index("ix_eval_check_case", "eval_check", ["eval_case_id"])


def downgrade() -> None:
    op.drop_table("eval_check")
    op.drop_table("eval_case")
    op.drop_table("eval_run")
