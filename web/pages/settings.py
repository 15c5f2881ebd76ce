"""The signed-in user's own sessions: where they are signed in, and signing them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from flask import abort, flash, redirect, render_template, url_for
from flask_login import login_required
from ua_parser import parse as parse_user_agent
from werkzeug.wrappers import Response

from web.deal_context import end_user_session
from web.extensions import db
from web.http import client_info, signed_in_user
from web.pages.common import bp
from web.pages.forms import ActionForm
from web.services import sessions as session_index
from web.sessions.base import hash_session_id
from web.user_sessions.views import current_session_id


@dataclass(frozen=True)
class SessionRow:
    public_id: str
    device: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool


@lru_cache(maxsize=512)
def describe_device(user_agent: str | None) -> str:
    """ "Firefox 128 on Windows", "Mobile Safari 17 on iOS (iPhone)" — from the user agent, via ua-parser."""
    if not user_agent:
        return "Unknown device"
    parsed = parse_user_agent(user_agent)
    agent = parsed.user_agent
    browser = f"{agent.family} {agent.major}" if agent and agent.major else (agent.family if agent else None)
    system = parsed.os.family if parsed.os else None
    device = parsed.device.family if parsed.device and parsed.device.family not in ("Other", "Spider") else None
    if browser is None:
        return user_agent[:60]
    label = f"{browser} on {system}" if system and system != "Other" else browser
    return f"{label} ({device})" if device and device not in label else label


@bp.get("/settings/sessions")
@login_required
def sessions() -> str:
    sid = current_session_id()
    rows = [
        SessionRow(
            public_id=row.public_id,
            device=describe_device(row.user_agent),
            ip=row.ip,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current=session_index.is_current(row, sid),
        )
        for row in session_index.list_user_sessions(db.session, signed_in_user().id)
    ]
    rows.sort(key=lambda row: not row.current)  # this device first, then most recently seen
    return render_template("sessions.html", rows=rows, action=ActionForm())


@bp.post("/settings/sessions/<string(maxlength=32):public_id>/revoke")
@login_required
def revoke_session(public_id: str) -> Response:
    """Sign out one session; revoking this very one is signing out."""
    revoked = session_index.revoke_session(
        db.session, public_id=public_id, user_id=signed_in_user().id, client=client_info()
    )
    if revoked is None:
        abort(404, "That session is no longer signed in.")
    sid = current_session_id()
    if sid is not None and revoked == hash_session_id(sid):
        end_user_session()
        return redirect(url_for("pages.login"))
    flash("That session was signed out.", "success")
    return redirect(url_for("pages.sessions"))


@bp.post("/settings/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> Response:
    count = session_index.revoke_all_sessions(
        db.session, user_id=signed_in_user().id, keep_session_id=current_session_id(), client=client_info()
    )
    flash(f"Signed out {count} other session{'' if count == 1 else 's'}.", "success")
    return redirect(url_for("pages.sessions"))
