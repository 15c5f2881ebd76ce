"""The audit trail for organization admins: ``GET /api/audit`` and the page ``/admin/audit``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from web.audit import service as audit_log
from web.audit.schemas import AuditPageOut, AuditQueryIn, audit_event_json
from web.errors import APIError
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.api_spec import api_operation
from web.platform.schemas import parse_query

bp = Blueprint("audit", __name__)


def admin_page_of_events() -> tuple[AuditQueryIn, audit_log.AuditPage]:
    """Parse the filters, check the caller is an admin, and read one page of their organization's trail."""
    query = parse_query(AuditQueryIn)
    user = signed_in_user()
    if not user.is_admin:
        raise APIError(403, "forbidden", "Only organization admins can read the audit trail.")
    where = audit_log.AuditFilter(
        organization_id=user.organization_id,
        user_id=query.user_id,
        deal_id=query.deal_id,
        action=query.action,
        before=audit_log.Cursor.decode(query.before) if query.before else None,
    )
    return query, audit_log.list_events(db.session, where=where, limit=query.limit)


@bp.get("/api/audit")
@api_operation(
    "The organization's audit trail, newest first (admins)",
    query=AuditQueryIn,
    responses={200: AuditPageOut},
    errors=(403,),
)
@login_required
def list_audit_events() -> dict[str, Any]:
    _query, page = admin_page_of_events()
    return {
        "events": [audit_event_json(event) for event in page.events],
        "next_before": page.next_before,
    }


@bp.get("/admin/audit")
@login_required
def audit_page() -> str:
    query, page = admin_page_of_events()
    filters = query.model_dump(exclude={"before"}, exclude_defaults=True)
    older = {**request.args.to_dict(), "before": page.next_before} if page.next_before else None
    return render_template("admin_audit.html", page=page, query=query, filters=filters, older=older)
