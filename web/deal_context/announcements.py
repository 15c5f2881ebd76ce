"""Telling an open page, and the next one, that its deal context changed elsewhere.

Three parts, all cheap on an ordinary request:

* every signed-in page carries what it was rendered for (``rendered_context``: the
  deal id, the context version and the deal's name, on ``<body>`` as data attributes);
* ``GET /api/context`` (``context_state``) answers what the session holds now, for the
  page's script (``web/static/announce.js``) to compare. It reads only the session: no SQL
  statement unless the session owes a notice. A revoked session answers 401;
* a notice owed: when a change made elsewhere (a deal deleted, a member removed, a role
  changed) takes a session's deal away, the rewrite of that session
  (``web.deal_context.state.reset_to_state``) leaves a ``ContextNotice`` beside the new
  context. ``find_announcement`` turns it into who did what and when, from the audit trail,
  in one statement; the next page shows it once (``take_context_notice``) and drops it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import session
from pydantic import Field
from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from web.audit.models import AuditEvent
from web.deal_context.header import page_header
from web.deal_context.request import session_context
from web.deal_context.state import ContextNotice
from web.deals.models import Deal
from web.extensions import db
from web.identity.login import signed_in_blueprint
from web.identity.models import User
from web.identity.session_user import SessionUser, signed_in_user
from web.platform.api_spec import api_operation
from web.platform.pages import bp as pages_bp
from web.platform.schemas import ResponseModel

log = logging.getLogger(__name__)

bp = signed_in_blueprint("context_api", __name__, url_prefix="/api/context")

# The audit actions that take a deal out of someone's context (web.deals.service, web.identity.accounts).
EXPLAINING_ACTIONS = ("deal.delete", "deal.member_remove", "user.role_change")
# How many of the newest candidate events the one statement reads; the first that concerns the user wins.
CANDIDATES = 10
# How far back before the rewrite of the session the explaining event is looked for. The rewrite follows the
# change's commit at once, or once the session store is back (web.identity.session_sync); the bound keeps the
# statement a short range scan of the organization's newest events however long the trail is.
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Announcement:
    """What happened to a session's deal, as people say it: who did what to which deal, and when."""

    action: str | None  # one of EXPLAINING_ACTIONS, or None when the audit trail does not say
    actor_email: str | None
    by_you: bool
    lost_deal_name: str | None
    at: datetime | None
    new_deal_id: int | None
    new_deal_name: str | None

    @property
    def time(self) -> str:
        return f"{self.at:%H:%M} UTC" if self.at is not None else ""

    @property
    def what(self) -> str:
        """The first sentence, without the time: "bob@acme.test deleted Project Atlas"."""
        actor = "You" if self.by_you else (self.actor_email or "Someone")
        deal = self.lost_deal_name or "the deal you were working on"
        if self.action == "deal.delete":
            return f"{actor} deleted {deal}"
        if self.action == "deal.member_remove":
            return f"{actor} removed you from {deal}"
        if self.action == "user.role_change":
            return f"{actor} changed your role"
        return f"{deal[0].upper()}{deal[1:]} is no longer available to you"

    @property
    def consequence(self) -> str:
        """What follows the time, when the action alone does not name the deal (a role change)."""
        if self.action == "user.role_change":
            return f", so {self.lost_deal_name or 'the deal you were working on'} is no longer visible to you"
        return ""

    @property
    def now(self) -> str:
        """The second sentence: where that leaves the person."""
        if self.new_deal_name is not None:
            return f"Your current deal is now {self.new_deal_name}."
        return "No deal is selected now."

    @property
    def text(self) -> str:
        at = f" at {self.time}" if self.at is not None else ""
        return f"{self.what}{at}{self.consequence}. {self.now}"


@functools.cache
def _announcement_statement() -> Select[Any]:
    """The lost deal's name, the new deal's name and the newest events that may explain the loss, in one statement.

    Built once, with bound parameters."""
    lost, new, actor = aliased(Deal), aliased(Deal), aliased(User)
    explains = or_(
        and_(AuditEvent.deal_id == lost.id, AuditEvent.action.in_(EXPLAINING_ACTIONS[:2])),
        AuditEvent.action == EXPLAINING_ACTIONS[2],
    )
    return (
        select(
            lost.name.label("lost_name"),
            new.name.label("new_name"),
            AuditEvent.action,
            AuditEvent.user_id,
            AuditEvent.details,
            AuditEvent.created_at,
            actor.email.label("actor_email"),
        )
        .select_from(lost)
        .outerjoin(new, new.id == bindparam("new_deal_id"))
        .outerjoin(
            AuditEvent,
            and_(
                AuditEvent.organization_id == lost.organization_id,
                AuditEvent.created_at >= bindparam("since", type_=AuditEvent.created_at.type),
                explains,
            ),
        )
        .outerjoin(actor, actor.id == AuditEvent.user_id)
        .where(lost.id == bindparam("lost_deal_id"))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(CANDIDATES)
    )


def _concerns(row: Any, user_id: int) -> bool:
    """Whether an event explains why ``user_id`` lost the deal (a deletion does; the others must name them)."""
    details = row.details if isinstance(row.details, dict) else {}
    if row.action == "deal.delete":
        return True
    if row.action == "deal.member_remove":
        return details.get("member_user_id") == user_id
    return row.action == "user.role_change" and details.get("target_user_id") == user_id


def find_announcement(db_session: Session, *, user_id: int, notice: ContextNotice) -> Announcement:
    """Who took the deal away, and when, from the audit trail: one statement."""
    since = datetime.fromtimestamp(notice.noticed_at, UTC) - LOOKBACK
    params = {"lost_deal_id": notice.lost_deal_id, "new_deal_id": notice.new_deal_id, "since": since}
    rows = db_session.execute(_announcement_statement(), params).all()
    db_session.commit()  # end the read transaction
    first = rows[0] if rows else None
    event = next((row for row in rows if row.action is not None and _concerns(row, user_id)), None)
    return Announcement(
        action=event.action if event is not None else None,
        actor_email=event.actor_email if event is not None else None,
        by_you=event is not None and event.user_id == user_id,
        lost_deal_name=first.lost_name if first is not None else None,
        at=event.created_at if event is not None else None,
        new_deal_id=notice.new_deal_id,
        new_deal_name=first.new_name if first is not None else None,
    )


def announcement_json(announcement: Announcement) -> dict[str, Any]:
    return {
        "action": announcement.action,
        "actor": announcement.actor_email,
        "deal_name": announcement.lost_deal_name,
        "at": announcement.at.isoformat() if announcement.at is not None else None,
        "new_deal_id": announcement.new_deal_id,
        "new_deal_name": announcement.new_deal_name,
        "text": announcement.text,
    }


# --- The poll -------------------------------------------------------------------------------------------


class AnnouncementOut(ResponseModel):
    action: str | None = Field(description="deal.delete, deal.member_remove, user.role_change, or null: unknown")
    actor: str | None = Field(description="The email of who did it (null when unknown or gone)")
    deal_name: str | None = Field(description="The deal that was taken away")
    at: str | None = Field(description="When, ISO 8601 in UTC")
    new_deal_id: int | None
    new_deal_name: str | None
    text: str = Field(description="The whole notice, as the next page shows it")


class ContextStateOut(ResponseModel):
    user_id: int = Field(description="Who this browser is signed in as now (another tab may have signed in again)")
    user_email: str
    deal_id: int | None = Field(description="The session's current deal now")
    version: int = Field(description="Its context version (users.deal_context_version when it was set)")
    deal_name: str | None = Field(description="The current deal's name when the session has it cached, else null")
    notice: AnnouncementOut | None = Field(description="Set when a change made elsewhere took the session's deal away")


@bp.get("")
@api_operation(
    "What the session's deal context is now, for an open page to compare with what it shows",
    responses={200: ContextStateOut},
    description="Reads only the session: no SQL statement unless a change made elsewhere took the deal away "
    "(then one, to say who and when from the audit trail). 401 once the session was ended.",
)
def context_state() -> dict[str, Any]:
    user = signed_in_user()
    context = session_context()
    notice = ContextNotice.in_session(session)
    announcement = find_announcement(db.session, user_id=user.id, notice=notice) if notice is not None else None
    cached_name = context.deal.get("name") if context is not None and context.deal is not None else None
    if cached_name is None and announcement is not None and context is not None:
        cached_name = announcement.new_deal_name if announcement.new_deal_id == context.deal_id else None
    return {
        "user_id": user.id,
        "user_email": user.email,
        "deal_id": context.deal_id if context is not None else None,
        "version": context.version if context is not None else 0,
        "deal_name": cached_name,
        "notice": announcement_json(announcement) if announcement is not None else None,
    }


# --- The pages ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedContext:
    """What a page was rendered for, as ``<body>`` data attributes."""

    deal_id: int | None
    version: int
    deal_name: str


def rendered_context() -> RenderedContext:
    """The session's deal context as this page shows it; no statement beyond the header's own."""
    context = session_context()
    deal_id = context.deal_id if context is not None else None
    current = page_header().current
    name = current.name if current is not None and current.id == deal_id else ""
    return RenderedContext(deal_id=deal_id, version=context.version if context is not None else 0, deal_name=name)


def take_context_notice() -> Announcement | None:
    """The notice this session owes, said once: read from the audit trail (one statement) and dropped.

    None, with no statement, when nothing is owed. A database failure keeps it for the next page.
    """
    notice = ContextNotice.in_session(session)
    if notice is None:
        return None
    user: SessionUser = signed_in_user()
    try:
        announcement = find_announcement(db.session, user_id=user.id, notice=notice)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("context notice kept for later: %s: %s", type(exc).__name__, exc)
        return None
    session.pop(ContextNotice.SESSION_KEY, None)
    return announcement


@pages_bp.app_context_processor
def inject_announcements() -> dict[str, Any]:
    """The layout asks, for signed-in pages only: what the page was rendered for, and the notice owed."""
    return {"rendered_context": rendered_context, "take_context_notice": take_context_notice}
