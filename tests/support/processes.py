"""Real service processes on free loopback ports, for the multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from services.base.addresses import CanvasAddresses
from services.canvas.client import CanvasClient

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_addresses() -> CanvasAddresses:
    return CanvasAddresses(*(f"tcp://127.0.0.1:{free_port()}" for _ in range(3)))


def addr_args(addrs: CanvasAddresses) -> list[str]:
    return ["--agents", addrs.agents, "--events", addrs.events, "--snapshots", addrs.snapshots]


def aurora(*argv: str, env_extra: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """An `aurora` subcommand in its own process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "services.cli", *argv], cwd=ROOT, env=env, **popen)


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.02)  # polling interval of a condition wait


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def canvas_process(*extra: str):
    """A canvas service on free ports; yields (process, addresses) once it answers a handshake."""
    addrs = free_addresses()
    proc = aurora("canvas", *addr_args(addrs), *extra)
    try:
        probe = CanvasClient("probe", addrs.agents)
        probe.connect_with_backoff(deadline=time.monotonic() + 15)
        probe.close()
        yield proc, addrs
    finally:
        stop(proc)
