"""Read models for the browser pages: what a page shows about deals, in a few queries.

Every query filters with the permission clauses, so a page never shows what the
JSON API would refuse. The statements are built once with bound parameters
(``functools.cache``): building the permission clauses costs more CPU than running
them, and a page should cost at most three statements with its header
(``tests/deals/test_page_statements.py`` pins the counts).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Select,
    Subquery,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from web.audit.models import AuditEvent
from web.audit.read_models import ACTIVITY_PAGE_SIZE, DealActivity, activity_of, deal_activity_events
from web.deals.models import Deal, DealMember
from web.deals.notes import NoteView, newest_notes_with_authors, note_total_of
from web.deals.permissions import changeable_deals_clause, managed_deals_clause, visible_deals_clause
from web.domain_errors import NotFound
from web.identity.models import Organization, Role, User


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
    # The organization's ISO 4217 code, for the deal's value.
    currency: str
    # People who could be added as members: only asked for, and only filled, when the viewer manages the deal.
    candidates: list[tuple[int, str]] = field(default_factory=list)
    # The first page of the deal's activity feed (web/templates/_activity.html).
    activity: DealActivity | None = None


def _latest_activity_and_notes() -> Subquery:
    """The deal's latest activity (web.audit) and latest notes as one subquery, a ``kind`` telling them apart:
    the deal page shows both from its one overview statement, and one row each keeps it from multiplying."""
    activity = deal_activity_events().limit(bindparam("activity_limit")).subquery("latest_activity")
    notes = newest_notes_with_authors().limit(bindparam("note_limit")).subquery("latest_notes")
    # The activity first: a UNION's column types (the JSON details, the UTC times) are its first branch's.
    return union_all(
        select(
            literal_column("'activity'").label("kind"),
            activity.c.id,
            null().label("body"),
            activity.c.created_at,
            activity.c.user_id.label("author_id"),
            activity.c.user_email.label("author_email"),
            activity.c.action,
            activity.c.details,
            activity.c.subject_email,
        ),
        select(
            literal_column("'note'"),
            notes.c.id,
            notes.c.body,
            notes.c.created_at,
            notes.c.author_id,
            notes.c.author_email,
            null(),
            null(),
            null(),
        ),
    ).subquery("latest")


@functools.cache
def _overview_statement() -> Select[Any]:
    """The deal, its owner's email, its currency, its note total, what the viewer may do, its latest notes and
    latest activity: one row per note or event (at least one row), none when the deal is not visible."""
    owner = aliased(User, name="owner")
    latest = _latest_activity_and_notes()
    note_total = note_total_of(Deal.id)
    return (
        select(
            Deal,
            owner.email.label("owner_email"),
            Organization.currency,
            note_total.label("note_total"),
            changeable_deals_clause(bindparam("user_id")).label("can_change"),
            managed_deals_clause(bindparam("user_id")).label("can_manage"),
            latest.c.id.label("note_id"),
            latest.c.body.label("note_body"),
            latest.c.created_at.label("note_created_at"),
            latest.c.author_id.label("note_author_id"),
            latest.c.author_email.label("note_author_email"),
            latest.c.kind,
            latest.c.action,
            latest.c.details,
            latest.c.subject_email,
        )
        .outerjoin(owner, owner.id == Deal.owner_id)
        .join(Organization, Organization.id == Deal.organization_id)
        .outerjoin(latest, true())
        .where(Deal.id == bindparam("deal_id"), visible_deals_clause(bindparam("user_id")))
        .order_by(latest.c.created_at.desc(), latest.c.id.desc())
    )


@functools.cache
def _people_statement(with_candidates: bool) -> Select[tuple[int, str, object]]:
    """The deal's members in the order they were added; with candidates, then the organization's other active
    people (neither members nor the owner) by email."""
    membership = and_(DealMember.user_id == User.id, DealMember.deal_id == bindparam("deal_id"))
    people = select(User.id, User.email, DealMember.role)
    if not with_candidates:
        return people.join(DealMember, membership).order_by(DealMember.id)
    candidate = and_(
        User.organization_id == bindparam("organization_id"),
        User.is_active.is_(True),
        User.id != bindparam("owner_id"),
    )
    # Members first: PostgreSQL sorts NULLs last and SQLite first, so the IS NULL key decides, not the id.
    return (
        people.outerjoin(DealMember, membership)
        .where(or_(DealMember.id.is_not(None), candidate))
        .order_by(DealMember.id.is_(None), DealMember.id, func.lower(User.email))
    )


def deal_overview(
    db_session: Session, *, user_id: int, deal_id: int, note_limit: int = 20, with_candidates: bool = False
) -> DealOverview:
    """The deal's page: details, owner, members, latest notes (and, for a manager with ``with_candidates``,
    who could be added) in two statements; 404 when not visible."""
    parameters = {"user_id": user_id, "deal_id": deal_id, "note_limit": note_limit}
    rows = db_session.execute(_overview_statement(), {**parameters, "activity_limit": ACTIVITY_PAGE_SIZE + 1}).all()
    if not rows:
        raise NotFound("Deal not found.")
    first = rows[0]
    deal: Deal = first.Deal
    notes = [
        NoteView(row.note_id, deal.id, row.note_body, row.note_created_at, row.note_author_id, row.note_author_email)
        for row in rows
        if row.kind == "note"
    ]
    activity_rows = [
        SimpleNamespace(
            id=row.note_id,
            created_at=row.note_created_at,
            action=row.action,
            user_email=row.note_author_email,
            subject_email=row.subject_email,
            details=row.details,
        )
        for row in rows
        if row.kind == "activity"
    ]
    can_manage = bool(first.can_manage)
    candidates_wanted = with_candidates and can_manage
    people = db_session.execute(
        _people_statement(candidates_wanted),
        {"deal_id": deal_id, "organization_id": deal.organization_id, "owner_id": deal.owner_id},
    ).all()
    return DealOverview(
        deal=deal,
        owner_email=first.owner_email or "",
        members=[MemberView(row.id, row.email, row.role.value) for row in people if row.role is not None],
        notes=notes,
        note_total=first.note_total,
        can_change=bool(first.can_change),
        can_manage=can_manage,
        currency=first.currency,
        candidates=[(row.id, row.email) for row in people if row.role is None],
        activity=activity_of(deal.id, deal.name, activity_rows, ACTIVITY_PAGE_SIZE),
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


def deal_name(db_session: Session, deal_id: int) -> str:
    """The deal's name, for a confirmation that names it (the caller has just written to the deal)."""
    return db_session.scalar(select(Deal.name).where(Deal.id == deal_id)) or f"deal {deal_id}"


def deal_and_person_names(db_session: Session, deal_id: int, user_id: int) -> tuple[str, str]:
    """The deal's name and a person's email in one statement, for a confirmation about a member."""
    email = select(User.email).where(User.id == user_id).scalar_subquery()
    row = db_session.execute(select(Deal.name, email).where(Deal.id == deal_id)).first()
    if row is None:
        return f"deal {deal_id}", "that person"
    return row[0], row[1] or "that person"


# What takes a deal away from someone (and what gives it back), newest first; how many recent events
# are looked through for one about them.
LOSING_ACTIONS = ("deal.delete", "deal.member_remove", "deal.member_role", "deal.member_add")
LOSING_EVENTS_LOOKED_AT = 20


def why_deal_is_unavailable(db_session: Session, *, user_id: int, deal_id: int) -> str | None:
    """Who took the deal away and when, from the audit trail ("Northwind was deleted by alice@acme.test
    at …"), told only to someone it concerns: for a deletion, its owner, a member or an admin of its
    organization; for a removal or a change to viewer, the person removed. None otherwise (a plain sentence
    is shown then), so a guessed deal id reveals nothing. One statement, on an error path only.
    """
    viewer, actor = aliased(User, name="viewer"), aliased(User, name="actor")
    is_member = exists().where(DealMember.deal_id == Deal.id, DealMember.user_id == user_id)
    rows = db_session.execute(
        select(Deal.name, Deal.owner_id, viewer.role, is_member, AuditEvent.action, AuditEvent.details)
        .add_columns(AuditEvent.created_at, actor.email)
        .join(viewer, and_(viewer.id == user_id, viewer.organization_id == Deal.organization_id))
        .join(AuditEvent, AuditEvent.deal_id == Deal.id)
        .outerjoin(actor, actor.id == AuditEvent.user_id)
        .where(Deal.id == deal_id, AuditEvent.action.in_(LOSING_ACTIONS))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(LOSING_EVENTS_LOOKED_AT)
    ).all()
    for name, owner_id, role, member, action, details, at, email in rows:
        who, when = email or "a former user", at.strftime("%Y-%m-%d %H:%M UTC")
        if action == "deal.delete" and (member or owner_id == user_id or role == Role.ADMIN):
            return f"{name} was deleted by {who} at {when}."
        if not (isinstance(details, dict) and details.get("member_user_id") == user_id):
            continue
        if action == "deal.member_remove":
            return f"{who} removed you from {name} at {when}."
        if action == "deal.member_role" and details.get("role") == "viewer":
            return f"{who} made you a viewer of {name} at {when}: you can no longer change it."
        return None  # the newest change about them gave access: what took it away is not recorded here
    return None
