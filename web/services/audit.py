"""Recording audit events inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from web.models import AuditEvent, Deal


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, as the audit trail records it."""

    ip: str | None = None
    user_agent: str | None = None


def record_event(
    db_session: Session,
    *,
    organization_id: int,
    user_id: int | None,
    action: str,
    client: ClientInfo,
    deal_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        organization_id=organization_id,
        user_id=user_id,
        action=action,
        deal_id=deal_id,
        ip=(client.ip or None) and client.ip[:64],
        user_agent=(client.user_agent or None) and client.user_agent[:512],
        details=details or {},
    )
    db_session.add(event)
    return event


def record_deal_event(
    db_session: Session,
    deal: Deal,
    *,
    user_id: int,
    action: str,
    client: ClientInfo,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event about ``deal``, recorded in the deal's organization."""
    return record_event(
        db_session,
        organization_id=deal.organization_id,
        user_id=user_id,
        action=action,
        client=client,
        deal_id=deal.id,
        details=details,
    )
