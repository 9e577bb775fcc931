"""`aurora recorder`: stores every event of the studio in Redis before anyone sees it (PROTOCOL.md 11).

It connects to the canvas's record socket, says `record_hello` with the last seq the record holds and the
recorded canvases (a canvas that has just started adopts them), then stores each `record` batch in one
transaction (services/recorder/store.py) and answers `recorded`. A batch that does not follow the last stored
seq is a gap: it is not stored, and the recorder says hello again so that the canvas sends from there.
The batches that arrive together (read in one wake-up of the loop) are stored together, so a recorder that
falls behind catches up in larger transactions rather than one request per batch.

Redis that refuses a write (gone, restarting, out of memory, a full disk) is said loudly, once per outage,
with what to do; the batch is kept and retried with backoff, and nothing is confirmed meanwhile, so the
canvas holds its replies and its agents wait rather than being told of ops the record does not hold.

Events older than the retention window move to archive files (services/recorder/retention.py, on a thread of
its own), so that Redis holds a bounded record.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import redis
import zmq

from proto.envelope import Message, decode, encode
from proto.errors import ProtocolError
from proto.heartbeat import INTERVAL, LIVENESS, RECONNECT_MAX, RECONNECT_MIN
from proto.messages import CANVAS_TO_RECORDER_TYPES
from services.base import addresses, curve
from services.base.datadir import data_dir
from services.base.keys import RECORDER, Keys
from services.base.log import event, setup
from services.base.loop import ServiceLoop
from services.recorder.retention import Policy, Retention, RetentionThread
from services.recorder.store import Store, Stored, salon_events
from services.recorder.writer import SyncWriter, ThreadWriter

SENDER = "recorder"
FRAME_LIMIT = 1 << 28
log = logging.getLogger("aurora.recorder")


class Recorder:
    """The recorder's handlers: the link to the canvas, and the batches waiting to be stored."""

    def __init__(self, store: Store, send, *, interval: float = INTERVAL, liveness: int = LIVENESS,
                 clock=time.monotonic, writer=None):
        self.store = store
        # How staged batches reach Redis: at once by default; the service overlaps them (ThreadWriter).
        self.writer = writer or SyncWriter(store.run, self.written)
        self.send = send  # (frame) -> None, on the DEALER to the canvas
        self.interval, self.liveness, self.clock = interval, liveness, clock
        self.attached = False        # the canvas has answered our hello
        self.heard = self.sent = self.clock()
        self.backlog: list[Stored] = []  # received, in order, not yet confirmed stored (some may be staged)
        self.retry_at = 0.0
        self.delay = RECONNECT_MIN
        self.failing: str | None = None  # why Redis refuses, while it does
        self.stale = True                # the store must reload before its next write
        self.counters: Counter[str] = Counter()  # stored, batches, gaps, duplicates, bad_events, write_failures

    # -- the canvas link -----------------------------------------------------------------------------

    def hello(self) -> None:
        """Tell the canvas what the record holds (with every canvas, for a canvas that has just started)."""
        if self.writer.in_flight:  # tick() says it again
            return
        canvases = self._reload()  # as the record holds them: what a new canvas must start from
        if canvases is None:
            return
        try:
            salon = salon_events(self.store.r, canvases, self.store.on_corrupt)
        except redis.RedisError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        self._send(Message("record_hello", {"seq": self.store.seq, "salon": salon,
                                            "canvases": {n: c.to_dict() for n, c in canvases.items()}}, SENDER))

    def on_frame(self, frame: bytes) -> None:
        try:
            msg = decode(frame, limit=FRAME_LIMIT, accept=CANVAS_TO_RECORDER_TYPES | {"recorded"})
        except ProtocolError as exc:
            event(log, logging.WARNING, "bad frame from the canvas, dropped", reason=exc.reason)
            return
        self.heard = self.clock()
        if msg.type == "recorded":
            if not self.attached:
                event(log, logging.INFO, "attached to the canvas", seq=self.store.seq, canvas_says=msg.body["seq"])
            self.attached = True
        elif msg.type == "error":
            event(log, logging.WARNING, "the canvas refused us", code=msg.body["code"], reason=msg.body["reason"])
            self.attached = False
            self.hello()
        elif msg.type == "record":
            self._receive(msg.body["events"], msg.body.get("snapshots") or [])

    def _receive(self, items: list, snapshots: list) -> None:
        batch = []
        for item in items:
            try:
                seq, agent, kind, data, envelope = item
                if not (type(seq) is int and isinstance(agent, str) and isinstance(kind, str)
                        and isinstance(data, (dict, type(None))) and isinstance(envelope, bytes)):
                    raise TypeError("an item is [seq int, agent str, kind str, data map or nil, envelope bin]")
            except (TypeError, ValueError) as exc:
                self.counters["bad_events"] += 1
                event(log, logging.ERROR, "a malformed event from the canvas; asking for the batch again",
                      reason=str(exc))
                self._resync()
                return
            batch.append(Stored(seq, agent, kind, data, envelope))
        if batch and snapshots:  # the canvases as they were after the batch's last event
            batch[-1] = replace(batch[-1], snapshots=tuple((agent, canvas) for agent, canvas in snapshots))
        self.counters["batches"] += 1
        last = self.backlog[-1].seq if self.backlog else self.store.seq
        fresh = [s for s in batch if s.seq > last]
        self.counters["duplicates"] += len(batch) - len(fresh)
        if not fresh:
            self._confirm()
            return
        if any(s.seq != last + 1 + i for i, s in enumerate(fresh)):
            self.counters["gaps"] += 1
            event(log, logging.WARNING, "gap in the events; asking the canvas to send again",
                  expected=last + 1, got=fresh[0].seq)
            self._resync()
            return
        self.backlog.extend(fresh)  # stored after this wake-up's frames are all read (`store_backlog`)

    def _resync(self) -> None:
        if not self.backlog and self._ready():
            self._send(Message("record_hello", {"seq": self.store.seq, "canvases": None}, SENDER))

    def _confirm(self) -> None:
        self._send(Message("recorded", {"seq": self.store.seq}, SENDER))

    # -- storing -----------------------------------------------------------------------------------

    def _ready(self) -> bool:
        """The store knows what Redis holds (reloading it if a write failed or we just started)."""
        if self.stale:
            if self.writer.in_flight:  # read the record once what is on its way has landed or failed
                return False
            return self._reload() is not None
        return True

    def _reload(self) -> dict | None:
        """Read the record again (nothing in flight): its seq and canvases (returned), and what of the backlog
        it still lacks. None if Redis refused (said, and retried later)."""
        try:
            canvases = self.store.reload()
        except redis.RedisError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        self.stale = False
        waiting = bool(self.backlog)
        self.backlog = [s for s in self.backlog if s.seq > self.store.seq]
        if self.backlog and self.backlog[0].seq != self.store.seq + 1:
            self.backlog = []  # Redis lost what we had stored (restarted without it): send from its seq
            self._resync()
        elif waiting and not self.backlog:  # all of it was stored, by a write that only seemed to fail
            self._confirm()
        return canvases

    def store_backlog(self) -> None:
        """Stage what has arrived and hand it to the writer, up to its depth (called after each wake-up)."""
        if self.clock() < self.retry_at or not self._ready():
            return
        while self.writer.in_flight < self.writer.depth and not self.stale:
            pending = [s for s in self.backlog if s.seq > self.store.staged]
            if not pending:
                return
            last, args = self.store.stage(pending)
            self.writer.submit(last, args)

    def written(self, last: int, error: str | None) -> None:
        """The writer's outcome for the batch that ends at `last`, in order."""
        if self.stale:  # a failure before it (this one was refused as out of order, or may have landed):
            return      # the record is read again before anything more is confirmed
        if error is not None:
            self._failed(error)
            return
        self.counters["stored"] += sum(1 for s in self.backlog if s.seq <= last)
        self.store.seq = last
        self.backlog = [s for s in self.backlog if s.seq > last]
        if self.failing is not None:
            event(log, logging.WARNING, "Redis takes writes again; the record goes on", seq=last)
            self.failing = None
        self.delay = RECONNECT_MIN
        self._confirm()

    def _failed(self, reason: str) -> None:
        self.counters["write_failures"] += 1
        self.stale = True  # whether the script went through is unknown: read the record again
        if self.failing != reason:
            event(log, logging.ERROR, "Redis refused a write; nothing is confirmed until it takes writes again "
                  f"(agents wait). {_what_to_do(reason)}", reason=reason, waiting=len(self.backlog))
            self.failing = reason
        self.retry_at = self.clock() + self.delay
        self.delay = min(self.delay * 2, RECONNECT_MAX)

    # -- timers ------------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock()
        if not self.attached:
            if now - self.sent >= self.interval:
                self.hello()
        elif now - self.heard > self.interval * self.liveness:
            event(log, logging.WARNING, "canvas silent; saying hello again",
                  silent_for=round(now - self.heard, 1))
            self.attached = False
            self.hello()
        elif now - self.sent >= self.interval:
            self._send(Message("heartbeat", {}, SENDER))
        self.store_backlog()

    def _send(self, msg: Message) -> None:
        self.sent = self.clock()
        self.send(encode(msg))


# How Redis's refusal at maxmemory reads once redis-py has made it an OutOfMemoryError: "command not allowed
# when used memory > 'maxmemory'" (the reply's OOM prefix becomes the exception's type).
FULL = "'maxmemory'"


def _what_to_do(reason: str) -> str:
    if FULL in reason:
        return ("Redis is full (its maxmemory is reached, and it evicts nothing): raise AURORA_REDIS_MAXMEMORY "
                "and restart the studio, or shorten the retention window (AURORA_RETENTION_WINDOW) so that more "
                "of the record moves to the archive")
    return "Check that Redis is running, its disk is not full and maxmemory is not hit"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def add_parser(sub) -> None:
    p = sub.add_parser("recorder", help="store every event of the studio in Redis (REDIS_URL)")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--redis-url", default=None, help="the Redis to record into (default: env REDIS_URL)")
    p.add_argument("--heartbeat-interval", type=float, default=INTERVAL, help="seconds (PROTOCOL.md section 9)")
    p.add_argument("--liveness", type=int, default=LIVENESS, help="silent intervals before the canvas is gone")
    default = Policy()
    p.add_argument("--retention-window", type=float, default=_env_float("AURORA_RETENTION_WINDOW", default.window),
                   metavar="SECONDS", help="events older than this move from Redis to the archive "
                                           f"(env AURORA_RETENTION_WINDOW, default {default.window:.0f})")
    p.add_argument("--archive-dir", type=Path, default=None,
                   help="the archive's folder (env AURORA_ARCHIVE_DIR, default <data>/archive)")
    p.add_argument("--archive-span", type=float, default=_env_float("AURORA_ARCHIVE_SPAN", default.span),
                   metavar="SECONDS", help=f"seconds of events per archive file at most (env AURORA_ARCHIVE_SPAN, "
                                           f"default {default.span:.0f})")
    p.add_argument("--archive-events", type=int, default=int(_env_float("AURORA_ARCHIVE_EVENTS", default.events)),
                   metavar="N", help=f"events per archive file at most (env AURORA_ARCHIVE_EVENTS, "
                                     f"default {default.events})")
    p.add_argument("--retention-every", type=float, default=_env_float("AURORA_RETENTION_EVERY", default.every),
                   metavar="SECONDS", help=f"seconds between archiving passes (env AURORA_RETENTION_EVERY, "
                                           f"default {default.every:.0f})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    setup("aurora.recorder")
    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        print("aurora recorder: no Redis to record into: set REDIS_URL or pass --redis-url "
              "(`aurora up` starts one and passes it)", flush=True)
        return 2
    addrs = addresses.from_args(args)
    keys = curve.client_from_args(args, addrs.record, prog="recorder", default=_local_keys(args, addrs.record))
    loop = ServiceLoop("recorder")
    loop.install_signal_handlers()
    sock = loop.socket(zmq.DEALER, MAXMSGSIZE=FRAME_LIMIT, SNDHWM=0)
    watch = None
    if keys is not None:
        keys.apply(sock)
        watch = curve.HandshakeWatch(sock, addrs.record, keys)
        watch.serve(loop, "recorder")  # a refused key stops the recorder: it would never be let in
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)
    # The writer thread waits on Redis; when it is answered it must get the interpreter back at once, not
    # after the loop thread's next 5 ms switch interval, or every confirmation waits for it.
    sys.setswitchinterval(0.0002)
    store = Store(client, on_corrupt=_report_corrupt)
    # With CurveZMQ, a send must not block once the canvas has refused the key (the watch then stops the loop).
    send = sock.send if watch is None else curve.dropping_send(sock)
    recorder = Recorder(store, send, interval=args.heartbeat_interval, liveness=args.liveness)
    # Its own connection from the client's pool: Redis runs one batch while the loop stages the next.
    recorder.writer = writer = ThreadWriter(store.run, recorder.written, loop.context)
    loop.on_frames(writer.socket, writer.on_message)
    recorder.counters = loop.counters  # one set of counters for the service, logged when it stops
    loop.on_frames(sock, lambda frames: recorder.on_frame(frames[-1]))
    loop.every(args.heartbeat_interval / 4, recorder.tick)
    # Every batch that arrived in one wake-up is stored in one transaction, and confirmed with one `recorded`.
    loop.after_wake.append(recorder.store_backlog)
    retention = _retention(args, url)
    sock.connect(addrs.record)
    event(log, logging.INFO, "recorder started", canvas=addrs.record, archive=str(retention.retention.folder),
          retention_window=args.retention_window)
    recorder.hello()
    try:
        loop.run()
    finally:
        retention.close()
        writer.close()
    return 2 if watch is not None and watch.refused else 0


def _retention(args: argparse.Namespace, url: str) -> RetentionThread:
    """The archiving thread, with its own Redis client (the writer's and the loop's are busy)."""
    folder = args.archive_dir or Path(os.environ.get("AURORA_ARCHIVE_DIR") or data_dir(create=False) / "archive")
    policy = Policy(window=args.retention_window, span=args.archive_span, events=args.archive_events,
                    every=args.retention_every)
    client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=2, health_check_interval=10)
    return RetentionThread(Retention(client, folder, policy, on_corrupt=_report_corrupt)).start()


def _local_keys(args, record: str) -> dict[str, str] | None:
    """The record socket takes only CurveZMQ, and only the recorder's key (PROTOCOL.md section 13). On the canvas's
    host, given no keys, the recorder uses the studio's own (DATA/keys, made if missing, as the canvas does)."""
    if args.curve_server_key or args.curve_key or os.environ.get(curve.SERVER_KEY_ENV) \
            or os.environ.get(curve.KEY_ENV) or not curve.is_loopback(record):
        return None
    try:
        return Keys.studio().local_client(RECORDER)
    except (curve.CurveError, OSError) as exc:
        raise SystemExit(f"aurora recorder: the record socket takes only the recorder's CurveZMQ key, and this host's "
                         f"cannot be read or made ({exc}); give --curve-server-key and --curve-key") from None


def _report_corrupt(key: str, entry_id: str, reason: str) -> None:
    event(log, logging.ERROR, "corrupt entry in the record, skipped", key=key, id=entry_id, reason=reason)
