"""`aurora bench recorder [--quick]`: how many events/s the recorder stores, and how long a reply waits for it.

The recorder is the real `aurora recorder`, in its own process, writing into a real valkey (EmbeddedRedis in a
temporary folder, append-only with `appendfsync always`, as the studio runs it). The bench plays the canvas
on the record socket (PROTOCOL.md section 11): a ROUTER that answers the recorder's `record_hello`, sends
`record` batches and counts the `recorded` acks. The events are real, made once before the clock starts:
4 agents deciding with the SCRIPTED, NON-LLM policy (services.scripted_agent.policy), applied with
proto.canvas.CanvasModel, encoded with proto.topics.encode_event, with consecutive seqs, and sent as the
canvas sends them (proto.events.record_item: the envelope, with seq, agent, kind and the data the record
derives from).

- Throughput: the recorder against redis-py pipelined XADD of the same payloads (the `aurora:events` fields
  agent, kind, event), the same batch size, into another logical database of the same server, in the same
  run. Rounds alternate and every round starts from an empty database (a fresh recorder process for each of
  its rounds), so a shared machine's noise falls on both. ratio = recorder events/s / raw events/s.
- Durability wait: one decision's events per batch at a fixed pace; send to `recorded` is exactly how long
  a durable canvas holds the reply to that decision.
"""

from __future__ import annotations

import gc
import math
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import redis
import zmq

from proto.canvas import CanvasModel
from proto.envelope import Message, decode, encode
from proto.errors import ProtocolError
from proto.messages import RECORDER_TYPES
from proto.ops.parser import Op, parse
from proto.events import record_item
from proto.topics import encode_event
from services.base.keys import Keys
from services.base.redis_server import EmbeddedRedis, RedisUnavailable
from services.bench.children import Server, free_address
from services.scripted_agent.policy import decision

TARGET_RATIO = 0.5
TARGET_WAIT_P99_MS = 2.0
LLM_DECISION_S = 1.0  # a small local model takes a second or more per decision; pacing is stated against it
ACK_TIMEOUT = 10.0  # no ack this long while batches are out: the recorder is stuck or gone, not slow
RECORDER_DB, RAW_DB = 1, 2  # logical databases of the bench's server
FRAME_LIMIT = 1 << 28


@dataclass(frozen=True)
class Plan:
    agents: int = 4
    ops: int = 4  # ops per decision
    done_every: int = 25  # an agent's decisions per work: its `done` (with the cells), `new` and statement
    events: int = 60_000  # events per throughput round
    batch: int = 32  # events per `record` message / per pipeline execute: a canvas batch of a few decisions
    window: int = 8  # record batches in flight
    rounds: int = 3  # recorder and raw rounds each, alternating
    pace: float = 0.005  # seconds between decisions in the paced phase (200 decisions/s)
    warmup: float = 1.0  # seconds of the paced phase not counted
    paced_seconds: float = 10.0


FULL = Plan()
QUICK = Plan(events=20_000, rounds=2, warmup=0.5, paced_seconds=4.0)


@dataclass
class Payloads:
    """Every event of the bench, as the canvas would have published them, grouped by decision."""

    decisions: list[list[list]]  # the record items (proto.events.record_item) of one decision's events
    events: list[bytes] = field(default_factory=list)  # the envelopes, flat; seq n is events[n - 1]
    items: list[list] = field(default_factory=list)  # the record items, flat, as the canvas sends them
    fields: list[tuple[str, str]] = field(default_factory=list)  # (agent, kind) of each event


def make_payloads(plan: Plan, seed: int = 7) -> Payloads:
    """Enough events for a throughput round and the paced phase, with consecutive seqs from 1."""
    rng = random.Random(seed)
    needed_decisions = math.ceil((plan.warmup + plan.paced_seconds) / plan.pace)
    out = Payloads([])
    canvases: dict[str, CanvasModel] = {}

    def event(agent: str, kind: str, data: dict, parent_id: str | None = None) -> list:
        out.fields.append((agent, kind))
        seq = len(out.events) + 1
        envelope = encode_event(seq, agent, kind, data, "canvas", parent_id)[1]
        out.events.append(envelope)
        out.items.append(record_item(seq, agent, kind, data, envelope))
        return out.items[-1]

    names = [f"bench-{i}" for i in range(plan.agents)]
    for name in names:  # an agent's hello: its canvas, then `joined` (services/canvas/studio.py)
        c = canvases[name] = CanvasModel()
        out.decisions.append([event(name, "new", {"work": c.work, "width": c.width, "height": c.height}),
                              event(name, "joined", {"model": "scripted"})])
    turn = 0
    while len(out.events) < plan.events or len(out.decisions) < needed_decisions:
        for name in names:
            canvas, msg = canvases[name], Message("ops", {}, name)  # its id: the events' parent_id
            made = []
            for item in parse(decision(rng, plan.ops, plan.done_every, turn)):
                if isinstance(item, Op):
                    made += [event(name, kind, data, msg.id) for kind, data in canvas.apply(item)]
            if not made:  # only agent-local ops (`remember`): the canvas publishes nothing for it
                continue
            out.decisions.append(made)
            if out.fields[-1][1] == "new":  # a work is done: its statement is the agent's next message
                out.decisions.append([event(name, "statement", {"work": canvas.work - 1,
                                                                "text": "A scripted work, made by no one."})])
        turn += 1
    return out


@dataclass
class Round:
    events: int
    seconds: float
    writer_cpu: float  # the recorder process, or the bench process for raw
    valkey_cpu: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _valkey_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class CanvasEnd:
    """The canvas's side of the record socket, as the bench plays it: a ROUTER the recorder connects to, a CurveZMQ
    server with the studio's keypair as the canvas's record socket is (PROTOCOL.md section 13), so the batches cost
    the encryption they cost in the studio. (No ZAP handler: libzmq lets the recorder's key in.)"""

    def __init__(self) -> None:
        self.address = free_address()
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, FRAME_LIMIT)
        self.sock.curve_server = True
        self.sock.curve_publickey, self.sock.curve_secretkey = Keys.studio().server_key_made()
        self.sock.bind(self.address)
        self.route: bytes | None = None  # the recorder's, from its hello
        self.last_route = b""
        self.recorder: Server | None = None

    def attach(self, url: str) -> Server:
        """Start `aurora recorder` on the database at `url` and answer its hello; returns its process."""
        self.route = None
        while self.sock.poll(0, zmq.POLLIN):  # what an earlier recorder said last
            self.sock.recv_multipart()
        self.recorder = Server("recorder", "services.cli", "recorder", "--record", self.address,
                               "--redis-url", url)
        self.recorder.wait_ready(self._hello)
        return self.recorder

    def _hello(self) -> bool:
        msg = self._receive(200)
        if msg is None or msg.type != "record_hello":
            return False
        self.route = self.last_route
        if msg.body["seq"] != 0:
            raise RuntimeError(f"the recorder's database is not empty (seq {msg.body['seq']})")
        self.sock.send_multipart([self.route, encode(msg.reply("recorded", {"seq": 0}, "canvas"))])
        return True

    def _receive(self, timeout_ms: float) -> Message | None:
        """The next message from the current recorder within `timeout_ms`, or None."""
        deadline = time.perf_counter() + timeout_ms / 1000
        while True:
            left = max(0, math.ceil((deadline - time.perf_counter()) * 1000))
            if not self.sock.poll(left, zmq.POLLIN):
                return None
            route, frame = self.sock.recv_multipart()
            if self.route is not None and route != self.route:  # an earlier recorder's last heartbeat
                continue
            self.last_route = route
            try:
                return decode(frame, limit=FRAME_LIMIT, accept=RECORDER_TYPES)
            except ProtocolError as exc:
                raise RuntimeError(f"the recorder sent a frame that does not decode: {exc}") from None

    def acked(self, timeout_ms: float) -> int | None:
        """The seq of the next `recorded` ack within `timeout_ms` (heartbeats skipped), or None."""
        deadline = time.perf_counter() + timeout_ms / 1000
        while (msg := self._receive((deadline - time.perf_counter()) * 1000)) is not None:
            if msg.type == "recorded":
                return msg.body["seq"]
            if msg.type == "record_hello":
                raise RuntimeError(f"the recorder asked for the events again from seq {msg.body['seq']} (a gap, "
                                   "or Redis refused a write): see its log above")
        return None

    def wait_ack(self) -> int:
        seq = self.acked(ACK_TIMEOUT * 1000)
        if seq is None:
            alive = self.recorder is not None and self.recorder.proc.poll() is None
            raise RuntimeError(f"no `recorded` from the recorder for {ACK_TIMEOUT:.0f}s "
                               f"({'still running' if alive else 'it exited'})")
        return seq

    def send(self, frame: bytes) -> None:
        self.sock.send_multipart([self.route, frame])

    def detach(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None

    def close(self) -> None:
        self.detach()
        self.sock.close()


@dataclass
class Paced:
    batches: int  # sent, warm-up included
    waits: list[float] = field(default_factory=list)  # seconds, send of `record` to its `recorded`, after warm-up
    raw_waits: list[float] = field(default_factory=list)  # seconds, one pipelined execute of the same batch
    usage: Round | None = None  # the recorder's and valkey's CPU over the measured part


class Bench:
    """The phases of one run against one valkey: throughput rounds, then the paced phase."""

    def __init__(self, plan: Plan, payloads: Payloads, server: EmbeddedRedis):
        self.plan, self.payloads = plan, payloads
        base = server.url.rsplit("/", 1)[0]
        self.urls = {"recorder": f"{base}/{RECORDER_DB}", "raw": f"{base}/{RAW_DB}"}
        self.clients = {kind: redis.Redis.from_url(url) for kind, url in self.urls.items()}
        spans = [(i, min(i + plan.batch, plan.events)) for i in range(0, plan.events, plan.batch)]
        self.record_frames = [encode(Message("record", {"events": payloads.items[i:j]}, "canvas")) for i, j in spans]
        self.raw_batches = [self._entries(i + 1, j + 1) for i, j in spans]
        self.canvas = CanvasEnd()

    def close(self) -> None:
        self.canvas.close()
        for client in self.clients.values():
            client.close()

    def _entries(self, first: int, end: int) -> list[tuple[int, str, str, bytes]]:
        """(seq, agent, kind, envelope) of the events from seq `first` to before `end`: a raw writer's input."""
        return [(seq, *self.payloads.fields[seq - 1], self.payloads.events[seq - 1]) for seq in range(first, end)]

    @staticmethod
    def _xadd(client: redis.Redis, entries: list[tuple[int, str, str, bytes]]) -> None:
        """What a plain writer does: the entries' XADDs in one pipeline, one execute."""
        pipe = client.pipeline(transaction=False)
        for seq, agent, kind, envelope in entries:
            pipe.xadd("aurora:events", {"agent": agent, "kind": kind, "event": envelope}, id=f"{seq}-0")
        pipe.execute()

    def _fresh(self, kind: str) -> redis.Redis:
        client = self.clients[kind]
        client.flushdb()
        return client

    def throughput(self) -> dict[str, list[Round]]:
        rounds: dict[str, list[Round]] = {"recorder": [], "raw": []}
        for r in range(self.plan.rounds):
            for kind in ("raw", "recorder") if r % 2 else ("recorder", "raw"):
                _progress(f"round {r + 1}: {kind}, {self.plan.events} events")
                rounds[kind].append(self.recorder_round() if kind == "recorder" else self.raw_round())
        return rounds

    def recorder_round(self) -> Round:
        client = self._fresh("recorder")
        recorder = self.canvas.attach(self.urls["recorder"])
        try:
            n, batch, window, frames = self.plan.events, self.plan.batch, self.plan.window, self.record_frames
            cpu, valkey = recorder.cpu_seconds(), _valkey_cpu(client)
            began = time.perf_counter()
            sent = stored = 0
            while stored < n:
                while sent < len(frames) and sent - stored // batch < window:
                    self.canvas.send(frames[sent])
                    sent += 1
                stored = self.canvas.wait_ack()
            seconds = time.perf_counter() - began
            measured = Round(n, seconds, recorder.cpu_seconds() - cpu, _valkey_cpu(client) - valkey)
        finally:
            self.canvas.detach()
        self._check(client, n, "recorder")
        if client.hget("aurora:recorder", "seq") != str(n).encode():
            raise RuntimeError(f"the recorder says it stored {n} events but aurora:recorder.seq is "
                               f"{client.hget('aurora:recorder', 'seq')!r}")
        return measured

    def raw_round(self) -> Round:
        """The baseline: pipelined XADD of the same entries, one execute per batch."""
        client = self._fresh("raw")
        cpu, valkey = time.process_time(), _valkey_cpu(client)
        began = time.perf_counter()
        for entries in self.raw_batches:
            self._xadd(client, entries)
        seconds = time.perf_counter() - began
        measured = Round(self.plan.events, seconds, time.process_time() - cpu, _valkey_cpu(client) - valkey)
        self._check(client, self.plan.events, "raw")
        return measured

    @staticmethod
    def _check(client: redis.Redis, n: int, kind: str) -> None:
        if (stored := client.xlen("aurora:events")) != n:
            raise RuntimeError(f"{kind}: aurora:events holds {stored} entries, not the {n} sent")

    def paced(self) -> Paced:
        """One decision per batch every `pace` s: the recorder's waits, then raw XADD's at the same pace."""
        plan = self.plan
        count = round((plan.warmup + plan.paced_seconds) / plan.pace)
        decisions = self.payloads.decisions[:count]
        frames = [encode(Message("record", {"events": d}, "canvas")) for d in decisions]
        result = Paced(len(frames))
        client = self._fresh("recorder")
        recorder = self.canvas.attach(self.urls["recorder"])
        _progress(f"paced: recorder, one decision a batch, {1 / plan.pace:.0f} decisions/s, "
                  f"{plan.warmup + plan.paced_seconds:.1f} s")
        try:
            start = time.perf_counter() + 0.05
            measure_from = start + plan.warmup
            out: deque[tuple[int, float]] = deque()  # (last seq of the batch, sent at)
            last_seq = events = 0
            cpu = valkey = measured_from = None
            for i, (frame, batch) in enumerate(zip(frames, decisions)):
                due = start + i * plan.pace
                while (now := time.perf_counter()) < due:
                    seq = self.canvas.acked((due - now) * 1000)
                    if seq is not None:
                        self._settle(out, seq, measure_from, result.waits)
                if now >= measure_from and cpu is None:
                    cpu, valkey, measured_from = recorder.cpu_seconds(), _valkey_cpu(client), now
                last_seq += len(batch)
                self.canvas.send(frame)
                out.append((last_seq, time.perf_counter()))
                events += len(batch) if cpu is not None else 0
            while out:
                self._settle(out, self.canvas.wait_ack(), measure_from, result.waits)
            if cpu is None:
                raise RuntimeError("the paced phase is no longer than its warm-up")
            seconds = time.perf_counter() - measured_from
            result.usage = Round(events, seconds, recorder.cpu_seconds() - cpu, _valkey_cpu(client) - valkey)
        finally:
            self.canvas.detach()
        self._raw_paced(decisions, result.raw_waits)
        return result

    def _raw_paced(self, decisions: list[list[bytes]], waits: list[float]) -> None:
        """The reference: the same batches, the same pace, as pipelined XADD from here (one execute each)."""
        plan = self.plan
        _progress(f"paced: raw, {plan.warmup + plan.paced_seconds:.1f} s")
        batches, seq = [], 1
        for decision_events in decisions:
            batches.append(self._entries(seq, seq + len(decision_events)))
            seq += len(decision_events)
        client = self._fresh("raw")
        start = time.perf_counter() + 0.05
        for i, entries in enumerate(batches):
            time.sleep(max(0.0, start + i * plan.pace - time.perf_counter()))  # keeping the pace
            sent = time.perf_counter()
            self._xadd(client, entries)
            if sent >= start + plan.warmup:
                waits.append(time.perf_counter() - sent)

    @staticmethod
    def _settle(out: deque, seq: int, measure_from: float, waits: list[float]) -> None:
        now = time.perf_counter()
        while out and out[0][0] <= seq:
            _, sent = out.popleft()
            if sent >= measure_from:
                waits.append(now - sent)


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def run_bench(plan: Plan, label: str = "aurora bench recorder") -> tuple[float, float]:
    """Run `plan`, print the report ending in the RESULT line, return (ratio, wait p99 in ms)."""
    began = time.monotonic()
    _progress(f"making the payloads ({plan.agents} scripted agents)")
    payloads = make_payloads(plan)
    server: EmbeddedRedis | None = None
    bench: Bench | None = None
    with tempfile.TemporaryDirectory(prefix="aurora-bench-recorder-") as tmp:
        try:
            port = int(free_address().rsplit(":", 1)[1])
            server = EmbeddedRedis(Path(tmp) / "valkey", port)
            server.start()
            bench = Bench(plan, payloads, server)
            version = bench.clients["raw"].info("server")
            version = version.get("valkey_version") or version.get("redis_version", "?")
            _progress(f"valkey {version} up, {len(bench.record_frames)} batches a round")
            gc.freeze()  # the payloads are long-lived: no collection of the bench's own walks them mid-measure
            rounds = bench.throughput()
            paced = bench.paced()
        finally:
            gc.unfreeze()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
            try:
                if bench is not None:
                    bench.close()
                if server is not None:
                    server.stop()
            finally:
                signal.signal(signal.SIGINT, previous)

    rates = {kind: sum(r.events for r in rs) / sum(r.seconds for r in rs) for kind, rs in rounds.items()}
    ratio = rates["recorder"] / rates["raw"]
    p99 = percentile_ms(paced.waits, 0.99)
    _report(label, plan, payloads, version, rounds, rates, ratio, paced)
    _progress(f"done in {time.monotonic() - began:.0f} s")
    return ratio, p99


def _spread(waits: list[float]) -> str:
    return (f"p50 {percentile_ms(waits, 0.5):5.2f} ms   p99 {percentile_ms(waits, 0.99):5.2f} ms   "
            f"max {1000 * max(waits, default=math.nan):6.2f} ms")


def _report(label: str, plan: Plan, payloads: Payloads, version: str, rounds: dict[str, list[Round]],
            rates: dict[str, float], ratio: float, paced: Paced) -> None:
    n = plan.events
    size = sum(map(len, payloads.events[:n])) / n
    kinds = Counter(kind for _, kind in payloads.fields[:n])
    mix = ", ".join(f"{k} {v}" for k, v in kinds.most_common())
    usage, p99 = paced.usage, percentile_ms(paced.waits, 0.99)
    lines = [
        f"{label}: the recorder against redis-py pipelined XADD of the same payloads, measured in the same run",
        f"  payloads: {plan.agents} agents, services.scripted_agent.policy.decision(rng, ops={plan.ops}, "
        f"done_every={plan.done_every}),",
        "    a SCRIPTED, NON-LLM policy (no model runs), applied with proto.canvas.CanvasModel, encoded with",
        "    proto.topics.encode_event, seqs 1..n, sent as proto.events.record_item",
        f"  a round: {n} events, mean {size:.0f} B: {mix}",
        f"  redis: valkey {version} in a temporary folder, appendonly yes, appendfsync always (as the studio); "
        f"machine: {os.cpu_count()} cores",
        "  recorder: `aurora recorder` in its own process, a fresh one on an empty database each round; the bench",
        "    plays the canvas on the record socket (ROUTER, TCP loopback), frames encoded before the clock starts",
        "  raw: redis-py pipeline(transaction=False), XADD aurora:events {agent, kind, event} per event, one execute",
        "    per batch, in the bench process, into another database of the same server",
        "  CPU: seconds of CPU over the round's seconds, in % of one core (writer: the recorder process, or the",
        "    bench for raw; valkey: the server's own count)",
        "",
        f"Throughput: batches of {plan.batch} events, {plan.window} batches in flight (recorder); {plan.rounds} "
        "rounds each, alternating, each on an emptied database",
    ]
    for i in range(plan.rounds):
        for kind in ("recorder", "raw"):
            r = rounds[kind][i]
            lines.append(f"  round {i + 1} {kind:<8} {r.rate:8.0f} events/s  ({r.seconds:5.2f} s)   writer CPU "
                         f"{100 * r.writer_cpu / r.seconds:3.0f}% ({1e6 * r.writer_cpu / r.events:3.0f} us/event)   "
                         f"valkey CPU {100 * r.valkey_cpu / r.seconds:3.0f}% "
                         f"({1e6 * r.valkey_cpu / r.events:3.0f} us/event)")
    lines += [
        f"  recorder {rates['recorder']:.0f} events/s, raw XADD {rates['raw']:.0f} events/s (events / seconds over "
        "all rounds)",
        f"  ratio {ratio:.2f} (recorder events/s / raw XADD events/s; target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})",
        "",
        f"Durability wait: one decision's events a batch (mean {usage.events / max(1, len(paced.waits)):.1f} "
        f"events), {1 / plan.pace:.0f} decisions/s (~{LLM_DECISION_S / plan.pace:.0f}x an LLM agent's pace), "
        f"{plan.paced_seconds:.0f} s after {plan.warmup:.1f} s warm-up",
        f"  recorder  {_spread(paced.waits)}   recorder CPU {100 * usage.writer_cpu / usage.seconds:.0f}%, "
        f"valkey CPU {100 * usage.valkey_cpu / usage.seconds:.0f}%",
        f"  raw       {_spread(paced.raw_waits)}   (the same batches, one pipelined XADD execute each: a",
        "            reference, the machine's own round trip to valkey)",
        f"  recorder: send of `record` to its `recorded`, how long a durable canvas holds the reply; over "
        f"{len(paced.waits)} of {paced.batches} batches",
        f"  wait p99 {p99:.2f} ms (target <= {TARGET_WAIT_P99_MS:.0f} ms: "
        f"{'met' if p99 <= TARGET_WAIT_P99_MS else 'MISSED'})",
        f"RESULT bench=recorder ratio={ratio:.2f} wait_p99_ms={p99:.2f}",
    ]
    print("\n".join(lines), flush=True)


# What a run can fail with that is the machine's or the install's fault, not a bug: said in one line.
EXPECTED_ERRORS = (RuntimeError, OSError, RedisUnavailable, redis.RedisError)
