"""The session of a visitor who is not signed in: a signed cookie, never the store.

A new client's ``GET /api/csrf`` or ``GET /login`` used to create a server-side session
(Flask-WTF keeps the raw CSRF token in the session) kept for the whole session lifetime:
anyone could fill the store. Now what such a session holds (the raw CSRF token, flashed
messages, Flask-Login's ``_fresh``) travels in the ``dealdesk_anon`` cookie instead:

* **Signed, not encrypted.** itsdangerous with the app's ``SECRET_KEY`` (and
  ``SECRET_KEY_FALLBACKS``, so a key rotation keeps it valid), through Flask's own
  signed-cookie serializer with a salt of its own and HMAC-SHA256. Its content is no
  secret from its own browser: the CSRF token it holds is the one the page shows. A
  forged or altered cookie fails the signature and is ignored (a new empty session).
* **A signed double submit.** Flask-WTF compares the token of a form or of the
  ``X-CSRFToken`` header with the raw token in the session, here the signed cookie: a
  page on another site can make the browser send the cookie but can neither read it nor
  the token, and cannot sign one of its own.
* **HttpOnly, SameSite and Secure as the session cookie**, with the same lifetime, checked
  on the way in (``max_age``) as well as set on the way out.
* **At most ``MAX_COOKIE_BYTES``** (3 KB: with its name and attributes it stays under the
  4 KB browsers keep). A session that would not fit keeps only its CSRF token; the rest
  (flashed messages) is dropped, with a warning.

``MergingSessionInterface`` (``web.platform.session_store.base``) decides when: a session
without a signed-in user is never written to the store and lives here; the sign-in writes
the new session to the store and deletes this cookie.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSessionInterface, SessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger(__name__)

COOKIE_NAME = "dealdesk_anon"
MAX_COOKIE_BYTES = 3072
SALT = "dealdesk-anonymous-session"


class _Signing(SecureCookieSessionInterface):
    """Flask's signed-cookie serializer (keys, tagged JSON, timestamp) with a salt of its own."""

    salt = SALT
    digest_method = staticmethod(hashlib.sha256)


class AnonymousCookie:
    """Reads and writes the anonymous session cookie with the session cookie's attributes."""

    def __init__(self, interface: SessionInterface) -> None:
        self.interface = interface

    @staticmethod
    def _serializer(app: Flask) -> URLSafeTimedSerializer:
        # Built per use (cheap: itsdangerous derives its signer per call anyway), so it follows the app's keys.
        serializer = _Signing().get_signing_serializer(app)
        if serializer is None:
            raise RuntimeError("the anonymous session cookie needs SECRET_KEY")
        return serializer

    def read(self, app: Flask, request: Request) -> dict[str, Any] | None:
        """The data of a valid cookie, or None (no cookie, a bad signature, expired, oversized)."""
        raw = request.cookies.get(COOKIE_NAME)
        if not raw or len(raw) > MAX_COOKIE_BYTES:
            return None
        try:
            data = self._serializer(app).loads(raw, max_age=app.permanent_session_lifetime.total_seconds())
        except BadSignature:  # SignatureExpired included
            return None
        return data if isinstance(data, dict) else None

    def write(self, app: Flask, response: Response, data: dict[str, Any], *, essential: set[str]) -> None:
        """Set the cookie to ``data``; trimmed to its ``essential`` keys when it would not fit, else not set."""
        value = self._serializer(app).dumps(data)
        if len(value) > MAX_COOKIE_BYTES:
            trimmed = {key: data[key] for key in essential if key in data}
            log.warning(
                "anonymous session of %d bytes is over %d: kept only %s", len(value), MAX_COOKIE_BYTES, sorted(trimmed)
            )
            value = self._serializer(app).dumps(trimmed)
            if not trimmed or len(value) > MAX_COOKIE_BYTES:
                self.delete(app, response)
                return
        interface = self.interface
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=int(app.permanent_session_lifetime.total_seconds()),
            httponly=True,
            domain=interface.get_cookie_domain(app),
            path=interface.get_cookie_path(app),
            secure=interface.get_cookie_secure(app),
            samesite=interface.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")

    def delete(self, app: Flask, response: Response) -> None:
        interface = self.interface
        response.delete_cookie(
            COOKIE_NAME,
            domain=interface.get_cookie_domain(app),
            path=interface.get_cookie_path(app),
            secure=interface.get_cookie_secure(app),
            httponly=True,
            samesite=interface.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")
