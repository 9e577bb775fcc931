"""`aurora bench gateway [--quick]`: the audio gateway's fan-out to WebSocket viewers, next to a bare baseline.

Everything runs as its own process on free loopback ports: a real canvas (`aurora canvas --volatile`: the
canvas alone, unrecorded), the real gateway (`aurora gateway`, FastAPI + uvicorn, subscribed to that canvas,
with no record), and the baseline, a bare `websockets` broadcast server (services/bench/bare_broadcast.py)
subscribed to the same events socket with a plain ZeroMQ SUB, turning each event into the gateway's own JSON
text (services.audio_gateway.messages.event: the same bytes) and writing it to every connection with
`websockets.broadcast`: no replica, no queue, no resync, no checks, the floor of what Python + websockets pay.

The load: a few load agents (services/bench/load_client.py, each its own process with a DEALER socket)
deciding with the SCRIPTED, NON-LLM policy (services.scripted_agent.policy), each paced at a fixed period.
Each round starts fresh agent processes from the same seeds, on fresh canvases: the same pre-made decisions in
the same order, and the same offsets between the agents' paces (which decide how often several agents'
decisions land together: those bursts set the latency's tail). So every round offers the same events, at the
same moments of its window, to whichever server is measured; the bench's own SUB counts what the canvas
published. This keeps the real chain (canvas -> ZeroMQ -> server -> WebSocket) on both sides; a bench-owned
PUB replaying a recording would make the load identical to the byte, but the gateway's replica would then
follow a fake canvas (its snapshots, its ticks), and its seqs and times would be the bench's.

The viewers: N WebSocket clients over TCP loopback, in a few processes (services/bench/viewers.py), all
connected to one server at a time; gateway and bare rounds alternate (gateway, bare, bare, gateway, ...) so a
shared machine's noise falls on both. Each round starts its server afresh and stops it after: the server
measured is the only one running, and each starts from the same state (a fresh subscription, no viewer).

- Latency: for every note event, the canvas's publication (its envelope `time`) to its read by each viewer,
  on this machine's wall clock; p50/p99 over every viewer's notes after the warm-up.
- Messages/s: messages received by all viewers within the measured window, per second. Both servers are
  offered the same events, so as long as both keep up the two rates are equal (ratio 1.0): the ratio says
  how much of what the floor delivers the gateway delivers at this load. What each pays for it is the servers'
  CPU per message delivered, shown beside it (the gap between them is the gateway's headroom, or lack of it).
"""

from __future__ import annotations

import http.client
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

import zmq

from proto.topics import TICK_TOPIC
from services.base.process import spawn
from services.bench.children import Server, canvas_answers, free_address
from services.bench.load_client import OPS_PER_DECISION, LoadClients, Window
from services.bench.viewers import Tally, ViewerClients, raise_file_limit

TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
TARGET_P99_RATIO = 1.1  # the gateway's p99 over the bare server's in the same run: the machine falls on both
LLM_DECISION_S = 1.0  # a small local model takes a second or more per decision; pacing is stated against it
KINDS = ("gateway", "bare")
TICK = TICK_TOPIC.encode()
SEED = 11  # the load agents' (their decisions and the offsets of their paces)


@dataclass(frozen=True)
class Plan:
    viewers: int = 1000
    processes: int = 4  # viewer processes
    agents: int = 4  # load agents
    pace: float = 0.25  # seconds between one agent's decisions
    rounds: int = 2  # gateway and bare rounds each, alternating
    warmup: float = 2.0  # seconds of each round not counted (the agents join, the caches warm)
    seconds: float = 10.0  # measured seconds of each round


FULL = Plan()
QUICK = Plan(viewers=100, processes=2, rounds=1, warmup=1.0, seconds=5.0)


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _free_port() -> int:
    return int(free_address().rsplit(":", 1)[1])


class _Process(Server):
    """A server process with its own environment; its stdout (a line saying where it listens) is dropped, as
    the report owns ours; its stderr (warnings, errors) is ours."""

    def __init__(self, name: str, module: str, *args: str, env: dict[str, str] | None = None):
        self.name = name
        self.proc = spawn([sys.executable, "-m", module, *args], env=env, stdout=subprocess.DEVNULL)


def _get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _gateway_synced(port: int):
    """A readiness probe: /healthz answers 200 (the gateway's replica has its snapshot)."""

    def probe() -> bool:
        try:
            if _get(port, "/healthz", timeout=0.5)[0] == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
        return False

    return probe


def _listening(port: int):
    """A readiness probe: the port takes a TCP connection."""

    def probe() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
            return False

    return probe


def gateway_counts(port: int) -> Counter:
    """The gateway's resyncs, drops, messages sent and garbage collections, from /metrics: (family, label value)
    -> count (seconds, a float, for gc_pause_seconds)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = _get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"the gateway's /metrics answered {status}")
    counts: Counter = Counter()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels:
                name = sample.name.removeprefix("aurora_gateway_").removesuffix("_total")
                counts[(name, next(iter(sample.labels.values())))] = \
                    sample.value if name == "gc_pause_seconds" else int(sample.value)
    return counts


class Published:
    """What the canvas published, as the bench's own SUB sees it (the offered load): receipt times."""

    def __init__(self, address: str):
        self.context = zmq.Context()
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)
        self.sub.setsockopt_string(zmq.SUBSCRIBE, "")
        self.sub.connect(address)
        self.events = array("d")  # time.monotonic() when each event came
        self.notes = array("d")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-published", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            if not self.sub.poll(100, zmq.POLLIN):
                continue
            topic = self.sub.recv_multipart()[0]
            if topic == TICK:
                continue
            now = time.monotonic()
            self.events.append(now)
            if topic.startswith(b"note."):
                self.notes.append(now)

    def count(self, window: Window) -> tuple[int, int]:
        """(events, notes) published within the window's measured part."""
        return _inside(self.events, window), _inside(self.notes, window)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.sub.close(0)
        self.context.term()


def _inside(times: array, window: Window) -> int:
    return sum(1 for t in times if window.measure_from <= t < window.end)


@dataclass
class Round:
    kind: str
    number: int
    seconds: float
    tally: Tally
    published: int  # events the canvas published in the window
    published_notes: int
    server_cpu: float
    canvas_cpu: float
    server_counts: Counter = field(default_factory=Counter)  # the gateway's, over the round

    @property
    def messages(self) -> int:
        return sum(self.tally.messages.values())

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def delivered(self) -> float:
        """Events received by all viewers / (events published x viewers), within the window."""
        return self.tally.messages["event"] / max(1, self.published * self.tally.viewers)


def percentile_ms(values, q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


class Bench:
    """The processes of one run, and its rounds."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.servers: list[Server] = []
        self.viewers: ViewerClients | None = None
        self.load: LoadClients | None = None
        self.published: Published | None = None
        self.phase = 0
        self.env = {**os.environ, "REDIS_URL": "", "AURORA_LOG": "warning"}  # no record: the gateway counts live

    def start(self) -> None:
        plan = self.plan
        raise_file_limit(plan.viewers + 256)  # inherited by every process started from here on
        self.agents_addr, self.events_addr, self.snapshots_addr, record = (free_address() for _ in range(4))
        _progress(f"starting the canvas and {plan.processes} viewer processes")
        began = time.monotonic()
        self.canvas = self._start("canvas", "services.cli", "canvas", "--agents", self.agents_addr, "--events",
                                  self.events_addr, "--snapshots", self.snapshots_addr, "--record", record,
                                  "--volatile")
        self.published = Published(self.events_addr)
        self.viewers = ViewerClients(plan.processes)  # first: its fork server preloads both client modules
        self.canvas.wait_ready(canvas_answers(self.agents_addr))
        _progress(f"all up in {time.monotonic() - began:.1f} s")

    def _start(self, name: str, module: str, *args: str) -> Server:
        server = _Process(name, module, *args, env=self.env)
        self.servers.append(server)
        return server

    def _server(self, kind: str) -> tuple[Server, int, str]:
        """Start the server measured next (each round has a fresh one, alone: no idle server shares the
        machine); returns it, its port and its viewers' URL once it serves."""
        port = _free_port()
        if kind == "gateway":
            server = self._start("gateway", "services.cli", "gateway", "--host", "127.0.0.1", "--port", str(port),
                                 "--events", self.events_addr, "--snapshots", self.snapshots_addr,
                                 "--max-viewers-per-address", str(self.plan.viewers))
            server.wait_ready(_gateway_synced(port))
            return server, port, f"ws://127.0.0.1:{port}/ws"
        server = self._start("bare", "services.bench.bare_broadcast", "--events", self.events_addr, "--port",
                             str(port))
        server.wait_ready(_listening(port))
        return server, port, f"ws://127.0.0.1:{port}/"

    def _stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def close(self) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        try:
            for group in (self.load, self.viewers):
                if group is not None:
                    group.close()
            for server in reversed(self.servers):  # a server measured, then the canvas it follows
                server.stop()
            if self.published is not None:
                self.published.close()
        finally:
            signal.signal(signal.SIGINT, previous)

    def rounds(self) -> list[Round]:
        out = []
        for r in range(self.plan.rounds):
            for kind in (KINDS if r % 2 == 0 else tuple(reversed(KINDS))):
                out.append(self.round(kind, r + 1))
        return out

    def round(self, kind: str, number: int) -> Round:
        plan = self.plan
        began = time.monotonic()
        server, port, url = self._server(kind)
        # Fresh load agents each round, from the same seeds: the same decisions, and the same offsets of the
        # agents' paces (a reused client would draw new offsets each round, and agents that happen to decide
        # within a few ms of each other make the bursts that set the latency's tail).
        self.load = LoadClients(plan.agents, seed=SEED)
        try:
            _progress(f"round {number}, {kind}: up in {time.monotonic() - began:.1f} s; connecting {plan.viewers} "
                      "viewers")
            began = time.monotonic()
            self.viewers.connect(url, plan.viewers)
            _progress(f"round {number}, {kind}: {plan.viewers} viewers connected in {time.monotonic() - began:.1f} s;"
                      f" {plan.agents} agents, {plan.warmup + plan.seconds:.1f} s")
            before = gateway_counts(port) if kind == "gateway" else Counter()
            cpu: dict[str, list[float]] = {"server": [], "canvas": []}
            windows: list[Window] = []

            def window_of(now: float) -> Window:
                start = now + 0.05
                window = Window(start, start + plan.warmup, start + plan.warmup + plan.seconds, plan.pace)
                self.viewers.go(window)
                windows.append(window)
                return window

            def sample_cpu(window: Window) -> None:
                for moment in (window.measure_from, window.end):
                    time.sleep(max(0.0, moment - time.monotonic()))  # sampling at the window's edges
                    cpu["server"].append(server.cpu_seconds())
                    cpu["canvas"].append(self.canvas.cpu_seconds())

            self.phase += 1
            self.load.run(plan.agents, "canvas", self.agents_addr, f"{kind[0]}{self.phase:02d}", window_of,
                          sample_cpu)
            window = windows[0]
            tally = self.viewers.done(window)
            counts = gateway_counts(port) - before if kind == "gateway" else Counter()
        finally:
            self.load.close()
            self.load = None
            self._stop(server)
        events, notes = self.published.count(window)
        spent = {name: values[1] - values[0] for name, values in cpu.items()}
        return Round(kind, number, plan.seconds, tally, events, notes, spent["server"], spent["canvas"], counts)


def run_bench(plan: Plan, label: str = "aurora bench gateway") -> tuple[float, float, float]:
    """Run `plan`, print the report ending in the RESULT line, return (ratio, gateway note p99 in ms,
    p99_ratio: the gateway's p99 / the bare server's, same run)."""
    began = time.monotonic()
    bench = Bench(plan)
    try:
        bench.start()
        rounds = bench.rounds()
    finally:
        bench.close()
    by_kind = {kind: [r for r in rounds if r.kind == kind] for kind in KINDS}
    rates = {kind: sum(r.messages for r in rs) / sum(r.seconds for r in rs) for kind, rs in by_kind.items()}
    ratio = rates["gateway"] / rates["bare"] if rates["bare"] else float("nan")
    p99 = percentile_ms([x for r in by_kind["gateway"] for x in r.tally.latencies], 0.99)
    bare_p99 = percentile_ms([x for r in by_kind["bare"] for x in r.tally.latencies], 0.99)
    p99_ratio = p99 / bare_p99 if bare_p99 else float("nan")
    _report(label, plan, rounds, by_kind, rates, ratio, p99, p99_ratio)
    _progress(f"done in {time.monotonic() - began:.0f} s")
    return ratio, p99, p99_ratio


def _loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio's own"
    return f"uvloop {uvloop.__version__}"


def _round_line(r: Round) -> str:
    t = r.tally
    per_viewer = f"{min(t.events, default=0)}-{max(t.events, default=0)}"
    notes = [f"{n} {what}" for what, n in (("missed", t.missed), ("resyncs", t.messages["resync"]),
                                           ("snapshots", t.messages["snapshot"]),
                                           ("closed", sum(t.closed.values()))) if n]
    if r.kind == "gateway":
        dropped = sum(v for (name, _), v in r.server_counts.items() if name == "viewers_dropped")
        lost = sum(r.server_counts[("replica_counts", what)] for what in ("gaps", "behind"))
        notes += [f"{n} {what}" for what, n in (("dropped (1013)", dropped), ("gateway replica gaps", lost)) if n]
        full = r.server_counts[("gc_collections", "2")]
        if full:  # over the round's load, warm-up included (services/audio_gateway/gc_policy.py)
            notes.append(f"{full} full GCs ({1000 * r.server_counts[('gc_pause_seconds', '2')]:.0f} ms in all)")
    return (f"  round {r.number} {r.kind:<7} {r.rate:8.0f} msgs/s  delivered {100 * r.delivered:5.1f}%  "
            f"events/viewer {per_viewer}   notes p50 {percentile_ms(t.latencies, 0.5):6.2f} ms  "
            f"p99 {percentile_ms(t.latencies, 0.99):7.2f} ms  max {1000 * max(t.latencies, default=math.nan):7.1f} ms"
            f"   server CPU {100 * r.server_cpu / r.seconds:3.0f}% ({1e6 * r.server_cpu / max(1, r.messages):5.1f} "
            f"us/msg)   viewers CPU {100 * t.cpu / r.seconds:3.0f}%" + (f"   {', '.join(notes)}" if notes else ""))


def _report(label: str, plan: Plan, rounds: list[Round], by_kind: dict[str, list[Round]],
            rates: dict[str, float], ratio: float, p99: float, p99_ratio: float) -> None:
    seconds = sum(r.seconds for r in rounds)
    offered = sum(r.published for r in rounds) / seconds
    offered_notes = sum(r.published_notes for r in rounds) / seconds
    sizes = {kind: sum(r.tally.bytes for r in rs) / max(1, sum(r.messages for r in rs)) for kind, rs in by_kind.items()}
    cpu_per_msg = {kind: sum(r.server_cpu for r in rs) / max(1, sum(r.messages for r in rs))
                   for kind, rs in by_kind.items()}
    latencies = {kind: [x for r in rs for x in r.tally.latencies] for kind, rs in by_kind.items()}
    canvas = sum(r.canvas_cpu for r in rounds) / seconds
    lines = [
        f"{label}: `aurora gateway` against a bare websockets broadcast server, measured in the same run",
        f"  load: {plan.agents} load agents (services/bench/load_client.py processes, DEALER on TCP loopback), each "
        f"paced at one decision every {plan.pace * 1000:.0f} ms",
        f"    (~{LLM_DECISION_S / plan.pace:.0f}x faster than an LLM agent decides), "
        f"services.scripted_agent.policy.decision(rng, ops={OPS_PER_DECISION}): a SCRIPTED, NON-LLM policy "
        "(no model runs)",
        f"  canvas: `aurora canvas --volatile`, its own process; offered {offered:.0f} events/s "
        f"({offered_notes:.1f} notes/s), counted by the bench's own SUB",
        f"  viewers: {plan.viewers} WebSocket clients on TCP loopback in {plan.processes} processes "
        "(asyncio + the websockets sans-I/O client), on one server at a time",
        f"  gateway: `aurora gateway` (FastAPI + uvicorn), its own process, no record, --max-viewers-per-address "
        f"{plan.viewers}",
        "  bare: services/bench/bare_broadcast.py, its own process: a plain ZeroMQ SUB, the gateway's JSON text per "
        "event (messages.event),",
        "    websockets.broadcast() to every connection; no replica, no queue, no resync, no checks",
        f"  messages: gateway {sizes['gateway']:.0f} B, bare {sizes['bare']:.0f} B on average; event loop: "
        f"{_loop_name()} (both); machine: {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "  latency: a note event's publication by the canvas (its envelope time) to its read by a viewer, wall clock",
        "  server CPU: all the server's threads, in % of one core, and per message delivered; viewers CPU: all "
        "viewer processes",
        "  delivered: events the viewers got within the window / (events published within it x viewers); above "
        "100% when a backlog",
        "    from the warm-up drains into the window",
        "",
        f"Rounds: {plan.rounds} of each, alternating, {plan.seconds:.0f} s measured after {plan.warmup:.1f} s "
        "warm-up each",
        *(_round_line(r) for r in rounds),
        f"  canvas CPU {100 * canvas:.0f}% (the same in every round: the same decisions at the same pace)",
        "",
        f"  gateway {rates['gateway']:.0f} msgs/s, bare {rates['bare']:.0f} msgs/s (messages received by all viewers "
        "/ seconds, over all rounds)",
        f"  ratio {ratio:.2f} (gateway msgs/s / bare msgs/s; target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})",
        f"  notes: gateway p50 {percentile_ms(latencies['gateway'], 0.5):.2f} ms, bare p50 "
        f"{percentile_ms(latencies['bare'], 0.5):.2f} ms p99 {percentile_ms(latencies['bare'], 0.99):.2f} ms, over "
        f"{len(latencies['gateway'])} and {len(latencies['bare'])} deliveries",
        f"  gateway p99 {p99:.2f} ms (target <= {TARGET_P99_MS:.0f} ms at {plan.viewers} viewers: "
        f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'}); p99_ratio {p99_ratio:.2f} (gateway p99 / bare p99, same "
        f"run; target <= {TARGET_P99_RATIO}: {'met' if p99_ratio <= TARGET_P99_RATIO else 'MISSED'})",
        f"  server CPU per message delivered: gateway {1e6 * cpu_per_msg['gateway']:.1f} us, bare "
        f"{1e6 * cpu_per_msg['bare']:.1f} us ({cpu_per_msg['gateway'] / max(1e-12, cpu_per_msg['bare']):.1f}x)",
        f"RESULT bench=gateway ratio={ratio:.2f} p99_ms={p99:.2f} p99_ratio={p99_ratio:.2f}",
    ]
    print("\n".join(lines), flush=True)


# What a run can fail with that is the machine's or the install's fault, not a bug: said in one line.
EXPECTED_ERRORS = (RuntimeError, OSError)
