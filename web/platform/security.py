"""Response headers, trusted proxies and secret-key rotation (threat model: docs/SECURITY.md)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from web.errors import APIError

# No inline script or style anywhere: the pages use only files under /static.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS_VALUE = "max-age=31536000; includeSubDomains"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters or unpaired surrogates."
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def security_headers(app: Flask) -> dict[str, str]:
    """The headers every response gets under this app's configuration."""
    headers = dict(SECURITY_HEADERS)
    if app.config["APP_ENV"] == "production":
        headers["Strict-Transport-Security"] = HSTS_VALUE
    return headers


def install_security_headers(app: Flask) -> None:
    """Add the headers in ``after_request``: it also runs for error pages, 404s, 503s and static files."""
    headers = security_headers(app)

    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    app.after_request(add_security_headers)


def install_proxy_fix(app: Flask) -> None:
    """Trust exactly ``TRUSTED_PROXIES`` hops of X-Forwarded-For/-Proto/-Host, and none by default.

    With 0 the headers are ignored, so ``request.remote_addr`` (audit events, the
    session index, sign-in throttling) is the peer address and cannot be spoofed.
    """
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def csrf_signing_keys(config: dict[str, Any]) -> list[str] | None:
    """Keys for Flask-WTF's CSRF serializer: oldest first, the current ``SECRET_KEY`` last.

    Flask-WTF 1.3 signs and checks tokens with one key and ignores
    ``SECRET_KEY_FALLBACKS`` (pallets-eco/flask-wtf issue 675). itsdangerous takes a
    list of keys, signs with the last and accepts any, so the list is handed to it
    as ``WTF_CSRF_SECRET_KEY``. None when there is nothing to rotate from.
    """
    fallbacks = [key for key in config.get("SECRET_KEY_FALLBACKS") or [] if key]
    if not fallbacks:
        return None
    return [*reversed(fallbacks), config["SECRET_KEY"]]


def configure_key_rotation(app: Flask) -> None:
    """Let tokens signed with a previous ``SECRET_KEY`` keep working after a rotation.

    The session cookie holds only a random server-side session id (not signed), so
    signed-in browsers are unaffected by the key; the CSRF tokens they hold are signed.
    An explicit ``WTF_CSRF_SECRET_KEY`` is left alone.
    """
    if isinstance(app.config.get("SECRET_KEY_FALLBACKS"), str):
        # Flask would extend its key list with the string's characters.
        raise TypeError("SECRET_KEY_FALLBACKS must be a list of keys, not a string")
    keys = csrf_signing_keys(app.config)
    if keys and not app.config.get("WTF_CSRF_SECRET_KEY"):
        app.config["WTF_CSRF_SECRET_KEY"] = keys


def unstorable_text(value: Any, path: str = "") -> dict[str, str]:
    """Where a decoded JSON value holds text no database can store: NUL characters (PostgreSQL
    refuses them) or unpaired surrogates (not UTF-8). Maps each field path to the problem."""
    if isinstance(value, str):
        return {path or "body": UNSTORABLE_MESSAGE} if _UNSTORABLE.search(value) else {}
    problems: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            problems.update(
                unstorable_text(key, path or "body") or unstorable_text(item, f"{path}.{key}" if path else str(key))
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.update(unstorable_text(item, f"{path}.{index}" if path else str(index)))
    return problems


def reject_unstorable_input() -> None:
    """``before_request``: refuse NUL characters in any input before it can reach SQL.

    Found by the fuzz run: psycopg2 raises ``ValueError`` for a string with NUL, so a
    sign-in, a deal name or a filter holding one was a 500 on PostgreSQL. A path value
    with one names nothing (404); a query value or a JSON field is a 422 naming the
    field; a form value is a 400.
    """
    if request.view_args and any(
        isinstance(value, str) and _UNSTORABLE.search(value) for value in request.view_args.values()
    ):
        raise NotFound()
    fields = {name: UNSTORABLE_MESSAGE for name, value in request.args.items(multi=True) if _UNSTORABLE.search(value)}
    if request.is_json:
        fields.update(unstorable_text(request.get_json(silent=True)))
    if fields:
        raise APIError(422, "validation_error", "The request has invalid fields.", fields=fields)
    posts_form = request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in FORM_MIMETYPES
    if posts_form and any(_UNSTORABLE.search(value) for _name, value in request.form.items(multi=True)):
        raise APIError(400, "bad_request", UNSTORABLE_MESSAGE)


def register_security(app: Flask) -> None:
    """Headers, proxies, key rotation and input hygiene, as one step of the app factory."""
    install_security_headers(app)
    install_proxy_fix(app)
    configure_key_rotation(app)
    app.before_request(reject_unstorable_input)
