"""Flask-Login wiring: the user comes from the session's plain values, never from a query."""

from __future__ import annotations

from flask import redirect, request, session, url_for
from flask_login import LoginManager
from werkzeug.wrappers import Response

from web.errors import APIError, wants_json
from web.identity.session_user import SessionUser, user_from_session


def load_session_user(user_id: str) -> SessionUser | None:
    return user_from_session(user_id, session)


def unauthorized() -> Response:
    if wants_json():
        raise APIError(401, "unauthenticated", "Sign in first.")
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))


def configure_login(manager: LoginManager) -> None:
    manager.user_loader(load_session_user)
    manager.unauthorized_handler(unauthorized)
    # The session id is server-side, HttpOnly and replaced at sign-in; an
    # ip-and-agent fingerprint would only sign out users whose address changes.
    manager.session_protection = None
