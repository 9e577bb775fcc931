"""The benchmark's server processes: free ports, start-up polled until the server answers, sure shutdown."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Callable

import msgpack
import zmq

from proto.errors import RemoteError
from services.base.process import spawn
from services.canvas.client import CanvasClient, CanvasGone



def free_address() -> str:
    """A loopback TCP address on a port the kernel says is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0 elsewhere or when it is gone)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


ROLLUP_FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File")


def smaps_rollup(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/smaps_rollup that the benches report (0 where absent: a zombie's rollup is
    empty). OSError when the process is gone."""
    out = dict.fromkeys(ROLLUP_FIELDS, 0)
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in out:
                out[name] = int(rest.split()[0])
    return out


class Server:
    """One server process (`python -m MODULE ARGS`), in its own session so that a Ctrl-C reaches only the
    bench, which then stops it in order."""

    def __init__(self, name: str, module: str, *args: str):
        self.name = name
        self.proc = spawn([sys.executable, "-m", module, *args])

    def wait_ready(self, answers: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll `answers` (each call waits a little for a reply) until it is True."""
        deadline = time.monotonic() + timeout
        while not answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.name} process exited with {self.proc.returncode} at start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} process did not answer within {timeout:.0f}s")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def canvas_answers(address: str) -> Callable[[], bool]:
    """A readiness probe: a real handshake with the canvas (then `bye`, which frees the name at once)."""

    def probe() -> bool:
        client = CanvasClient("bench-probe", address, model="bench readiness probe")
        try:
            client.connect(timeout=0.5)
            return True
        except (CanvasGone, RemoteError):
            return False
        finally:
            client.close()

    return probe


def echo_answers(address: str) -> Callable[[], bool]:
    """A readiness probe: one round trip through the echo server."""

    def probe() -> bool:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(address)
            sock.send(msgpack.packb({"id": "probe"}))
            return bool(sock.poll(500, zmq.POLLIN))
        finally:
            sock.close()

    return probe
