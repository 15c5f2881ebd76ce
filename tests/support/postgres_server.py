"""A PostgreSQL server of a test's own: made with initdb, on a spare loopback port, frozen and stopped by pid.

Freezing is what a network partition or a hung host looks like to the app: the server's
kernel still accepts connections and acknowledges what is sent, and nothing answers.
The postmaster's children are session leaders of their own (PostgreSQL calls
``setsid()`` in each), so signalling the postmaster's process group would miss them:
``freeze`` stops the postmaster (its pid from ``postmaster.pid``) and every child it
has, found in ``/proc``, by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from tests.support.servers import free_port
from tests.support.stacks import require_server

# Where Debian puts the server binaries; PATH is tried first.
PG_BIN_DIRS = tuple(Path(f"/usr/lib/postgresql/{version}/bin") for version in (15, 16, 17))
READY_WITHIN_SECONDS = 30.0
STOP_WITHIN_SECONDS = 15.0


def postgres_binary(name: str) -> str | None:
    """``initdb`` or ``postgres``, from PATH or Debian's server directory."""
    found = shutil.which(name)
    if found:
        return found
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return None


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc; a process gone meanwhile is skipped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may contain spaces: the fields after it are fixed.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class PostgresServer:
    """One throwaway cluster: ``start``, ``freeze``/``thaw``, ``stop``; ``url`` names its ``postgres`` database."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    frozen: list[int] = field(default_factory=list)

    @property
    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None  # initdb and postgres refuse to run as root

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        initdb = postgres_binary("initdb")
        assert initdb is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.data_dir, self.run_as, self.run_as)
        self.data_dir.chmod(0o700)
        argv = [initdb, "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        subprocess.run(argv, check=True, capture_output=True, timeout=120, user=self.run_as)

    def start(self) -> None:
        binary = postgres_binary("postgres")
        assert binary is not None
        argv = [
            binary, "-D", str(self.data_dir), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "fsync=off", "-c", "log_min_messages=warning",
        ]  # fmt: skip
        log = open(self.data_dir.parent / "postgres.log", "ab")  # noqa: SIM115 - the server writes to it until stopped
        with log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, user=self.run_as, start_new_session=True
            )
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while True:
            try:
                psycopg2.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        admin = psycopg2.connect(self.url(), connect_timeout=2)
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            admin.close()
        return self.url(name)

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])

    def freeze(self) -> None:
        """SIGSTOP the postmaster, then each of its children (backends, checkpointer, ...), by pid."""
        postmaster = self.postmaster_pid()
        os.kill(postmaster, signal.SIGSTOP)
        self.frozen = [postmaster]
        for pid in children_of(postmaster):  # a stopped postmaster forks no new ones meanwhile
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            self.frozen.append(pid)

    def thaw(self) -> None:
        """SIGCONT to every process ``freeze`` stopped (children first, so the postmaster finds them running)."""
        for pid in reversed(self.frozen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL to it after ``STOP_WITHIN_SECONDS``."""
        self.thaw()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@contextmanager
def private_postgres_server() -> Iterator[PostgresServer]:
    """A started server in a fresh directory; always thawed, stopped and removed at the end."""
    if postgres_binary("initdb") is None or postgres_binary("postgres") is None:
        require_server("PostgreSQL binaries", "initdb or postgres not found on PATH or under /usr/lib/postgresql")
    # Not under pytest's tmp_path: the postgres user must be able to reach the directory.
    workdir = Path(tempfile.mkdtemp(prefix="dealdesk-pg-"))
    workdir.chmod(0o755)
    server = PostgresServer(data_dir=workdir / "data")
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
