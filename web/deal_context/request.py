"""The deal context on the HTTP side: the session's context in and out, select and clear, the restore hook.

Each flow that changes the context has one function here, used by the API and the
pages alike (``select_current_deal``, ``clear_current_deal``); sign-in (``web.identity.sign_in``)
calls ``restore_into_session`` once the new session exists. ``register_deal_context``
wires the restore hook and hands the session store the context's merge rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, request, session
from flask_login import current_user

from web.deal_context.service import RestoreResult, clear_deal, current_deal, restore_context, select_deal
from web.deal_context.state import DealContext
from web.deals.schemas import DealFields, deal_json
from web.extensions import db
from web.identity.session_user import SessionUser
from web.platform import metrics
from web.platform.http import client_info
from web.platform.session_store import MergingSessionInterface
from web.platform.session_store.base import report_store_failure

log = logging.getLogger(__name__)

# Endpoints that never need a deal context (and must not touch the session at all).
CONTEXT_FREE_ENDPOINTS = frozenset({"static", "auth_api.login", "auth_api.logout", "health.session_health", "metrics"})


def session_context() -> DealContext | None:
    return DealContext.in_session(session)


def wall_clock() -> float:
    return time.time()


def store_context(context: DealContext, deal: DealFields | None = None) -> None:
    """Put the context in the session, with ``deal`` cached as the API shows it when given."""
    if deal is not None and deal.id == context.deal_id:
        context = context.with_deal(deal_json(deal), checked_at=wall_clock())
    session[DealContext.SESSION_KEY] = context.to_session()


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


@contextmanager
def published_context(context: DealContext, deal: DealFields | None) -> Iterator[None]:
    """Write ``context`` into this session in the store now; withdraw it if the block (the commit) raises.

    A selection answered 2xx is then already in the session, and one that failed is in
    neither store (``web.deal_context.service._commit_published``).
    """
    interface = current_app.session_interface
    assert isinstance(interface, MergingSessionInterface)
    previous = session.get(DealContext.SESSION_KEY)
    store_context(context, deal)
    written = session.get(DealContext.SESSION_KEY)
    # With the SQL store, the session row is written in the selection's own transaction.
    with interface.joining(db.session.connection()):
        interface.write_through(session)  # type: ignore[arg-type]
    try:
        yield
    except BaseException:
        try:
            interface.withdraw(session, DealContext.SESSION_KEY, written, previous)  # type: ignore[arg-type]
        except interface.store_errors() as exc:
            # Both stores failed in one request: the context stays ahead of the database until the
            # next selection, restore or reset (documented in specs/04).
            report_store_failure("withdraw", exc)
        raise


def select_current_deal(user: SessionUser, deal_id: int) -> DealFields:
    """Make a visible deal the user's working deal, in the database and this session (counted in metrics)."""
    with metrics.counted_deal_select():
        deal, _context = select_deal(
            db.session,
            user_id=user.id,
            organization_id=user.organization_id,
            deal_id=deal_id,
            client=client_info(),
            publish=published_context,
        )
    return deal


def clear_current_deal(user: SessionUser) -> None:
    """Leave the user with no working deal, in the database and this session."""
    clear_deal(
        db.session,
        user_id=user.id,
        organization_id=user.organization_id,
        client=client_info(),
        publish=published_context,
    )


def restore_into_session(user_id: int) -> tuple[RestoreResult, DealContext]:
    """Restore the user's last deal into this session (at sign-in, or for a cold session), counted and logged."""
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
    if DealContext.SESSION_KEY in session:
        metrics.AUTO_RESTORE_WARM.inc()
        return
    if not current_user.is_authenticated:
        return
    restore_into_session(int(current_user.id))


def register_deal_context(app: Flask) -> None:
    """Restore cold sessions before each request; give the session store the context's merge rule.

    The rule keeps a request from saving an older context over a newer one; the store
    itself knows nothing of deals (it is platform code), so the deal context hands it over.
    """
    interface = app.session_interface
    if not isinstance(interface, MergingSessionInterface):
        raise RuntimeError("the deal context needs DealDesk's session interface (init the session store first)")
    interface.merge_rules[DealContext.SESSION_KEY] = DealContext.keeps_stored
    app.before_request(restore_deal_context)
