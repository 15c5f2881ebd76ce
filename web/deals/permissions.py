"""Who may see and change which deal — as SQL, so every path asks the database the same question.

Three layers: SQL clauses (the rule itself), boolean checks and loaders built on
them, and ``require_*`` functions that raise a domain error (``NotFound``, ``Forbidden``). The list, select,
restore and cleanup paths all use the clauses; nothing loads rows to filter in Python.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass

from web.deals.models import DEAL_FIELD_COLUMNS, Deal, DealMember, MemberRole
from web.domain_errors import Forbidden, NotFound
from web.identity.models import Role, User

ViewerId = int | ColumnElement[int]


def _visibility(user_id: ViewerId, *, change: bool) -> ColumnElement[bool]:
    viewer = aliased(User, name="viewer")
    membership = [DealMember.deal_id == Deal.id, DealMember.user_id == viewer.id]
    if change:
        membership.append(DealMember.role == MemberRole.EDITOR)
    # Seeing takes any membership: every role (viewer, editor) may see, so no role test, and no
    # expanding IN list for SQLAlchemy to render on every execution.
    # Explicit correlation: nested EXISTS only auto-correlate one level up, and an
    # uncorrelated "deals" here would mean "a member of any deal".
    is_member = exists().where(*membership).correlate_except(DealMember)
    return _live_deal_of_organization_member(viewer, user_id, also_allowed=is_member)


def _live_deal_of_organization_member(
    viewer: AliasedClass[User], user_id: ViewerId, also_allowed: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """The deal is live and ``viewer`` (user ``user_id``) is active in its organization and an admin, its owner
    or ``also_allowed``."""
    grants = [viewer.role == Role.ADMIN, Deal.owner_id == viewer.id]
    if also_allowed is not None:
        grants.append(also_allowed)
    return and_(
        Deal.deleted_at.is_(None),
        exists()
        .where(
            viewer.id == user_id,
            viewer.is_active.is_(True),
            viewer.organization_id == Deal.organization_id,
            or_(*grants),
        )
        .correlate_except(viewer),
    )


def visible_deals_clause(user_id: ViewerId) -> ColumnElement[bool]:
    """Deals the user may see: user active, deal live, same organization, and admin, owner or member."""
    return _visibility(user_id, change=False)


def changeable_deals_clause(user_id: ViewerId) -> ColumnElement[bool]:
    """Deals the user may change: as visible, but admin, owner or editor member."""
    return _visibility(user_id, change=True)


def managed_deals_clause(user_id: ViewerId) -> ColumnElement[bool]:
    """Deals whose membership and existence the user controls: admin or owner."""
    return _live_deal_of_organization_member(aliased(User, name="manager"), user_id)


@functools.cache
def _visible_deal_statement() -> Select[tuple[Deal]]:
    # Built once with bound parameters: building the rule (an aliased user, two EXISTS)
    # cost more CPU than running the query (docs/PERFORMANCE.md).
    return select(Deal).where(Deal.id == bindparam("deal_id"), visible_deals_clause(bindparam("user_id")))


def get_visible_deal(db_session: Session, deal_id: int, user_id: int) -> Deal | None:
    return db_session.scalar(_visible_deal_statement(), {"deal_id": deal_id, "user_id": user_id})


@functools.cache
def _visible_deal_fields_statement() -> Select[Any]:
    viewer = bindparam("user_id")
    return select(*DEAL_FIELD_COLUMNS).where(Deal.id == bindparam("deal_id"), visible_deals_clause(viewer))


def get_visible_deal_fields(connection: Connection, deal_id: int, user_id: int) -> Row[Any] | None:
    """``get_visible_deal`` as a row of the fields the API shows, on the caller's connection: no ORM object,
    for the select, which answers with those fields and nothing else."""
    return connection.execute(_visible_deal_fields_statement(), {"deal_id": deal_id, "user_id": user_id}).first()


def can_change_deal(db_session: Session, deal_id: int, user_id: int) -> bool:
    return bool(db_session.scalar(select(exists().where(Deal.id == deal_id, changeable_deals_clause(user_id)))))


def can_manage_deal(db_session: Session, deal_id: int, user_id: int) -> bool:
    return bool(db_session.scalar(select(exists().where(Deal.id == deal_id, managed_deals_clause(user_id)))))


def require_visible_deal(db_session: Session, deal_id: int, user_id: int) -> Deal:
    """The deal, or 404 — the same answer whether it is missing, deleted or someone else's."""
    deal = get_visible_deal(db_session, deal_id, user_id)
    if deal is None:
        raise NotFound("Deal not found.")
    return deal


def require_changeable_deal(db_session: Session, deal_id: int, user_id: int) -> Deal:
    deal = require_visible_deal(db_session, deal_id, user_id)
    if not can_change_deal(db_session, deal_id, user_id):
        raise Forbidden("You may view this deal but not change it.")
    return deal


def require_managed_deal(db_session: Session, deal_id: int, user_id: int) -> Deal:
    deal = require_visible_deal(db_session, deal_id, user_id)
    if not can_manage_deal(db_session, deal_id, user_id):
        raise Forbidden("Only the deal's owner or an organization admin may do this.")
    return deal
