"""Small request-side helpers shared by the blueprints."""

from __future__ import annotations

from flask import Flask, request, session
from werkzeug.routing import IntegerConverter

from web.platform.client import ClientInfo

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """Positive ids that fit the database's integer column; anything else is simply not found."""

    # Only 1..2147483647 match. Rejecting a bigger number in to_python instead would make
    # Werkzeug answer 405, not 404, when the same path has rules for other methods.
    regex = (
        r"0*(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
        r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
    )

    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(map, min=1, max=MAX_ID)


def register_converters(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter


def client_info() -> ClientInfo:
    return ClientInfo(ip=request.remote_addr, user_agent=request.user_agent.string or None)


def current_session_id() -> str | None:
    """The server-side session's id when the browser sent one (None for a session this request made)."""
    return None if getattr(session, "is_new", True) else session.sid  # type: ignore[attr-defined]
