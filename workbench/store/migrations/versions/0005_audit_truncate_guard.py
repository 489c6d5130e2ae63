"""PostgreSQL: the audit table also refuses TRUNCATE, and its triggers fire in every session.

A row trigger does not see TRUNCATE, which empties the table at once; and a session in
`session_replication_role = replica` skips ordinarily enabled triggers. SQLite has neither.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
    )
    for name in ("audit_entry_no_update", "audit_entry_no_delete", "audit_entry_no_truncate"):
        op.execute(f"ALTER TABLE audit_entry ENABLE ALWAYS TRIGGER {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
    for name in ("audit_entry_no_update", "audit_entry_no_delete"):
        op.execute(f"ALTER TABLE audit_entry ENABLE TRIGGER {name}")
