"""Real `aurora gateway` processes on free ports, and real WebSocket viewers of them, for the gateway's tests."""

from __future__ import annotations

import base64
import json
import os
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from proto.canvas import CanvasModel
from proto.events import apply_event
from services.canvas.replica import STATUS_OF_KIND
from tests.support.processes import aurora, free_port, stop, wait_until


class Gateway:
    """A running `aurora gateway`: its URLs, a client for its HTTP API, its metrics."""

    def __init__(self, proc, port: int, stdout: Path):
        self.proc, self.port, self.stdout = proc, port, stdout
        self.base = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=10)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def json(self, path: str, **kwargs) -> Any:
        response = self.get(path, **kwargs)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def health(self) -> tuple[int, dict]:
        response = self.get("/healthz")
        return response.status_code, response.json()

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """(sample name, sorted label items) -> value, from /metrics."""
        response = self.get("/metrics")
        assert response.status_code == 200
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.text) for s in family.samples}

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def wait_for_seq(self, seq: int, timeout: float = 20) -> None:
        wait_until(lambda: self.health()[1]["seq"] >= seq, timeout=timeout, what=f"the gateway at seq {seq}")


@contextmanager
def gateway_process(addrs, *args: str, redis_url: str | None = None, synced: bool = True,
                    env: dict[str, str] | None = None):
    """`aurora gateway` on a free port, following the canvas at `addrs`; REDIS_URL only if given; `env` besides.
    Yields once it answers /healthz (and, if `synced`, once its replica has synced and heard a tick: it is
    subscribed)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        stdout = Path(tmp) / "stdout"
        with stdout.open("wb") as out:  # an empty REDIS_URL is none: counts come from what the gateway sees
            proc = aurora("gateway", "--port", str(port), "--events", addrs.events, "--snapshots", addrs.snapshots,
                          *args, env_extra={"REDIS_URL": redis_url or "", **(env or {})}, stdout=out)
        gateway = Gateway(proc, port, stdout)
        try:
            def up() -> bool:
                if proc.poll() is not None:
                    return True
                try:
                    status, body = gateway.health()
                except httpx.HTTPError:
                    return False
                return not synced or (status == 200 and gateway.metric("aurora_gateway_replica_counts_total",
                                                                       what="ticks") > 0)
            wait_until(up, timeout=30, what="the gateway up")
            assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
            yield gateway
        finally:
            gateway.http.close()
            stop(proc)


class Listener:
    """A WebSocket viewer on a thread of its own, reading every message as it comes: (time received, message)."""

    def __init__(self, url: str, origin: str | None = None, name: str = "viewer"):
        self.ws = connect(url, origin=origin, proxy=None, compression=None, open_timeout=10, max_size=None,
                          legacy=True)  # legacy: connect() returns the open connection (no `with`)
        self.messages: list[tuple[float, dict]] = []
        self.ended = False
        self.close_code: int | None = None  # the code of the close frame the gateway sent, once it ended
        self.thread = threading.Thread(target=self._read, name=name, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                self.messages.append((time.time(), json.loads(text)))
        except ConnectionClosed:
            pass
        self.close_code = self.ws.protocol.close_code
        self.ended = True

    def close(self) -> None:
        self.ws.close()
        self.thread.join(5)

    def of_type(self, kind: str) -> list[dict]:
        return [m for _, m in self.messages if m["type"] == kind]

    def seq(self) -> int:
        """The seq of the last snapshot or event received (0 before any)."""
        for _, m in reversed(self.messages):
            if m["type"] in ("snapshot", "event"):
                return m["seq"]
        return 0

    def wait_for_seq(self, seq: int, timeout: float = 20) -> None:
        wait_until(lambda: self.seq() >= seq, timeout=timeout, what=f"a viewer at seq {seq}")


class Rebuilt:
    """The studio as a page builds it from a viewer's messages: the last snapshot, then each event after it."""

    def __init__(self, messages: list[dict]):
        self.seq = 0
        self.canvases: dict[str, CanvasModel] = {}
        self.status: dict[str, str] = {}
        self.activity: dict[str, Any] = {}
        for m in messages:
            if m["type"] == "snapshot":
                self.seq = m["seq"]
                self.canvases = {n: CanvasModel.from_dict(c) for n, c in m["canvases"].items()}
                self.status = {n: c["status"] for n, c in m["canvases"].items()}
                self.activity = {n: c["activity"] for n, c in m["canvases"].items()}
            elif m["type"] == "event":
                assert m["seq"] == self.seq + 1, f"event {m['seq']} after {self.seq}"
                self.seq = m["seq"]
                apply_event(self.canvases, m)
                if m["kind"] in STATUS_OF_KIND:
                    self.status[m["agent"]] = STATUS_OF_KIND[m["kind"]]
                elif m["kind"] == "status":
                    self.activity[m["agent"]] = m["data"]


def stuck_viewer(port: int, path: str = "/ws") -> socket.socket:
    """A WebSocket that never reads: a raw socket with a small receive buffer; after the handshake's answer,
    nothing is ever read from it again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: not one byte past the handshake's answer is read
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> bool:
    """Read a socket to its end; True if the peer closed it (EOF or reset) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(1 << 16):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def scripted(addrs, name: str, *args: str):
    """A SCRIPTED, NON-LLM load agent (services/scripted_agent)."""
    return aurora("scripted-agent", name, "--events", addrs.events, "--snapshots", addrs.snapshots,
                  "--agents", addrs.agents, "--record", addrs.record, *args)


def stop_all(procs) -> None:
    for p in procs:
        stop(p)
