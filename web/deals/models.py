"""Deals and who works on them."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.platform.models import Base, UTCDateTime, utcnow


class Stage(enum.StrEnum):
    SOURCING = "sourcing"
    DILIGENCE = "diligence"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class MemberRole(enum.StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=16)


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        # The deal list: an organization's live deals, most recently changed first.
        Index("ix_deals_org_live_updated", "organization_id", "deleted_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[Stage] = mapped_column(_enum(Stage, "deal_stage"), default=Stage.SOURCING)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow(), onupdate=lambda: utcnow())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    members: Mapped[list[DealMember]] = relationship(back_populates="deal", cascade="all, delete-orphan")


# What the API shows of a deal (``web.deals.schemas.deal_json``), read as plain columns where no ORM
# object is needed: the deal list and the select.
DEAL_FIELD_COLUMNS = (
    Deal.id,
    Deal.name,
    Deal.stage,
    Deal.value,
    Deal.owner_id,
    Deal.organization_id,
    Deal.created_at,
    Deal.updated_at,
)


class DealMember(Base):
    __tablename__ = "deal_members"
    __table_args__ = (UniqueConstraint("deal_id", "user_id", name="uq_deal_members_deal_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    # Indexed for the visibility check: "is this user a member of that deal?".
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "deal_member_role"), default=MemberRole.VIEWER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())

    deal: Mapped[Deal] = relationship(back_populates="members")


class DealNote(Base):
    __tablename__ = "deal_notes"
    __table_args__ = (Index("ix_deal_notes_deal_created", "deal_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: utcnow())
