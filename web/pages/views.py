"""Browser pages: sign-in and the deal switcher."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from web.deal_context import end_user_session, restore_into_session, session_context, start_user_session, store_context
from web.extensions import db
from web.http import client_info, signed_in_user
from web.pages.forms import ActionForm, LoginForm
from web.services import auth
from web.services import context as context_service
from web.services.deals import list_visible_deals

bp = Blueprint("pages", __name__)


def safe_next(target: str | None) -> str:
    """Only same-site paths; anything else (another host, a scheme, //evil) goes home."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
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
    elif current_user.is_authenticated and request.method == "GET":
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
    user = signed_in_user()
    deals, total = list_visible_deals(db.session, user_id=user.id, limit=200, offset=0)
    current = context_service.current_deal(db.session, user_id=user.id, context=session_context())
    return render_template("index.html", deals=deals, total=total, current=current, form=ActionForm())


@bp.post("/deals/<id:deal_id>/select")
@login_required
def select_deal(deal_id: int) -> Response:
    if ActionForm().validate_on_submit():
        user = signed_in_user()
        _deal, context = context_service.select_deal(
            db.session, user_id=user.id, organization_id=user.organization_id, deal_id=deal_id, client=client_info()
        )
        store_context(context)
    return redirect(url_for("pages.index"))


@bp.post("/deals/current/clear")
@login_required
def clear_deal() -> Response:
    if ActionForm().validate_on_submit():
        user = signed_in_user()
        store_context(
            context_service.clear_deal(
                db.session, user_id=user.id, organization_id=user.organization_id, client=client_info()
            )
        )
    return redirect(url_for("pages.index"))
