"""Flask-Login wiring: the user comes from the session's plain values, never from a query."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for
from flask_login import LoginManager, login_required
from werkzeug.wrappers import Response

from web.errors import APIError, sign_in_again_response, wants_json
from web.identity.session_user import SessionUser, user_from_session
from web.platform.drafts import draft_of_request


def load_session_user(user_id: str) -> SessionUser | None:
    return user_from_session(user_id, session)


def unauthorized() -> Response | tuple[str, int]:
    if wants_json():
        raise APIError(401, "unauthenticated", "Sign in first.")
    if request.method == "POST":
        # A form whose session has ended: the sign-in form here, with its text kept (a redirect would drop it).
        return sign_in_again_response(draft_of_request())
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))


def configure_login(manager: LoginManager) -> None:
    manager.user_loader(load_session_user)
    manager.unauthorized_handler(unauthorized)
    # The session id is server-side, HttpOnly and replaced at sign-in; an
    # ip-and-agent fingerprint would only sign out users whose address changes.
    manager.session_protection = None


def signed_in_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A JSON API blueprint whose every route needs a signed-in user (401 otherwise, before the view runs)."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(login_required(_signed_in))
    return blueprint


def _signed_in() -> None:
    """Nothing to do: ``login_required`` has already answered 401 when no one is signed in."""
