"""CSRF protection: Flask-WTF's, with the HTTPS Referer check kept for forms only (docs/SECURITY.md, CSRF).

Over HTTPS, Flask-WTF's ``CSRFProtect.protect`` also demands a same-origin ``Referer``
(``WTF_CSRF_SSL_STRICT``), so an API client that did what the OpenAPI description says
(session cookie and ``X-CSRFToken``) was refused: "The referrer header is missing."

The check matters for HTML forms: a page on another site can make a browser post one,
and a network attacker who planted a session cookie (over plain HTTP) knows its form
token. It adds nothing to a request that carries the token in a header: a browser sends
a custom header to another origin only after a CORS preflight the server grants, and
DealDesk grants none (no ``Access-Control-Allow-*`` header anywhere); a client outside a
browser sets any ``Referer`` it likes. Such a request is checked on its header token alone.
"""

from __future__ import annotations

import logging

from flask import current_app, g, request
from flask_wtf.csrf import CSRFProtect, validate_csrf
from wtforms import ValidationError

logger = logging.getLogger(__name__)


def header_token() -> str | None:
    """The CSRF token sent in one of ``WTF_CSRF_HEADERS`` (``X-CSRFToken``), or None."""
    for name in current_app.config["WTF_CSRF_HEADERS"]:
        token = request.headers.get(name)
        if token:
            return token
    return None


class HeaderTokenCSRFProtect(CSRFProtect):
    """``CSRFProtect`` that checks a header token without the HTTPS Referer rule; forms keep both checks."""

    def protect(self, apply_exemptions: bool = False) -> None:
        token = header_token()
        if token is None:
            # A form post (or no token at all): Flask-WTF's checks, the same-origin Referer included.
            super().protect(apply_exemptions)
            return
        # Flask-WTF's protect() up to its Referer check, on the header's token.
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        try:
            validate_csrf(token)
        except ValidationError as error:
            logger.info(error.args[0])
            self._error_response(error.args[0])
        g.csrf_valid = True  # what Flask-WTF sets, so a FlaskForm does not check its own field again
