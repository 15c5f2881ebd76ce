"""Tenants and the people in them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ColumnElement, Enum, ForeignKey, Index, Integer, String, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from web.platform.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from web.deals.models import Deal


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # ISO 4217 code the organization's amounts are shown in (web.platform.pages.money).
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())

    users: Mapped[list[User]] = relationship(back_populates="organization")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, values_callable=lambda e: [m.value for m in e], length=16),
        default=Role.MEMBER,
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("deals.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # Increases with every change of last_deal_id, so a session never lets an
    # older deal context overwrite a newer one.
    deal_context_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow(), onupdate=lambda: utcnow())

    organization: Mapped[Organization] = relationship(back_populates="users")
    last_deal: Mapped[Deal | None] = relationship(foreign_keys=[last_deal_id])

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


# Emails are unique regardless of case; sign-in looks them up by the same expression (``email_key``).
# On MariaDB/MySQL, which have no expression indexes, migration 0001 indexes the bare column instead.
Index("uq_users_email_lower", func.lower(User.email), unique=True)


class email_key(FunctionElement[str]):
    """``lower(email)``: what the unique index on emails holds, so a lookup by it uses the index.

    On MariaDB/MySQL the bare column: its case-insensitive collation (utf8mb4_unicode_ci,
    migrations/versions/0001_initial_schema.py) already compares without case, and
    ``lower(email)`` there could not use the index on the column.
    """

    type = String()
    inherit_cache = True
    name = "email_key"


@compiles(email_key)
def _email_key_default(element: email_key, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(email_key, "mysql")
def _email_key_mysql(element: email_key, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def email_is(email: str) -> ColumnElement[bool]:
    """The condition that finds the user with ``email``, whatever its case (using the unique index)."""
    return email_key(User.email) == email.strip().lower()


class UserSession(Base):
    """One row per signed-in session. The session id itself is kept only as a SHA-256 hash."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class PendingSessionChange(Base):
    """A change the session store still owes the database (the outbox of ``web.identity.session_sync``).

    Written in the same transaction as the change it follows, deleted once the store has it.
    With ``sid_hash``: destroy that one session. Without: bring every live session of the
    user in line with the user's row (deactivated: destroyed; otherwise role and deal context rewritten).
    """

    __tablename__ = "pending_session_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
