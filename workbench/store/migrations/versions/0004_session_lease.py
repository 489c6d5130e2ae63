"""A running session holds a lease: its owner process and host, and when the lease lapses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: sessions of earlier versions keep no owner and no lease, and are
    # judged by their start time (see Store.reap_lapsed_sessions).
    op.add_column("session", sa.Column("owner_pid", sa.Integer(), nullable=True))
    op.add_column("session", sa.Column("owner_host", sa.String(), nullable=True))
    op.add_column("session", sa.Column("lease_expires_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session", recreate="never") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner_host")
        batch.drop_column("owner_pid")
