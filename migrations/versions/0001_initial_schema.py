"""Organizations, users, deals, members, audit events and the SQL session store.

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001_initial_schema"
down_revision = None
branch_labels = None
depends_on = None

# Stored as naive UTC; web.platform.models.UTCDateTime adds the zone back on read. MySQL's
# DATETIME keeps whole seconds unless asked for microseconds (fsp=6), as the others keep them.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# Every MariaDB/MySQL table in utf8mb4 (MySQL's "utf8" cannot hold 4-byte characters), compared
# without case (which the unique index on users.email relies on there); ignored elsewhere.
MYSQL_TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _token(length: int) -> sa.types.TypeEngine:
    """A string compared byte for byte (session ids, hashes): binary collation on MariaDB/MySQL."""
    return sa.String(length=length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        **MYSQL_TABLE,
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", _token(255), nullable=False),
        sa.Column("data", sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"), nullable=False),
        sa.Column("expiry", UTC_DATETIME, nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("session_id", name=op.f("uq_sessions_session_id")),
        **MYSQL_TABLE,
    )
    op.create_index(op.f("ix_sessions_expiry"), "sessions", ["expiry"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", _enum("user_role", "admin", "member"), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_deal_id", sa.Integer(), nullable=True),
        sa.Column("deal_context_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        **MYSQL_TABLE,
    )
    op.create_index(op.f("ix_users_organization_id"), "users", ["organization_id"])
    op.create_index(op.f("ix_users_last_deal_id"), "users", ["last_deal_id"])

    op.create_table(
        "deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "stage",
            _enum("deal_stage", "sourcing", "diligence", "negotiation", "closed_won", "closed_lost"),
            nullable=False,
        ),
        sa.Column("value", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("deleted_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_deals_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_deals_owner_id_users"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        **MYSQL_TABLE,
    )
    op.create_index("ix_deals_org_live_updated", "deals", ["organization_id", "deleted_at", "updated_at"])
    op.create_index(op.f("ix_deals_owner_id"), "deals", ["owner_id"])

    # users and deals point at each other; the second edge is added once both exist.
    with op.batch_alter_table("users") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_users_last_deal_id_deals"), "deals", ["last_deal_id"], ["id"], ondelete="SET NULL"
        )
    # Created after the batch rebuild: SQLite cannot reflect expression indexes. MariaDB has no
    # expression indexes: there the column's case-insensitive collation makes a plain unique index
    # ignore case, and sign-in compares the bare column (web.identity.models.email_key).
    if op.get_bind().dialect.name == "mysql":
        op.create_index("uq_users_email_lower", "users", ["email"], unique=True)
    else:
        op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "deal_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", _enum("deal_member_role", "viewer", "editor"), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_members_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deal_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_members")),
        sa.UniqueConstraint("deal_id", "user_id", name="uq_deal_members_deal_user"),
        **MYSQL_TABLE,
    )
    op.create_index(op.f("ix_deal_members_user_id"), "deal_members", ["user_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_events_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_audit_events_deal_id_deals"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        **MYSQL_TABLE,
    )
    op.create_index("ix_audit_events_org_created", "audit_events", ["organization_id", "created_at"])
    op.create_index("ix_audit_events_user_created", "audit_events", ["user_id", "created_at"])
    op.create_index("ix_audit_events_deal_created", "audit_events", ["deal_id", "created_at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("deal_members")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(op.f("fk_users_last_deal_id_deals"), type_="foreignkey")
    op.drop_table("deals")
    op.drop_table("users")
    op.drop_table("sessions")
    op.drop_table("organizations")
