"""Request and response models of the audit trail API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Row

from web.platform.http import MAX_ID, IdConverter
from web.platform.schemas import StrictModel

PositiveId = Annotated[int, Field(ge=1, le=MAX_ID)]
# What web.audit.service.Cursor.decode takes, as precisely as a pattern can say it: the event id
# in 1..MAX_ID (the id converter's pattern); the microseconds still must fall before year 10000.
CURSOR_PATTERN = rf"^[0-9]{{1,18}}-(?:{IdConverter.regex})$"


class AuditQueryIn(StrictModel):
    """Filters and the page position; ``before`` is the ``next_before`` of the previous page."""

    user_id: PositiveId | None = None
    deal_id: PositiveId | None = None
    action: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    before: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class AuditEventOut(BaseModel):
    id: int
    created_at: datetime
    action: str
    user_id: int | None
    user_email: str | None
    deal_id: int | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_before: str | None = Field(description="Pass as `before` to get the next (older) page; null on the last.")


def audit_event_json(event: Row[Any]) -> dict[str, Any]:
    """One row of ``web.audit.service.list_events`` as AuditEventOut's JSON."""
    return {
        "id": event.id,
        "created_at": event.created_at.isoformat(),
        "action": event.action,
        "user_id": event.user_id,
        "user_email": event.user_email,
        "deal_id": event.deal_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details or {},
    }
