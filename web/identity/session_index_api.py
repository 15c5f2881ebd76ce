"""The signed-in user's own sessions: list them, revoke one, revoke all the others."""

from __future__ import annotations

from typing import Any

from flask import Response

from web.errors import APIError
from web.extensions import db
from web.identity import session_index, session_sync
from web.identity.login import signed_in_blueprint
from web.identity.schemas import RevokedOut, SessionListOut, session_json
from web.identity.session_sync import Revocation
from web.identity.session_user import signed_in_user
from web.identity.sign_in import revoke_own_session
from web.platform.api_spec import api_operation
from web.platform.http import client_info, current_session_id

bp = signed_in_blueprint("sessions_api", __name__, url_prefix="/api/sessions")


@bp.get("")
@api_operation("The user's own sessions", responses={200: SessionListOut})
def list_sessions() -> dict[str, Any]:
    rows = session_index.list_user_sessions(db.session, signed_in_user().id)
    sid = current_session_id()
    return {"sessions": [session_json(row, current=session_index.is_current(row, sid)) for row in rows]}


@bp.delete("/<string(maxlength=32):public_id>")
@api_operation("Sign out one of one's sessions (this one included)", responses={204: None})
def revoke_session(public_id: str) -> Response:
    if revoke_own_session(public_id) is Revocation.NOT_FOUND:
        raise APIError(404, "not_found", "Session not found.")
    return Response(status=204)


@bp.post("/revoke-others")
@api_operation("Sign out every other session of this user", responses={200: RevokedOut})
def revoke_other_sessions() -> dict[str, int]:
    revoked = session_sync.revoke_all_sessions(
        db.session, user_id=signed_in_user().id, keep_session_id=current_session_id(), client=client_info()
    )
    return {"revoked": revoked}
