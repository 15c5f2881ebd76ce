"""Deal context pages: the home page (the current deal) and the switcher's select and clear."""

from __future__ import annotations

from flask import flash, redirect, render_template
from flask_login import login_required
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
    """The header's switcher: the chosen deal becomes current, then home (or ``next``, a same-site path)."""
    form = SwitchDealForm()
    if form.validate_on_submit() and form.deal_id.data is not None:
        select_current_deal(signed_in_user(), form.deal_id.data)
    else:
        flash("Choose a deal to switch to.", "error")
    return redirect(safe_next(form.next.data))


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
