"""Password guessing throttled with Flask-Limiter: per account and per client address.

One counter per account and one per address, whichever door the guess comes through:
the JSON sign-in, the HTML sign-in form (both per account and per address) and
``POST /api/auth/password`` (per account: a wrong current password is a guess at the
same password). The limits are Flask-Limiter *shared* limits, whose counters are keyed
by scope and key only, not by endpoint. Only failures count (``deduct_when``), so
people who type their password right are never slowed down; once an account or an
address has used up its failures, every attempt is answered 429 ``rate_limited`` with
``Retry-After`` until the window passes, right password or not. Counters live in Redis
when the sessions do (shared by every instance), in process memory otherwise (one
process: ``make run`` starts one worker; docs/SECURITY.md).

**A counter store that fails is a 503, never a pass** (``RATELIMIT_SWALLOW_ERRORS`` is off).
The counters live in the sessions' Redis, so whatever stops them (down, ``OOM``,
``READONLY``, ``BUSY``) stops the session store too: a right password would be a 503
(the new session cannot be stored) while a wrong one, let through uncounted, would be a
400 — an oracle with no limit. So every answer is a 503: a check that fails before the
view is answered by ``web.errors`` (``handle_redis_error``); a failed count after a refused
attempt turns the refusal into a 503 (``_counting_failures_are_outages``). A successful
sign-in owes no count and keeps its answer (without the ``X-RateLimit-*`` headers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from web.extensions import limiter
from web.identity.session_user import signed_in_user
from web.platform.session_store.base import MergingSessionInterface, replace_with_unavailable, report_store_failure

# Endpoints that check a password against an account named in the request (the JSON API and the HTML form).
SIGNIN_ENDPOINTS = ("auth_api.login", "pages.login")
# The endpoint that checks the signed-in user's current password.
PASSWORD_CHANGE_ENDPOINT = "accounts_api.change_password"
# Flask-Limiter scopes: one bucket each, shared by every endpoint that carries the limit.
ACCOUNT_SCOPE = "password-guesses-per-account"
IP_SCOPE = "password-guesses-per-ip"


def _namespace() -> str:
    # Flask-Limiter keeps the first app's key prefix for good; the session prefix is per deployment.
    return str(current_app.config["SESSION_KEY_PREFIX"])


def _account(email: object) -> str:
    return f"{_namespace()}signin:account:{str(email or '').strip().lower()[:254]}"


def account_key() -> str:
    """The email the attempt is for, from the JSON body or the form, normalised like sign-in does."""
    payload = request.get_json(silent=True) if request.is_json else None
    return _account(payload.get("email") if isinstance(payload, dict) else request.form.get("email"))


def signed_in_account_key() -> str:
    """The signed-in user's account: the same counter as sign-ins for that email."""
    return _account(signed_in_user().email)


def ip_key() -> str:
    return f"{_namespace()}signin:ip:{get_remote_address()}"


def sign_in_failed(_response: Response) -> bool:
    return not current_user.is_authenticated


def wrong_current_password(response: Response) -> bool:
    """The password change was refused for its current password (not for a weak new one)."""
    body = response.get_json(silent=True) if response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == "invalid_credentials"


def per_account_limit() -> str:
    return str(current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"])


def per_ip_limit() -> str:
    return str(current_app.config["SIGNIN_LIMIT_PER_IP"])


# Created once: Flask-Limiter registers limits per view function name, so every app shares them.
ACCOUNT_LIMIT = limiter.shared_limit(
    per_account_limit, scope=ACCOUNT_SCOPE, key_func=account_key, methods=["POST"], deduct_when=sign_in_failed
)
IP_LIMIT = limiter.shared_limit(
    per_ip_limit, scope=IP_SCOPE, key_func=ip_key, methods=["POST"], deduct_when=sign_in_failed
)
PASSWORD_CHANGE_LIMIT = limiter.shared_limit(
    per_account_limit,
    scope=ACCOUNT_SCOPE,
    key_func=signed_in_account_key,
    methods=["POST"],
    deduct_when=wrong_current_password,
)


def init_signin_throttle(app: Flask) -> None:
    """Bind the limiter and throttle the endpoints that check passwords (call after the blueprints
    are registered).

    The limits and the counters' storage are settings: ``web.config`` builds them.
    """
    limiter.init_app(app)
    _check_sign_in_only(app)
    _counting_failures_are_outages(app)
    for endpoint in SIGNIN_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = IP_LIMIT(ACCOUNT_LIMIT(view))
    view = app.view_functions.get(PASSWORD_CHANGE_ENDPOINT)
    if view is not None:
        # The blueprint signs the user in before the view runs: the key always has an account.
        app.view_functions[PASSWORD_CHANGE_ENDPOINT] = PASSWORD_CHANGE_LIMIT(view)


def _check_sign_in_only(app: Flask) -> None:
    """Drop Flask-Limiter's check of every request: only the password-checking views carry limits,
    and the decorators that carry them check them when the view runs. The check found nothing to
    limit elsewhere and cost more than the rest of a warm request's hooks (docs/PERFORMANCE.md)."""
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [hook for hook in hooks if getattr(hook, "__self__", None) is not limiter]


def _counting_failures_are_outages(app: Flask) -> None:
    """Flask-Limiter counts a refused attempt (and reads the counters for its headers) in an
    ``after_request`` hook; an error there would be a 500 with a traceback. A store outage
    instead turns a refusal into a 503 (the attempt was not counted, and must not say whether
    the password was right) and leaves a success as it is."""
    hooks = app.after_request_funcs.get(None, [])
    hooks[:] = [_guarded(hook) if _is_limiters(hook) else hook for hook in hooks]


def _is_limiters(hook: object) -> bool:
    # Flask-Limiter 4 registers ``partial(Limiter.__inject_headers, limiter)``.
    return isinstance(hook, functools.partial) and hook.args[:1] == (limiter,)


def _guarded(hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
    def count_or_refuse(response: Response) -> Response:
        try:
            return hook(response)
        except Exception as exc:
            interface = current_app.session_interface
            if not (isinstance(interface, MergingSessionInterface) and interface.is_store_outage(exc)):
                raise
            report_store_failure("throttle", exc)
            if response.status_code >= 400:
                replace_with_unavailable(response)
            return response

    return count_or_refuse
