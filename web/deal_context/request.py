"""The deal context on the HTTP side: sessions in and out, and the auto-restore hook."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, current_app, request, session
from flask_login import current_user, login_user, logout_user

from web.deal_context.service import DealContext, RestoreResult, current_deal, restore_context
from web.deals.models import Deal
from web.deals.schemas import deal_json
from web.errors import APIError
from web.extensions import db
from web.identity import session_index
from web.identity.models import User
from web.identity.session_user import session_values, user_from_session
from web.platform import metrics
from web.platform.http import client_info
from web.platform.models import utcnow
from web.platform.session_store import DEAL_CONTEXT_KEY

log = logging.getLogger(__name__)

# Endpoints that never need a deal context (and must not touch the session at all).
CONTEXT_FREE_ENDPOINTS = frozenset({"static", "auth_api.login", "auth_api.logout", "health.session_health", "metrics"})


def session_context() -> DealContext | None:
    return DealContext.from_session(session.get(DEAL_CONTEXT_KEY))


def wall_clock() -> float:
    return time.time()


def store_context(context: DealContext, deal: Deal | None = None) -> None:
    """Put the context in the session, with ``deal`` cached as the API shows it when given."""
    if deal is not None and deal.id == context.deal_id:
        context = context.with_deal(deal_json(deal), checked_at=wall_clock())
    session[DEAL_CONTEXT_KEY] = context.to_session()


def current_deal_json(user_id: int) -> dict[str, Any] | None:
    """The current deal as the API shows it: from the session's cache, else one query that refills it.

    Everything the app does that takes a deal out of a user's sight, or changes it,
    rewrites or drops the cache in that user's live sessions (``web.identity.session_index``),
    so within ``DEAL_CACHE_SECONDS`` of its last check the cache is served with no
    query. Past that age it is checked again (one query, and the session is written):
    the backstop for changes made outside the app, such as SQL typed by an operator.
    """
    context = session_context()
    if context is None or context.deal_id is None:
        return None
    cached = context.fresh_deal(wall_clock(), current_app.config["DEAL_CACHE_SECONDS"])
    if cached is not None:
        return cached
    deal = current_deal(db.session, user_id=user_id, context=context)
    if deal is None:
        store_context(DealContext(None, context.version))
        return None
    store_context(context, deal)
    return deal_json(deal)


def start_user_session(user: User) -> None:
    """Sign in with a fresh session id (no fixation), holding only plain values.

    The session is stored at once and then indexed (``web.identity.session_index``), in
    that order: a revocation that finds the index row always finds the session too.
    """
    interface = current_app.session_interface
    previous_sid = None if session.is_new else session.sid  # type: ignore[attr-defined]
    interface.regenerate(session)  # type: ignore[attr-defined]
    for key in list(session.keys()):
        if key not in ("_permanent", "csrf_token"):
            del session[key]
    session.update(session_values(user))
    session_user = user_from_session(str(user.id), session)
    assert session_user is not None
    login_user(session_user)
    interface.persist_new(session)  # type: ignore[attr-defined]
    indexed = session_index.record_sign_in(
        db.session,
        user_id=user.id,
        session_id=session.sid,  # type: ignore[attr-defined]
        client=client_info(),
        expires_at=utcnow() + current_app.permanent_session_lifetime,
        replaces_session_id=previous_sid,
    )
    if indexed is None:  # deactivated between the password check and now
        logout_user()
        interface.destroy(session)  # type: ignore[attr-defined]
        raise APIError(401, "invalid_credentials", "The email or password is incorrect.")


def end_user_session() -> None:
    """Sign out: Flask-Login's keys go, the server-side session is destroyed and unindexed."""
    signed_in_sid = None if session.is_new else session.sid  # type: ignore[attr-defined]
    logout_user()
    current_app.session_interface.destroy(session)  # type: ignore[attr-defined]
    if signed_in_sid is not None:
        session_index.forget_session(db.session, session_id=signed_in_sid)


def restore_into_session(user_id: int) -> tuple[RestoreResult, DealContext]:
    with metrics.timed_restore():
        result, context = restore_context(db.session, user_id=user_id, client=client_info())
        store_context(context)
    metrics.AUTO_RESTORE.labels(result=result.value).inc()
    log.info("deal context restore for user %s: %s", user_id, result.value)
    return result, context


def restore_deal_context() -> None:
    """``before_request``: give a cold signed-in session its deal context back.

    A warm session (it holds a context, or was already checked) returns here with
    no query; only a cold one runs the single restore statement.
    """
    if request.endpoint in CONTEXT_FREE_ENDPOINTS or request.endpoint is None:
        return
    if DEAL_CONTEXT_KEY in session:
        metrics.AUTO_RESTORE_WARM.inc()
        return
    if not current_user.is_authenticated:
        return
    restore_into_session(int(current_user.id))


def register_deal_context(app: Flask) -> None:
    app.before_request(restore_deal_context)
