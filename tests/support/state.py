"""Small helpers for reading state behind the API's back (the database and the session store)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from web.audit.models import AuditEvent
from web.extensions import db
from web.identity.models import User, UserSession
from web.platform.session_store import MergingSessionInterface
from web.platform.session_store.models import SessionRecord


def last_deal_id(app: Flask, user_id: int) -> int | None:
    with app.app_context():
        value = db.session.scalar(select(User.last_deal_id).where(User.id == user_id))
        db.session.remove()
        return value


def index_rows(app: Flask, user_id: int | None = None) -> list[UserSession]:
    """The session index's rows (of one user, or everyone's), oldest first."""
    with app.app_context():
        query = select(UserSession).order_by(UserSession.id)
        if user_id is not None:
            query = query.where(UserSession.user_id == user_id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        db.session.remove()
    return rows


def audit_actions(app: Flask, user_id: int) -> list[AuditEvent]:
    with app.app_context():
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id))
        )
        db.session.expunge_all()
        db.session.remove()
        return events


def stored_session(app: Flask, sid: str) -> dict[str, Any] | None:
    """The session as the store holds it, read through the app's own interface."""
    interface: MergingSessionInterface = app.session_interface  # type: ignore[assignment]
    with app.app_context():
        loaded = interface.load_from_store(interface._get_store_id(sid))
    return None if loaded is None else interface.serializer.decode(loaded[0])


def expire_session(app: Flask, sid: str) -> None:
    """What expiry does: the server-side session is gone, the browser still sends its cookie."""
    interface: MergingSessionInterface = app.session_interface  # type: ignore[assignment]
    with app.app_context():
        interface.delete_from_store(interface._get_store_id(sid))


def rewrite_stored_session(app: Flask, sid: str, mutate: Callable[[dict[str, Any]], None]) -> None:
    """Change a stored session directly in Redis or the sessions table, as another process would."""
    interface: MergingSessionInterface = app.session_interface  # type: ignore[assignment]
    store_id = interface._get_store_id(sid)
    client = app.extensions.get("dealdesk_redis")
    if client is not None:
        data = interface.serializer.decode(client.get(store_id))
        mutate(data)
        client.set(store_id, interface.serializer.encode(data), keepttl=True)
        return
    with app.app_context():
        record = db.session.scalar(select(SessionRecord).where(SessionRecord.session_id == store_id))
        data = interface.serializer.decode(record.data)
        mutate(data)
        record.data = interface.serializer.encode(data)
        db.session.commit()
        db.session.remove()


def run_sql(app: Flask, statement: Any) -> None:
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()
        db.session.remove()


def session_rows(app: Flask) -> int:
    with app.app_context():
        count = len(db.session.scalars(select(SessionRecord.id)).all())
        db.session.remove()
        return count


def stored_session_count(app: Flask) -> int:
    """How many sessions the store holds: Redis keys under the app's prefix (SCAN), or rows of ``sessions``."""
    client = app.extensions.get("dealdesk_redis")
    if client is None:
        return session_rows(app)
    return sum(1 for _ in client.scan_iter(match=f"{app.config['SESSION_KEY_PREFIX']}*", count=1000))


def age_session(app: Flask, sid: str, seconds: float) -> None:
    """Make the stored session look ``seconds`` older: its remaining lifetime shrinks, so a touch is due."""
    interface: MergingSessionInterface = app.session_interface  # type: ignore[assignment]
    store_id = interface._get_store_id(sid)
    client = app.extensions.get("dealdesk_redis")
    if client is not None:
        client.pexpire(store_id, int(client.pttl(store_id) - seconds * 1000))
        return
    with app.app_context():
        record = db.session.scalar(select(SessionRecord).where(SessionRecord.session_id == store_id))
        record.expiry -= timedelta(seconds=seconds)
        db.session.commit()
        db.session.remove()
