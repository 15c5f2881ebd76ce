"""Sign-in and sign-out: the one flow the JSON API and the HTML form both run.

``sign_in`` checks the password, starts a fresh server-side session (stored at once,
then recorded in the session index) and restores the user's deal context into it
(``web.deal_context.request``); ``end_user_session`` signs out (logout, and revoking
one's own session). The views only turn the outcome into their response; sign-in
throttling wraps them by endpoint name (``web.identity.throttle``).
"""

from __future__ import annotations

from flask import current_app, g, session
from flask_login import login_user, logout_user

from web.deal_context.request import restore_into_session
from web.domain_errors import AccountDeactivated
from web.extensions import db
from web.identity import auth, session_index, session_sync
from web.identity.models import User
from web.identity.session_sync import Revocation
from web.identity.session_user import session_values, signed_in_user, user_from_session
from web.platform.http import client_info, current_session_id
from web.platform.models import utcnow
from web.platform.outages import discard_failed_transaction


def sign_in(*, email: str, password: str) -> User | None:
    """Sign in with an email and password; None (and nothing else done) when they do not match.

    ``AccountDeactivated`` when they match an account an admin has deactivated (``auth.authenticate``).

    The password check records its own audit event; a match starts a new session
    (``start_user_session``) holding the user's last deal.
    """
    user = auth.authenticate(db.session, email=email, password=password, client=client_info())
    if user is None:
        return None
    start_user_session(user)
    return user


def start_user_session(user: User) -> None:
    """Sign in with a fresh session id (no fixation) and a fresh CSRF token, holding only plain values.

    Nothing from before sign-in is kept, the CSRF token included: a token planted before
    sign-in is refused after it, and the client fetches the new one (``GET /api/csrf``, or the
    next page's forms). The user's last deal is restored into the new session, which is
    then stored and indexed (``web.identity.session_index``), in that order: a revocation
    that finds the index row always finds the session too. If storing or indexing fails,
    the session is abandoned and the answer carries no cookie: a 503 never signs anyone in.
    """
    interface = current_app.session_interface
    previous_sid = current_session_id()
    interface.regenerate(session)  # type: ignore[attr-defined]
    for key in list(session.keys()):
        if key != "_permanent":
            del session[key]
    # Flask-WTF caches the signed token per request: a form rendered later in this request gets a new one.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    session.update(session_values(user))
    session_user = user_from_session(str(user.id), session)
    assert session_user is not None
    login_user(session_user)
    restore_into_session(user.id)
    try:
        interface.persist_new(session)  # type: ignore[attr-defined]
        indexed = session_index.record_sign_in(
            db.session,
            user_id=user.id,
            session_id=session.sid,  # type: ignore[attr-defined]
            client=client_info(),
            expires_at=utcnow() + current_app.permanent_session_lifetime,
            replaces_session_id=previous_sid,
        )
    except BaseException:
        # The failed transaction goes first: on SQLite its write lock would hold up the store's delete.
        discard_failed_transaction(db.session)
        abandon_session()
        raise
    if indexed is None:  # deactivated between the password check and now
        abandon_session()
        raise AccountDeactivated(auth.DEACTIVATED_MESSAGE)


def abandon_session() -> None:
    """A sign-in that failed half-way: the new session is destroyed, or, if the store cannot
    even do that, left unreachable (its cookie is never sent) to expire on its own."""
    logout_user()
    interface = current_app.session_interface
    try:
        interface.destroy(session)  # type: ignore[attr-defined]
    except interface.store_errors():  # type: ignore[attr-defined]
        session.clear()
        session.destroyed = True  # type: ignore[attr-defined]


def end_user_session() -> None:
    """Sign out: Flask-Login's keys go, the server-side session is destroyed and unindexed."""
    signed_in_sid = current_session_id()
    logout_user()
    current_app.session_interface.destroy(session)  # type: ignore[attr-defined]
    if signed_in_sid is not None:
        session_index.forget_session(db.session, session_id=signed_in_sid)


def revoke_own_session(public_id: str) -> Revocation:
    """One of the signed-in user's sessions signed out (the API's and the settings page's flow).

    Revoking the session of this very request is signing out: the cookie is cleared in this response.
    """
    outcome = session_sync.revoke_own_session(
        db.session,
        public_id=public_id,
        user_id=signed_in_user().id,
        current_session_id=current_session_id(),
        client=client_info(),
    )
    if outcome is Revocation.THIS_SESSION:
        end_user_session()
    return outcome
