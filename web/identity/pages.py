"""Identity pages: sign-in and sign-out, the user's own sessions, and the organization's people (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from web.domain_errors import AccountDeactivated
from web.extensions import db
from web.identity import accounts, organizations, session_index, session_sync
from web.identity.devices import Device, device_of
from web.identity.forms import ACCOUNT_ROLE_CHOICES, AccountActiveForm, AccountRoleForm, CurrencyForm, LoginForm
from web.identity.models import Role
from web.identity.session_sync import Revocation
from web.identity.session_user import signed_in_user
from web.identity.sign_in import end_user_session, revoke_own_session, sign_in
from web.platform.drafts import draft_from_json, keep_for_after_sign_in
from web.platform.forms import ActionForm
from web.platform.http import client_info, current_session_id
from web.platform.models import utcnow
from web.platform.pages import bp, safe_next


@dataclass(frozen=True)
class SessionRow:
    """A signed-in session as /settings/sessions shows it."""

    public_id: str
    device: Device
    ip: str | None
    created_at: datetime
    # This device: now (this very request is its activity). Others: as the index last recorded it, which is
    # at most one touch interval behind (web.identity.session_index.record_activity).
    last_seen_at: datetime
    current: bool

    @property
    def reference(self) -> str:
        """A short code that tells apart two sessions of the same browser on the same machine."""
        return self.public_id[:6]


@bp.get("/settings/sessions")
@login_required
def sessions() -> str:
    sid = current_session_id()
    now = utcnow()
    rows = [
        SessionRow(
            public_id=row.public_id,
            device=device_of(row.user_agent),
            ip=row.ip,
            created_at=row.created_at,
            last_seen_at=now if session_index.is_current(row, sid) else row.last_seen_at,
            current=session_index.is_current(row, sid),
        )
        for row in session_index.list_user_sessions(db.session, signed_in_user().id)
    ]
    rows.sort(key=lambda row: not row.current)  # this device first, then most recently seen
    touch_minutes = max(1, round(float(current_app.config["SESSION_TOUCH_INTERVAL_SECONDS"]) / 60))
    return render_template("sessions.html", rows=rows, action=ActionForm(), touch_minutes=touch_minutes)


@bp.post("/settings/sessions/<string(maxlength=32):public_id>/revoke")
@login_required
def revoke_session(public_id: str) -> Response:
    """Sign out one session; revoking this very one is signing out."""
    outcome = revoke_own_session(public_id)
    if outcome is Revocation.NOT_FOUND:
        abort(404, "That session is no longer signed in.")
    if outcome is Revocation.THIS_SESSION:
        return redirect(url_for("pages.login"))
    flash("That session was signed out.", "success")
    return redirect(url_for("pages.sessions"))


@bp.post("/settings/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> Response:
    count = session_sync.revoke_all_sessions(
        db.session, user_id=signed_in_user().id, keep_session_id=current_session_id(), client=client_info()
    )
    flash(f"Signed out {count} other session{'' if count == 1 else 's'}.", "success")
    return redirect(url_for("pages.sessions"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Sign in; a form's text kept across it (``kept_draft``, see ``web.platform.drafts``) goes back to its page."""
    form = LoginForm()
    draft = draft_from_json(request.form.get("kept_draft")) if request.method == "POST" else None
    next_url = request.args.get("next")
    if form.validate_on_submit():
        try:
            signed_in = sign_in(email=form.email.data or "", password=form.password.data or "")
        except AccountDeactivated as refusal:
            flash(refusal.message, "error")
            return render_template("login.html", form=form, draft=draft, next_url=next_url), 403
        if signed_in is not None:
            if draft is not None:
                keep_for_after_sign_in(draft)  # shown in its form, never sent for the person
                return redirect(draft.page_url)
            return redirect(safe_next(next_url))
        flash("The email or password is incorrect.", "error")
        return render_template("login.html", form=form, draft=draft, next_url=next_url), 401
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(next_url))
    return render_template("login.html", form=form, draft=draft, next_url=next_url)


@bp.post("/logout")
def logout() -> Response:
    if ActionForm().validate_on_submit():
        end_user_session()
    return redirect(url_for("pages.login"))


@bp.get("/admin/users")
@login_required
def admin_users() -> str:
    """403 for anyone but an active admin: ``list_organization_users`` asks the database, not the session."""
    user = signed_in_user()
    people = accounts.list_organization_users(db.session, actor_id=user.id)
    # The admin's own row came with the organization (accounts.require_organization_admin).
    organization = next(person.organization for person in people if person.id == user.id)
    currency_form = CurrencyForm(currency=organization.currency)
    return render_template(
        "admin_users.html",
        people=people,
        me=user.id,
        role_choices=ACCOUNT_ROLE_CHOICES,
        action=ActionForm(),
        currency_form=currency_form,
    )


@bp.post("/admin/organization/currency")
@login_required
def change_currency() -> Response:
    form = CurrencyForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed currencies.", "error")
        return redirect(url_for("pages.admin_users", _anchor="settings"))
    organization = organizations.set_currency(
        db.session, actor_id=signed_in_user().id, currency=form.currency.data or "", client=client_info()
    )
    flash(f"Amounts are now shown in {organization.currency}.", "success")
    return redirect(url_for("pages.admin_users", _anchor="settings"))


@bp.post("/admin/users/<id:user_id>/role")
@login_required
def change_user_role(user_id: int) -> Response:
    form = AccountRoleForm()
    if not form.validate_on_submit():
        flash("Choose admin or member.", "error")
        return redirect(url_for("pages.admin_users"))
    person = accounts.update_user(
        db.session, actor_id=signed_in_user().id, user_id=user_id, role=Role(form.role.data), client=client_info()
    )
    flash(f"{person.email} is now {person.role.value}.", "success")
    return redirect(url_for("pages.admin_users"))


@bp.post("/admin/users/<id:user_id>/active")
@login_required
def change_user_active(user_id: int) -> Response:
    """Deactivating signs the person out everywhere at once (the service destroys their sessions)."""
    form = AccountActiveForm()
    if not form.validate_on_submit():
        flash("Choose active or inactive.", "error")
        return redirect(url_for("pages.admin_users"))
    person = accounts.update_user(
        db.session,
        actor_id=signed_in_user().id,
        user_id=user_id,
        is_active=form.active.data == "1",
        client=client_info(),
    )
    state = "can sign in again" if person.is_active else "is deactivated and signed out everywhere"
    flash(f"{person.email} {state}.", "success")
    return redirect(url_for("pages.admin_users"))
