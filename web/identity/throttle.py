"""Sign-in throttling with Flask-Limiter: per account and per client address.

Only failed sign-ins count (``deduct_when``), so people who type their password
right are never slowed down; once an account or an address has used up its
failures, every attempt is answered 429 ``rate_limited`` with ``Retry-After``
until the window passes, right password or not. Counters live in Redis when the
sessions do (shared by every instance), in process memory otherwise.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from web.extensions import limiter

# Endpoints that check a password (the JSON API and the HTML form).
SIGNIN_ENDPOINTS = ("auth_api.login", "pages.login")


def _namespace() -> str:
    # Flask-Limiter keeps the first app's key prefix for good; the session prefix is per deployment.
    return str(current_app.config["SESSION_KEY_PREFIX"])


def account_key() -> str:
    """The email the attempt is for, from the JSON body or the form, normalised like sign-in does."""
    payload = request.get_json(silent=True) if request.is_json else None
    email = payload.get("email") if isinstance(payload, dict) else request.form.get("email")
    return f"{_namespace()}signin:account:{str(email or '').strip().lower()[:254]}"


def ip_key() -> str:
    return f"{_namespace()}signin:ip:{get_remote_address()}"


def sign_in_failed(_response: Response) -> bool:
    return not current_user.is_authenticated


def per_account_limit() -> str:
    return str(current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"])


def per_ip_limit() -> str:
    return str(current_app.config["SIGNIN_LIMIT_PER_IP"])


# Created once: Flask-Limiter registers limits per view function name, so every app shares them.
ACCOUNT_LIMIT = limiter.limit(
    per_account_limit, key_func=account_key, methods=["POST"], deduct_when=sign_in_failed, scope="account"
)
IP_LIMIT = limiter.limit(per_ip_limit, key_func=ip_key, methods=["POST"], deduct_when=sign_in_failed, scope="ip")


def init_signin_throttle(app: Flask) -> None:
    """Bind the limiter and throttle the sign-in endpoints (call after the blueprints are registered).

    The limits and the counters' storage are settings: ``web.config`` builds them.
    """
    limiter.init_app(app)
    _check_sign_in_only(app)
    for endpoint in SIGNIN_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = IP_LIMIT(ACCOUNT_LIMIT(view))


def _check_sign_in_only(app: Flask) -> None:
    """Drop Flask-Limiter's check of every request: only the sign-in views carry limits, and the
    decorators that carry them check them when the view runs. The check found nothing to limit
    elsewhere and cost more than the rest of a warm request's hooks (docs/PERFORMANCE.md)."""
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [hook for hook in hooks if getattr(hook, "__self__", None) is not limiter]
