"""The studio as the gateway follows it: a Replica (services/canvas/replica.py) on a thread of its own.

The feed thread is the only one that touches the replica: it reads the events socket, applies each event,
encodes it to JSON once, and hands what it saw to the asyncio loop in ordered batches (call_soon_threadsafe).
The loop never reads the replica; it asks, and the answer comes back in the same ordered stream:

- `("event", body, time, text)`: an event applied, with its JSON text (services/audio_gateway/messages.py);
- `("salon", text)`: after a salon event (`post`, `reply`, `react`), the post it changed as a `salon` message;
- `("snapshot", seq, canvases, jumped, (mode, board))`: the studio at `seq` (canvas maps with `status` and
  `activity`; its mode and, in a salon, its board: services/audio_gateway/salon.py).
  Given whenever the loop wants one for new viewers, and after every (re)sync of the replica, `jumped`:
  the replica joined late or lost events (a gap, a tick ahead of it), so viewers that followed its events
  must start again from this snapshot;
- `("answer", future, value, error)`: what `ask(fn)` computed from the replica.

Since a snapshot sits in the stream at its seq, a viewer handed one goes on with exactly the events after it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import select
import socket
import threading
import time
from typing import Any, Callable

import zmq

from proto.events import BOARD_KINDS
from proto.heartbeat import RECONNECT_MAX, RECONNECT_MIN
from services.audio_gateway import messages
from services.audio_gateway.salon import changed_post, salon_of
from services.base.log import event
from services.canvas.replica import Replica

log = logging.getLogger("aurora.gateway.feed")

FLUSH_EVERY = 256  # events applied before a batch goes to the loop, even while more are waiting
MAX_PENDING = 64  # batches handed to the loop and not yet delivered; past it the feed waits (and the SUB fills)
POLL_MS = 500  # the feed thread's longest sleep; it wakes at once for events and for the loop's requests

Deliver = Callable[[list[tuple]], None]


def canvases_of(replica: Replica) -> dict[str, dict[str, Any]]:
    """Every canvas map of a snapshot (PROTOCOL.md section 4), as new objects the loop may keep."""
    return {name: {**canvas.to_dict(), "status": replica.status.get(name, "away"),
                   "activity": replica.activity.get(name)}
            for name, canvas in replica.canvases.items()}


class _FeedReplica(Replica):
    """A Replica that writes what it applies, and each snapshot it loads, into the feed's next batch."""

    def __init__(self, feed: "Feed", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.feed = feed
        self.broken = False  # an event could not be applied: the canvases are in doubt until the next sync

    @property
    def needs_sync(self) -> bool:
        return not self.synced or self.broken

    def sync(self, timeout: float | None = None) -> None:
        super().sync(self.feed.sync_timeout if timeout is None else timeout)
        self.broken = False
        self.feed.heard = time.monotonic()
        self.feed.synced_once = True
        self.feed.out.append(("snapshot", self.seq, canvases_of(self), True, salon_of(self)))

    def apply(self, msg) -> None:
        try:
            super().apply(msg)
        except ValueError as exc:  # the canvas published what its own rules cannot apply: resync
            self.counters["unappliable"] += 1
            self.broken = True
            event(log, logging.WARNING, "event could not be applied; resyncing", seq=msg.body["seq"],
                  reason=str(exc)[:200])
        body = msg.body
        self.feed.out.append(("event", body, msg.time, messages.event(body, msg.time)))
        if body["kind"] in BOARD_KINDS:
            post = changed_post(self, body)
            if post is not None:
                self.feed.out.append(("salon", messages.salon(body["seq"], post)))
        if len(self.feed.out) >= self.feed.flush_every:
            self.feed.flush(self)


class Feed:
    """Follows the studio on a thread; `start(loop, deliver)` hands its batches to `deliver` on `loop`."""

    def __init__(self, events: str, snapshots: str, *, sync_timeout: float = 2.0, flush_every: int = FLUSH_EVERY,
                 curve=None):
        self.events_addr, self.snapshots_addr = events, snapshots
        self.curve = curve  # services.base.curve.ClientCurve for a canvas off loopback (PROTOCOL.md section 13)
        self.sync_timeout = sync_timeout
        self.flush_every = flush_every
        self.out: list[tuple] = []  # the next batch (feed thread only)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deliver: Deliver | None = None
        self._want = threading.Event()
        self._asks: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._pending = threading.BoundedSemaphore(MAX_PENDING)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        # Written by the feed thread, read by the loop: plain values, each replaced whole.
        self.heard: float | None = None  # time.monotonic() when the canvas was last heard (event, tick, snapshot)
        self.synced_once = False
        self.counters: dict[str, int] = {}  # the replica's (snapshots, gaps, ticks, ...), copied at each batch
        self.failed: str | None = None  # the feed thread died: why

    # -- the loop's side ------------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
        self._loop, self._deliver = loop, deliver
        self._thread = threading.Thread(target=self._run, name="gateway-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self._wake_r.close()
        self._wake_w.close()

    def want_snapshot(self) -> None:
        """Ask for a `snapshot` item in the stream (at the replica's next chance, once it is synced)."""
        self._want.set()
        self._wake()

    async def ask(self, fn: Callable[[Replica], Any], timeout: float = 5.0) -> Any:
        """`fn(replica)`, computed on the feed thread; raises TimeoutError if the feed does not answer."""
        future = asyncio.get_running_loop().create_future()
        self._asks.put((fn, future))
        self._wake()
        return await asyncio.wait_for(future, timeout)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (it is awake already) or closed (stopping)
            pass

    # -- the feed thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        context = zmq.Context()
        replica = _FeedReplica(self, self.events_addr, self.snapshots_addr, context=context, sender="gateway",
                               curve=self.curve)
        poller = zmq.Poller()
        poller.register(replica.sub, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        backoff = RECONNECT_MIN
        try:
            while not self._stopping.is_set():
                if replica.needs_sync:
                    try:
                        replica.sync()
                        backoff = RECONNECT_MIN
                    except TimeoutError as exc:
                        event(log, logging.WARNING if self.synced_once else logging.INFO,
                              "no snapshot from the canvas; retrying", reason=str(exc), retry_in=backoff)
                        self.flush(replica)  # questions are answered meanwhile (from what the replica holds)
                        self._sleep(backoff)
                        backoff = min(backoff * 2, RECONNECT_MAX)
                        continue
                ready = dict(poller.poll(POLL_MS))
                if self._wake_r.fileno() in ready:  # zmq.Poller names a plain socket by its descriptor
                    self._drain_wake()
                if replica.sub in ready:
                    self.heard = time.monotonic()
                    try:
                        replica.poll(0)
                    except TimeoutError:  # a resync after a gap found no canvas: try again from the top
                        replica.broken = True
                self.flush(replica)
        except Exception as exc:  # never silently: /healthz reports it
            self.failed = f"{type(exc).__name__}: {exc}"
            log.exception("the feed thread failed")
        finally:
            replica.close()
            context.destroy(0)

    def flush(self, replica: _FeedReplica) -> None:
        """Answer what the loop asked for, and hand the batch to the loop."""
        out = self.out
        if self._want.is_set() and not replica.needs_sync:
            self._want.clear()
            out.append(("snapshot", replica.seq, canvases_of(replica), False, salon_of(replica)))
        while True:
            try:
                fn, future = self._asks.get_nowait()
            except queue.Empty:
                break
            try:
                out.append(("answer", future, fn(replica), None))
            except Exception as exc:  # the asker gets it
                out.append(("answer", future, None, exc))
        self.counters = dict(replica.counters)
        if out:
            self.out = []
            while not self._pending.acquire(timeout=0.5):  # the loop is behind: wait rather than pile up batches
                if self._stopping.is_set():
                    return
            try:
                self._loop.call_soon_threadsafe(self._hand_over, out)
            except RuntimeError:  # the loop is closed: the gateway is stopping
                self._pending.release()

    def _hand_over(self, batch: list[tuple]) -> None:
        """On the loop: deliver one batch."""
        try:
            self._deliver(batch)
        finally:
            self._pending.release()

    def _sleep(self, seconds: float) -> None:
        """Wait up to `seconds`, waking early for a request or to stop."""
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:  # drained (BlockingIOError) or closed
            pass
