"""The canvas's end of the record socket: one recorder at a time, batches out, confirmations in (PROTOCOL.md 11).

The recorder connects and says `record_hello` with the last seq it has stored (and, for a canvas that has
just started, the recorded state of every canvas, which that canvas adopts before it serves anyone). The
canvas answers `recorded` with what it holds as committed, then sends every event past the recorder's seq,
batched, and commits what each `recorded` confirms (services/canvas/journal.py). A recorder that falls
silent for INTERVAL x LIVENESS is dropped; events wait for the next one to say hello.
"""

from __future__ import annotations

import logging
from typing import Callable

from proto.canvas import CanvasModel
from proto.envelope import Message, encode
from proto.errors import ProtocolError
from proto.messages import RECORD_BATCH_MAX
from proto.names import name_problem
from services.base.log import event
from services.canvas.journal import Journal

log = logging.getLogger("aurora.canvas")
SENDER = "canvas"
SNAPSHOT_EVERY = 256  # an agent's events between two snapshots of its canvas in the record


class RecordBehind(BaseException):
    """The record ends before events it had confirmed: its Redis lost writes it had answered. The canvas no
    longer holds those events and cannot send them again, so no recorder could ever follow it (each would find
    a gap, ask again, for ever, every reply held). The canvas must stop, and start again from the record, as
    after a crash. A BaseException, so that the service loop's guard, which keeps a service going after a
    failed handler, lets it through to `aurora canvas`, which exits with EXIT_RECORD_BEHIND."""


EXIT_RECORD_BEHIND = 3


class RecorderLink:
    def __init__(self, journal: Journal, send: Callable[[bytes, bytes], bool], *, interval: float,
                 liveness: int, clock: Callable[[], float], adopt: Callable[[int, dict], None],
                 applied: Callable[[], int], canvas_of: Callable[[str], CanvasModel | None]):
        self.journal = journal
        self.send = send          # (route, frame) -> delivered
        self.interval = interval
        self.liveness = liveness
        self.clock = clock
        self.adopt = adopt        # (seq, canvases, salon events) for a canvas that has not served anyone yet
        self.applied = applied    # the studio's last seq
        self.canvas_of = canvas_of
        self.since_snapshot: dict[str, int] = {}  # an agent's events since its canvas was last sent whole
        self.due: set[str] = set()                # agents whose canvas goes with the next batch
        self.route: bytes | None = None
        self.heard = self.sent = 0.0
        self.ready = not journal.durable  # a durable canvas serves no one before its first recorder

    def on_message(self, route: bytes, msg: Message) -> None:
        now = self.clock()
        if msg.type == "record_hello":
            self._hello(route, msg)
        elif route != self.route:
            # A recorder this canvas does not know (the canvas restarted under it): it must say hello again.
            raise ProtocolError("say record_hello first", code="not_registered", parent_id=msg.id)
        elif msg.type == "recorded":
            self.journal.commit(min(msg.body["seq"], self.applied()))
        self.heard = now

    def _hello(self, route: bytes, msg: Message) -> None:
        seq, canvases = msg.body["seq"], msg.body.get("canvases")
        if seq < 0:  # adopted, it would number the studio's next events from below zero
            raise ProtocolError("seq counts the events stored, from 0", code="bad_field", parent_id=msg.id)
        if not self.ready:
            if canvases is None and seq > 0:
                raise ProtocolError("a canvas that has just started needs the recorded canvases",
                                    code="bad_field", parent_id=msg.id)
            models = _models(canvases or {}, msg.id)
            self.adopt(seq, models, msg.body.get("salon") or [])
            self.journal.committed = seq
            self.ready = True
            event(log, logging.INFO, "resumed from the record", seq=seq, canvases=len(models))
        elif seq > self.applied():
            # The record holds events this canvas never made: another canvas wrote to it. Refuse, loudly.
            event(log, logging.ERROR, "the recorder holds more than this canvas applied; is another canvas "
                  "recording to the same Redis?", recorder_seq=seq, canvas_seq=self.applied())
            raise ProtocolError(f"record at seq {seq} is ahead of this canvas ({self.applied()})",
                                code="bad_field", parent_id=msg.id)
        elif seq < self.journal.committed:
            event(log, logging.CRITICAL, "the record lost events it had confirmed (its Redis lost answered writes: "
                  "restored from an older file, or a server of your own without appendfsync always); the canvas "
                  "stops to start again from the record", record_seq=seq, confirmed=self.journal.committed)
            raise RecordBehind(f"the record ends at seq {seq}, before the {self.journal.committed} it confirmed")
        else:
            self.journal.commit(seq)
        self.route = route
        self.journal.resend_after(seq)
        self._send(msg.reply("recorded", {"seq": self.journal.committed}, SENDER))

    def changed(self, agent: str, kind: str) -> None:
        """An event of `agent` was applied: its canvas is sent whole when a canvas or a work begins, and after
        SNAPSHOT_EVERY of its events, so the recorder writes snapshots without applying any op itself."""
        n = self.since_snapshot.get(agent, 0) + 1
        if kind == "new" or n >= SNAPSHOT_EVERY:
            self.due.add(agent)
            n = 0
        self.since_snapshot[agent] = n

    def flush(self) -> None:
        """Send what was applied since the last flush (called once per wake-up of the loop: one batch), with
        the canvases due for a snapshot as they are now, after the batch's last event."""
        if self.route is None or not self.journal.unsent:
            return
        events = self.journal.take_unsent()
        snapshots = [[agent, canvas.to_dict()] for agent in sorted(self.due)
                     if (canvas := self.canvas_of(agent)) is not None]
        self.due.clear()
        for i in range(0, len(events), RECORD_BATCH_MAX):
            body = {"events": events[i:i + RECORD_BATCH_MAX]}
            if i + RECORD_BATCH_MAX >= len(events) and snapshots:
                body["snapshots"] = snapshots
            if not self._send(Message("record", body, SENDER)):
                self._lost("the record socket refused a batch")
                return

    def tick(self) -> None:
        if self.route is None:
            return
        now = self.clock()
        if now - self.heard > self.interval * self.liveness:
            self._lost(f"nothing heard for {self.interval * self.liveness:.1f}s")
        elif now - self.sent >= self.interval:
            self._send(Message("heartbeat", {}, SENDER))

    def _send(self, msg: Message) -> bool:
        self.sent = self.clock()
        return self.route is not None and self.send(self.route, encode(msg))

    def _lost(self, why: str) -> None:
        event(log, logging.WARNING, "recorder lost; replies wait for the next one", reason=why,
              uncommitted=self.journal.backlog)
        self.route = None


def _models(canvases: dict, parent_id: str) -> dict[str, CanvasModel]:
    """The recorded canvases as models, all or none: a name or a canvas map that is not one is refused with
    `bad_field` (it raised in the handler, unanswered), and the canvas goes on waiting for a record it can adopt."""
    models = {}
    for name, data in canvases.items():
        try:
            problem = name_problem(name) if isinstance(name, str) else "a canvas is named by its agent's name"
            if problem:
                raise ValueError(problem)
            models[name] = CanvasModel.from_dict(data)
        except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
            raise ProtocolError(f"recorded canvas {str(name)[:40]!r} is not one: {exc}"[:240], code="bad_field",
                                parent_id=parent_id) from None
    return models
