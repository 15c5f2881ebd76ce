"""Pre-created sessions for the load generator, so every measured request is the intended path.

Warm pools are made the way a browser makes them (CSRF token, sign-in, one read);
the cold pool is made by copying signed-in sessions without their deal context, so
each copy's first request runs the restore exactly once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import msgspec
import redis
import requests

from bench.seed import BenchUser
from web.deal_context.state import DealContext
from web.demo import DEMO_PASSWORD
from web.platform.session_store.base import hash_session_id

DEALDESK_COOKIE = "dealdesk_session"
DEALDESK_KEY_PREFIX = "dealdesk:session:"
BASELINE_COOKIE = "session"


@dataclass(frozen=True)
class PooledSession:
    cookie_name: str
    sid: str
    csrf: str
    deal_ids: tuple[int, ...]

    def line(self) -> str:
        return f"{self.cookie_name}={self.sid} {self.csrf} {','.join(str(d) for d in self.deal_ids)}"


def write_pool(path: Path, sessions: Sequence[PooledSession]) -> Path:
    """The file bench/wrk/sessions.lua reads: one session per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(session.line() + "\n" for session in sessions))
    return path


def sign_in_dealdesk(base_url: str, user: BenchUser) -> PooledSession:
    """Sign in like a browser, then read once so the session is warm (it holds a deal context)."""
    with requests.Session() as http:
        csrf = http.get(f"{base_url}/api/csrf", timeout=30).json()["csrf_token"]
        response = http.post(
            f"{base_url}/api/auth/login",
            json={"email": user.email, "password": DEMO_PASSWORD},
            headers={"X-CSRFToken": csrf},
            timeout=30,
        )
        response.raise_for_status()
        csrf = http.get(f"{base_url}/api/csrf", timeout=30).json()["csrf_token"]  # sign-in replaced it
        current = http.get(f"{base_url}/api/deals/current", timeout=30)
        current.raise_for_status()
        if current.json()["current_deal"] is None:
            raise RuntimeError(f"{user.email} signed in without a restored deal")
        return PooledSession(DEALDESK_COOKIE, http.cookies[DEALDESK_COOKIE], csrf, user.deal_ids)


def dealdesk_pool(base_url: str, users: Sequence[BenchUser]) -> list[PooledSession]:
    """One warm DealDesk session per user (sign-ins in parallel: argon2 makes each one slow)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda user: sign_in_dealdesk(base_url, user), users))


def baseline_pool(base_url: str, users: Sequence[BenchUser]) -> list[PooledSession]:
    """One session per user on a baseline app: the sign-in stores the user id and a deal id."""
    sessions = []
    for user in users:
        with requests.Session() as http:
            response = http.post(
                f"{base_url}/api/auth/login", json={"user_id": user.id, "deal_id": user.deal_ids[0]}, timeout=30
            )
            response.raise_for_status()
            sessions.append(PooledSession(BASELINE_COOKIE, http.cookies[BASELINE_COOKIE], "-", user.deal_ids))
    return sessions


def dealdesk_store_key(sid: str) -> str:
    """Where DealDesk's Redis store keeps a session: the prefix and the SHA-256 of its id."""
    return DEALDESK_KEY_PREFIX + hash_session_id(sid)


def cold_pool_redis(redis_url: str, warm: Sequence[PooledSession], count: int) -> list[PooledSession]:
    """``count`` new signed-in sessions with no deal context: copies of the warm ones, minus the context.

    Each copy's first request is a cold restore (the single INSERT..SELECT..RETURNING and
    a session merge), exactly what a returning user's first request after sign-in does.
    """
    client = redis.Redis.from_url(redis_url)
    decoder, encoder = msgspec.msgpack.Decoder(), msgspec.msgpack.Encoder()
    try:
        templates = []
        for session in warm:
            key = dealdesk_store_key(session.sid)
            data = decoder.decode(client.get(key))
            data.pop(DealContext.SESSION_KEY, None)
            # The same remaining lifetime as a fresh sign-in, so no copy is due for an expiry touch.
            templates.append((session, encoder.encode(data), int(client.pttl(key))))
        cold = []
        pipe = client.pipeline(transaction=False)
        for index in range(count):
            session, data, ttl = templates[index % len(templates)]
            sid = secrets.token_urlsafe(32)
            pipe.set(dealdesk_store_key(sid), data, px=ttl)
            cold.append(PooledSession(DEALDESK_COOKIE, sid, session.csrf, session.deal_ids))
            if index % 1000 == 999:
                pipe.execute()
        pipe.execute()
        return cold
    finally:
        client.close()
