"""Organization admins: the organization's people, their role and whether they may sign in."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from web.extensions import db
from web.http import client_info, signed_in_user
from web.models import Role
from web.pages.common import bp
from web.pages.forms import ActionForm
from web.services import accounts

ACCOUNT_ROLE_CHOICES = [SelectChoice(role.value, role.value.capitalize()) for role in Role]


class AccountRoleForm(FlaskForm):
    role = SelectField("Role", choices=ACCOUNT_ROLE_CHOICES, coerce=Role)


class AccountActiveForm(FlaskForm):
    active = SelectField("Active", choices=[SelectChoice("1", "Active"), SelectChoice("0", "Inactive")])


@bp.get("/admin/users")
@login_required
def admin_users() -> str:
    """403 for anyone but an active admin: ``list_organization_users`` asks the database, not the session."""
    user = signed_in_user()
    people = accounts.list_organization_users(db.session, actor_id=user.id)
    return render_template(
        "admin_users.html", people=people, me=user.id, role_choices=ACCOUNT_ROLE_CHOICES, action=ActionForm()
    )


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
