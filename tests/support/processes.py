"""Real service processes on free loopback ports, for the multi-process tests."""

from __future__ import annotations

import json
import os
import socket
import tempfile
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
    """Four distinct free ports (held together while chosen). For a canvas, prefer canvas_process(),
    which lets the canvas bind port * and report what it got: no window for another process to take it."""
    socks = [socket.socket() for _ in range(4)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return CanvasAddresses(*(f"tcp://127.0.0.1:{s.getsockname()[1]}" for s in socks))
    finally:
        for s in socks:
            s.close()


def addr_args(addrs: CanvasAddresses) -> list[str]:
    return ["--agents", addrs.agents, "--events", addrs.events, "--snapshots", addrs.snapshots,
            "--record", addrs.record]


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
def canvas_process(*extra: str, durable: bool = False):
    """A canvas service on ports the OS chose; yields (process, addresses) once it is bound and, unless
    `durable` (then it serves no agent before a recorder attaches), once it answers a handshake."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        anywhere = CanvasAddresses(*["tcp://127.0.0.1:*"] * 4)
        proc = aurora("canvas", *addr_args(anywhere), "--ready-file", str(ready), *extra,
                      *([] if durable else ["--volatile"]))
        try:
            wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=30, what="canvas bound")
            assert proc.poll() is None, f"the canvas exited with {proc.returncode}"
            addrs = CanvasAddresses(**json.loads(ready.read_text()))
        except BaseException:
            stop(proc)
            raise
    try:
        if not durable:
            probe = CanvasClient("probe", addrs.agents)
            probe.connect_with_backoff(deadline=time.monotonic() + 15)
            probe.close()
        yield proc, addrs
    finally:
        stop(proc)
