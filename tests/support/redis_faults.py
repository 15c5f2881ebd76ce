"""Redis that will not serve, made for real on a private redis-server (or, for LOADING, in the client).

Each condition is a context manager that puts the server (or the client) in that state and
always takes it out again, with every wait bounded:

* ``out_of_memory``: ``maxmemory`` below what is used, ``noeviction``: writes get ``OOM``.
* ``read_only_replica``: the server becomes a replica of a second private redis-server that
  first copied its data, so the sessions stay and every write gets ``READONLY``.
* ``busy_script``: a script loops past ``busy-reply-threshold``; every other command gets
  ``BUSY`` until ``SCRIPT KILL``.
* ``loading``: a restarted Redis loading its dataset answers ``LOADING`` for as long as the
  load takes, which a test cannot hold open on demand; the client's connections raise the
  ``BusyLoadingError`` redis-py makes of that reply, before sending (the server never sees
  the command, as a loading server does not run it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import redis

from tests.support.servers import RedisServer

WAIT_SECONDS = 10.0
BUSY_AFTER_MS = 100


def admin_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=5, socket_connect_timeout=2)


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.02)


@contextmanager
def out_of_memory(server: RedisServer) -> Iterator[None]:
    admin = admin_client(server)
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", max(1, int(admin.info("memory")["used_memory"]) // 2))
        try:
            admin.set("dealdesk-test:oom-check", b"x" * 1024)
            raise AssertionError("the server still accepts writes")
        except redis.exceptions.OutOfMemoryError:
            pass
        yield
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()


def _link_up(client: redis.Redis) -> bool:
    return client.info("replication").get("master_link_status") == "up"


@contextmanager
def read_only_replica(server: RedisServer, master: RedisServer) -> Iterator[None]:
    """``server`` becomes a replica of ``master`` (started by the caller), keeping its data."""
    replica, primary = admin_client(server), admin_client(master)
    try:
        for client in (replica, primary):
            client.config_set("repl-diskless-sync-delay", 0)
        # A replica takes its master's data: the master first copies the server's, then lets go.
        primary.replicaof("127.0.0.1", server.port)
        _wait_until(lambda: _link_up(primary), "the master to copy the server's data")
        primary.replicaof("NO", "ONE")
        replica.replicaof("127.0.0.1", master.port)
        _wait_until(lambda: _link_up(replica), "the server to become a replica")
        yield
    finally:
        replica.replicaof("NO", "ONE")
        replica.close()
        primary.close()


def _is_busy(server: RedisServer) -> bool:
    probe = admin_client(server)
    try:
        probe.ping()
        return False
    except redis.exceptions.ResponseError as exc:
        return str(exc).startswith("BUSY")
    finally:
        probe.close()


@contextmanager
def busy_script(server: RedisServer) -> Iterator[None]:
    admin = admin_client(server)
    admin.config_set("busy-reply-threshold", BUSY_AFTER_MS)
    looping = redis.Redis(port=server.port, socket_timeout=WAIT_SECONDS * 3)

    def run_forever() -> None:
        try:
            looping.eval("while true do end", 0)
        except redis.exceptions.ResponseError:
            pass  # "Script killed by user with SCRIPT KILL"
        finally:
            looping.close()

    runner = threading.Thread(target=run_forever, daemon=True)
    runner.start()
    try:
        _wait_until(lambda: _is_busy(server), "the script to make the server busy")
        yield
    finally:
        _wait_until(lambda: _killed(admin), "SCRIPT KILL")
        runner.join(WAIT_SECONDS)
        admin.close()


def _killed(admin: redis.Redis) -> bool:
    try:
        admin.script_kill()
        return True
    except redis.exceptions.ResponseError as exc:
        return "NOTBUSY" in str(exc) or "No scripts in execution" in str(exc)


@contextmanager
def loading(*clients: redis.Redis) -> Iterator[None]:
    """Every round trip of these clients' connections fails with ``LOADING``."""
    with ExitStack() as stack:
        for client in clients:
            stack.enter_context(_answering_loading(client))
        yield


@contextmanager
def _answering_loading(client: redis.Redis) -> Iterator[None]:
    pool = client.connection_pool
    base = pool.connection_class

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        raise redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")

    pool.connection_class = type("LoadingConnection", (base,), {"send_packed_command": send_packed_command})
    pool.reset()  # pooled connections are of the old class
    try:
        yield
    finally:
        pool.connection_class = base
        pool.reset()
