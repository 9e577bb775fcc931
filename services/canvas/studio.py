"""The canvas service's handlers: every canvas in the studio, and the only code that changes one.

Pure logic over an outbox (`send` a reply to a route, `publish` event frames), so the handlers are tested
against a fake transport and the real service only wires sockets to them (services/canvas/main.py).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import Counter
from typing import Any, Callable, Protocol

from proto.canvas import DEFAULT_HEIGHT, DEFAULT_WIDTH, CanvasModel
from proto.envelope import Message, decode, encode
from proto.errors import CODES, ProtocolError
from proto.messages import (ACTIVITIES, AGENT_FRAME_LIMIT, AGENT_TYPES, MODES, RECORD_FRAME_LIMIT, RECORDER_TYPES,
                            REJECTED_EACH_MAX, SNAPSHOT_TYPES, USAGE_FIELDS, echo_problem)
from proto.names import name_problem
from proto.ops.manual import LIST_NAMES, valid_lists
from proto.ops.parser import Op, Rejection, parse
from proto.ops.table import SALON_OPS
from proto.events import record_item
from proto.topics import encode_event, encode_tick
from proto.version import PROTOCOL_VERSION, compatible
from services.base.log import event
from services.canvas.journal import Held, Journal
from services.canvas.limits import DecisionRate
from services.canvas.recording import RecorderLink
from services.canvas.sessions import LIVE, MISSING, Session, Sessions
from services.salon.board import POSTS_KEPT, Board

log = logging.getLogger("aurora.canvas")
SENDER = "canvas"
VIEW_OPTIONS = frozenset({"coords", "cursor"})
SALON_NEWS = 6      # the salon's items (by others) a reply carries at most: the latest since the agent's last reply
SALON_RECENT = 2    # the posts by others a welcome carries, each with its latest replies
SALON_SHOWN = POSTS_KEPT  # the posts a viewer's snapshot carries: all the board holds, so viewers hold it too


class Outbox(Protocol):
    def send(self, route: bytes, frame: bytes) -> None:
        """A frame to one agent on the agents socket."""

    def answer(self, route: bytes, frame: bytes) -> None:
        """A frame to one viewer on the snapshots socket."""

    def publish(self, frames: list[bytes]) -> None:
        """An event's frames on the events socket."""

    def record(self, route: bytes, frame: bytes) -> bool:
        """A frame to the recorder on the record socket; False if it could not be queued."""


class Studio:
    def __init__(self, outbox: Outbox, *, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 frame_limit: int = AGENT_FRAME_LIMIT, sessions: Sessions | None = None,
                 clock: Callable[[], float] = time.monotonic, durable: bool = True,
                 rate: DecisionRate | None = None, proof: Callable[[str], str] | None = None,
                 mode: str = "isolated", board: Board | None = None, counters: Counter | None = None):
        CanvasModel(width, height)  # refuse a bad size at start-up, not at the first agent
        if mode not in MODES:
            raise ValueError(f"a studio's mode is {' or '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.board = board or Board()  # the salon (services/salon); in an isolated studio it only sees works end
        self.outbox = outbox
        self.width, self.height = width, height
        self.frame_limit = frame_limit
        self.sessions = sessions or Sessions()
        self.clock = clock
        self.canvases: dict[str, CanvasModel] = {}
        self.activity: dict[str, dict[str, Any]] = {}  # what each agent last said it is doing
        self.seq = 0
        # One set of counters for the service (its loop's, which it logs as it stops), the board's included.
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.counters.update(self.board.counters)  # what the board counted before it came here (its restore)
        self.board.counters = self.counters
        self.next_pulse = clock() + self.sessions.interval  # when the next `tick` is published
        self.journal = Journal(durable, outbox.publish)
        self.recorder = RecorderLink(self.journal, outbox.record, interval=self.sessions.interval,
                                     liveness=self.sessions.liveness, clock=clock, adopt=self._adopt,
                                     applied=lambda: self.seq, canvas_of=lambda agent: self.canvases.get(agent))
        self.early_snapshots: list[tuple[bytes, Message]] = []  # asked for before the recorder said hello
        self.rate = rate or DecisionRate()
        # On a plaintext agents socket, a hello proves its name: proof(name) is what it must carry (section 13).
        self.proof = proof
        self.in_flight: set[str] = set()  # agents whose last decision's reply has not gone out yet

    # -- transport edges ---------------------------------------------------------------------------

    def on_agent_frames(self, frames: list[bytes], user: str | None = None) -> None:
        """One multipart message from the agents ROUTER: [route, envelope]; `user`: the name the connection's
        CurveZMQ key is authorized under (None on plaintext)."""
        routed = self._routed(frames, self.outbox.send, self.frame_limit, AGENT_TYPES, tell_extra=True)
        if routed is None:
            return
        route, msg = routed
        try:
            if not self.recorder.ready:  # it knows no one yet: a hello is to retry, anything else to say hello
                if msg.type == "hello":
                    raise ProtocolError("the canvas is waiting for its recorder to restore the studio; retry",
                                        code="unavailable", parent_id=msg.id)
                raise ProtocolError("say hello first (the canvas has restarted)", code="not_registered",
                                    parent_id=msg.id)
            self._dispatch(route, msg, user)
        except ProtocolError as exc:
            self._error(route, exc)
        except Exception as exc:  # a bug in a handler: the agent hears of it, the service goes on
            self._failed(route, msg, exc)

    def _routed(self, frames: list[bytes], reply: Callable[[bytes, bytes], Any], limit: int,
                accept: frozenset[str], *, tell_extra: bool = False) -> tuple[bytes, Message] | None:
        """Every socket handler's preamble: [route, envelope] decoded, or None once the frames are dropped and
        counted (the sender told why, through `reply`, when its envelope is refused, or with `tell_extra` when it
        sent more than one frame)."""
        if len(frames) != 2:
            self.counters["dropped_malformed_routing"] += 1
            if tell_extra and len(frames) > 2:
                self._refuse(frames[0], ProtocolError(f"expected 1 frame, got {len(frames) - 1}"), reply)
            return None
        route, frame = frames
        try:
            return route, decode(frame, limit=limit, accept=accept)
        except ProtocolError as exc:
            self._refuse(route, exc, reply)
            return None

    def _refuse(self, route: bytes, exc: ProtocolError, reply: Callable[[bytes, bytes], Any]) -> None:
        self.counters[f"error_{exc.code}"] += 1
        reply(route, encode(_error_message(exc)))

    def _failed(self, route: bytes, msg: Message | None, exc: Exception) -> None:
        """A handler raised on `msg`. What it published before stays (each event was applied first); the agent
        is told to resync rather than left waiting for a reply that will never come."""
        self.counters["handler_errors"] += 1
        session = self.sessions.by_route.get(route)
        if session is not None:
            self.in_flight.discard(session.agent)
        kind = msg.type if msg is not None else "message"
        log.exception("a handler failed; the agent is told to resync", extra={"fields": {
            "type": kind, "agent": session.agent if session else None, "error": repr(exc)[:200]}})
        self._error(route, ProtocolError(f"the canvas failed on this {kind} ({type(exc).__name__}); what it "
                                         "applied before failing stays: say hello again to see the canvas as it is",
                                         code="internal", parent_id=msg.id if msg is not None else None))

    def on_snapshot_frames(self, frames: list[bytes]) -> None:
        routed = self._routed(frames, self.outbox.answer, self.frame_limit, SNAPSHOT_TYPES)
        if routed is None:
            return
        route, msg = routed
        if not self.recorder.ready:
            self.early_snapshots.append((route, msg))
            return
        self._snapshot(route, msg)

    def _snapshot(self, route: bytes, msg: Message) -> None:
        wanted = msg.body.get("agent")
        names = [wanted] if wanted is not None else list(self.canvases)
        canvases = {
            name: {**self.canvases[name].to_dict(), "status": self.sessions.status_of(name),
                   "activity": self.activity.get(name)}
            for name in names if name in self.canvases
        }
        body = {"seq": self.seq, "canvases": canvases, "mode": self.mode}
        if self.mode == "salon":
            body["salon"] = self.board.snapshot(SALON_SHOWN)
        frame = encode(msg.reply("snapshot", body, SENDER))
        # Taken now, answered once committed: the viewer then gets every later event, and nothing uncommitted.
        self.journal.hold(Held(self.seq, lambda: self.outbox.answer(route, frame), self.clock()))

    def on_record_frames(self, frames: list[bytes]) -> None:
        """One multipart message from the record ROUTER: [route, envelope] from a recorder."""
        # Not the agents' limit: a recorder's hello carries every recorded canvas (a studio of 40 agents could
        # not resume under it). Only the recorder's key gets this far (section 13).
        routed = self._routed(frames, self.outbox.record, RECORD_FRAME_LIMIT, RECORDER_TYPES)
        if routed is None:
            return
        route, msg = routed
        try:
            self.recorder.on_message(route, msg)
        except ProtocolError as exc:
            self.counters[f"error_{exc.code}"] += 1
            self.outbox.record(route, encode(_error_message(exc)))
            return
        if self.recorder.ready and self.early_snapshots:
            for early in self.early_snapshots:
                self._snapshot(*early)
            self.early_snapshots = []

    def flush(self) -> None:
        """After each wake-up of the loop: this wake-up's events go to the recorder as one batch."""
        self.recorder.flush()

    def _adopt(self, seq: int, canvases: dict[str, CanvasModel], salon: list) -> None:
        self.seq = seq
        self.canvases = canvases
        skipped = 0
        for item in salon:  # the salon's recorded events: the board as it was (services/recorder/store.py)
            taken = (isinstance(item, list) and len(item) == 4 and type(item[0]) is int and isinstance(item[1], str)
                     and isinstance(item[3], dict) and self.board.on_event(item[0], item[1], str(item[2]), item[3]))
            skipped += not taken
        if skipped:
            self.counters["salon_restore_skipped"] += skipped
            event(log, logging.WARNING, "recorded salon events not as the protocol says were skipped", skipped=skipped)

    def tick(self) -> None:
        """Heartbeats out, silent agents marked missing or ended (PROTOCOL.md section 9), and every interval a
        `tick` with the current seq on the events socket, so a viewer that lost the last events learns of it
        even when the studio is quiet (section 10)."""
        now = self.clock()
        missing, ended = self.sessions.sweep(now)
        for session in missing:
            self._publish(session.agent, "missing", {"silent_for": round(now - session.last_heard, 3)})
        for session in ended:
            self._publish(session.agent, "left", {"reason": "timeout"})
        for session in self.sessions.needing_heartbeat(now):
            self._send(session.route, Message("heartbeat", {}, SENDER), session)
        for held in self.journal.overdue(now, self.sessions.interval):
            self._send(held.route, Message("wait", {"reason": "the recorder has not yet stored this decision; "
                                                    "the reply follows once it has"}, SENDER,
                                           parent_id=held.parent_id))
        self.recorder.tick()
        if now >= self.next_pulse:  # after the sweep, so the tick carries the seq of its events too
            # The last committed seq: what a viewer can have (not an event: it takes no seq).
            self.outbox.publish(encode_tick(self.journal.committed, SENDER))
            # On schedule rather than `now + interval`, which would drift late by up to a call's period.
            self.next_pulse += self.sessions.interval
            if self.next_pulse <= now:  # the loop stalled for more than an interval: start again from now
                self.next_pulse = now + self.sessions.interval

    # -- handlers ----------------------------------------------------------------------------------

    def _dispatch(self, route: bytes, msg: Message, user: str | None = None) -> None:
        session = self.sessions.by_route.get(route)
        if msg.type == "hello":
            self._hello(route, msg, session, user)
            return
        if session is None:
            raise ProtocolError("say hello first", code="not_registered", parent_id=msg.id)
        if msg.sender != session.agent:
            raise ProtocolError(f"this connection is {session.agent!r}, not {msg.sender[:40]!r}",
                                code="identity_mismatch", parent_id=msg.id)
        session.last_heard = self.clock()
        if session.status == MISSING:
            session.status = LIVE
            self._publish(session.agent, "joined", {**session.joined(), "mode": self.mode})
        if msg.type == "ops":
            self._ops(session, msg)
        elif msg.type == "status":
            self._status(session, msg)
        elif msg.type == "statement":
            self._statement(session, msg)
        elif msg.type == "echo":
            self._echo(session, msg)
        elif msg.type == "bye":
            self.sessions.remove(session)
            self._publish(session.agent, "left", {"reason": "bye"})
        # heartbeat: being heard was all it had to say

    def _hello(self, route: bytes, msg: Message, current: Session | None, user: str | None = None) -> None:
        body = msg.body
        name = body["agent"]
        if not compatible(body["protocol"]):
            raise ProtocolError(f"this canvas speaks protocol {PROTOCOL_VERSION}, the agent {body['protocol'][:16]!r};"
                                " upgrade the older side", code="version_mismatch", parent_id=msg.id)
        problem = name_problem(name)
        if problem:
            raise ProtocolError(problem, code="bad_name", parent_id=msg.id)
        if msg.sender != name or (current is not None and current.agent != name):
            bound = current.agent if current else msg.sender
            raise ProtocolError(f"hello names {name!r} but this connection is {bound[:40]!r}",
                                code="identity_mismatch", parent_id=msg.id)
        if user is not None and user != name:
            raise ProtocolError(f"this connection's key is authorized as {user[:64]!r}, so it may say hello as "
                                f"{user[:64]!r} only; give agent {name!r} a key of its own (aurora keys create "
                                f"{name})", code="identity_mismatch", parent_id=msg.id)
        if user is None and self.proof is not None and not hmac.compare_digest(
                str(body.get("proof") or "").encode(), self.proof(name).encode()):
            self._refused_name(name, msg)
        view = body.get("view") or {}
        if set(view) - VIEW_OPTIONS or not all(type(v) is bool for v in view.values()):
            raise ProtocolError(f"view options are booleans named {', '.join(sorted(VIEW_OPTIONS))}",
                                code="bad_field", parent_id=msg.id)
        lists = body.get("lists")
        if lists is not None and not valid_lists(lists):
            raise ProtocolError(f"lists must hold each of {', '.join(LIST_NAMES)}, each a reordering of the "
                                "op table's", code="bad_field", parent_id=msg.id)
        now = self.clock()
        holder = self.sessions.by_agent.get(name)
        if holder is not None and holder is not current:
            if holder.status == LIVE:
                raise ProtocolError(f"agent {name!r} is connected elsewhere; retry after it leaves or goes"
                                    " missing", code="name_taken", parent_id=msg.id)
            self.sessions.remove(holder)
            self._publish(name, "left", {"reason": "replaced"})
        if current is None:
            current = Session(route, name, body.get("model"), last_heard=now, last_sent=now)
            self.sessions.add(current)
        current.view, current.lists = view, lists
        canvas = self.canvases.get(name)
        if canvas is None:
            canvas = self.canvases[name] = CanvasModel(self.width, self.height)
            self._publish(name, "new", {"work": canvas.work, "width": canvas.width, "height": canvas.height})
        self._publish(name, "joined", {**current.joined(), "mode": self.mode})
        self._reply(route, msg.reply("welcome", {
            "agent": name, "protocol": PROTOCOL_VERSION, "width": canvas.width, "height": canvas.height,
            "view": canvas.view(**view), "state": canvas.state(), "cells": list(canvas.rows()), "seq": self.seq,
            "heartbeat_interval": self.sessions.interval, "liveness": self.sessions.liveness, "mode": self.mode,
            **self._salon_at_hello(current),
        }, SENDER), current)

    def _refused_name(self, name: str, msg: Message) -> None:
        self.counters["hellos_unproven"] += 1
        event(log, logging.WARNING, "refused a hello that does not prove its name", agent=name,
              proof="wrong" if msg.body.get("proof") else "none", refused_total=self.counters["hellos_unproven"])
        raise ProtocolError(f"a hello as {name!r} on this socket carries the proof the studio gives that agent "
                            "(AURORA_HELLO_PROOF, or read from the studio's data folder by its owner); from another "
                            f"user or host, connect with a CurveZMQ key of its own (aurora keys create {name})",
                            code="unauthorized", parent_id=msg.id)

    def _admit(self, session: Session, msg: Message) -> None:
        """One decision in flight per agent, and no more than its roster allows per minute (section 7)."""
        if session.agent in self.in_flight:
            raise ProtocolError("this agent's previous decision has not been answered yet; wait for its reply "
                                "(one decision at a time)", code="decision_in_flight", parent_id=msg.id)
        wait = self.rate.admit(session.agent, self.clock())
        if wait is not None:
            self.counters["decisions_rate_limited"] += 1
            raise ProtocolError(f"this agent's decisions per minute are spent (its roster's limit, "
                                f"{self.rate.limits[session.agent]}); send again in {wait:.1f}s",
                                code="rate_limited", parent_id=msg.id, retry_after=round(wait, 3))

    def _ops(self, session: Session, msg: Message) -> None:
        self._admit(session, msg)
        self.in_flight.add(session.agent)
        canvas = self.canvases[session.agent]
        applied: list[str] = []
        rejected: list[dict[str, Any]] = []
        flood: dict[str, Any] | None = None  # the refused lines past REJECTED_EACH_MAX, summed
        notes: list[dict[str, Any]] = []
        for item in parse(msg.body["text"]):
            if isinstance(item, Op) and item.name in SALON_OPS:
                item = self._salon_op(session.agent, item, msg.id)
                if isinstance(item, Op):
                    applied.append(item.text)
                    continue
            elif isinstance(item, Op):
                item = canvas.refusal(item) or item
            if not isinstance(item, Op):
                self.counters["ops_rejected"] += 1
                self.counters[f"rejected_{item.code}"] += 1
                if len(rejected) < REJECTED_EACH_MAX:
                    rejection = {"text": item.text, "code": item.code, "reason": item.reason}
                    rejected.append(rejection)
                    self._publish(session.agent, "rejected", rejection, parent_id=msg.id)  # for the study
                else:
                    flood = flood or {"text": item.text, "code": item.code, "reason": item.reason, "count": 0,
                                      "codes": Counter()}
                    flood["count"] += 1
                    flood["codes"][item.code] += 1
                continue
            for kind, data in canvas.apply(item):
                self._publish(session.agent, kind, data, parent_id=msg.id)
                if kind == "note":
                    notes.append({k: v for k, v in data.items() if k != "op"})
            applied.append(item.text)
        if flood is not None:  # one event for the rest of a flood of refused lines, not one per line
            flood["codes"] = dict(flood["codes"])
            rejected.append(flood)
            self._publish(session.agent, "rejected", flood, parent_id=msg.id)
        self.counters["ops_applied"] += len(applied)
        self.counters["decisions"] += 1
        agent = session.agent
        salon = self._salon_news(session, msg.id)
        self._reply(session.route, msg.reply("result", {
            "applied": applied, "rejected": rejected, "notes": notes,
            "view": canvas.view(**(session.view or {})), "state": canvas.state(), "cells": list(canvas.rows()),
            "seq": self.seq, **salon,
        }, SENDER), session, done=lambda: self.in_flight.discard(agent))

    # -- the salon (services/salon/board.py) ---------------------------------------------------------------

    def _salon_op(self, agent: str, op: Op, parent_id: str) -> Op | Rejection:
        """A salon op of `agent` (the connection's, never a name it sent): published as its event, or refused."""
        if self.mode != "salon":
            return Rejection(op.text, "not_salon", f"{op.name} refused: this studio is isolated (no salon)")
        refused = self.board.refusal(agent, op)
        if refused is not None:
            return refused
        kind, data = self.board.apply(agent, op)
        self._publish(agent, kind, data, parent_id=parent_id)
        return op

    def _salon_at_hello(self, session: Session) -> dict[str, Any]:
        """A welcome's part of the salon: the latest posts by others (what an agent starting afresh reads)."""
        if self.mode != "salon":
            return {}
        session.salon_seen = self.board.seq
        items = self.board.recent_for(session.agent, SALON_RECENT)
        self._read(session.agent, items, None)
        return {"salon": items}

    def _salon_news(self, session: Session, parent_id: str) -> dict[str, Any]:
        """A result's part of the salon: what others posted, replied and reacted since the agent's last reply."""
        if self.mode != "salon" or self.board.seq <= session.salon_seen:
            return {}
        items = self.board.news_for(session.agent, session.salon_seen, SALON_NEWS)
        session.salon_seen = self.board.seq
        self._read(session.agent, items, parent_id)
        return {"salon": items} if items else {}

    def _read(self, agent: str, items: list[dict[str, Any]], parent_id: str | None) -> None:
        """The record says which posts an agent was shown (for the study: does a work follow one it read?)."""
        posts = [item["post"] for item in items if item["kind"] == "post"]
        if posts:
            self._publish(agent, "read", {"posts": posts}, parent_id=parent_id)

    def _status(self, session: Session, msg: Message) -> None:
        body = msg.body
        if body["activity"] not in ACTIVITIES:
            raise ProtocolError(f"activity must be one of {', '.join(sorted(ACTIVITIES))}", code="bad_field",
                                parent_id=msg.id)
        usage = body.get("usage")
        if usage is not None and (not set(USAGE_FIELDS) <= set(usage)
                                  or not all(type(v) is int and v >= 0 for v in usage.values())):
            raise ProtocolError(f"usage holds {', '.join(USAGE_FIELDS)} (and maybe more), each a count",
                                code="bad_field", parent_id=msg.id)
        activity = {"activity": body["activity"], "until": body.get("until"), "reason": body.get("reason"),
                    **({"usage": usage} if usage is not None else {})}
        self.activity[session.agent] = activity
        self._publish(session.agent, "status", activity, parent_id=msg.id)

    def _statement(self, session: Session, msg: Message) -> None:
        work, text = msg.body["work"], " ".join(msg.body["text"].split())
        if not 1 <= work < self.canvases[session.agent].work or not text:
            raise ProtocolError("a statement is one non-empty line about a finished work", code="bad_field",
                                parent_id=msg.id)
        self._publish(session.agent, "statement", {"work": work, "text": text}, parent_id=msg.id)

    def _echo(self, session: Session, msg: Message) -> None:
        body = msg.body
        problem = echo_problem(body)
        if problem:
            raise ProtocolError(problem, code="bad_field", parent_id=msg.id)
        studio_words = body.get("studio_words")
        echo = {"of": body["of"], "work": body["work"], "words": body["words"], "run": " ".join(body["run"].split())}
        if studio_words is not None:
            echo["studio_words"] = studio_words
        if body.get("asked") is True:
            echo["asked"] = True
        self._publish(session.agent, "echo", echo, parent_id=msg.id)

    # -- output ------------------------------------------------------------------------------------

    def _publish(self, agent: str, kind: str, data: dict[str, Any], parent_id: str | None = None) -> None:
        self.seq += 1
        seq, frames = self.seq, encode_event(self.seq, agent, kind, data, SENDER, parent_id)
        self.journal.add(seq, frames, lambda: record_item(seq, agent, kind, data, frames[1]))
        if self.journal.durable:
            self.recorder.changed(agent, kind)
        self.board.on_event(seq, agent, kind, data)

    def _reply(self, route: bytes, msg: Message, session: Session, done: Callable[[], None] | None = None) -> None:
        """A reply that shows the effect of this decision's events: sent once they are committed (then `done`)."""
        def release() -> None:
            if done is not None:
                done()
            self._send(route, msg, session)
        self.journal.hold(Held(self.seq, release, self.clock(), route, msg.parent_id))

    def _send(self, route: bytes, msg: Message, session: Session | None = None) -> None:
        self.outbox.send(route, encode(msg))
        if session is not None:
            session.last_sent = self.clock()

    def _error(self, route: bytes, exc: ProtocolError) -> None:
        self._refuse(route, exc, self.outbox.send)


def _error_message(exc: ProtocolError) -> Message:
    body = {"code": exc.code, "number": CODES[exc.code], "reason": exc.reason}
    if exc.retry_after is not None:
        body["retry_after"] = exc.retry_after
    return Message("error", body, SENDER, parent_id=exc.parent_id)
