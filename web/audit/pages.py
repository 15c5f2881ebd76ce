"""A deal's activity feed, page by page: ``/deals/<id>/activity?before=…`` (the deal page shows the first)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import login_required

from web.audit.read_models import deal_activity
from web.audit.service import Cursor
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.pages import bp


@bp.get("/deals/<id:deal_id>/activity")
@login_required
def deal_activity_page(deal_id: int) -> str:
    """Older activity without JavaScript: the deal page's "Show older" link lands here; 404 for whoever may not
    see the deal, 422 for a cursor that is not one."""
    before = request.args.get("before")
    cursor = Cursor.decode(before) if before else None
    activity = deal_activity(db.session, user_id=signed_in_user().id, deal_id=deal_id, before=cursor)
    return render_template("deal_activity.html", activity=activity, older_page=cursor is not None)
