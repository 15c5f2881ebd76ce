"""The audit trail for organization admins: ``GET /api/audit`` and the page ``/admin/audit``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from web.audit import service as audit_log
from web.audit.describe import ACTION_CHOICES, DescribableEvent, describe
from web.audit.read_models import admin_audit_page
from web.audit.schemas import AuditPageOut, AuditQueryIn, audit_event_json
from web.errors import APIError
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.api_spec import api_operation
from web.platform.schemas import validate

bp = Blueprint("audit", __name__)


def admin_filter(query: AuditQueryIn) -> audit_log.AuditFilter:
    """Check the caller is an admin; the filters, within their organization."""
    user = signed_in_user()
    if not user.is_admin:
        raise APIError(403, "forbidden", "Only organization admins can read the audit trail.")
    return audit_log.AuditFilter(
        organization_id=user.organization_id,
        user_id=query.user_id,
        deal_id=query.deal_id,
        action=query.action,
        before=audit_log.Cursor.decode(query.before) if query.before else None,
    )


@bp.get("/api/audit")
@api_operation(
    "The organization's audit trail, newest first (admins)",
    query=AuditQueryIn,
    responses={200: AuditPageOut},
    errors=(403,),
)
@login_required
def list_audit_events() -> dict[str, Any]:
    query = validate(AuditQueryIn, request.args.to_dict())
    page = audit_log.list_events(db.session, where=admin_filter(query), limit=query.limit)
    return {
        "events": [audit_event_json(event) for event in page.events],
        "next_before": page.next_before,
    }


@bp.get("/admin/audit")
@login_required
def audit_page() -> str:
    """The trail in plain language, filtered with the same parameters as the API; a picker left at
    "Anyone" / "Any deal" / "Any action" submits an empty value, which means no filter."""
    query = validate(AuditQueryIn, {key: value for key, value in request.args.items() if value != ""})
    shown = admin_audit_page(db.session, where=admin_filter(query), limit=query.limit)
    filters = query.model_dump(exclude={"before"}, exclude_defaults=True)
    older = {**filters, "before": shown.page.next_before} if shown.page.next_before else None
    return render_template(
        "admin_audit.html",
        shown=shown,
        page=shown.page,
        query=query,
        filters=filters,
        older=older,
        action_choices=ACTION_CHOICES,
    )


@bp.app_template_filter("describe_event")
def describe_event(event: DescribableEvent) -> str:
    """``{{ event | describe_event }}``: the event as a plain sentence (web.audit.describe)."""
    return describe(event)


@bp.app_template_filter("readable_time")
def readable_time(value: datetime) -> str:
    """A time as people read it, "1 Dec 2026, 14:02 UTC"; the exact one goes in ``<time datetime>``."""
    return f"{value.day} {value:%b %Y, %H:%M} UTC"
