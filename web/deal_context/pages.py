"""Deal context pages: the home page (the current deal) and the switcher's select and clear."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from web.deal_context.forms import SwitchDealForm
from web.deal_context.header import page_header
from web.deal_context.request import clear_current_deal, select_current_deal
from web.deals.forms import NoteForm
from web.deals.read_models import deal_overview
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.drafts import take_confirmation
from web.platform.forms import ActionForm
from web.platform.pages import bp, safe_next


@bp.get("/")
@login_required
def index() -> str:
    header = page_header()
    overview = None
    confirmation = None
    if header.current is not None:
        overview = deal_overview(db.session, user_id=signed_in_user().id, deal_id=header.current.id, note_limit=5)
        confirmation = take_confirmation(f"notes-{header.current.id}")  # "Note added to …", beside the form
    return render_template("index.html", overview=overview, new_note=NoteForm(), note_confirmation=confirmation)


@bp.post("/deals/select")
@login_required
def switch_deal() -> Response:
    """The header's switcher: the chosen deal becomes current, and the person stays where they were
    (``next``, a same-site path; from a deal's page, the chosen deal's page)."""
    form = SwitchDealForm()
    if not (form.validate_on_submit() and form.deal_id.data is not None):
        flash("Choose a deal to switch to.", "error")
        return redirect(safe_next(form.next.data))
    deal = select_current_deal(signed_in_user(), form.deal_id.data)
    flash(f"Switched to “{deal.name}”.", "success")
    return redirect(destination_after_switch(form.next.data, deal.id))


def destination_after_switch(target: str | None, deal_id: int) -> str:
    """Where a switch lands: the page ``target`` names (made safe by ``safe_next``), except that a page of
    one deal (a route with a ``deal_id``, e.g. ``/deals/7`` or a failed form posted to ``/deals/7/edit``)
    becomes the chosen deal's page, and a page that cannot be fetched again (POST only) becomes home."""
    path = safe_next(target)
    route = _route_of(urlsplit(path).path)
    if route is None:
        return url_for("pages.index")
    args, fetchable = route
    if "deal_id" in args:
        return url_for("pages.deal_detail", deal_id=deal_id)
    return path if fetchable else url_for("pages.index")


def _route_of(path: str) -> tuple[dict[str, object], bool] | None:
    """The arguments of the route ``path`` matches and whether GET serves it; None for no route."""
    adapter = current_app.url_map.bind(request.host, script_name=request.script_root or None)
    for method, fetchable in (("GET", True), ("POST", False)):
        try:
            _endpoint, args = adapter.match(path, method=method)
        except RequestRedirect:
            return None
        except HTTPException:
            continue
        return args, fetchable
    return None


@bp.post("/deals/<id:deal_id>/select")
@login_required
def select_deal(deal_id: int) -> Response:
    form = ActionForm()
    if form.validate_on_submit():
        select_current_deal(signed_in_user(), deal_id)
    return redirect(safe_next(form.next.data))


@bp.post("/deals/current/clear")
@login_required
def clear_deal() -> Response:
    form = ActionForm()
    if form.validate_on_submit():
        clear_current_deal(signed_in_user())
    return redirect(safe_next(form.next.data))
