"""Redis failover with Sentinel: a real primary, a replica and three sentinels on spare loopback ports.

Users sign in and select deals, the primary is killed, and while the sentinels
promote the replica every request must be a 200 or a 503 (never a 500); service
comes back by itself and every user's selection is intact afterwards. The test
prints the failover window it measured (``make sentinel`` shows it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from tests.support.clients import ApiClient
from tests.support.stacks import POSTGRES_REDIS, require_server
from tests.support.world import EMAILS

SERVICE = "dealdesk-test"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
READY_TIMEOUT_S = 30
FAILOVER_LIMIT_S = 30
SELECTIONS = {"alice": "northwind", "bob": "tailspin", "dave": "woodgrove", "carol": "initech"}

pytestmark = [pytest.mark.sentinel, pytest.mark.redis]


def spare_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def sentinel_command() -> list[str]:
    """Debian's redis-sentinel (scripts/install-redis-sentinel.sh), else redis-server --sentinel: the same binary."""
    if shutil.which("redis-sentinel"):
        return ["redis-sentinel"]
    return ["redis-server"]


@dataclass
class RedisCluster:
    """The processes this test started, stopped by pid."""

    directory: Path
    primary_port: int
    replica_port: int
    sentinel_ports: list[int]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_server(self, name: str, port: int, *extra: str) -> None:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory), "--logfile", str(self.directory / f"{name}.log"), *extra]
        self.processes[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_sentinel(self, index: int, port: int) -> None:
        config = self.directory / f"sentinel-{index}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.directory}\nlogfile {self.directory / f'sentinel-{index}.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        command = [*sentinel_command(), str(config)]
        if command[0] == "redis-server":
            command.append("--sentinel")
        self.processes[f"sentinel-{index}"] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)

    def wait_until_ready(self) -> None:
        """Replica in sync, and every sentinel knows the replica and the two other sentinels."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self._ready():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"Redis cluster not ready after {READY_TIMEOUT_S} s; logs in {self.directory}")

    def _ready(self) -> bool:
        replica = self.client(self.replica_port)
        try:
            if replica.info("replication").get("master_link_status") != "up":
                return False
        finally:
            replica.close()
        for port in self.sentinel_ports:
            sentinel = self.client(port)
            try:
                if len(sentinel.sentinel_sentinels(SERVICE)) < 2 or len(sentinel.sentinel_slaves(SERVICE)) < 1:
                    return False
            finally:
                sentinel.close()
        return True

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    if not shutil.which("redis-server"):
        require_server("redis-server", "the redis-server binary is not installed")
    primary, replica, *sentinels = spare_ports(5)
    cluster = RedisCluster(tmp_path, primary, replica, sentinels)
    try:
        cluster.start_server("primary", primary)
        cluster.start_server("replica", replica, "--replicaof", "127.0.0.1", str(primary))
        for index, port in enumerate(sentinels):
            cluster.start_sentinel(index, port)
        cluster.wait_until_ready()
        yield cluster
    finally:
        cluster.stop_all()


@dataclass
class Outage:
    """What the browsers saw after the kill: (seconds since the kill, status) per request."""

    seen: list[tuple[float, int]] = field(default_factory=list)

    def times(self, status: int) -> list[float]:
        return [at for at, code in self.seen if code == status]

    def summary(self) -> str:
        failed = self.times(503)
        resumed = min((at for at, code in self.seen if code != 503 and at > max(failed, default=0)), default=None)
        counts = {code: sum(1 for _at, c in self.seen if c == code) for code in sorted({c for _at, c in self.seen})}
        return (
            f"sentinel failover: 503s from {min(failed, default=0):.2f} s to {max(failed, default=0):.2f} s after "
            f"the primary was killed; served again at {resumed or 0:.2f} s; responses by status {counts}"
        )


def watch_until_served(browsers: dict[str, ApiClient]) -> Outage:
    """Every user asks for their current deal, round after round, until three rounds in a row get no 503."""
    outage, killed, clean_rounds = Outage(), time.monotonic(), 0
    while clean_rounds < 3:
        assert time.monotonic() - killed < FAILOVER_LIMIT_S, f"still failing after {FAILOVER_LIMIT_S} s"
        clean = True
        for browser in browsers.values():
            response = browser.get("/api/deals/current")
            outage.seen.append((time.monotonic() - killed, response.status_code))
            # 401: that session was lost with the primary (not here: every write reached the replica).
            assert response.status_code in (200, 401, 503), (response.status_code, response.data)
            if response.status_code == 503:
                assert response.get_json()["error"]["code"] == "session_store_unavailable"
                clean = False
        clean_rounds = clean_rounds + 1 if clean else 0
        time.sleep(0.05)
    return outage


@pytest.mark.parametrize("stack", [POSTGRES_REDIS], indirect=True)
def test_primary_loss_gives_only_503s_then_service_resumes_with_every_selection(stack_settings, demo, redis_cluster):
    from web.extensions import limiter
    from web.jobs.locks import RedisLock, job_lock_redis

    app = stack_settings.make_app(
        REDIS_URL=f"redis://127.0.0.1:{redis_cluster.primary_port}/0",
        REDIS_SENTINELS=redis_cluster.sentinels,
        REDIS_SENTINEL_SERVICE=SERVICE,
    )
    client = app.extensions["dealdesk_redis"]
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert type(limiter.storage).__name__ == "RedisSentinelStorage"
    assert job_lock_redis(app) is client

    browsers = {name: ApiClient(app.test_client()) for name in SELECTIONS}
    for name, deal in SELECTIONS.items():
        browsers[name].login(EMAILS[name])
        assert browsers[name].post(f"/api/deals/{demo[deal]}/select").status_code == 200
    primary = redis_cluster.client(redis_cluster.primary_port)
    assert primary.wait(1, 5000) == 1, "the replica did not acknowledge every write"
    primary.close()

    redis_cluster.kill("primary")
    outage = watch_until_served(browsers)
    print(outage.summary())
    assert outage.times(503), "no request failed: was the primary really in use?"
    assert not outage.times(500)

    sentinel = redis_cluster.client(redis_cluster.sentinel_ports[0])
    assert sentinel.sentinel_get_master_addr_by_name(SERVICE)[1] == redis_cluster.replica_port
    sentinel.close()
    for name, deal in SELECTIONS.items():
        browser = browsers[name]
        if browser.get("/api/me").status_code == 401:  # a lost session: sign in, the deal is restored
            browser._csrf = None
            browser.login(EMAILS[name])
        assert browser.current_deal_id() == demo[deal], name

    # Writes go to the promoted replica: sessions, sign-in throttling and job locks.
    assert browsers["alice"].post(f"/api/deals/{demo['contoso']}/select").status_code == 200
    assert browsers["alice"].current_deal_id() == demo["contoso"]
    stranger = ApiClient(app.test_client())
    assert stranger.post("/api/auth/login", json={"email": "nobody@acme.test", "password": "x"}).status_code == 401
    lock = RedisLock(client, f"{app.config['SESSION_KEY_PREFIX']}sentinel-lock", 10)
    assert lock.acquire()
    lock.release()


def test_sentinel_settings_come_from_the_environment():
    from web.config import ConfigError, build_config, redis_url_options

    config = build_config(env={"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379", "REDIS_SENTINEL_SERVICE": "dd"})
    assert config["REDIS_SENTINELS"] == ["10.0.0.1:26379", "10.0.0.2:26379"]
    assert config["REDIS_SENTINEL_SERVICE"] == "dd"
    with pytest.raises(ConfigError, match="REDIS_SENTINELS"):
        build_config(env={"REDIS_SENTINELS": "10.0.0.1"})
    assert redis_url_options("redis://:s%40cret@10.0.0.1:6379/3") == {"db": 3, "password": "s@cret"}
    assert redis_url_options("redis://127.0.0.1:6379") == {"db": 0}
