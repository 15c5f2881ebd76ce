"""DealDesk at production shape on one machine, everything on 127.0.0.1.

Two or more gunicorn instances of ``wsgi:app`` behind nginx (round robin), the Redis
session backend on a Redis server of the cluster's own (append-only file, so a
restart keeps the sessions), PostgreSQL (the machine's server with a database of the
cluster's own, or a server of its own made with initdb — needed to restart or freeze it
in the fault run), and the job scheduler. Everything it starts is recorded by pid in
``bench/.run/<name>/state.json`` and stopped by pid; so are the PostgreSQL processes a
fault run has frozen, which ``down`` resumes first.

    .venv/bin/python -m bench.cluster up [--instances 2] [--workers 2] [--postgres local|own] [--users 200]
    .venv/bin/python -m bench.cluster status
    .venv/bin/python -m bench.cluster down
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench import procs
from bench.nginx import nginx_config
from bench.procs import LOOPBACK, REPO, VENV_BIN, Proc

RUN_ROOT = REPO / "bench" / ".run"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOCAL_ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
SECRET_KEY = "bench-cluster-secret-key-not-for-production-0123456789"
GUNICORN_CONF = REPO / "gunicorn.conf.py"
REDIS_READY_WITHIN = 10.0  # seconds from start until PING answers PONG (it answers -LOADING while reading the AOF)
REDIS_GONE_WITHIN = 10.0  # seconds from the end of stop until connections to its port are refused


def redis_ping(port: int, timeout: float = 0.5) -> str | None:
    """Redis's answer to an inline PING on loopback ``port`` ("+PONG", "-LOADING …"); None if none came."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(256).decode(errors="replace").strip() or None
    except OSError:
        return None


@dataclass
class ClusterSpec:
    name: str = "cluster"
    instances: int = 2
    workers: int = 2
    postgres: str = "local"  # "local": the machine's server, own database | "own": initdb on a spare port
    database: str = "dealdesk_bench"
    users: int = 200
    deals_per_user: int = 3
    scheduler: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    # gunicorn's worker class on the command line ("sync", "gthread"); None keeps gunicorn.conf.py's.
    worker_class: str | None = None


class Cluster:
    """Start, inspect, break and stop one cluster; the state file lets another process stop it."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.run_dir = RUN_ROOT / spec.name
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}
        self.scheduler_note = ""
        self.frozen_postgres: list[int] = []  # pids stopped by freeze_postgres, until thaw_postgres
        self.redis_maxmemory_before: int | None = None  # set while limit_redis_memory is in force
        self._popens: dict[str, subprocess.Popen[bytes]] = {}

    # State ------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    def save_state(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "spec": asdict(self.spec),
            "ports": self.ports,
            "procs": {name: proc.to_json() for name, proc in self.procs.items()},
            "scheduler_note": self.scheduler_note,
            "frozen_postgres": self.frozen_postgres,
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, name: str) -> Cluster:
        state = json.loads((RUN_ROOT / name / "state.json").read_text())
        cluster = cls(ClusterSpec(**state["spec"]))
        cluster.ports = {key: int(value) for key, value in state["ports"].items()}
        cluster.procs = {key: Proc(**value) for key, value in state["procs"].items()}
        cluster.scheduler_note = state.get("scheduler_note", "")
        cluster.frozen_postgres = [int(pid) for pid in state.get("frozen_postgres", [])]
        return cluster

    # Addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """nginx, the front door."""
        return f"http://{LOOPBACK}:{self.ports['nginx']}"

    def instance_url(self, index: int) -> str:
        return f"http://{LOOPBACK}:{self.ports[f'app{index}']}"

    @property
    def redis_url(self) -> str:
        return f"redis://{LOOPBACK}:{self.ports['redis']}/0"

    @property
    def admin_url(self) -> str:
        if self.spec.postgres == "own":
            return f"postgresql://postgres@{LOOPBACK}:{self.ports['postgres']}/postgres"
        return LOCAL_ADMIN_URL

    @property
    def database_url(self) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{self.spec.database}"

    def app_env(self) -> dict[str, str]:
        """The environment every DealDesk process of the cluster gets."""
        return {
            "APP_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": self.database_url,
            "SESSION_BACKEND": "redis",
            "REDIS_URL": self.redis_url,
            # Plain HTTP on loopback: a Secure cookie would never be sent back.
            "SESSION_COOKIE_SECURE": "false",
            "PYTHONUNBUFFERED": "1",
            **self.spec.extra_env,
        }

    # Up and down ------------------------------------------------------------------------

    def up(self) -> None:
        """Start everything, in dependency order; on failure stop what was started."""
        ensure_tools()
        if self.state_file.exists():  # left by a run that died: stop what it started first
            Cluster.load(self.spec.name).down()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_redis()
            if self.spec.postgres == "own":
                self.init_own_postgres()
                self.start_postgres()
            self.create_database()
            for index in range(1, self.spec.instances + 1):
                self.start_instance(index)
            self.start_scheduler()
            self.start_nginx()
        except BaseException:
            self.down()
            raise
        self.save_state()

    def down(self) -> None:
        """Stop everything this cluster started, front to back, by pid."""
        self.thaw_postgres()  # a stopped postmaster would never act on the shutdown signal
        apps = sorted(n for n in self.procs if n.startswith("app"))
        order = ["nginx", "scheduler", *apps, "pgbouncer", "redis", "postgres"]  # pgbouncer: bench.faults --pgbouncer
        for name in order:
            proc = self.procs.get(name)
            if proc is not None:
                self._stop(name, sig=signal.SIGINT if name == "postgres" else signal.SIGTERM)
        if self.state_file.exists():
            self.state_file.unlink()

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "pid": proc.pid,
                "alive": procs.alive(proc.pid),
                "port": proc.port,
                "listening": procs.port_open(proc.port) if proc.port else None,
            }
            for name, proc in self.procs.items()
        }

    def _start(self, name: str, argv: list[str], *, port: int | None, env: dict[str, str] | None = None, **kw: Any):
        proc, popen = procs.start(name, argv, log=self.run_dir / f"{name}.log", env=env, port=port, **kw)
        self.procs[name] = proc
        self._popens[name] = popen
        self.save_state()
        return popen

    def _stop(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        proc = self.procs.pop(name)
        # A cluster loaded from its state file may be older than a reboot: never signal a recycled pid.
        if name in self._popens or procs.looks_like(proc.pid, proc.argv):
            procs.stop(proc.pid, sig=sig, timeout=timeout)
        popen = self._popens.pop(name, None)
        if popen is not None:
            popen.poll()  # records the exit status (the pid was reaped) so no warning is raised later
        self.save_state()

    # Redis ------------------------------------------------------------------------------

    def start_redis(self) -> None:
        port = self.ports.setdefault("redis", procs.spare_port())
        data_dir = self.run_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--bind", LOOPBACK, "--port", str(port), "--protected-mode", "yes",
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            "--dir", str(data_dir), "--daemonize", "no", "--logfile", "",
        ]  # fmt: skip
        popen = self._start("redis", argv, port=port)
        procs.wait_for_port(port, REDIS_READY_WITHIN, popen, "redis-server")
        deadline = time.monotonic() + REDIS_READY_WITHIN
        while (answer := redis_ping(port)) != "+PONG":
            if popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {port} did not answer PING with PONG (last answer: {answer!r})")
            time.sleep(0.05)

    def stop_redis(self) -> None:
        """Stop the cluster's Redis by pid (SIGKILL after 15 s); returns once its port refuses connections."""
        port = self.ports["redis"]
        self._stop("redis")
        deadline = time.monotonic() + REDIS_GONE_WITHIN
        while procs.port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server still accepts connections on {port} {REDIS_GONE_WITHIN} s after stop")
            time.sleep(0.05)

    def redis_client(self) -> redis.Redis:
        return redis.Redis(host=LOOPBACK, port=self.ports["redis"], socket_timeout=2, socket_connect_timeout=2)

    def limit_redis_memory(self) -> int:
        """Out of memory: ``maxmemory`` set to what Redis uses now, under ``noeviction``, so writes fail
        with ``OOM command not allowed`` and reads still work. Returns the limit; ``restore_redis_memory``
        puts the previous one back."""
        with self.redis_client() as client:
            before = int(client.config_get("maxmemory")["maxmemory"])
            policy = client.config_get("maxmemory-policy")["maxmemory-policy"]
            if policy != "noeviction":  # an evicting policy would drop sessions instead of refusing writes
                raise RuntimeError(f"the cluster's Redis has maxmemory-policy {policy}, not noeviction")
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory", used)
        self.redis_maxmemory_before = before
        return used

    def restore_redis_memory(self) -> None:
        if self.redis_maxmemory_before is None:
            return
        with self.redis_client() as client:
            client.config_set("maxmemory", self.redis_maxmemory_before)
        self.redis_maxmemory_before = None

    # PostgreSQL -------------------------------------------------------------------------

    @property
    def pg_data(self) -> Path:
        return self.run_dir / "pgdata"

    def init_own_postgres(self) -> None:
        """A throwaway PostgreSQL cluster owned by the postgres user (initdb refuses to run as root)."""
        self.ports.setdefault("postgres", procs.spare_port())
        if (self.pg_data / "PG_VERSION").exists():
            return
        self.pg_data.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.pg_data, "postgres", "postgres")
        self.pg_data.chmod(0o700)
        user = "postgres" if os.geteuid() == 0 else None
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.pg_data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        procs.run([*initdb, "--no-sync"], user=user)

    def start_postgres(self) -> None:
        port = self.ports["postgres"]
        argv = [
            str(PG_BIN / "postgres"), "-D", str(self.pg_data), "-p", str(port),
            "-c", f"listen_addresses={LOOPBACK}", "-c", "unix_socket_directories=",
            "-c", "max_connections=200", "-c", "log_min_messages=warning",
        ]  # fmt: skip
        popen = self._start("postgres", argv, port=port, user="postgres" if os.geteuid() == 0 else None)
        procs.wait_for_port(port, 30, popen, "postgres")
        self.wait_postgres_ready(30)

    def stop_postgres(self) -> None:
        """Fast shutdown (SIGINT): sessions are disconnected, the app's pooled connections go stale."""
        self._stop("postgres", sig=signal.SIGINT)

    def postgres_pids(self) -> list[int]:
        """The postmaster (its pid from ``postmaster.pid``) and its children, found in /proc.

        Each child is a session leader of its own (PostgreSQL calls ``setsid()``): signalling the
        postmaster's process group would not reach the backends.
        """
        postmaster = int((self.pg_data / "postmaster.pid").read_text().split("\n", 1)[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with suppress(OSError, ValueError, IndexError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                        children.append(int(entry.name))
        return [postmaster, *children]

    def freeze_postgres(self) -> None:
        """SIGSTOP the cluster's own PostgreSQL, postmaster first (so it forks nothing meanwhile), then
        every child: connections are still accepted and nothing answers, as in a network partition."""
        if self.spec.postgres != "own":
            raise RuntimeError("only a cluster with its own PostgreSQL (--postgres own) can freeze it")
        for pid in self.postgres_pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self.frozen_postgres.append(pid)
        self.save_state()

    def thaw_postgres(self) -> None:
        """SIGCONT to every process freeze_postgres stopped."""
        for pid in reversed(self.frozen_postgres):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self.frozen_postgres:
            self.frozen_postgres = []
            self.save_state()

    def wait_postgres_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self) -> None:
        """A fresh database, migrated with ``flask db upgrade`` and seeded with the bench users."""
        from sqlalchemy import create_engine

        from bench.scratch_databases import recreate_postgres_database
        from bench.seed import demo_password_hash, seed_bench_users
        from web.config import normalize_database_url

        recreate_postgres_database(self.admin_url, self.spec.database)
        procs.run([str(VENV_BIN / "flask"), "--app", "web", "db", "upgrade"], env=self.app_env())
        engine = create_engine(normalize_database_url(self.database_url))
        try:
            with engine.begin() as conn:
                seed_bench_users(
                    conn,
                    users=self.spec.users,
                    deals_per_user=self.spec.deals_per_user,
                    password_hash=demo_password_hash(),
                )
        finally:
            engine.dispose()

    # DealDesk instances and the scheduler ------------------------------------------------

    def gunicorn_argv(self, port: int) -> list[str]:
        """The operator's gunicorn.conf.py when there is one, bound to this instance's loopback port."""
        argv = [str(VENV_BIN / "gunicorn")]
        if GUNICORN_CONF.exists():
            argv += ["--config", str(GUNICORN_CONF)]
        argv += ["--bind", f"{LOOPBACK}:{port}", "--workers", str(self.spec.workers)]
        if self.spec.worker_class is not None:
            argv += ["--worker-class", self.spec.worker_class]
        if self.spec.worker_class == "sync":
            # gunicorn runs "sync" with more than one thread (gunicorn.conf.py's 4) as gthread.
            argv += ["--threads", "1"]
        return [*argv, "wsgi:app"]

    def start_instance(self, index: int) -> None:
        name = f"app{index}"
        port = self.ports.setdefault(name, procs.spare_port())
        popen = self._start(name, self.gunicorn_argv(port), port=port, env=self.app_env())
        procs.wait_for_port(port, 60, popen, f"DealDesk instance {index}")

    def kill_instance(self, index: int) -> None:
        """The crash: SIGKILL to the gunicorn master and its workers at once."""
        name = f"app{index}"
        proc = self.procs.pop(name)
        procs.kill_now(proc.pid)
        popen = self._popens.pop(name, None)
        if popen is not None:
            popen.poll()
        self.save_state()

    def start_scheduler(self) -> None:
        if not self.spec.scheduler:
            self.scheduler_note = "not started (disabled)"
            return
        probe = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "web", "scheduler", "--help"],
            cwd=REPO,
            env={**os.environ, **self.app_env()},
            capture_output=True,
            timeout=60,
            check=False,
        )
        if probe.returncode != 0:
            self.scheduler_note = "not started: this checkout has no `flask scheduler` command yet"
            return
        argv = [str(VENV_BIN / "flask"), "--app", "web", "scheduler", "run"]
        self._start("scheduler", argv, port=None, env=self.app_env())
        self.scheduler_note = "running"

    # nginx --------------------------------------------------------------------------------

    def start_nginx(self) -> None:
        port = self.ports.setdefault("nginx", procs.spare_port())
        nginx_dir = self.run_dir / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (nginx_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
            (nginx_dir / "tmp" / sub).chmod(0o777)  # nginx's workers drop root
        conf = nginx_dir / "nginx.conf"
        upstreams = [self.ports[name] for name in sorted(self.ports) if name.startswith("app")]
        conf.write_text(nginx_config(nginx_dir, port, upstreams))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [nginx, "-p", str(nginx_dir), "-e", str(nginx_dir / "error.log"), "-c", str(conf), "-g", "daemon off;"]
        popen = self._start("nginx", argv, port=port)
        procs.wait_for_port(port, 10, popen, "nginx")


def ensure_tools() -> None:
    """nginx and wrk from Debian, installed by bench/install-tools.sh when missing."""
    if (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) and shutil.which("wrk"):
        return
    subprocess.run(["bash", str(REPO / "bench" / "install-tools.sh")], check=True, timeout=1200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--name", default="cluster", help="state directory under bench/.run (default: cluster)")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--postgres", choices=["local", "own"], default="local")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--worker-class", choices=["sync", "gthread"], help="gunicorn's worker class (default: gunicorn.conf.py's)"
    )
    args = parser.parse_args(argv)
    state = RUN_ROOT / args.name / "state.json"
    if args.command == "up":
        if state.exists():
            print(f"already up ({state}); run `down` first", file=sys.stderr)
            return 1
        spec = ClusterSpec(
            name=args.name,
            instances=args.instances,
            workers=args.workers,
            postgres=args.postgres,
            users=args.users,
            worker_class=args.worker_class,
        )
        cluster = Cluster(spec)
        cluster.up()
        print(f"DealDesk cluster up: {cluster.url} (nginx) -> {args.instances} instances; state in {state}")
        print(f"scheduler: {cluster.scheduler_note}")
        return 0
    if not state.exists():
        print(f"no cluster named {args.name!r} is up (no {state})", file=sys.stderr)
        return 0 if args.command == "down" else 1
    cluster = Cluster.load(args.name)
    if args.command == "status":
        report = {"url": cluster.url, "scheduler": cluster.scheduler_note, "procs": cluster.status()}
        print(json.dumps(report, indent=2))
        return 0
    cluster.down()
    print("DealDesk cluster down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
