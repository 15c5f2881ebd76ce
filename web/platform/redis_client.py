"""The app's Redis client, with short timeouts: for sessions, sign-in throttling and job locks.

Imports nothing of the app but its configuration, so any module may use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from web.config import redis_url_options

__all__ = ["fail_fast_options", "make_redis_client", "redis_client_for"]


def make_redis_client(url: str, timeout: float) -> redis.Redis:
    """A client that fails fast: redis-py's defaults retry for many seconds before a request fails."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        health_check_interval=30,
    )


def fail_fast_options(timeout: float) -> dict[str, Any]:
    """Connection options for every Redis and Sentinel connection: short timeouts, one quick retry."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    }


def redis_client_for(config: Mapping[str, Any]) -> redis.Redis:
    """The app's Redis client: the primary found through Sentinel when ``REDIS_SENTINELS`` is set, else ``REDIS_URL``.

    Sessions, sign-in throttling and job locks all use this, with the same short timeouts.
    In Sentinel mode every new connection asks the sentinels for the current primary, so
    after a failover the client follows the promoted replica by itself.
    """
    timeout = float(config["REDIS_SOCKET_TIMEOUT"])
    sentinels = config.get("REDIS_SENTINELS") or []
    if not sentinels:
        return make_redis_client(config["REDIS_URL"], timeout)
    addresses = [(host, int(port)) for host, _, port in (address.rpartition(":") for address in sentinels)]
    sentinel = Sentinel(addresses, sentinel_kwargs=fail_fast_options(timeout), **fail_fast_options(timeout))
    return sentinel.master_for(
        config["REDIS_SENTINEL_SERVICE"], health_check_interval=30, **redis_url_options(config["REDIS_URL"])
    )
