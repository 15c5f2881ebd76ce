"""The persistent deal context: selecting, clearing and restoring a user's working deal.

``users.last_deal_id`` is the durable record; every change to it increases
``users.deal_context_version`` in the same UPDATE, and the session keeps
``{"deal_id", "version"}`` so concurrent requests converge on the newest choice.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Select, String, and_, bindparam, case, insert, literal, select, update
from sqlalchemy.orm import Session

from web.models import AuditEvent, Deal, User, utcnow
from web.models.base import UTCDateTime
from web.permissions import require_visible_deal, visible_deals_clause
from web.services.audit import ClientInfo, record_event

# A restored context carries version 0: lower than any explicit selection, so a
# selection made while a restore is in flight always wins the session merge.
RESTORED_VERSION = 0


class RestoreResult(enum.StrEnum):
    RESTORED = "restored"
    DENIED = "denied"
    EMPTY = "empty"


@dataclass(frozen=True)
class DealContext:
    deal_id: int | None
    version: int

    def to_session(self) -> dict[str, Any]:
        return {"deal_id": self.deal_id, "version": self.version}

    @classmethod
    def from_session(cls, value: Any) -> DealContext | None:
        if not isinstance(value, dict):
            return None
        deal_id = value.get("deal_id")
        return cls(deal_id=int(deal_id) if deal_id is not None else None, version=int(value.get("version", 0)))


def _write_last_deal(db_session: Session, user_id: int, deal_id: int | None) -> int:
    """Set ``last_deal_id`` and return the new context version, in one UPDATE ... RETURNING."""
    version = db_session.execute(
        update(User)
        .where(User.id == user_id)
        .values(last_deal_id=deal_id, deal_context_version=User.deal_context_version + 1, updated_at=utcnow())
        .returning(User.deal_context_version)
    ).scalar_one()
    return int(version)


def select_deal(
    db_session: Session, *, user_id: int, organization_id: int, deal_id: int, client: ClientInfo
) -> tuple[Deal, DealContext]:
    """Make a visible deal the user's working deal (idempotent); 404 when not visible."""
    deal = require_visible_deal(db_session, deal_id, user_id)
    version = _write_last_deal(db_session, user_id, deal.id)
    record_event(
        db_session,
        organization_id=organization_id,
        user_id=user_id,
        action="deal.select",
        deal_id=deal.id,
        client=client,
    )
    # Detached with the values read in this transaction: the commit would otherwise expire
    # it, and serialising it would check out a connection again just to re-read the row.
    db_session.expunge(deal)
    db_session.commit()
    return deal, DealContext(deal.id, version)


def clear_deal(db_session: Session, *, user_id: int, organization_id: int, client: ClientInfo) -> DealContext:
    version = _write_last_deal(db_session, user_id, None)
    record_event(db_session, organization_id=organization_id, user_id=user_id, action="deal.clear", client=client)
    db_session.commit()
    return DealContext(None, version)


def restore_context(db_session: Session, *, user_id: int, client: ClientInfo) -> tuple[RestoreResult, DealContext]:
    """Bring back the user's last deal for a session that has no context yet.

    One statement reads ``last_deal_id``, checks that the deal is still visible and
    records the audit event (``deal.restore`` or ``deal.restore_denied``). Only a
    denied restore needs a second one, to clear the stale reference.
    """
    now = utcnow()
    visible_deal = select(Deal.id).where(Deal.id == User.last_deal_id, visible_deals_clause(User.id)).scalar_subquery()
    source = select(
        User.organization_id,
        User.id,
        case((visible_deal.is_(None), literal("deal.restore_denied")), else_=literal("deal.restore")),
        User.last_deal_id,
        literal(client.ip, String(64)),
        literal(client.user_agent and client.user_agent[:512], String(512)),
        literal({}, JSON()),
        literal(now, UTCDateTime()),
    ).where(User.id == user_id, User.last_deal_id.is_not(None))
    columns = ["organization_id", "user_id", "action", "deal_id", "ip", "user_agent", "details", "created_at"]
    row = db_session.execute(
        insert(AuditEvent).from_select(columns, source).returning(AuditEvent.action, AuditEvent.deal_id)
    ).first()
    if row is None:
        db_session.commit()
        return RestoreResult.EMPTY, DealContext(None, RESTORED_VERSION)
    if row.action == "deal.restore":
        db_session.commit()
        return RestoreResult.RESTORED, DealContext(int(row.deal_id), RESTORED_VERSION)
    # Conditional on the stale value, so a selection made meanwhile is kept.
    db_session.execute(
        update(User)
        .where(and_(User.id == user_id, User.last_deal_id == row.deal_id))
        .values(last_deal_id=None, deal_context_version=User.deal_context_version + 1)
    )
    db_session.commit()
    return RestoreResult.DENIED, DealContext(None, RESTORED_VERSION)


@functools.cache
def _current_deal_statement() -> Select[tuple[Deal]]:
    # Built once with bound parameters: constructing the visibility clause (an aliased
    # user, two EXISTS) cost more CPU than the rest of a warm request (docs/PERFORMANCE.md).
    return select(Deal).where(Deal.id == bindparam("deal_id"), visible_deals_clause(bindparam("user_id")))


def current_deal(db_session: Session, *, user_id: int, context: DealContext | None) -> Deal | None:
    """The context's deal if the user may still see it."""
    if context is None or context.deal_id is None:
        return None
    return db_session.scalar(_current_deal_statement(), {"deal_id": context.deal_id, "user_id": user_id})
