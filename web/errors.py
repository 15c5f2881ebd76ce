"""One error shape, and the one place that says which handler answers what.

``{"error": {"code", "message", ...}}`` under /api, the HTML error page elsewhere.
Services raise domain errors (``web.domain_errors``); views may raise ``APIError``
for what only HTTP knows (not signed in, a body that is not JSON). Outages of the
database and of the session store are 503s: whether a failure is an outage, and
how each is logged, is decided where they live (``web.platform.outages``,
``web.platform.session_store``); the answers are given here.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from web.domain_errors import (
    AccountDeactivated,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    InvalidCredentials,
    NotFound,
)
from web.extensions import db, limiter
from web.identity.forms import LoginForm
from web.platform.drafts import Draft, draft_from_json, draft_of_request
from web.platform.models import utcnow
from web.platform.outages import database_incident, discard_failed_transaction, is_outage
from web.platform.session_store.base import (
    MergingSessionInterface,
    SessionEnded,
    SessionStoreError,
    report_store_failure,
    session_store_unavailable_response,
)

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

# The app's sentence for an HTTP error raised without one of its own (an unknown address, a wrong method).
HTTP_MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to sign in first.",
    403: "Your account may not do that.",
    404: "There is nothing at this address.",
    405: "This address does not take that kind of request.",
    409: "That conflicts with a change made meanwhile.",
    413: "What you sent is larger than DealDesk accepts.",
    415: "DealDesk cannot read what was sent in that format.",
    429: "Too many requests.",
    500: "Something went wrong on our side.",
    503: "DealDesk is temporarily unavailable.",
}
# The only limits are on password guesses (web.identity.throttle).
TOO_MANY_ATTEMPTS = "Too many wrong passwords were tried for this account or from this address."

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
    # A wrong confirmation password is a bad request, not a 401: the user is still signed in.
    InvalidCredentials: 400,
    AccountDeactivated: 403,
}


class APIError(Exception):
    """An error the client should see, with its HTTP status and a stable code (views; services raise domain errors)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def error_response(
    status: int, code: str, message: str, *, retry_after: int | None = None, **extra: Any
) -> Response | tuple[str, int]:
    """The error as JSON under /api, as the HTML error page elsewhere (``retry_after``: seconds, said on the page;
    the ``Retry-After`` header is the caller's)."""
    if wants_json():
        response = jsonify(error={"code": code, "message": message, **extra})
        response.status_code = status
        return response
    retry = retry_advice(retry_after) if retry_after is not None else None
    return render_template("error.html", status=status, message=message, retry_advice=retry), status


def retry_advice(seconds: int) -> str:
    """ "Try again in 12 minutes (at 14:02 UTC)." — when, plainly, from a ``Retry-After`` in seconds."""
    if seconds < 60:
        wait = "a few seconds" if seconds <= 10 else f"{seconds} seconds"
        return f"Try again in {wait}."
    minutes = -(-seconds // 60)  # rounded up: trying at the time said must work
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    at = (utcnow() + timedelta(seconds=seconds + 59)).strftime("%H:%M")
    return f"Try again in {wait} (at {at} UTC)."


def handle_api_error(error: APIError) -> Response | tuple[str, int]:
    return error_response(error.status, error.code, error.message, **error.extra)


def domain_status(error: DomainError) -> int:
    """The status of the most specific mapped class the error is an instance of."""
    return next(DOMAIN_STATUS[cls] for cls in type(error).__mro__ if cls in DOMAIN_STATUS)


def handle_domain_error(error: DomainError) -> Response | tuple[str, int]:
    status = domain_status(error)
    draft = draft_of_request() if status in (403, 404) else None
    if draft is not None:
        # The deal became invisible (deleted, access removed) or read-only while the form was open:
        # say so, and keep the text on screen instead of "the address may be mistyped".
        db.session.rollback()
        return form_not_sent_response(draft, status, deal_unavailable_message(draft, status))
    return error_response(status, error.code, error.message, **error.extra)


def deal_unavailable_message(draft: Draft, status: int) -> str:
    """Who took the deal away and when (from the audit trail, when the view can tell), else a plain sentence."""
    explain = draft.policy.explain_unavailable
    try:
        reason = explain(**draft.view_args) if explain is not None else None
    except DBAPIError:
        db.session.rollback()
        reason = None
    name = draft.subject or "This deal"
    if reason is None and status == 403:
        reason = f"You can no longer change {name}: your access to it is now view only."
    elif reason is None:
        reason = f"{name} is no longer available to you: it was deleted, or your access to it was removed."
    return f"{reason} Your {draft.label} was not saved."


def form_not_sent_response(draft: Draft, status: int, message: str, *, back: bool = False) -> tuple[str, int]:
    """The page that keeps a form's text on screen when it could not be saved (``back``: a link to its form)."""
    return render_template("form_not_sent.html", draft=draft, status=status, message=message, back=back), status


def sign_in_again_response(draft: Draft | None) -> tuple[str, int]:
    """The sign-in form, 401, carrying the text of the form whose post found no session (never in the URL).

    After signing in, the person lands on the page the text was meant for with the text back in its
    form, to send it themselves (``web.identity.pages.login``): nothing is written for them.
    """
    next_url = draft.page_url if draft is not None else None
    page = render_template(
        "login.html",
        form=LoginForm(formdata=None),
        draft=draft,
        next_url=next_url,
        session_ended=True,
    )
    return page, 401


# Flask-WTF's reasons that mean "this form's session is not the browser's session any more" (signed out,
# revoked, deactivated, expired, or signed in anew since the page was served) — not a forged or
# cross-site post (no token at all, a bad signature, a foreign Referer), which stays a plain 400.
SESSION_CHANGED_REASONS = frozenset({"The CSRF session token is missing.", "The CSRF tokens do not match."})


def handle_csrf_error(error: CSRFError) -> Response | tuple[str, int]:
    """A form posted with a token of a session that is gone: the sign-in form, keeping the form's text."""
    description = error.description or "The CSRF token is missing or invalid."
    if wants_json() or description not in SESSION_CHANGED_REASONS:
        return error_response(400, "csrf_failed", description)
    draft = draft_of_request()
    if draft is None and request.endpoint == "pages.login":
        draft = draft_from_json(request.form.get("kept_draft"))  # the sign-in form itself, kept text and all
    if not current_user.is_authenticated:
        return sign_in_again_response(draft)
    if draft is not None:
        # Signed in, but the form came from an earlier session of this browser: nothing is written and
        # nothing is stored for a request that failed its CSRF check; the text stays on screen (and in
        # drafts.js's copy, which the form's page restores).
        message = f"This form was opened before your last sign-in, so your {draft.label} was not saved."
        return form_not_sent_response(draft, 400, message, back=True)
    return error_response(400, "csrf_failed", description)


def own_words(error: HTTPException) -> str:
    """The error's message in the app's words: what a view or service said when it raised, else the app's
    sentence for the status — never Werkzeug's stock description ("The requested URL was not found on the
    server. If you entered the URL manually..."), nor Flask-Limiter's bare limit ("10 per 15 minute")."""
    status = error.code or 500
    if isinstance(error, RateLimitExceeded):
        return TOO_MANY_ATTEMPTS
    stock = type(error).description
    if error.description and error.description != stock:
        return error.description
    return HTTP_MESSAGES.get(status, "That request could not be completed.")


def retry_after_seconds(error: HTTPException) -> int | None:
    """When a throttled request may be tried again: the limit's window as Flask-Limiter counts it (the same
    reading its ``Retry-After`` header uses, made once), or a ``Retry-After`` the error carries."""
    if isinstance(error, RateLimitExceeded):
        current = limiter.current_limit
        try:
            reset_at = current.reset_at if current is not None else None
        except Exception:  # the counters' store failed: its after_request hook answers 503 (web.identity.throttle)
            reset_at = None
        if reset_at is not None:
            return max(1, int(reset_at - time.time()))
    header = dict(error.get_headers()).get("Retry-After")
    return int(header) if header and header.isdigit() else None


def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    status = error.code or 500
    response = error_response(
        status, HTTP_CODES.get(status, "http_error"), own_words(error), retry_after=retry_after_seconds(error)
    )
    if isinstance(response, Response):
        for header, value in error.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
    return response


def handle_unexpected_error(error: Exception) -> Response | tuple[str, int]:
    db.session.rollback()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def handle_database_error(error: Exception) -> Response:
    """An unreachable database is a 503 with ``Retry-After``; any other database error is a bug (500)."""
    if not is_outage(error):
        return make_response(handle_unexpected_error(error))
    database_incident.failed(error)
    discard_failed_transaction(db.session)
    response = make_response(
        error_response(503, "database_unavailable", "The database is unavailable; try again shortly.", retry_after=5)
    )
    response.headers["Retry-After"] = "5"
    return response


def handle_session_store_failure(error: Exception) -> Response:
    """A store call made inside a view failed (sign-in, sign-out, revocations): answered like a failed load or save."""
    report_store_failure("view", error)
    db.session.rollback()
    return session_store_unavailable_response()


def handle_redis_error(error: redis.exceptions.RedisError) -> Response:
    """A Redis error from the store's client used directly in a view (the sign-in throttle's counters).

    The store's own operations raise its ``store_errors()``, handled above. An outage of any
    kind (``OOM``, ``READONLY``, ``BUSY``... — ``is_store_outage``) is answered like theirs; any
    other error (``WRONGTYPE``, a syntax error) is a bug: a 500 with its traceback.
    """
    interface = current_app.session_interface
    if isinstance(interface, MergingSessionInterface) and interface.is_store_outage(error):
        return handle_session_store_failure(error)
    return make_response(handle_unexpected_error(error))


def handle_session_ended(error: SessionEnded) -> Response | tuple[str, int]:
    """Signed out elsewhere while this request ran: nothing it did is kept, the cookie goes (the session says so)."""
    db.session.rollback()
    return error_response(401, "unauthenticated", "Your session has ended; sign in again.")


def register_error_handlers(app: Flask) -> None:
    """Every error handler of the app. Flask picks the handler of the most specific class in the
    exception's MRO, so registration order matters only when two entries name the same class."""
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(CSRFError, handle_csrf_error)  # a BadRequest: more specific than HTTPException
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeoutError, handle_database_error)
    # The SQL store's error class is OperationalError, a subclass of DBAPIError: more specific, so on
    # the SQL backend an OperationalError in a view answers session_store_unavailable, not database_unavailable.
    interface = app.session_interface
    store_errors = interface.store_errors() if isinstance(interface, MergingSessionInterface) else ()
    for error in (*store_errors, SessionStoreError):
        app.register_error_handler(error, handle_session_store_failure)
    # Redis's errors outside the store's operations: a handler per class cannot tell OOM from WRONGTYPE.
    app.register_error_handler(redis.exceptions.RedisError, handle_redis_error)
    app.register_error_handler(SessionEnded, handle_session_ended)
    app.register_error_handler(Exception, handle_unexpected_error)
