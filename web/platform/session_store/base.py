"""Server-side sessions that never lose an update.

Extends Flask-Session's ``ServerSideSessionInterface``: cookies, session ids and the
session class are Flask-Session's; what changes is how a session is saved.

* A request that changed nothing never rewrites the stored session. It only
  extends the expiry, and at most once per ``SESSION_TOUCH_INTERVAL_SECONDS``.
* A request that changed something writes only the keys it changed, merged into
  the latest stored copy atomically (each backend's ``update_in_store``), so a
  slower concurrent request cannot write back its stale copy. The expiry moves
  with the same rhythm as a touch: at most once per interval.
* A destroyed session (sign-out, revocation) is never brought back by a request
  that saves after it; a signed-in session is written to the store as soon as it
  is created (``persist_new``), so a revocation that runs before the response is
  sent already finds it.
* A key may carry a merge rule (``merge_rules``) deciding when the stored value
  wins over the request's: the deal context registers one (``web.deal_context.state``)
  so that a merge never replaces a newer context with an older one.
* The store key is the prefix plus the SHA-256 of the session id, never the id
  itself: the session index (``web.identity.session_index``) keeps the same hash and
  reaches a live session through ``rewrite_session`` / ``destroy_session``.
* A stored session a request emptied (``session.clear()``) is deleted and its cookie
  removed, as Flask-Session does; every answer to a signed-in session but the public
  static files gets ``Cache-Control: no-store``.
* Only signed-in sessions are stored. A visitor who is not signed in costs the store
  nothing: what their session holds (the CSRF token, flashed messages) travels in a signed
  cookie (``web.platform.session_store.anonymous``), read back into the session on the
  next request; the sign-in stores the new session and deletes that cookie.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from flask import Flask, Request, Response, jsonify, request
from flask_session.base import Serializer, ServerSideSession, ServerSideSessionInterface
from sqlalchemy import Connection

from web.platform.metrics import SESSION_STORE_ERRORS
from web.platform.models import utcnow
from web.platform.session_store.anonymous import COOKIE_NAME as ANONYMOUS_COOKIE_NAME
from web.platform.session_store.anonymous import AnonymousCookie

log = logging.getLogger(__name__)

SID_BYTES = 32
MAX_SID_LENGTH = 128
MERGE_ATTEMPTS = 50
# Flask-Login's key for the signed-in user's id: a session holding it is a signed-in one.
SIGNED_IN_KEY = "_user_id"
NO_STORE = "no-store"
# Flask's endpoint for the public files under /static: the same for everyone, cacheable as before.
STATIC_ENDPOINT = "static"


# A function given the stored session data; returns the new data, or None for "no change".
Transform = Callable[[dict[str, Any]], dict[str, Any] | None]
# Given (this request's value, the stored value) of one key: True keeps the stored value.
MergeRule = Callable[[Any, Any], bool]
# Told (session id hash, new expiry) after the store extended a session's lifetime.
ExpiryListener = Callable[[str, datetime], None]


class SessionStoreError(RuntimeError):
    """The session store failed or could not be reached."""


class SessionEnded(RuntimeError):
    """The request's session was destroyed (sign-out, revocation) while the request ran."""


def hash_session_id(sid: str) -> str:
    """The SHA-256 of a session id: what the store key and the session index hold."""
    return hashlib.sha256(sid.encode()).hexdigest()


class MsgpackSerializer(Serializer):
    """Flask-Session's msgspec encoding without its pickle fallback: stored data is never unpickled."""

    def __init__(self) -> None:
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder = msgspec.msgpack.Decoder()

    def encode(self, session: ServerSideSession | dict[str, Any]) -> bytes:
        return self.encoder.encode(dict(session))

    def decode(self, serialized_data: bytes) -> dict[str, Any]:
        data = self.decoder.decode(serialized_data)
        if not isinstance(data, dict):
            raise msgspec.DecodeError("stored session is not a mapping")
        return data


@dataclass(frozen=True)
class PreloadedSession:
    """A store read made before Flask opened the session: its result, or the store error it raised."""

    sid: str
    loaded: tuple[bytes, float] | None
    error: BaseException | None = None


# The WSGI environ key under which a PreloadedSession is handed to open_session.
PRELOADED_SESSION_KEY = "dealdesk.preloaded_session"


class DealDeskSession(ServerSideSession):
    """A server-side session that remembers what it held when it was loaded."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        sid: str | None = None,
        permanent: bool | None = None,
        *,
        original: dict[str, Any] | None = None,
        stored_ttl: float | None = None,
    ) -> None:
        super().__init__(initial, sid, permanent)
        # None means "not in the store yet": everything in it is new.
        self.original = original
        self.stored_ttl = stored_ttl
        # The stored bytes ``original`` was decoded from, while they are known to be the store's
        # latest copy as far as this request knows: a store that compares and sets (Redis) merges
        # onto them without reading the session again.
        self.stored_raw: bytes | None = None
        self.destroyed = False
        self.store_unavailable = False
        # Set when the session was stored before the response (sign-in): the cookie must still be sent.
        self.cookie_due = False
        # A session not signed in (never stored): what its signed cookie held when the request came,
        # None when it came without a valid one.
        self.anonymous_data: dict[str, Any] | None = None
        # Whether the session was read from the store (a signed-in one), and whether the request
        # also carried the anonymous cookie (then deleted: a signed-in browser keeps none).
        self.from_store = False
        self.anonymous_cookie_sent = False

    @property
    def is_new(self) -> bool:
        return self.original is None

    def changes(self) -> tuple[dict[str, Any], set[str]]:
        """The keys this request set (new or different values) and the keys it removed."""
        original = self.original or {}
        current = dict(self)
        updated = {key: value for key, value in current.items() if key not in original or original[key] != value}
        removed = set(original) - set(current)
        return updated, removed


def merge_changes(
    stored: dict[str, Any], updated: dict[str, Any], removed: set[str], rules: Mapping[str, MergeRule] | None = None
) -> dict[str, Any]:
    """Apply one request's changes to the latest stored session; a key's rule may keep the stored value."""
    merged = dict(stored)
    for key in removed:
        merged.pop(key, None)
    for key, value in updated.items():
        rule = rules.get(key) if rules else None
        if rule is not None and rule(value, merged.get(key)):
            continue
        merged[key] = value
    return merged


def valid_sid(sid: str) -> bool:
    return 0 < len(sid) <= MAX_SID_LENGTH and all(c.isalnum() or c in "-_" for c in sid)


class MergingSessionInterface(ServerSideSessionInterface):
    """The save and load policy; subclasses implement the store operations."""

    session_class = DealDeskSession
    ttl = True  # expiry is handled by the store or the cleanup job, not per request
    # Paths that never load, touch or create a session, even when a cookie comes along
    # (the health check and /metrics, polled every second); set by web.register_operations.
    sessionless_paths: frozenset[str] = frozenset()

    def __init__(self, app: Flask, *, key_prefix: str, touch_interval: float) -> None:
        # Called directly: a backend subclass's own Flask-Session parent would build its own client.
        ServerSideSessionInterface.__init__(self, app, key_prefix=key_prefix, permanent=True, sid_length=SID_BYTES)
        self.serializer = MsgpackSerializer()
        self.touch_interval = touch_interval
        self.lifetime: timedelta = app.permanent_session_lifetime
        self.expiry_listeners: list[ExpiryListener] = []
        # Per key, when a merge keeps the stored value (the deal context's is set by web.deal_context.request).
        self.merge_rules: dict[str, MergeRule] = {}
        self.anonymous_cookie = AnonymousCookie(self)
        # Kept when an anonymous session is too big for its cookie: Flask-WTF's raw token.
        self.essential_anonymous_keys = {str(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))}

    # Store operations -----------------------------------------------------

    @abstractmethod
    def existing_store_ids(self, store_ids: list[str]) -> set[str]:
        """Which of these sessions the store still holds (one round trip)."""

    @abstractmethod
    def load_from_store(self, store_id: str) -> tuple[bytes, float] | None:
        """The serialized session and its remaining lifetime in seconds, or None."""

    @abstractmethod
    def insert_into_store(self, store_id: str, data: bytes) -> None:
        """Store a new session with the full lifetime."""

    @abstractmethod
    def update_in_store(self, store_id: str, transform: Transform, *, extend: bool) -> bool:
        """Atomically replace the stored data with ``transform(stored)``, retrying on conflict.

        Never creates a session: False when it no longer exists. ``extend`` also
        resets the expiry to the full lifetime; otherwise the expiry is kept.
        """

    @abstractmethod
    def touch_in_store(self, store_id: str) -> None:
        """Extend the stored session's expiry to the full lifetime, if it still exists."""

    def merge_into_store(
        self, store_id: str, updated: dict[str, Any], removed: set[str], *, extend: bool, known: bytes | None = None
    ) -> bool:
        """Merge one request's changes into the latest stored copy; False when it no longer exists.

        ``known`` is the stored copy as this request read it, if the caller has it: a store that
        compares and sets (Redis) tries it first instead of reading the session again.
        """
        return self.update_in_store(store_id, self.merging(updated, removed), extend=extend)

    def merging(self, updated: dict[str, Any], removed: set[str]) -> Transform:
        """The transform that merges one request's changes into a stored copy, under this store's merge rules."""
        return lambda stored: merge_changes(stored, updated, removed, self.merge_rules)

    @abstractmethod
    def delete_from_store(self, store_id: str) -> None:
        """Remove a session."""

    @abstractmethod
    def store_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean the store is down rather than the code is wrong.

        What every store operation raises for an outage of any kind: code that catches
        these needs no check of its own (the Redis store turns refusals such as ``OOM``
        into one of them).
        """

    def is_store_outage(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by this store or by its client used directly (the health
        probe, the sign-in throttle), means the store cannot serve now: a 503, not a 500."""
        return isinstance(exc, (*self.store_errors(), SessionStoreError))

    def store_id_for_sid(self, sid: str) -> str:
        return self._get_store_id(sid)

    def _get_store_id(self, sid: str) -> str:
        # A copy of the store (a backup, a Redis dump) holds no usable session ids.
        return self.key_prefix + hash_session_id(sid)

    def store_id_for_hash(self, sid_hash: str) -> str:
        return self.key_prefix + sid_hash

    # Flask-Session's abstract hooks, answered with the operations above.
    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        loaded = self.load_from_store(store_id)
        return None if loaded is None else self.serializer.decode(loaded[0])

    def _delete_session(self, store_id: str) -> None:
        self.delete_from_store(store_id)

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        self.insert_into_store(store_id, self.serializer.encode(session))

    # Session life cycle ---------------------------------------------------

    def new_session(self) -> DealDeskSession:
        return self.session_class(sid=self._generate_sid(self.sid_length), permanent=True)

    def open_session(self, app: Flask, request: Request) -> DealDeskSession:
        if request.path in self.sessionless_paths:
            return self.new_session()
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or not valid_sid(sid):
            return self.anonymous_session(app, request)
        try:
            loaded = self._load_once(request.environ, sid)
        except self.store_errors() as exc:
            report_store_failure("load", exc)
            session = self.new_session()
            session.store_unavailable = True
            return session
        report_store_recovered()  # the store answered, even if the session is gone (a restarted Redis)
        if loaded is None:
            return self.anonymous_session(app, request)
        raw, remaining = loaded
        try:
            data, original = self.serializer.decode(raw), self.serializer.decode(raw)
        except msgspec.DecodeError:
            log.warning("discarding a stored session that does not decode")
            return self.anonymous_session(app, request)
        session = self.session_class(data, sid=sid, original=original, stored_ttl=remaining)
        session.stored_raw = raw
        session.from_store = True
        session.anonymous_cookie_sent = ANONYMOUS_COOKIE_NAME in request.cookies
        return session

    def anonymous_session(self, app: Flask, request: Request) -> DealDeskSession:
        """A new session holding what the visitor's signed anonymous cookie held (nothing without a valid one)."""
        data = self.anonymous_cookie.read(app, request)
        if data is not None and SIGNED_IN_KEY in data:
            data = None  # never written so: no cookie signs anyone in
        session = self.session_class(data, sid=self._generate_sid(self.sid_length), permanent=True)
        session.anonymous_data = data
        session.anonymous_cookie_sent = ANONYMOUS_COOKIE_NAME in request.cookies
        return session

    def _load_once(self, environ: dict[str, Any], sid: str) -> tuple[bytes, float] | None:
        """What the fast path (web/deal_context/fast_path.py) already read for this request, else a store read."""
        preloaded: PreloadedSession | None = environ.pop(PRELOADED_SESSION_KEY, None)
        if preloaded is None or preloaded.sid != sid:
            return self.load_from_store(self._get_store_id(sid))
        if preloaded.error is not None:
            raise preloaded.error
        return preloaded.loaded

    def regenerate(self, session: DealDeskSession) -> None:  # type: ignore[override]
        """Give the session a new id (at sign-in), keeping its data; the old id stops working."""
        if not session.is_new:
            self.delete_from_store(self._get_store_id(session.sid))
        session.sid = self._generate_sid(self.sid_length)
        session.original = None
        session.modified = True

    def persist_new(self, session: DealDeskSession) -> None:
        """Write a new session to the store now instead of with the response.

        From here on the request's further changes are merges, so a session that
        is destroyed meanwhile (a revocation through the index) stays destroyed.
        """
        data = self.serializer.encode(session)
        self.insert_into_store(self._get_store_id(session.sid), data)
        session.original = self.serializer.decode(data)
        session.stored_raw = data
        session.stored_ttl = self.lifetime.total_seconds()
        session.cookie_due = True

    def refresh(self, session: DealDeskSession) -> None:
        """Read the request's session again from the store (something rewrote or destroyed it meanwhile).

        A session the store no longer holds is over: emptied, and its cookie goes with the response.
        """
        if session.is_new:
            return
        loaded = self.load_from_store(self._get_store_id(session.sid))
        session.clear()
        if loaded is None:
            session.destroyed = True
            return
        session.update(self.serializer.decode(loaded[0]))
        session.original = self.serializer.decode(loaded[0])
        session.stored_raw = loaded[0]
        session.stored_ttl = loaded[1]

    @contextmanager
    def joining(self, connection: Connection) -> Iterator[None]:
        """Session writes in the block join ``connection``'s transaction when the store lives in
        that database (the SQL store overrides this); elsewhere they run on their own."""
        yield

    def write_through(self, session: DealDeskSession) -> None:
        """Merge this request's changes into the store now, before the caller commits what they mirror.

        Used by flows whose answer must find the change in the session (a selection): the
        store is written first, the database commits second, and a failed commit is undone
        in the store (``withdraw``). Raises ``SessionEnded`` when the session was destroyed
        meanwhile (a sign-out or revocation elsewhere).
        """
        if session.is_new:
            self.persist_new(session)
            return
        updated, removed = session.changes()
        if not (updated or removed):
            return
        store_id = self._get_store_id(session.sid)
        if not self.merge_into_store(store_id, updated, removed, extend=False, known=session.stored_raw):
            session.clear()
            session.destroyed = True
            raise SessionEnded("the session was ended while this request ran")
        # From here on the request's changes are relative to what was just written (merged with
        # whatever else the store held: those bytes are not known here).
        session.original = self.serializer.decode(self.serializer.encode(session))
        session.stored_raw = None

    def withdraw(self, session: DealDeskSession, key: str, written: Any, previous: Any) -> None:
        """Undo a ``write_through`` of ``key`` whose database commit failed, unless a later write replaced it."""

        def transform(stored: dict[str, Any]) -> dict[str, Any] | None:
            if stored.get(key) != written:
                return None
            if previous is None:
                stored.pop(key, None)
            else:
                stored[key] = previous
            return stored

        self.update_in_store(self._get_store_id(session.sid), transform, extend=False)
        if previous is None:
            session.pop(key, None)
        else:
            session[key] = previous
        session.original = self.serializer.decode(self.serializer.encode(session))
        session.stored_raw = None

    def destroy(self, session: DealDeskSession) -> None:
        """Delete the session from the store now; the response clears the cookie."""
        if not session.is_new:
            self.delete_from_store(self._get_store_id(session.sid))
        session.clear()
        session.destroyed = True

    # Reaching other sessions (through the index) ---------------------------

    def rewrite_session(self, sid_hash: str, transform: Transform) -> bool:
        """Atomically change a live session identified by its id hash; False when it is gone."""
        return self.update_in_store(self.store_id_for_hash(sid_hash), transform, extend=False)

    def live_hashes(self, sid_hashes: list[str]) -> set[str]:
        """Which of these session id hashes name a session the store still holds."""
        by_store_id = {self.store_id_for_hash(sid_hash): sid_hash for sid_hash in sid_hashes}
        return {by_store_id[store_id] for store_id in self.existing_store_ids(list(by_store_id))}

    def destroy_session(self, sid_hash: str) -> None:
        """Delete a live session identified by its id hash; its browser is signed out on the next request."""
        self.delete_from_store(self.store_id_for_hash(sid_hash))

    def touch_due(self, session: DealDeskSession) -> bool:
        return session.stored_ttl is not None and self.extension_due(session.stored_ttl)

    def extension_due(self, remaining: float) -> bool:
        """Whether a session with ``remaining`` seconds to live has gone a touch interval without an extension."""
        return self.lifetime.total_seconds() - remaining >= self.touch_interval

    def save_session(self, app: Flask, session: DealDeskSession, response: Response) -> None:  # type: ignore[override]
        if session.store_unavailable:
            return
        if session.accessed:
            response.vary.add("Cookie")
        if SIGNED_IN_KEY in session and request.endpoint != STATIC_ENDPOINT:
            # An answer to a signed-in session may show that user's data: no cache may keep it.
            response.headers["Cache-Control"] = NO_STORE
        if response.status_code >= 500 and not session.destroyed:
            # A failed request changes nothing: what it put in the session is not saved, and a
            # session it stored early (sign-in) gets no cookie. Flows that must show their change
            # before committing it wrote it already (``write_through``) and withdraw it on failure.
            return
        try:
            self._persist(app, session, response)
        except (*self.store_errors(), SessionStoreError) as exc:
            report_store_failure("save", exc)
            replace_with_unavailable(response)

    def _persist(self, app: Flask, session: DealDeskSession, response: Response) -> None:
        store_id = self._get_store_id(session.sid)
        if session.destroyed:
            if self.get_cookie_name(app) in request.cookies:  # an abandoned first sign-in has none to remove
                self._delete_cookie(app, response)
            if session.from_store and session.anonymous_cookie_sent:
                # Signed out: the browser starts anonymous with nothing. A sign-in abandoned half-way
                # keeps its anonymous cookie, so a retry still has its CSRF token.
                self.anonymous_cookie.delete(app, response)
            return
        if session.is_new and SIGNED_IN_KEY not in session:
            self._save_anonymous(app, session, response)
            return
        if session.anonymous_cookie_sent:
            self.anonymous_cookie.delete(app, response)  # signed in: the store holds the session now
        if not session.is_new and not session and session.modified:
            self._end_emptied(app, store_id, response)
            return
        updated, removed = session.changes()
        if session.is_new:
            # Signed in without ``persist_new`` (no flow of ours does): stored with the response.
            self.insert_into_store(store_id, self.serializer.encode(session))
            self._set_cookie(app, session, response)
            return
        extend = self.touch_due(session)
        if updated or removed:
            if not self.merge_into_store(store_id, updated, removed, extend=extend, known=session.stored_raw):
                # Destroyed by another request (sign-out, revocation) while this one ran.
                self._delete_cookie(app, response)
                return
        elif extend:
            self.touch_in_store(store_id)
        if extend:
            self._notify_extended(session.sid)
        if extend or session.cookie_due:
            self._set_cookie(app, session, response)

    def _save_anonymous(self, app: Flask, session: DealDeskSession, response: Response) -> None:
        """A session with no signed-in user is never stored: its data goes back in its signed cookie,
        only when this request changed it (no ``Set-Cookie`` otherwise)."""
        data = {key: value for key, value in session.items() if key != "_permanent"}
        if data == (session.anonymous_data or {}):
            return
        if data:
            self.anonymous_cookie.write(app, response, data, essential=self.essential_anonymous_keys)
        elif session.anonymous_cookie_sent:
            self.anonymous_cookie.delete(app, response)

    def _end_emptied(self, app: Flask, store_id: str, response: Response) -> None:
        """A stored session this request emptied (``session.clear()``) ends, as Flask-Session's does:
        deleted from the store, the cookie removed.

        Deleted outright rather than merged: keys a concurrent request added meanwhile go too,
        because emptying a session is ending it, and a request that saves after this one finds
        the session gone and clears its own cookie (as after a sign-out).
        """
        self.delete_from_store(store_id)
        self._delete_cookie(app, response)

    def _notify_extended(self, sid: str) -> None:
        """Tell the listeners (the session index's "last seen") that the lifetime was extended."""
        if not self.expiry_listeners:
            return
        sid_hash, expires_at = hash_session_id(sid), utcnow() + self.lifetime
        for listener in self.expiry_listeners:
            try:
                listener(sid_hash, expires_at)
            except Exception:
                # "Last seen" is bookkeeping: losing one update must not fail the request.
                log.exception("session expiry listener failed")

    def _set_cookie(self, app: Flask, session: DealDeskSession, response: Response) -> None:
        response.set_cookie(
            key=self.get_cookie_name(app),
            value=session.sid,
            expires=self.get_expiration_time(app, session),
            httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")

    def _delete_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(
            key=self.get_cookie_name(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")

    def retry_pause(self, attempt: int) -> None:
        """A short, jittered pause between merge attempts, so racing writers interleave."""
        time.sleep(min(0.001 * (2**attempt), 0.05) * secrets.randbelow(1000) / 1000)


_store_down_since: float | None = None


class _Owed:
    """Why this process may serve sessions that still owe the store a change the database recorded:
    the users whose changes it recorded and has not applied yet, and ``STORE_WAS_DOWN``."""

    reasons: set[object] = set()


# The store failed and came back: whatever was recorded meanwhile, by any process, may be owed.
STORE_WAS_DOWN = "store_was_down"


def mark_changes_owed(*reasons: object) -> None:
    """Settle before serving sessions (``web.identity.session_sync.apply_before_serving``)."""
    _Owed.reasons.update(reasons or (STORE_WAS_DOWN,))


def changes_owed() -> bool:
    return bool(_Owed.reasons)


def settle_changes_owed(*reasons: object) -> None:
    """Those reasons are settled (all of them when none is named)."""
    if reasons:
        _Owed.reasons.difference_update(reasons)
    else:
        _Owed.reasons.clear()


def report_store_failure(operation: str, exc: BaseException) -> None:
    """Log once per incident, not once per request, with the cause; count every failure."""
    SESSION_STORE_ERRORS.labels(operation=operation).inc()
    global _store_down_since
    if _store_down_since is None:
        _store_down_since = time.monotonic()
        log.error("session store unavailable during %s: %s: %s", operation, type(exc).__name__, exc)


def report_store_recovered() -> None:
    global _store_down_since
    if _store_down_since is not None:
        # Changes recorded while the store was down may not have reached it (web.identity.session_sync).
        mark_changes_owed()
        log.warning("session store available again after %.1f s", time.monotonic() - _store_down_since)
        _store_down_since = None


# The page a browser gets when no session can be read or saved: fixed HTML, because the layout needs the session
# (who is signed in) and a template must not fail here; in the error page's words, with a way back.
STORE_UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Temporarily unavailable · DealDesk</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main id="main"><section class="card narrow error-page" aria-labelledby="error-heading">
<p class="error-status">Error 503</p>
<h1 id="error-heading">Temporarily unavailable</h1>
<p>DealDesk cannot reach the service that keeps people signed in.</p>
<p class="retry-advice"><strong>Try again in a few seconds.</strong></p>
<p class="error-ways"><a href="/">Back to DealDesk</a></p>
</section></main></body>
</html>
"""


def session_store_unavailable_response() -> Response:
    if request.path.startswith("/api/"):
        response = jsonify(
            error={
                "code": "session_store_unavailable",
                "message": "The session store is unavailable; try again shortly.",
            }
        )
    else:
        response = Response(STORE_UNAVAILABLE_PAGE, mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


def replace_with_unavailable(response: Response) -> None:
    """Turn an already-built response into the 503 the client must see when the save failed."""
    replacement = session_store_unavailable_response()
    response.status_code = 503
    response.set_data(replacement.get_data())
    response.mimetype = replacement.mimetype
    response.headers["Retry-After"] = "5"
    for header in ("Set-Cookie", "Location"):
        response.headers.pop(header, None)
