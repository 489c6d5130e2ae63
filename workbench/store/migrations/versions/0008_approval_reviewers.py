"""An approval keeps who may approve it: the reviewers of the groups its policy rules name.

Recorded by the run that asks (its policy decides), so a reviewer on another machine, with
other policy files or none, is held to the same list. NULL: anyone may approve.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: earlier approvals keep NULL (anyone may approve, as before)
    op.add_column("approval", sa.Column("reviewers", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval", recreate="never") as batch:
        batch.drop_column("reviewers")
