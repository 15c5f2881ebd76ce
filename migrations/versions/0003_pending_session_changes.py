"""The outbox of session-store changes the database has recorded (``web.identity.session_sync``).

Revision ID: 0003_pending_session_changes
Revises: 0002_session_index_jobs_notes
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_pending_session_changes"
down_revision = "0002_session_index_jobs_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_session_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sid_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_session_changes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_session_changes")),
    )
    op.create_index(op.f("ix_pending_session_changes_user_id"), "pending_session_changes", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_session_changes_user_id"), table_name="pending_session_changes")
    op.drop_table("pending_session_changes")
