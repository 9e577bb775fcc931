"""`aurora bench canvas [--quick]`: how fast the canvas service answers agents, next to a baseline.

The canvas runs as its own process (`python -m services.cli canvas` on free ports); every agent is its own
process with a real DEALER socket over TCP loopback, sending decisions from the SCRIPTED, NON-LLM policy.
The baseline is a raw pyzmq ROUTER echo (services/bench/echo_server.py) driven by the same clients with the
same payloads in the same run, so the ratio says what the canvas keeps of what Python + ZeroMQ + msgpack
can do on this machine today, whatever its load.

Two configurations:
- 8 agents closed loop (each sends its next decision as soon as its reply lands): throughput, and the ratio.
- 64 agents paced, one decision every 50 ms each. A closed loop of 64 processes on a small machine measures
  the operating system's run queue, not the service; pacing offers a fixed load (still ~20x faster than an
  LLM agent decides) and the reply latency under it is what an agent would see.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from services.bench.children import Server, canvas_answers, echo_answers, free_address
from services.bench.load_client import OPS_PER_DECISION, LoadClients, Tally, Window

TARGET_RATIO = 0.5
TARGET_P99_MS = 10.0
LLM_DECISION_S = 1.0  # a small local model takes a second or more per decision; pacing is stated against it


@dataclass(frozen=True)
class Plan:
    closed_agents: int = 8
    paced_agents: int = 64
    pace: float = 0.05  # seconds between one paced agent's decisions
    closed_rounds: int = 3  # canvas and echo alternate, so that noise on a shared machine hits both
    paced_rounds: int = 2
    warmup: float = 1.0  # seconds of each phase not counted (connections, caches, CPU frequency)
    closed_seconds: float = 8.0
    paced_seconds: float = 15.0


FULL = Plan()
QUICK = Plan(closed_rounds=2, paced_rounds=1, warmup=0.5, closed_seconds=2.0, paced_seconds=6.0)


@dataclass
class Measured:
    """One server in one configuration, over all its rounds."""

    seconds: float = 0.0
    server_cpu: float = 0.0
    tallies: list[Tally] = field(default_factory=list)

    def add(self, tallies: list[Tally], seconds: float, server_cpu: float) -> None:
        self.tallies += tallies
        self.seconds += seconds
        self.server_cpu += server_cpu

    def total(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.tallies)

    @property
    def rate(self) -> float:
        return self.total("replies") / self.seconds

    def percentile_ms(self, q: float) -> float:
        values = sorted(x for t in self.tallies for x in t.latencies)
        return 1000 * values[max(0, math.ceil(q * len(values)) - 1)] if values else float("nan")

    def line(self, kind: str, unit: str, paced: bool) -> str:
        ops = f"{self.total('ops') / self.seconds:7.0f} ops/s" if kind == "canvas" else " " * 13
        text = (f"  {kind:<6} {self.rate:7.0f} {unit:<14}{ops}   p50 {self.percentile_ms(0.5):6.2f} ms   "
                f"p99 {self.percentile_ms(0.99):6.2f} ms   server CPU {100 * self.server_cpu / self.seconds:3.0f}%"
                f" ({1e6 * self.server_cpu / max(1, self.total('replies')):3.0f} us/reply)")
        notes = [f"{n} {what}" for what in ("errors", "rejected") if (n := self.total(what))]
        if paced:  # a reply that came after the agent's next decision was due: the pace was not kept
            notes.append(f"late {100 * self.total('late') / max(1, self.total('replies')):.1f}%")
        return text + (f"   {', '.join(notes)}" if notes else "")


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class _Phases:
    """Runs the phases of one bench: the same clients against each server in turn, numbered for agent names."""

    def __init__(self, clients: LoadClients, servers: dict[str, tuple[Server, str]], plan: Plan):
        self.clients, self.servers, self.plan = clients, servers, plan
        self.phase = 0

    def alternate(self, rounds: int, agents: int, period: float, seconds: float) -> dict[str, Measured]:
        """`rounds` rounds of every server, the order reversed every other round (canvas, echo, echo, canvas):
        a shared machine's noise then falls on both alike."""
        measured = {kind: Measured() for kind in self.servers}
        for r in range(rounds):
            for kind in sorted(self.servers, reverse=r % 2 == 1):
                self._measure(kind, agents, period, seconds, measured[kind])
        return measured

    def _measure(self, kind: str, agents: int, period: float, seconds: float, into: Measured) -> None:
        server, address = self.servers[kind]
        warmup = self.plan.warmup
        cpu: list[float] = []

        def window_of(now: float) -> Window:
            start = now + 0.05  # every client has its go before anyone starts
            return Window(start, start + warmup, start + warmup + seconds, period)

        def sample_cpu(window: Window) -> None:
            for moment in (window.measure_from, window.end):
                time.sleep(max(0.0, moment - time.monotonic()))  # sampling at the window's edges
                cpu.append(server.cpu_seconds())

        self.phase += 1
        _progress(f"{kind}: {agents} agents, {'paced' if period else 'closed loop'}, {warmup + seconds:.1f} s")
        tallies = self.clients.run(agents, kind, address, f"b{self.phase}", window_of, sample_cpu)
        into.add(tallies, seconds, cpu[1] - cpu[0])


def run_bench(plan: Plan, label: str = "aurora bench canvas") -> tuple[float, float]:
    """Run `plan`, print the report ending in the RESULT line, return (ratio, p99 ms at the paced load)."""
    servers: list[Server] = []
    clients: LoadClients | None = None
    try:
        agents_addr, events_addr, snapshots_addr, record_addr, echo_addr = (free_address() for _ in range(5))
        clients_n = max(plan.closed_agents, plan.paced_agents)
        _progress(f"starting the canvas, the echo baseline and {clients_n} load-client processes")
        began = time.monotonic()
        # --volatile: this measures the canvas alone; `aurora bench recorder` measures what recording adds.
        canvas = Server("canvas", "services.cli", "canvas", "--agents", agents_addr, "--events", events_addr,
                        "--snapshots", snapshots_addr, "--record", record_addr, "--volatile")
        servers.append(canvas)
        echo = Server("echo", "services.bench.echo_server", echo_addr)
        servers.append(echo)
        clients = LoadClients(clients_n)
        canvas.wait_ready(canvas_answers(agents_addr))
        echo.wait_ready(echo_answers(echo_addr))
        _progress(f"all up in {time.monotonic() - began:.1f} s")
        phases = _Phases(clients, {"canvas": (canvas, agents_addr), "echo": (echo, echo_addr)}, plan)
        closed = phases.alternate(plan.closed_rounds, plan.closed_agents, 0.0, plan.closed_seconds)
        paced = phases.alternate(plan.paced_rounds, plan.paced_agents, plan.pace, plan.paced_seconds)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        try:
            if clients is not None:
                clients.close()
            for server in servers:
                server.stop()
        finally:
            signal.signal(signal.SIGINT, previous)

    ratio = closed["canvas"].rate / closed["echo"].rate
    p99 = paced["canvas"].percentile_ms(0.99)
    _report(label, plan, closed, paced, ratio, p99)
    return ratio, p99


def _section(heading: str, measured: dict[str, Measured], paced: bool, verdict: str) -> list[str]:
    """One configuration: what was run, the canvas and echo lines, and the verdict against its target."""
    return [heading, measured["canvas"].line("canvas", "decisions/s", paced),
            measured["echo"].line("echo", "round trips/s", paced), f"  {verdict}", ""]


def _report(label: str, plan: Plan, closed: dict[str, Measured], paced: dict[str, Measured], ratio: float,
            p99: float) -> None:
    sample = closed["canvas"].tallies[0]
    echo_sample = closed["echo"].tallies[0]
    offered = plan.paced_agents / plan.pace
    lines = [
        f"{label}: the canvas service against a raw ZeroMQ echo, measured in the same run",
        f"  load: services.scripted_agent.policy.decision(rng, ops={OPS_PER_DECISION}), a SCRIPTED, NON-LLM "
        "policy (no model runs)",
        "  each agent is its own process with a DEALER socket on TCP loopback;",
        "  the canvas (python -m services.cli canvas) and the echo run in their own processes, no subscribers",
        "  echo: raw pyzmq ROUTER, msgpack decode + encode of a request-sized reply; same clients, same payloads",
        f"  request {sample.request_bytes} B; reply: canvas {sample.reply_bytes} B, "
        f"echo {echo_sample.reply_bytes} B; machine: {os.cpu_count()} cores",
        "  latency: send to reply, timed in the client; server CPU: all the server's threads, in % of one core",
        "",
        *_section(f"{plan.closed_agents} agents, closed loop (next decision as soon as the reply lands), "
                  f"{plan.closed_rounds} x {plan.closed_seconds:.0f} s each after {plan.warmup:.1f} s warm-up",
                  closed, False, f"ratio {ratio:.2f} (canvas decisions/s / echo round trips/s; target >= "
                                 f"{TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"),
        *_section(f"{plan.paced_agents} agents, each paced at one decision every {plan.pace * 1000:.0f} ms "
                  f"(~{LLM_DECISION_S / plan.pace:.0f}x faster than an LLM agent decides; "
                  f"offered {offered:.0f} decisions/s), {plan.paced_rounds} x {plan.paced_seconds:.0f} s each",
                  paced, True, f"canvas p99 {p99:.2f} ms (target <= {TARGET_P99_MS:.0f} ms: "
                               f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'})"),
        f"RESULT bench=canvas ratio={ratio:.2f} p99_ms={p99:.2f}",
    ]
    print("\n".join(lines), flush=True)


# What a run can fail with that is the machine's or the install's fault, not a bug: said in one line.
EXPECTED_ERRORS = (RuntimeError, OSError)
