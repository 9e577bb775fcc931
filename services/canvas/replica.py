"""A late-joining copy of the studio, kept live from the events socket (the ZeroMQ guide's Clone pattern).

Subscribe first, then ask for a snapshot with its sequence number, then apply every later event; events at
or below the snapshot's number are dropped, and a gap in the sequence (PUB dropped something for a slow
reader, or the subscription started late) triggers a fresh snapshot. So does a `tick` (PROTOCOL.md section 10)
whose seq is above ours: the last events before a quiet spell were lost, and no later event would show the gap.
The salon's board (PROTOCOL.md section 14) is kept the same way: from the snapshot's `mode` and `salon`, then
the `post`, `reply` and `react` events through services/salon/board.py's own `on_event`.
Used by tests, `aurora peek`, and the viewers and recorder of later issues. Given `curve`
(services/base/curve.py) both its sockets talk CurveZMQ; without, it refuses addresses that are not loopback.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import zmq

from proto.canvas import CanvasModel
from proto.envelope import Message, decode, encode
from proto.errors import ProtocolError
from proto.events import BOARD_KINDS, apply_event
from proto.messages import MODES
from proto.topics import TICK_TOPIC, decode_published
from services.base.curve import ClientCurve, HandshakeWatch, KeyRefused, require
from services.salon.board import Board

log = logging.getLogger("aurora.replica")

STATUS_OF_KIND = {"joined": "live", "missing": "missing", "left": "away"}


class Replica:
    """Every canvas of the studio, with its agent's status and activity, at `seq`.

    `prefix` subscribes to the topics that begin with it only (`canvas.ada.`); `studio.tick` is subscribed as
    well, whatever the prefix. The seq is the studio's, so with a prefix the events filtered out look like gaps:
    each costs a snapshot.
    """

    def __init__(self, events: str, snapshots: str, *, context: zmq.Context | None = None,
                 sender: str = "viewer", prefix: str = "", curve: ClientCurve | None = None):
        self.context = context or zmq.Context.instance()
        self.sender = sender
        self.snapshots_addr = snapshots
        self.curve = curve
        for address in (events, snapshots):
            require(address, curve)  # CurveError: plaintext to an address that is not loopback
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)
        self.sub.setsockopt_string(zmq.SUBSCRIBE, prefix)
        if not TICK_TOPIC.startswith(prefix):  # a prefix ("note.") would filter out the ticks
            self.sub.setsockopt_string(zmq.SUBSCRIBE, TICK_TOPIC)
        if curve is not None:
            curve.apply(self.sub)
        self.sub.connect(events)
        self.canvases: dict[str, CanvasModel] = {}
        self.status: dict[str, str] = {}
        self.activity: dict[str, dict | None] = {}
        self.mode = "isolated"  # the studio's (section 14): isolated, or salon
        self.board = Board()  # the salon's posts, replies and reactions; empty in an isolated studio
        self.seq = 0
        self.synced = False
        self.counters: Counter[str] = Counter()

    def close(self) -> None:
        self.sub.close(0)

    def sync(self, timeout: float = 5.0) -> None:
        """Load a snapshot; events from before it will be dropped. Raises TimeoutError if none comes (at once,
        saying so, when the canvas refuses our CurveZMQ key)."""
        dealer = self.context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        watch = None
        if self.curve is not None:
            self.curve.apply(dealer)
            watch = HandshakeWatch(dealer, self.snapshots_addr, self.curve)
        dealer.connect(self.snapshots_addr)
        try:
            request = Message("snapshot_request", {"agent": None}, self.sender)
            dealer.send(encode(request))
            if not self._answered(dealer, watch, timeout):
                message = f"no snapshot from {self.snapshots_addr} within {timeout}s; is the canvas up?"
                raise TimeoutError(watch.explain(message) if watch is not None else message)
            snap = decode(dealer.recv(), limit=1 << 26, accept=frozenset({"snapshot"}))
        finally:
            if watch is not None:
                watch.close()
            dealer.close(0)
        self.load(snap.body)

    def load(self, body: dict) -> None:
        """Take a snapshot's body (section 4) as the studio now."""
        self.canvases = {name: CanvasModel.from_dict(c) for name, c in body["canvases"].items()}
        self.status = {name: c.get("status", "away") for name, c in body["canvases"].items()}
        self.activity = {name: c.get("activity") for name, c in body["canvases"].items()}
        self.mode = body.get("mode") if body.get("mode") in MODES else "isolated"
        self.board = Board.from_snapshot(body.get("salon"), self.counters)
        self.seq = body["seq"]
        self.synced = True
        self.counters["snapshots"] += 1

    @staticmethod
    def _answered(dealer: zmq.Socket, watch: HandshakeWatch | None, timeout: float) -> bool:
        if watch is None:
            return bool(dealer.poll(int(timeout * 1000), zmq.POLLIN))
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        poller.register(watch.monitor, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if dealer in dict(poller.poll(int(left * 1000) + 1)):
                return True
            try:
                watch.check()
            except KeyRefused as exc:  # no snapshot will ever come: say why at once
                raise TimeoutError(exc.reason) from None
        return False

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Apply the events that arrive within `timeout` seconds (all that are ready, at least); return them."""
        if not self.synced:
            self.sync()
        applied: list[Message] = []
        timeout_ms = int(timeout * 1000)
        while self.sub.poll(timeout_ms, zmq.POLLIN):
            timeout_ms = 0
            frames = self.sub.recv_multipart()
            try:
                msg = decode_published(frames)
            except ProtocolError as exc:
                self.counters["dropped_bad_event"] += 1
                log.warning("bad event dropped", extra={"fields": {"reason": exc.reason}})
                continue
            seq = msg.body["seq"]
            if msg.type == "tick":
                self.counters["ticks"] += 1
                if seq > self.seq:  # the studio is past us: events were lost, and none since showed the gap
                    self.counters["behind"] += 1
                    self.sync()
                elif seq < self.seq:  # its sequence went back: a canvas restarted without a record (--volatile)
                    self.counters["restarts"] += 1
                    self.sync()
                continue
            if seq <= self.seq:
                self.counters["dropped_old"] += 1
                continue
            if seq != self.seq + 1:
                # A gap. The snapshot is taken after this event was published, so it already holds it.
                self.counters["gaps"] += 1
                self.sync()
                continue
            self.apply(msg)
            applied.append(msg)
        return applied

    def wait_for(self, condition, timeout: float = 10.0) -> None:
        """Poll events until `condition(self)` holds; raises TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s (at seq {self.seq})")
            self.poll(0.05)

    def apply(self, msg: Message) -> None:
        body = msg.body
        self.seq = body["seq"]
        apply_event(self.canvases, body)
        kind = body["kind"]
        if kind in STATUS_OF_KIND:
            self.status[body["agent"]] = STATUS_OF_KIND[kind]
        elif kind == "status":
            self.activity[body["agent"]] = body["data"]
        elif kind in BOARD_KINDS and not self.board.on_event(body["seq"], body["agent"], kind, body["data"]):
            self.counters["salon_unapplied"] += 1  # not as section 5 says: counted, the board unchanged
