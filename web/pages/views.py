"""Browser pages: sign-in, sign-out, the home page and the deal switcher."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from web import metrics
from web.deal_context import end_user_session, restore_into_session, start_user_session, store_context
from web.extensions import db
from web.http import client_info, signed_in_user
from web.pages.common import bp, page_header, safe_next
from web.pages.forms import ActionForm, LoginForm, NoteForm, SwitchDealForm
from web.services import auth
from web.services import context as context_service
from web.services.deal_pages import deal_overview

__all__ = ["bp", "safe_next"]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        user = auth.authenticate(
            db.session, email=form.email.data or "", password=form.password.data or "", client=client_info()
        )
        if user is not None:
            start_user_session(user)
            restore_into_session(user.id)
            return redirect(safe_next(request.args.get("next")))
        flash("The email or password is incorrect.", "error")
        return render_template("login.html", form=form), 401
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    if ActionForm().validate_on_submit():
        end_user_session()
    return redirect(url_for("pages.login"))


@bp.get("/")
@login_required
def index() -> str:
    header = page_header()
    overview = None
    if header.current is not None:
        overview = deal_overview(db.session, user_id=signed_in_user().id, deal_id=header.current.id, note_limit=5)
    return render_template("index.html", overview=overview, new_note=NoteForm())


def _select(deal_id: int) -> None:
    user = signed_in_user()
    with metrics.counted_deal_select():
        deal, context = context_service.select_deal(
            db.session, user_id=user.id, organization_id=user.organization_id, deal_id=deal_id, client=client_info()
        )
        store_context(context, deal)


@bp.post("/deals/select")
@login_required
def switch_deal() -> Response:
    """The header's switcher: the chosen deal becomes current, then home (or ``next``, a same-site path)."""
    form = SwitchDealForm()
    if form.validate_on_submit() and form.deal_id.data is not None:
        _select(form.deal_id.data)
    else:
        flash("Choose a deal to switch to.", "error")
    return redirect(safe_next(form.next.data))


@bp.post("/deals/<id:deal_id>/select")
@login_required
def select_deal(deal_id: int) -> Response:
    form = ActionForm()
    if form.validate_on_submit():
        _select(deal_id)
    return redirect(safe_next(form.next.data))


@bp.post("/deals/current/clear")
@login_required
def clear_deal() -> Response:
    form = ActionForm()
    if form.validate_on_submit():
        user = signed_in_user()
        store_context(
            context_service.clear_deal(
                db.session, user_id=user.id, organization_id=user.organization_id, client=client_info()
            )
        )
    return redirect(safe_next(form.next.data))
