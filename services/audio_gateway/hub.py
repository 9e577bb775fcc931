"""The fan-out: the feed's ordered batches to every WebSocket viewer (PROTOCOL.md section 12). Event loop only.

A new viewer waits for the next `snapshot` in the feed's stream, then gets every event after it. Each event's
JSON text was made once, on the feed thread, and the same string is queued to every viewer. A viewer whose
queue is full is not waited for: its queue is cleared, it gets `resync` and waits for a fresh snapshot. One that
overflows again and again without ever catching up, or whose send blocks past `send_timeout`, is dropped
(closed with 1013). When the gateway's own replica resyncs (it lost events), every viewer does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any, Callable

from services.audio_gateway import messages
from services.audio_gateway.live import LiveStudio, public
from services.audio_gateway.viewer import Item, Viewer
from services.base.log import event

log = logging.getLogger("aurora.gateway.hub")

TRY_AGAIN_LATER = 1013  # WebSocket close code: the viewer cannot keep up
POLICY_VIOLATION = 1008  # WebSocket close code: refused (too many viewers from one address)
QUEUE_FULL = "queue_full"  # resync reasons
STUDIO_RESYNCED = "studio_resynced"


class Stats:
    """The hub's counts, read by /metrics (services/audio_gateway/metrics.py)."""

    def __init__(self) -> None:
        self.events = 0  # events received from the feed
        self.snapshots = 0  # snapshots received from the feed
        self.accepted = 0  # viewers accepted
        self.sent: Counter[str] = Counter()  # messages sent, by type
        self.resyncs: Counter[str] = Counter()  # by reason
        self.dropped: Counter[str] = Counter()  # viewers closed for falling behind, by reason
        self.refusals: Counter[str] = Counter()  # WebSockets refused, by reason
        self.input_messages = 0  # what viewers sent (ignored)
        self.record_errors = 0  # the record's Redis failed an API request (answered from live counts)
        self.bad_events = 0  # events forwarded but not counted: their data is not as PROTOCOL.md section 5 says


class Hub:
    def __init__(self, live: LiveStudio, want_snapshot: Callable[[], None], *, queue: int = 1024,
                 max_resyncs: int = 3, send_timeout: float = 10.0, max_per_address: int = 16,
                 snapshot_works: int = 24):
        self.live = live
        self.want_snapshot = want_snapshot
        self.queue = queue
        self.max_resyncs = max_resyncs
        self.send_timeout = send_timeout
        self.max_per_address = max_per_address
        self.snapshot_works = snapshot_works
        self.viewers: set[Viewer] = set()
        self.by_address: Counter[str] = Counter()
        self._active: list[Viewer] = []
        self._waiting: set[Viewer] = set()
        self.seq = 0  # the seq of the last event or snapshot from the feed
        self.synced = False  # the feed has given a snapshot
        self.stats = Stats()

    # -- viewers come and go --------------------------------------------------------------------------------

    def join(self, viewer: Viewer) -> bool:
        """Take a new viewer (False: its address has the most viewers allowed); it waits for a snapshot."""
        if self.by_address[viewer.address] >= self.max_per_address:
            self.refuse("too_many_from_address", viewer.address, viewers=self.by_address[viewer.address])
            return False
        self.by_address[viewer.address] += 1
        self.viewers.add(viewer)
        self._waiting.add(viewer)
        self.stats.accepted += 1
        self.want_snapshot()
        event(log, logging.INFO, "viewer joined", viewer=viewer.id, address=viewer.address)
        return True

    def leave(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            return
        self.viewers.discard(viewer)
        self._forget(viewer)
        self.by_address[viewer.address] -= 1
        if self.by_address[viewer.address] <= 0:
            del self.by_address[viewer.address]
        event(log, logging.INFO, "viewer left", viewer=viewer.id, address=viewer.address, sent=viewer.sent)

    def refuse(self, reason: str, address: str, **fields: Any) -> None:
        self.stats.refusals[reason] += 1
        event(log, logging.INFO, "viewer refused", reason=reason, address=address, **fields)

    def drop(self, viewer: Viewer, reason: str) -> None:
        """Close a viewer that cannot keep up (1013): it gets nothing more, its pump is cancelled."""
        if viewer.closed is not None:
            return
        viewer.closed = (TRY_AGAIN_LATER, reason)
        self.stats.dropped[reason.replace(" ", "_")] += 1
        self._forget(viewer)
        viewer.queue.clear()
        if viewer.task is not None:
            viewer.task.cancel()
        event(log, logging.INFO, "viewer dropped", viewer=viewer.id, address=viewer.address, reason=reason)

    def _forget(self, viewer: Viewer) -> None:
        if viewer.active:
            self._active.remove(viewer)
            viewer.active = False
        self._waiting.discard(viewer)

    def check_sends(self, now: float | None = None) -> None:
        """Drop every viewer whose send has been blocked for longer than `send_timeout`."""
        now = time.monotonic() if now is None else now
        for viewer in list(self.viewers):
            if viewer.sending_since is not None and now - viewer.sending_since > self.send_timeout:
                self.drop(viewer, "send timed out")

    async def watch_sends(self) -> None:
        period = max(0.05, min(1.0, self.send_timeout / 4))
        while True:
            await asyncio.sleep(period)  # a periodic check, not a wait for a condition
            self.check_sends()

    def sent(self, kind: str) -> None:
        self.stats.sent[kind] += 1

    def queued(self) -> list[int]:
        return [len(v.queue) for v in self.viewers]

    # -- the feed's stream ----------------------------------------------------------------------------------

    def deliver(self, batch: list[tuple]) -> None:
        """One batch from the feed (services/audio_gateway/feed.py), in order."""
        for item in batch:
            tag = item[0]
            if tag == "event":
                _, body, time_, text = item
                self.seq = body["seq"]
                self.stats.events += 1
                self._fan_out(("event", text))
                try:
                    work = self.live.on_event(body, time_)
                except (KeyError, TypeError, ValueError) as exc:  # an event whose data is not as section 5 says
                    work = None
                    self.stats.bad_events += 1
                    event(log, logging.WARNING, "event not counted", seq=body["seq"], error=repr(exc)[:200])
                if work is not None:
                    self._fan_out(("work", messages.work(public(work))))
            elif tag == "salon":
                self._fan_out(item)
            elif tag == "snapshot":
                _, seq, canvases, jumped, salon = item
                self._snapshot(seq, canvases, jumped, salon)
            elif tag == "answer":
                _, future, value, error = item
                if not future.done():
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(value)

    def _fan_out(self, item: Item) -> None:
        full = None
        for viewer in self._active:
            queue = viewer.queue
            if len(queue) >= viewer.limit:
                if full is None:
                    full = []
                full.append(viewer)
                continue
            queue.append(item)
            viewer.wake.set()
        if full:
            for viewer in full:
                self._overflow(viewer)

    def _overflow(self, viewer: Viewer) -> None:
        viewer.resyncs_in_a_row += 1
        if viewer.resyncs_in_a_row > self.max_resyncs:
            self.drop(viewer, "too many resyncs")
            return
        self._resync(viewer, QUEUE_FULL)
        self.want_snapshot()

    def _resync(self, viewer: Viewer, reason: str) -> None:
        self.stats.resyncs[reason] += 1
        self._forget(viewer)
        viewer.queue.clear()
        viewer.put(("resync", messages.resync(reason)))
        self._waiting.add(viewer)

    def _snapshot(self, seq: int, canvases: dict[str, Any], jumped: bool,
                  salon: tuple[str, dict[str, Any] | None]) -> None:
        self.seq = seq
        self.synced = True
        self.stats.snapshots += 1
        if jumped:
            for viewer in list(self._active):  # they followed events the replica then lost
                self._resync(viewer, STUDIO_RESYNCED)
        if not self._waiting:
            return
        mode, board = salon
        item = ("snapshot", messages.snapshot(seq, canvases, self.live.latest(self.snapshot_works), mode, board))
        for viewer in self._waiting:
            viewer.put(item)
            viewer.active = True
            self._active.append(viewer)
        self._waiting.clear()
