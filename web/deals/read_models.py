"""Read models for the browser pages: what a page shows about deals, in a few queries.

Every query filters with the permission clauses, so a page never shows what the
JSON API would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from web.deals.models import Deal, DealMember
from web.deals.notes import NoteView, list_notes
from web.deals.permissions import (
    can_change_deal,
    can_manage_deal,
    managed_deals_clause,
    require_visible_deal,
)
from web.deals.service import list_members
from web.identity.models import User


@dataclass(frozen=True)
class MemberView:
    user_id: int
    email: str
    role: str


@dataclass(frozen=True)
class DealOverview:
    """One deal with everything its page shows, and what the viewer may do with it."""

    deal: Deal
    owner_email: str
    members: list[MemberView]
    notes: list[NoteView]
    note_total: int
    can_change: bool
    can_manage: bool


def managed_deal_ids(db_session: Session, *, user_id: int, deal_ids: Iterable[int]) -> set[int]:
    """Which of these deals the user may delete and whose members they may change."""
    ids = list(deal_ids)
    if not ids:
        return set()
    return set(db_session.scalars(select(Deal.id).where(Deal.id.in_(ids), managed_deals_clause(user_id))))


def deal_overview(db_session: Session, *, user_id: int, deal_id: int, note_limit: int = 20) -> DealOverview:
    """The deal's page: details, owner, members and latest notes; 404 when not visible."""
    deal = require_visible_deal(db_session, deal_id, user_id)
    owner_email = db_session.scalar(select(User.email).where(User.id == deal.owner_id)) or ""
    members = [
        MemberView(member.user_id, email, member.role.value)
        for member, email in list_members(db_session, user_id=user_id, deal_id=deal_id)
    ]
    notes, note_total = list_notes(db_session, user_id=user_id, deal_id=deal_id, limit=note_limit)
    return DealOverview(
        deal=deal,
        owner_email=owner_email,
        members=members,
        notes=notes,
        note_total=note_total,
        can_change=can_change_deal(db_session, deal_id, user_id),
        can_manage=can_manage_deal(db_session, deal_id, user_id),
    )


def member_candidates(db_session: Session, *, deal_id: int, organization_id: int) -> list[tuple[int, str]]:
    """Active people of the organization who could be added to the deal: not its owner, not yet members."""
    already_member = exists().where(DealMember.deal_id == deal_id, DealMember.user_id == User.id)
    owner = select(Deal.owner_id).where(Deal.id == deal_id).scalar_subquery()
    rows = db_session.execute(
        select(User.id, User.email)
        .where(User.organization_id == organization_id, User.is_active.is_(True), ~already_member, User.id != owner)
        .order_by(func.lower(User.email))
    ).all()
    return [(row.id, row.email) for row in rows]
