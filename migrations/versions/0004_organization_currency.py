"""Each organization shows amounts in its own currency (``organizations.currency``, an ISO 4217 code).

Existing organizations get "USD", the value every amount was implicitly in before.

Revision ID: 0004_organization_currency
Revises: 0003_pending_session_changes
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_organization_currency"
down_revision = "0003_pending_session_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a server default on SQLite, PostgreSQL and MariaDB alike: no table rebuild.
    op.add_column("organizations", sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False))


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place; a batch rebuild would drop and recreate the table users cascade from.
    op.drop_column("organizations", "currency")
