"""WebSocket viewers for `aurora bench gateway`: a few processes, each holding many viewers on one event loop.

A viewer is an asyncio Protocol driving the `websockets` sans-I/O client (`websockets.client.ClientProtocol`):
the handshake, frame parsing, pongs and the closing handshake are the library's, and no task, future or
queue stands between a frame and its count. That keeps a viewer's cost per message at a few microseconds,
so that on a small machine the clients take as little as possible of the CPU the servers need.

For each message received within the measured window a viewer counts it by type; for a note event it takes
the latency: the wall clock when its bytes were read (one `time.time()` per read) minus the event's `time`,
the canvas's wall clock when it published the event (same machine, same clock). A viewer follows the seqs:
after a snapshot (the gateway's first message, and after a `resync`) or its first event (the bare server
sends no snapshot), each event must be the next one; a jump is counted as events missed.

The coordinator (`ViewerClients`) drives the same processes through every round: connect N viewers to a URL,
then `go` with the round's window; at the window's end each process reports its tally, closes its viewers
(WebSocket close handshake, connections cut after a grace period) and waits for the next round.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import resource
import signal
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import SEND_EOF
from websockets.uri import parse_uri

from services.base.process import die_with_parent
from services.bench.load_client import LoadClients, Window

CONNECT_TIMEOUT = 15.0  # one viewer's TCP connect + handshake
CONNECTING_AT_ONCE = 64  # handshakes in flight per process: a burst of 1,000 SYNs would only queue
CLOSE_GRACE = 3.0  # seconds the viewers have to finish their closing handshakes before the rest are cut
ORDER_TIMEOUT = 60.0

EVENT = b'{"type":"event","seq":'
NOTE = b'"kind":"note"'


@dataclass
class Tally:
    """What one process's viewers received within the measured window."""

    viewers: int = 0
    messages: Counter = field(default_factory=Counter)  # by type
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, publication to receipt, notes only
    missed: int = 0  # events skipped over (a jump in seq)
    closed: Counter = field(default_factory=Counter)  # viewers the server closed during the round, by close code
    bytes: int = 0  # payload bytes of the messages counted
    events: list[int] = field(default_factory=list)  # events received by each viewer
    cpu: float = 0.0  # this process's CPU seconds over the window
    connect_seconds: float = 0.0  # connecting every viewer of this process

    def merge(self, other: "Tally") -> None:
        self.viewers += other.viewers
        self.messages += other.messages
        self.latencies.extend(other.latencies)
        self.missed += other.missed
        self.closed += other.closed
        self.bytes += other.bytes
        self.events += other.events
        self.cpu += other.cpu
        self.connect_seconds = max(self.connect_seconds, other.connect_seconds)


class _Round:
    """The window of the round in progress, in wall-clock seconds, and its tally (one per process)."""

    def __init__(self) -> None:
        self.measure_from = float("inf")
        self.end = float("inf")
        self.tally = Tally()


class Viewer(asyncio.Protocol):
    def __init__(self, url: str, round_: _Round):
        self.ws = ClientProtocol(parse_uri(url), max_size=None)
        self.round = round_
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.gone: asyncio.Future = asyncio.get_running_loop().create_future()
        self.seq: int | None = None  # the last seq (snapshot or event) received; None: waiting for a snapshot
        self.events = 0  # events counted in the window
        self.parts: list[bytes] = []  # a fragmented message (neither server sends one)
        self.leaving = False  # the bench closes it: no more counting

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            if data is SEND_EOF or data == b"":
                if self.transport.can_write_eof():
                    self.transport.write_eof()
            else:
                self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        ws = self.ws
        ws.receive_data(data)
        events = ws.events_received()
        self._flush()  # pongs, the answer to a close
        for event in events:
            if type(event) is Frame:
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                    if not event.fin:
                        self.parts.append(event.data)
                    elif self.parts:
                        self.parts.append(event.data)
                        self._message(b"".join(self.parts), now)
                        self.parts = []
                    else:
                        self._message(event.data, now)
            elif isinstance(event, Response) and not self.opened.done():
                if ws.handshake_exc is not None:
                    self.opened.set_exception(ws.handshake_exc)
                else:
                    self.opened.set_result(True)

    def _message(self, data: bytes, now: float) -> None:
        r = self.round
        counted = r.measure_from <= now < r.end and not self.leaving
        if data.startswith(EVENT):
            seq = int(data[len(EVENT):data.index(b",", len(EVENT))])
            last = self.seq
            if last is not None and seq > last + 1 and counted:
                r.tally.missed += seq - last - 1
            self.seq = seq
            if counted:
                self.events += 1
                r.tally.messages["event"] += 1
                r.tally.bytes += len(data)
                if NOTE in data:
                    msg = json.loads(data)
                    if msg["kind"] == "note":
                        r.tally.latencies.append(now - msg["time"])
            return
        msg = json.loads(data)
        kind = msg.get("type", "?")
        if kind == "snapshot":
            self.seq = msg["seq"]
        elif kind == "resync":
            self.seq = None
        if counted:
            r.tally.messages[kind] += 1
            r.tally.bytes += len(data)

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self._flush()
        return False  # the transport closes itself

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc!r}"))
        if not self.leaving:  # the server closed it (1013: it could not keep up) or went away
            code = self.ws.close_rcvd.code if self.ws.close_rcvd is not None else 1006
            self.round.tally.closed[code] += 1
        if not self.gone.done():
            self.gone.set_result(None)

    def close(self) -> None:
        self.leaving = True
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.ws.send_close(1000)
            self._flush()
        except Exception:  # not open any more: cut it
            self.transport.abort()


async def _connect(url: str, round_: _Round, limit: asyncio.Semaphore) -> Viewer:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    async with limit:
        _, viewer = await asyncio.wait_for(
            loop.create_connection(lambda: Viewer(url, round_), parts.hostname, parts.port), CONNECT_TIMEOUT)
        try:
            await asyncio.wait_for(viewer.opened, CONNECT_TIMEOUT)
        except BaseException:
            viewer.leaving = True
            viewer.transport.abort()
            raise
    return viewer


async def _close_all(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        viewer.close()
    pending = [v.gone for v in viewers if not v.gone.done()]
    if pending:
        await asyncio.wait(pending, timeout=CLOSE_GRACE)
    for viewer in viewers:
        if not viewer.gone.done():
            viewer.transport.abort()
    await asyncio.sleep(0)  # connection_lost of the aborted ones


async def _serve(conn) -> None:
    """The process's loop: orders from the coordinator's pipe, viewers meanwhile."""
    loop = asyncio.get_running_loop()
    orders: asyncio.Queue = asyncio.Queue()

    def readable() -> None:
        try:
            orders.put_nowait(conn.recv())
        except (EOFError, OSError):  # the coordinator is gone
            loop.remove_reader(conn.fileno())
            orders.put_nowait(("quit", None))

    loop.add_reader(conn.fileno(), readable)
    offset = time.time() - time.monotonic()  # the coordinator's windows are monotonic; viewers read the wall clock
    viewers: list[Viewer] = []
    round_ = _Round()
    conn.send(("up", None))
    while True:
        order, arg = await orders.get()
        if order == "quit":
            await _close_all(viewers)
            return
        if order == "connect":
            url, count = arg
            round_ = _Round()
            began = time.monotonic()
            limit = asyncio.Semaphore(CONNECTING_AT_ONCE)
            results = await asyncio.gather(*(_connect(url, round_, limit) for _ in range(count)),
                                           return_exceptions=True)
            viewers = [v for v in results if isinstance(v, Viewer)]
            failed = [e for e in results if not isinstance(e, Viewer)]
            if failed:
                await _close_all(viewers)
                viewers = []
                conn.send(("failed", f"{len(failed)} of {count} viewers could not connect to {url}: "
                                     f"{type(failed[0]).__name__}: {failed[0]}"))
                continue
            round_.tally.viewers = count
            round_.tally.connect_seconds = time.monotonic() - began
            conn.send(("ready", None))
        elif order == "go":
            window: Window = arg
            round_.measure_from, round_.end = window.measure_from + offset, window.end + offset
            await asyncio.sleep(max(0.0, window.measure_from - time.monotonic()))
            cpu = time.process_time()
            await asyncio.sleep(max(0.0, window.end - time.monotonic()))
            tally = round_.tally
            tally.cpu = time.process_time() - cpu
            tally.events = [v.events for v in viewers]
            await _close_all(viewers)
            viewers = []
            conn.send(("done", tally))


def raise_file_limit(needed: int = 0) -> None:
    """Raise this process's soft limit on open files to its hard limit (a viewer, a server's client, is one
    file). Raises RuntimeError if even the hard limit is below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if needed and soft != resource.RLIM_INFINITY and soft < needed:
        raise RuntimeError(f"this bench needs {needed} open files per process, and the limit is {soft} "
                           f"(hard {hard}): raise it with `ulimit -n`")


def loop_factory():
    """uvloop's, as uvicorn takes it when it is installed (the gateway's loop); else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _client_process(conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle; it stops us
    die_with_parent()
    raise_file_limit()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_serve(conn))
    except (EOFError, OSError, BrokenPipeError):  # the pipe broke: the coordinator is gone
        return


class ViewerClients(LoadClients):
    """A group of viewer processes, started once and reused by every round. The load clients' group, with
    other processes and orders: its `_collect` (answers from every process, or an error naming the one that
    failed) and its `close` (quit, then terminate what is still running) serve both."""

    def __init__(self, processes: int, timeout: float = 60.0):  # not the load clients': it starts theirs
        # forkserver, as the load clients; both modules preloaded, whichever group starts the fork server first.
        spawn = mp.get_context("forkserver")
        spawn.set_forkserver_preload(["services.bench.load_client", __name__, "services.cli"])
        self.procs: list = []
        self.conns: list = []
        self.busy = False  # in a round: the coordinator waits for `done` before any other order
        try:
            for i in range(processes):
                here, there = spawn.Pipe()
                proc = spawn.Process(target=_client_process, args=(there,), name=f"bench-viewers-{i}", daemon=True)
                self.conns.append(here)
                proc.start()
                self.procs.append(proc)
                there.close()
            self._collect(range(processes), "up", timeout)
        except BaseException:
            self.close()
            raise

    def shares(self, viewers: int) -> list[int]:
        """How many viewers each process holds: as even as can be."""
        n = len(self.procs)
        return [viewers // n + (i < viewers % n) for i in range(n)]

    def connect(self, url: str, viewers: int) -> None:
        """Connect `viewers` viewers to `url`, spread over the processes; returns once every one is open."""
        self.busy = True
        for conn, count in zip(self.conns, self.shares(viewers)):
            conn.send(("connect", (url, count)))
        self._collect(range(len(self.conns)), "ready", ORDER_TIMEOUT)

    def go(self, window: Window) -> None:
        for conn in self.conns:
            conn.send(("go", window))

    def done(self, window: Window) -> Tally:
        """Every process's tally of the round (they close their viewers as they send it), merged."""
        tallies = self._collect(range(len(self.conns)), "done",
                                max(0.0, window.end - time.monotonic()) + CLOSE_GRACE + ORDER_TIMEOUT)
        self.busy = False
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        return total
