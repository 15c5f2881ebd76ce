"""Sign-in, sign-out and "who am I" for the JSON API (the flows themselves are ``web.identity.sign_in``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from flask_login import login_required
from flask_wtf.csrf import generate_csrf

from web.deal_context.request import current_deal_json
from web.errors import APIError
from web.identity.schemas import CsrfOut, LoginIn, MeOut, user_json
from web.identity.session_user import signed_in_user
from web.identity.sign_in import end_user_session, sign_in
from web.platform.api_spec import api_operation
from web.platform.schemas import parse_body

bp = Blueprint("auth_api", __name__, url_prefix="/api")


def me_payload() -> dict[str, Any]:
    user = signed_in_user()
    return {"user": user_json(user), "current_deal": current_deal_json(user.id)}


@bp.get("/csrf")
@api_operation("Start a session and get its CSRF token", responses={200: CsrfOut}, auth=False)
def csrf_token() -> dict[str, str]:
    return {"csrf_token": generate_csrf()}


@bp.post("/auth/login")
@api_operation(
    "Sign in (a new session id; the last deal comes back)",
    body=LoginIn,
    responses={200: MeOut},
    auth=False,
    errors=(401, 403, 429),
)
def login() -> dict[str, Any]:
    body = parse_body(LoginIn)
    # A deactivated account with the right password is a 403 account_deactivated (web.errors).
    if sign_in(email=body.email, password=body.password) is None:
        raise APIError(401, "invalid_credentials", "The email or password is incorrect.")
    return me_payload()


@bp.post("/auth/logout")
@api_operation("Sign out and destroy the session", responses={204: None}, auth=False)
def logout() -> Response:
    end_user_session()
    return Response(status=204)


@bp.get("/me")
@api_operation("The signed-in user and their current deal", responses={200: MeOut})
@login_required
def me() -> dict[str, Any]:
    return me_payload()
