"""Redis session store: updates by compare-and-set in one round trip, EXPIRE for touches.

**Updates** (``update_in_store``, ``merge_into_store``): the new copy is computed in Python
from a stored copy, and a small script (``COMPARE_AND_SET``) writes it only if the session
still holds exactly that copy; otherwise it answers with what the session holds now, and
the merge is redone on that. A request that changes its session merges onto the copy it
read when it opened the session, so the write is one round trip when nobody else wrote
meanwhile (a selection: the session read, then this). The merge rules run in Python
(``merge_changes``), so there is one implementation of them.

**Which Redis errors are outages** (``is_redis_outage``): a Redis that cannot be reached
or does not answer in time (``ConnectionError``, which includes ``LOADING`` —
``BusyLoadingError`` — and a refused password, and ``TimeoutError``), and a Redis that
answers but will not serve now: ``OOM`` (``maxmemory`` reached with ``noeviction``),
``READONLY`` (a replica), ``BUSY`` (a script running past ``busy-reply-threshold``),
``MISCONF`` (cannot persist), ``MASTERDOWN``, ``NOREPLICAS``, ``CLUSTERDOWN``,
``TRYAGAIN``. redis-py 8 raises the last group as ``ResponseError`` — a class of its own
for some (``OutOfMemoryError``, ``ReadOnlyError``), a plain one with the code in the text
for others (``BUSY``, ``MISCONF``) — the same class as the errors that mean our code is
wrong (``WRONGTYPE``, a syntax error), which stay 500s.

Every store operation below turns an outage reply into ``StoreRefused``, one of
``store_errors()``, so every place that catches the store's errors (the session load and
save, the fast path, sign-in and sign-out, the session index, ``web.identity.session_sync``,
``web.errors``) treats all outage kinds alike with no check of its own; code that talks to
Redis directly (the health probe, the sign-in throttle's counters) asks ``is_store_outage``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import redis
from flask import Flask
from flask_session.redis import RedisSessionInterface

from web.platform.session_store.base import (
    MERGE_ATTEMPTS,
    MergingSessionInterface,
    SessionStoreError,
    Transform,
)

# Error replies of a Redis that is up but will not serve now, by their code (the reply's first word).
OUTAGE_REPLY_CODES = frozenset(
    {"OOM", "READONLY", "LOADING", "BUSY", "MISCONF", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN"}
)
# Raised by redis-py for a server that cannot be reached, does not answer in time, or answers garbage.
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.InvalidResponse)
# The classes redis-py 8 gives some outage replies (the rest come as a plain ResponseError).
REFUSING = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,  # MASTERDOWN too
    redis.exceptions.TryAgainError,
)
# How redis-py prefixes the reply of a command that failed inside a pipeline.
PIPELINE_ERROR_MARK = "of pipeline caused error: "

P = ParamSpec("P")
R = TypeVar("R")


class StoreRefused(SessionStoreError):
    """Redis answered, with an error that means it cannot serve now (``OOM``, ``READONLY``, ``BUSY``...)."""


def server_reply(exc: redis.exceptions.RedisError) -> str:
    """The server's error reply, without the command redis-py prefixes it with inside a pipeline
    (which holds a session key and data: not for the log)."""
    message = str(exc.args[0]) if exc.args else ""
    return message.rpartition(PIPELINE_ERROR_MARK)[2]


def is_redis_outage(exc: BaseException) -> bool:
    """Whether a Redis error means Redis cannot serve now (503) rather than that the code is wrong (500)."""
    if isinstance(exc, (*UNREACHABLE, *REFUSING, StoreRefused)):
        return True
    if isinstance(exc, redis.exceptions.ResponseError):
        return server_reply(exc).split(" ", 1)[0] in OUTAGE_REPLY_CODES
    return False


def _refusals_are_outages(operation: Callable[P, R]) -> Callable[P, R]:
    """A store operation whose outage replies are raised as ``StoreRefused`` (one of ``store_errors()``)."""

    @functools.wraps(operation)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return operation(*args, **kwargs)
        except redis.exceptions.ResponseError as exc:
            if not is_redis_outage(exc):
                raise  # a bug (WRONGTYPE, a syntax error): a 500 with its traceback
            raise StoreRefused(f"{type(exc).__name__}: {server_reply(exc)}") from exc

    return wrapper


# KEYS[1]: the session. ARGV[1]: the copy the caller merged onto; ARGV[2]: the merged copy;
# ARGV[3]: seconds to live from now, or "0" to keep the session's expiry.
# Returns 1 when written, 0 when the session is gone (never created here), else the copy the
# session holds now (someone wrote meanwhile): the caller merges onto that and tries again.
COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return current end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""


def _total_seconds(app: Flask) -> int:
    return int(app.permanent_session_lifetime.total_seconds())


class RedisMergingSessionInterface(MergingSessionInterface, RedisSessionInterface):
    def __init__(self, app: Flask, *, client: redis.Redis, key_prefix: str, touch_interval: float) -> None:
        # Flask-Session's Redis interface keeps the client; the merging interface sets the policy.
        self.client = client
        # EVALSHA, loading the script on the first NOSCRIPT (a new or restarted Redis).
        self.compare_and_set = client.register_script(COMPARE_AND_SET)
        MergingSessionInterface.__init__(self, app, key_prefix=key_prefix, touch_interval=touch_interval)
        self.ttl_seconds = _total_seconds(app)

    def store_errors(self) -> tuple[type[BaseException], ...]:
        # BusyLoadingError (LOADING) is a ConnectionError; the refusals come as StoreRefused (see above).
        return (*UNREACHABLE, StoreRefused)

    def is_store_outage(self, exc: BaseException) -> bool:
        return is_redis_outage(exc)

    @_refusals_are_outages
    def existing_store_ids(self, store_ids: list[str]) -> set[str]:
        pipe = self.client.pipeline(transaction=False)
        for store_id in store_ids:
            pipe.exists(store_id)
        return {store_id for store_id, found in zip(store_ids, pipe.execute(), strict=True) if found}

    @_refusals_are_outages
    def load_from_store(self, store_id: str) -> tuple[bytes, float] | None:
        # One round trip for the data and its remaining lifetime.
        pipe = self.client.pipeline(transaction=False)
        pipe.get(store_id)
        pipe.pttl(store_id)
        raw, pttl = pipe.execute()
        if raw is None:
            return None
        return raw, (pttl / 1000.0 if pttl and pttl > 0 else 0.0)

    @_refusals_are_outages
    def insert_into_store(self, store_id: str, data: bytes) -> None:
        self.client.set(store_id, data, ex=self.ttl_seconds)

    @_refusals_are_outages
    def touch_in_store(self, store_id: str) -> None:
        self.client.expire(store_id, self.ttl_seconds)

    @_refusals_are_outages
    def delete_from_store(self, store_id: str) -> None:
        self.client.delete(store_id)

    def merge_into_store(
        self, store_id: str, updated: dict[str, Any], removed: set[str], *, extend: bool, known: bytes | None = None
    ) -> bool:
        return self._compare_and_set(store_id, self.merging(updated, removed), extend=extend, known=known)

    def update_in_store(self, store_id: str, transform: Transform, *, extend: bool) -> bool:
        return self._compare_and_set(store_id, transform, extend=extend, known=None)

    @_refusals_are_outages
    def _compare_and_set(self, store_id: str, transform: Transform, *, extend: bool, known: bytes | None) -> bool:
        """Replace the session with ``transform(stored)``, starting from ``known`` if given (else one GET)."""
        current = known
        for _attempt in range(MERGE_ATTEMPTS):
            if current is None:
                current = self.client.get(store_id)
                if current is None:
                    return False
            data = transform(self.serializer.decode(current))
            if data is None and not extend:
                return True
            merged = current if data is None else self.serializer.encode(data)
            ttl = str(self.ttl_seconds) if extend else "0"
            answer = self.compare_and_set(keys=[store_id], args=[current, merged, ttl])
            if answer == 1:
                return True
            if answer == 0:
                return False
            current = answer  # someone wrote meanwhile: merge onto what is there now
        raise SessionStoreError(f"could not update the session after {MERGE_ATTEMPTS} attempts")
