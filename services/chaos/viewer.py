"""The viewers that watch the studio through every fault: a Replica (services/canvas/replica.py) on a thread of
its own, which resyncs whenever it must and, while the canvas is down, keeps asking for a snapshot; and a
WebSocket client of the gateway, as a browser's page."""

from __future__ import annotations

import json
import threading
import time

import zmq
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from proto.canvas import CanvasModel
from proto.events import apply_event
from services.canvas.replica import Replica


class Viewer(threading.Thread):
    def __init__(self, events: str, snapshots: str):
        super().__init__(name="chaos-viewer", daemon=True)
        self.context = zmq.Context()
        self.replica = Replica(events, snapshots, context=self.context, sender="chaos-viewer")
        self.stopping = threading.Event()
        self.snapshot_failures = 0  # snapshot requests unanswered (the canvas was down)

    def run(self) -> None:
        while not self.stopping.is_set():
            self._poll(0.2)

    def _poll(self, timeout: float) -> None:
        try:
            self.replica.poll(timeout)
        except TimeoutError:
            self.snapshot_failures += 1
            self.replica.synced = False  # ask again on the next poll

    def finish(self, seq: int, timeout: float) -> bool:
        """Stop the thread, then follow the studio (here) until it is at `seq` or past; whether it got there."""
        self.stopping.set()
        self.join(30)
        deadline = time.monotonic() + timeout
        while self.replica.seq < seq or not self.replica.synced:
            if time.monotonic() > deadline:
                return False
            self._poll(0.2)
        return True

    def close(self) -> None:
        self.replica.close()
        self.context.destroy(0)


class WebViewer(threading.Thread):
    """A browser's view of the studio: a WebSocket client of the gateway (PROTOCOL.md section 12) that builds
    the canvases from its snapshot and events, starts over at `resync`, and connects again whenever the gateway
    goes away (killed, stopped), as the page does."""

    RECONNECT_S = 0.5

    def __init__(self, url: str):
        super().__init__(name="chaos-web-viewer", daemon=True)
        self.url = url
        self.canvases: dict[str, CanvasModel] = {}
        self.seq = 0
        self.synced = False
        self.snapshots = self.connections = self.out_of_order = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with connect(self.url, proxy=None, open_timeout=10, max_size=None) as ws:
                    self.connections += 1
                    while not self.stopping.is_set():
                        try:
                            self._on(json.loads(ws.recv(timeout=0.5)))
                        except TimeoutError:
                            continue
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                pass  # the gateway is away: connect again, as the page does
            with self.lock:
                self.synced = False
            self.stopping.wait(self.RECONNECT_S)

    def _on(self, msg: dict) -> None:
        with self.lock:
            if msg["type"] == "snapshot":
                self.canvases = {n: CanvasModel.from_dict(c) for n, c in msg["canvases"].items()}
                self.seq, self.synced = msg["seq"], True
                self.snapshots += 1
            elif msg["type"] == "resync":
                self.synced = False  # a snapshot follows
            elif msg["type"] == "event" and self.synced:
                if msg["seq"] != self.seq + 1:
                    self.out_of_order += 1
                    self.synced = False  # only a snapshot puts it right: wait for the next resync
                    return
                apply_event(self.canvases, msg)
                self.seq = msg["seq"]

    def at(self, seq: int, timeout: float) -> tuple[int, dict[str, CanvasModel]] | None:
        """Once it is synced at `seq` or past: (its seq, a copy of its canvases); None if not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.synced and self.seq >= seq:
                    return self.seq, {n: CanvasModel.from_dict(c.to_dict()) for n, c in self.canvases.items()}
            time.sleep(0.1)  # polling the reader thread's progress
        return None

    def finish(self) -> None:
        self.stopping.set()
        self.join(30)
