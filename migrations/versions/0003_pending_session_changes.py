"""The outbox of session-store changes the database has recorded (``web.identity.session_sync``).

Revision ID: 0003_pending_session_changes
Revises: 0002_session_index_jobs_notes
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_pending_session_changes"
down_revision = "0002_session_index_jobs_notes"
branch_labels = None
depends_on = None

# MariaDB/MySQL: microseconds kept, utf8mb4, byte-for-byte tokens (as in 0001_initial_schema).
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL_TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _token(length: int) -> sa.types.TypeEngine:
    return sa.String(length=length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "pending_session_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sid_hash", _token(64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_session_changes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_session_changes")),
        **MYSQL_TABLE,
    )
    op.create_index(op.f("ix_pending_session_changes_user_id"), "pending_session_changes", ["user_id"])


def downgrade() -> None:
    # The table's indexes go with it (MariaDB refuses to drop the one its foreign key needs first).
    op.drop_table("pending_session_changes")
