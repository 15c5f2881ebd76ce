"""Starting and stopping the bench's own processes, always by pid (never by name).

Every process is started in its own session (``start_new_session``), so its pid is
also its process group id: stopping it also stops the workers it forked (gunicorn,
nginx, PostgreSQL), and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
LOOPBACK = "127.0.0.1"


@dataclass
class Proc:
    """One process the bench started: enough to find it, stop it and start it again."""

    name: str
    pid: int
    argv: list[str]
    port: int | None = None
    log: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def spare_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    """Wait until something accepts connections on ``port``; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or proc.args} exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"{what or 'process'} did not listen on 127.0.0.1:{port} within {timeout} s")


# Every child started here, until it is reaped. A Popen collected while its process still runs
# raises a ResourceWarning from its finalizer, wherever the collection happens to fall: under
# pytest's filterwarnings=error that failed an unrelated test (tests/platform/test_cluster_faults.py).
_children: dict[int, subprocess.Popen[bytes]] = {}


def start(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    user: str | None = None,
    cwd: Path = REPO,
) -> tuple[Proc, subprocess.Popen[bytes]]:
    """Start ``argv`` in its own process group, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    _children[popen.pid] = popen
    proc = Proc(name=name, pid=popen.pid, argv=list(argv), port=port, log=str(log), env=dict(env or {}), user=user)
    return proc, popen


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def looks_like(pid: int, argv: Sequence[str]) -> bool:
    """True when ``pid`` still runs the program the bench started (not a recycled pid).

    Compares the program's name only: nginx, gunicorn and PostgreSQL rewrite their titles.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return Path(argv[0]).name in cmdline


def _reap(pid: int) -> None:
    popen = _children.get(pid)
    if popen is not None:
        # Reaped through its Popen, which so learns the exit status and will not warn when collected.
        if popen.poll() is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _gone(pid: int) -> bool:
    """True once the process has exited, its exit status collected (no zombie, and no Popen left thinking it runs)."""
    _reap(pid)
    if alive(pid):
        return False
    _reap(pid)  # it may have exited between the first look and the second
    return True


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group the bench created for ``pid`` (its own session)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop(pid: int, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Stop a process the bench started (and its group); SIGKILL after ``timeout``. True if it had to kill."""
    if _gone(pid):
        return False
    signal_group(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return False
        time.sleep(0.05)
    signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def kill_now(pid: int) -> None:
    """SIGKILL the process and its group at once (the fault run's crash), then reap it."""
    signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, user: str | None = None, timeout: float = 300):
    """Run a short command to completion; raise with its output when it fails."""
    result = subprocess.run(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        user=user,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
