"""Load clients: each one a separate process playing one agent over its own DEALER socket.

A client sends decisions from the SCRIPTED, NON-LLM policy (services.scripted_agent.policy) either closed
loop (the next one as soon as the reply arrives) or paced (one per period), and times every reply. The
coordinator (`LoadClients`) drives the same processes through every phase, so the canvas and the echo
baseline are measured with the same clients sending the same payloads.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import signal
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Callable

import msgpack
import zmq

from proto.envelope import Message, encode
from services.base.process import die_with_parent
from services.canvas.client import CanvasClient
from services.scripted_agent.policy import decision

OPS_PER_DECISION = 4
TEXTS_PER_AGENT = 64  # distinct decisions per agent, made before the clock starts (the policy costs ~40 us)
REPLY_TIMEOUT = 5.0  # no reply this long after a send: the server is gone, not slow
PLACEHOLDER = "~" * 16  # stands for the message id in a pre-encoded frame


@dataclass(frozen=True)
class Target:
    kind: str  # "canvas" (handshake first) or "echo"
    address: str
    agent: str


@dataclass(frozen=True)
class Window:
    start: float  # time.monotonic() values; the clock is system-wide on Linux, so shared by all clients
    measure_from: float  # replies before this are warm-up
    end: float
    period: float = 0.0  # seconds between decisions; 0 is closed loop


@dataclass
class Tally:
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, send to reply
    replies: int = 0  # sent at or after measure_from, answered by end
    ops: int = 0  # ops the server says it applied, over those replies
    rejected: int = 0
    errors: int = 0
    late: int = 0  # paced only: replies that came after the next decision was due
    request_bytes: int = 0
    reply_bytes: int = 0


class Frames:
    """Pre-encoded decisions. Each is proto's encoding with a placeholder id, into which every send splices
    a fresh id of the same width (ids are unique per sender, PROTOCOL.md section 2): the loop pays a bytes
    join instead of a ~7 us encode."""

    def __init__(self, agent: str, texts: list[str]):
        self.parts = []
        for text in texts:
            head, tail = encode(Message("ops", {"text": text}, agent, id=PLACEHOLDER)).split(PLACEHOLDER.encode())
            self.parts.append((head, tail))
        self.sent = 0

    def next(self) -> tuple[str, bytes]:
        head, tail = self.parts[self.sent % len(self.parts)]
        self.sent += 1
        msg_id = f"{self.sent:0{len(PLACEHOLDER)}d}"
        return msg_id, head + msg_id.encode() + tail


def _connect(ctx: zmq.Context, target: Target) -> tuple[zmq.Socket, Callable[[], None]]:
    """A connected DEALER and how to close it. The canvas needs a handshake first; the echo does not."""
    if target.kind == "canvas":
        client = CanvasClient(target.agent, target.address, model="scripted (non-LLM) bench", context=ctx)
        client.connect(timeout=REPLY_TIMEOUT)
        return client.sock, client.close  # close() says bye, which frees the name at once
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(target.address)
    return sock, sock.close


def _reply(sock: zmq.Socket, msg_id: str) -> tuple[dict, int]:
    """Wait for the reply to `msg_id`, skipping anything else (heartbeats); the decoded map and its size.

    A blocking recv under RCVTIMEO, not poll + recv: one call into ZeroMQ per reply instead of two. Plain
    msgpack, not proto's decode: the echo's replies are no protocol messages, and both servers' replies
    must cost the client the same to read."""
    while True:
        try:
            frame = sock.recv()
        except zmq.Again:
            raise TimeoutError(f"no reply within {REPLY_TIMEOUT:.0f}s: is the server gone?") from None
        reply = msgpack.unpackb(frame)
        if reply.get("parent_id") == msg_id:
            return reply, len(frame)


def drive(sock: zmq.Socket, frames: Frames, window: Window, offset: float = 0.0) -> Tally:
    """Send decisions from window.start (+ offset, paced only) to window.end; count what lands in the
    measured part. Latency runs from the send to the reply, so a client descheduled before its send does
    not charge its own delay to the server."""
    tally = Tally()
    sock.setsockopt(zmq.RCVTIMEO, int(REPLY_TIMEOUT * 1000))
    due = window.start + offset
    while True:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)  # waiting for the start, or for the next paced decision
        msg_id, frame = frames.next()
        sent = time.monotonic()
        if sent >= window.end:
            return tally
        sock.send(frame)
        reply, size = _reply(sock, msg_id)
        answered = time.monotonic()
        if window.period:
            due += window.period
            if answered > due:  # the server made us miss a slot: go at once, but do not burst to catch up
                tally.late += sent >= window.measure_from
                due = answered
        if sent < window.measure_from or answered > window.end:
            continue
        tally.latencies.append(answered - sent)
        tally.replies += 1
        if reply.get("type") == "error":
            tally.errors += 1
            continue
        body = reply.get("body") or {}
        tally.ops += len(body.get("applied", ()))
        tally.rejected += len(body.get("rejected", ()))
        tally.request_bytes, tally.reply_bytes = len(frame), size


def _client_process(conn, seed: int) -> None:
    """A load client's main: wait for orders on the pipe; each phase is connect, go, report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle; it stops us
    die_with_parent()
    rng = random.Random(seed)
    texts = [decision(rng, ops=OPS_PER_DECISION) for _ in range(TEXTS_PER_AGENT)]
    ctx = zmq.Context()
    try:
        conn.send(("up", None))
        while True:
            order, arg = conn.recv()
            if order == "quit":
                return
            try:
                sock, close = _connect(ctx, arg)
                try:
                    frames = Frames(arg.agent, texts)
                    conn.send(("ready", None))
                    order, window = conn.recv()
                    if order != "go":
                        return
                    conn.send(("done", drive(sock, frames, window, offset=rng.uniform(0, window.period))))
                finally:
                    close()
            except Exception as exc:
                conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    except (EOFError, OSError):  # the pipe broke: the coordinator is gone
        return
    finally:
        ctx.destroy(linger=0)


class LoadClients:
    """A group of load-client processes, started once and reused by every phase."""

    def __init__(self, count: int, seed: int = 0, timeout: float = 120.0):
        # forkserver: each client is forked from a clean server process that has imported this module but
        # holds no ZeroMQ context or threads (what spawn guarantees), in ~10 ms instead of ~200 ms of CPU per
        # spawned interpreter: 64 spawns cost ~12 s of a 2-core machine, a third of the --quick budget.
        # Each child still re-runs the parent's main script (3.11's forkserver never preloads __main__); for
        # `aurora` that script imports services.cli, so preloading it makes the re-run find every import done.
        spawn = mp.get_context("forkserver")
        spawn.set_forkserver_preload([__name__, "services.cli"])
        self.procs: list = []
        self.conns: list = []
        self.busy = False  # in a phase: clients are in their loop and read no orders
        try:
            for i in range(count):
                here, there = spawn.Pipe()
                proc = spawn.Process(target=_client_process, args=(there, seed + i), name=f"bench-client-{i}",
                                     daemon=True)
                self.conns.append(here)
                proc.start()
                self.procs.append(proc)
                there.close()
            self._collect(range(count), "up", timeout)
        except BaseException:  # the caller gets no object to close: stop what has started
            self.close()
            raise

    def run(self, count: int, kind: str, address: str, prefix: str, window_of: Callable[[float], Window],
            on_window: Callable[[Window], None] = lambda w: None) -> list[Tally]:
        """One phase on the first `count` clients, agents named `<prefix>-<i>`. `window_of(now)` gives the
        window once every client is connected; `on_window` runs meanwhile (to sample the server's CPU)."""
        clients = range(count)
        self.busy = True
        for i in clients:
            self.conns[i].send(("connect", Target(kind, address, f"{prefix}-{i}")))
        self._collect(clients, "ready", REPLY_TIMEOUT * 2)
        window = window_of(time.monotonic())
        for i in clients:
            self.conns[i].send(("go", window))
        on_window(window)
        tallies = self._collect(clients, "done", window.end - time.monotonic() + REPLY_TIMEOUT * 2)
        self.busy = False
        return tallies

    def _collect(self, clients, expected: str, timeout: float) -> list:
        pending = {self.conns[i]: i for i in clients}
        results: dict[int, object] = {}
        deadline = time.monotonic() + timeout
        while pending:  # a client that dies closes its end of the pipe: recv() then raises EOFError
            ready = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError(f"{len(pending)} load clients sent no {expected!r} within {timeout:.0f}s")
            for conn in ready:
                try:
                    status, payload = conn.recv()
                except EOFError:
                    raise RuntimeError(f"load client {pending[conn]} exited") from None
                if status != expected:
                    raise RuntimeError(f"load client {pending[conn]}: {payload}")
                results[pending.pop(conn)] = payload
        return [results[i] for i in clients]

    def close(self) -> None:
        """Ask idle clients to quit; stop any still in a phase (interrupted, or failed) at once."""
        if not self.busy:
            for conn in self.conns:
                try:
                    conn.send(("quit", None))
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + 3
            for proc in self.procs:
                proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()
