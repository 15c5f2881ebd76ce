"""Redis session store: optimistic WATCH/MULTI merges, EXPIRE for touches."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask
from flask_session.redis import RedisSessionInterface

from web.sessions.base import MERGE_ATTEMPTS, MergingSessionInterface, SessionStoreError, merge_changes


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

    def merge_into_store(self, store_id: str, updated: dict[str, Any], removed: set[str]) -> bool:
        with self.client.pipeline() as pipe:
            for attempt in range(MERGE_ATTEMPTS):
                try:
                    pipe.watch(store_id)
                    raw = pipe.get(store_id)
                    if raw is None:
                        pipe.unwatch()
                        return False
                    merged = merge_changes(self.serializer.decode(raw), updated, removed)
                    pipe.multi()
                    pipe.set(store_id, self.serializer.encode(merged), ex=self.ttl_seconds)
                    pipe.execute()
                    return True
                except redis.exceptions.WatchError:
                    self.retry_pause(attempt)
        raise SessionStoreError(f"could not merge session changes after {MERGE_ATTEMPTS} attempts")
