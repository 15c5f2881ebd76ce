"""Creating, changing and deleting deals and their members."""

from __future__ import annotations

import enum
import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, exists, func, select
from sqlalchemy.orm import Session

from web.audit.service import record_deal_event
from web.deal_context.service import reset_contexts
from web.deal_context.state import ContextState
from web.deals.models import DEAL_FIELD_COLUMNS, Deal, DealMember, MemberRole, Stage
from web.deals.permissions import (
    require_changeable_deal,
    require_managed_deal,
    require_visible_deal,
    visible_deals_clause,
)
from web.domain_errors import Invalid, NotFound
from web.identity import session_index, session_sync
from web.identity.models import User
from web.platform.client import ClientInfo
from web.platform.models import utcnow


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _visible_deals_condition(searching: bool) -> ColumnElement[bool]:
    condition = visible_deals_clause(bindparam("user_id"))
    if searching:
        condition = condition & Deal.name.ilike(bindparam("needle"), escape="\\")
    return condition


@functools.cache
def _visible_deal_page_statement(searching: bool) -> Select[Any]:
    # Built once with bound parameters: building the visibility rule costs more CPU than running it.
    # The total rides along as a window count, computed before LIMIT: the page and its total in one statement.
    return (
        select(*DEAL_FIELD_COLUMNS, func.count().over().label("total"))
        .where(_visible_deals_condition(searching))
        .order_by(Deal.updated_at.desc(), Deal.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


@functools.cache
def _visible_deal_count_statement(searching: bool) -> Select[tuple[int]]:
    return select(func.count()).select_from(Deal).where(_visible_deals_condition(searching))


def list_visible_deals(
    db_session: Session, *, user_id: int, limit: int, offset: int, name_contains: str = ""
) -> tuple[list[Row[Any]], int]:
    """A page of the deals the user may see, most recently changed first, as rows with ``deal_json``'s fields,
    and their total.

    With ``name_contains``, only deals whose name contains that text (any case). One statement; a second
    counts the deals only when the page is empty past the first (a window count has no row to ride on).
    """
    needle = name_contains.strip()
    parameters: dict[str, object] = {"user_id": user_id, "limit": limit, "offset": offset}
    if needle:
        parameters["needle"] = f"%{escape_like(needle)}%"
    rows = list(db_session.execute(_visible_deal_page_statement(bool(needle)), parameters))
    if rows:
        return rows, rows[0].total
    if offset == 0:
        return rows, 0
    return rows, db_session.scalar(_visible_deal_count_statement(bool(needle)), parameters) or 0


def create_deal(
    db_session: Session,
    *,
    user_id: int,
    organization_id: int,
    name: str,
    stage: Stage,
    value: Decimal,
    client: ClientInfo,
) -> Deal:
    deal = Deal(organization_id=organization_id, owner_id=user_id, name=name, stage=stage, value=value)
    db_session.add(deal)
    db_session.flush()
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.create",
        client=client,
    )
    db_session.commit()
    return deal


def update_deal(
    db_session: Session, *, user_id: int, deal_id: int, changes: dict[str, object], client: ClientInfo
) -> Deal:
    deal = require_changeable_deal(db_session, deal_id, user_id)
    # From what to what, for the fields that really changed: the audit page and the deal's activity feed say
    # "moved Northwind from Diligence to Negotiation" (web.audit.describe).
    changed = {
        field: {"from": _plain(getattr(deal, field)), "to": _plain(value)}
        for field, value in changes.items()
        if getattr(deal, field) != value
    }
    for field, value in changes.items():
        setattr(deal, field, value)
    deal.updated_at = utcnow()
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.update",
        client=client,
        details={"fields": sorted(changes), "changes": changed},
    )
    viewers = viewer_ids(db_session, deal.id)
    db_session.commit()
    session_index.forget_cached_deal(db_session, deal_id=deal.id, user_ids=viewers)
    return deal


def _plain(value: object) -> object:
    """A deal field's value as JSON keeps it: an enum by its value, an amount as its decimal string."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def viewer_ids(db_session: Session, deal_id: int) -> list[int]:
    """Everyone who can see the deal now: whose live sessions may hold it."""
    return list(
        db_session.scalars(select(User.id).where(exists().where(Deal.id == deal_id, visible_deals_clause(User.id))))
    )


def delete_deal(db_session: Session, *, user_id: int, deal_id: int, client: ClientInfo) -> dict[int, ContextState]:
    """Soft-delete the deal and clear every ``last_deal_id`` that pointed at it, in one transaction;
    then take the deal out of every live session's context (``web.identity.session_sync``).

    Returns the new context state of everyone who could see the deal.
    """
    deal = require_managed_deal(db_session, deal_id, user_id)
    viewers = viewer_ids(db_session, deal.id)
    deal.deleted_at = utcnow()
    db_session.flush()
    states = {viewer: state for viewer, (_before, state) in reset_contexts(db_session, viewers).items()}
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.delete",
        client=client,
        details={"deal_name": deal.name},  # still named should the row ever go
    )
    session_sync.owe_user_sync(db_session, states)
    db_session.commit()
    session_sync.apply_pending(db_session, user_ids=states)
    return states


def list_members(db_session: Session, *, user_id: int, deal_id: int) -> list[tuple[DealMember, str]]:
    require_visible_deal(db_session, deal_id, user_id)
    rows = db_session.execute(
        select(DealMember, User.email)
        .join(User, User.id == DealMember.user_id)
        .where(DealMember.deal_id == deal_id)
        .order_by(DealMember.id)
    ).all()
    return [(member, email) for member, email in rows]


def add_member(
    db_session: Session, *, user_id: int, deal_id: int, member_user_id: int, role: MemberRole, client: ClientInfo
) -> tuple[DealMember, str, bool]:
    """Add a member or change an existing member's role; returns (member, email, created)."""
    deal = require_managed_deal(db_session, deal_id, user_id)
    candidate = db_session.scalar(
        select(User).where(
            User.id == member_user_id, User.organization_id == deal.organization_id, User.is_active.is_(True)
        )
    )
    if candidate is None:
        raise Invalid({"user_id": "No active user with this id in your organization."})
    member = db_session.scalar(
        select(DealMember).where(DealMember.deal_id == deal_id, DealMember.user_id == member_user_id)
    )
    created = member is None
    if member is None:
        member = DealMember(deal_id=deal_id, user_id=member_user_id, role=role)
        db_session.add(member)
    else:
        member.role = role
    db_session.flush()
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.member_add" if created else "deal.member_role",
        client=client,
        details={"member_user_id": member_user_id, "role": role.value},
    )
    db_session.commit()
    return member, candidate.email, created


def remove_member(db_session: Session, *, user_id: int, deal_id: int, member_user_id: int, client: ClientInfo) -> bool:
    """Remove a member; clears their ``last_deal_id`` when they can no longer see the deal, and
    takes the deal out of their live sessions' context (through the session index).

    Returns whether the removed user's selection was cleared.
    """
    deal = require_managed_deal(db_session, deal_id, user_id)
    member = db_session.scalar(
        select(DealMember).where(DealMember.deal_id == deal_id, DealMember.user_id == member_user_id)
    )
    if member is None:
        raise NotFound("That user is not a member of this deal.")
    db_session.delete(member)
    db_session.flush()
    still_visible = exists().where(Deal.id == deal_id, visible_deals_clause(member_user_id))
    lost_access = not db_session.scalar(select(still_visible))
    reset = reset_contexts(db_session, [member_user_id]) if lost_access else {}
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.member_remove",
        client=client,
        details={"member_user_id": member_user_id},
    )
    session_sync.owe_user_sync(db_session, reset)
    db_session.commit()
    if not reset:
        return False
    session_sync.apply_pending(db_session, user_ids=reset)
    before, _state = reset[member_user_id]
    return before == deal_id
