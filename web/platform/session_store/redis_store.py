"""Redis session store: optimistic WATCH/MULTI updates, EXPIRE for touches."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask
from flask_session.redis import RedisSessionInterface

from web.platform.session_store.base import MERGE_ATTEMPTS, MergingSessionInterface, SessionStoreError, Transform


def _total_seconds(app: Flask) -> int:
    return int(app.permanent_session_lifetime.total_seconds())


class RedisMergingSessionInterface(MergingSessionInterface, RedisSessionInterface):
    def __init__(self, app: Flask, *, client: redis.Redis, key_prefix: str, touch_interval: float) -> None:
        # Flask-Session's Redis interface keeps the client; the merging interface sets the policy.
        self.client = client
        MergingSessionInterface.__init__(self, app, key_prefix=key_prefix, touch_interval=touch_interval)
        self.ttl_seconds = _total_seconds(app)

    def store_errors(self) -> tuple[type[BaseException], ...]:
        return (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError,
            redis.exceptions.ReadOnlyError,
        )

    def existing_store_ids(self, store_ids: list[str]) -> set[str]:
        pipe = self.client.pipeline(transaction=False)
        for store_id in store_ids:
            pipe.exists(store_id)
        return {store_id for store_id, found in zip(store_ids, pipe.execute(), strict=True) if found}

    def load_from_store(self, store_id: str) -> tuple[bytes, float] | None:
        # One round trip for the data and its remaining lifetime.
        pipe = self.client.pipeline(transaction=False)
        pipe.get(store_id)
        pipe.pttl(store_id)
        raw, pttl = pipe.execute()
        if raw is None:
            return None
        return raw, (pttl / 1000.0 if pttl and pttl > 0 else 0.0)

    def insert_into_store(self, store_id: str, data: bytes) -> None:
        self.client.set(store_id, data, ex=self.ttl_seconds)

    def touch_in_store(self, store_id: str) -> None:
        self.client.expire(store_id, self.ttl_seconds)

    def delete_from_store(self, store_id: str) -> None:
        self.client.delete(store_id)

    def update_in_store(self, store_id: str, transform: Transform, *, extend: bool) -> bool:
        with self.client.pipeline() as pipe:
            for attempt in range(MERGE_ATTEMPTS):
                try:
                    pipe.watch(store_id)
                    raw = pipe.get(store_id)
                    if raw is None:
                        pipe.unwatch()
                        return False
                    data = transform(self.serializer.decode(raw))
                    if data is None and not extend:
                        pipe.unwatch()
                        return True
                    pipe.multi()
                    self._queue_write(pipe, store_id, raw if data is None else self.serializer.encode(data), extend)
                    # EXEC fails with WatchError when anyone changed or deleted the key since WATCH.
                    pipe.execute()
                    return True
                except redis.exceptions.WatchError:
                    self.retry_pause(attempt)
        raise SessionStoreError(f"could not update the session after {MERGE_ATTEMPTS} attempts")

    def _queue_write(self, pipe: Any, store_id: str, data: bytes, extend: bool) -> None:
        # XX: only an existing key, so even a missed deletion could not bring a session back.
        if extend:
            pipe.set(store_id, data, ex=self.ttl_seconds, xx=True)
        else:
            pipe.set(store_id, data, keepttl=True, xx=True)
