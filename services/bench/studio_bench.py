"""`aurora bench studio`: the default roster as `aurora up` runs it, decisions per second, and how close each
agent runs to what its model's decoding speed allows.

The whole studio is started as `aurora up` (real models, the canvas, the recorder and an embedded Redis, each
in its own process) in a data folder of its own, on free ports, with `AURORA_LOG=info`, so that each agent
logs one `decided` line per decision: tokens generated and prompt tokens evaluated in it (a title, a
statement and a dream after it included), whether its context started afresh, and its wall time. After a
warm-up (each agent has decided a few times), the bench counts the decisions made in a window of fixed length
and each agent process's CPU time over it, then stops the studio.

The limit, measured in the same run right after: each agent's model decoding free (no grammar, no canvas,
nothing but tokens) on the agent's threads, all agents' models at once as in the studio
(`services/bench/free_decoding.py`). For each agent,

    limit_ratio = (tokens generated per decision / free decoding tokens per second) / seconds per decision

1.0 would mean a decision costs nothing but decoding its own tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.agent import roster as rosters
from services.agent.models import resolve
from services.base.datadir import data_dir
from services.base.process import spawn
from services.bench.children import cpu_seconds, free_address


@dataclass
class Plan:
    seconds: float = 300.0     # the measured window
    warmup: int = 3            # decisions each agent makes before the window opens
    limit_tokens: int = 64     # tokens per free-decoding generation
    limit_rounds: int = 4
    start_timeout: float = 300.0
    roster: Path = rosters.DEFAULT_ROSTER
    up_args: tuple[str, ...] = ()  # more arguments for `aurora up` (services/bench/turns_bench.py: a budget)
    env: dict[str, str] = field(default_factory=dict)  # more environment for the studio (`aurora chaos`)


FULL = Plan()
QUICK = Plan(seconds=60.0, warmup=1, limit_rounds=2)
TARGETS = {"decisions_per_s": 2.0, "limit_ratio": 0.6, "prompt_per_generated": 2.0}
EXPECTED_ERRORS = (RuntimeError,)


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


@dataclass
class Agent:
    name: str
    model: str
    threads: int
    context: int
    seed: int
    pid: int | None = None
    decisions: list[dict] = field(default_factory=list)  # `decided` log lines, in order
    rests: list[dict] = field(default_factory=list)  # `resting` log lines (a budget spent), in order


class Studio:
    """`aurora up` in a folder of its own, its output read as it comes. `addrs` (agents, events, snapshots,
    record), `redis_port` and `gateway_port` say where its parts are."""

    def __init__(self, plan: Plan, agents: dict[str, Agent], folder: Path):
        self.plan, self.agents, self.folder = plan, agents, folder
        (folder / "models").symlink_to((data_dir() / "models").resolve(), target_is_directory=True)
        self.addrs = ports = [free_address() for _ in range(4)]
        self.redis_port, self.gateway_port = (int(free_address().rsplit(":", 1)[1]) for _ in range(2))
        argv = [sys.executable, "-m", "services.cli", "up", "--roster", str(plan.roster),
                "--agents", ports[0], "--events", ports[1], "--snapshots", ports[2], "--record", ports[3],
                "--redis-port", str(self.redis_port), "--gateway-port", str(self.gateway_port), *plan.up_args]
        env = {**os.environ, "AURORA_DATA": str(folder), "AURORA_LOG": "info", **plan.env}
        env.pop("REDIS_URL", None)
        self.proc = spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.said: list[str] = []
        self.said_at: list[float] = []  # when each line of `said` was read (Unix time)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.said.append(line.rstrip())
                self.said_at.append(time.time())
            for agent in self.agents.values():  # "aurora: agent NAME started (pid N)"
                if line.startswith(f"aurora: agent {agent.name} started (pid "):
                    agent.pid = int(line.rsplit("pid ", 1)[1].split(")")[0])

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") in ("decided", "resting") and entry.get("agent") in self.agents:
                agent = self.agents[entry["agent"]]
                with self.lock:
                    (agent.decisions if entry["msg"] == "decided" else agent.rests).append(entry)
            elif entry.get("level") in ("error", "critical"):
                _progress(f"studio: {line.strip()[:300]}")

    def wait_for(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if ready():
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the studio exited with {self.proc.returncode} while {what}: "
                                   + " | ".join(self.said[-5:]))
            if time.monotonic() > deadline:
                raise RuntimeError(f"the studio was not {what} within {timeout:.0f}s: " + " | ".join(self.said[-5:]))
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_decoding(agents: list[Agent], plan: Plan) -> dict[str, float]:
    """Each agent's model decoding free on its threads, all at once (tokens/s by agent name)."""
    procs = {}
    try:
        for a in agents:
            path = resolve(a.model, data_dir(), progress=_progress)
            procs[a.name] = spawn([sys.executable, "-m", "services.bench.free_decoding", str(path), str(a.threads),
                                   str(a.context), str(plan.limit_tokens), str(plan.limit_rounds), str(a.seed)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name, p in procs.items():
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the free-decoding process for {name} did not start (exit {p.wait()})")
        for p in procs.values():
            p.stdin.write("go\n")
            p.stdin.flush()
        return {name: json.loads(p.stdout.readline())["tok_s"] for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def measure(plan: Plan) -> tuple[dict[str, dict], float, dict[str, float]]:
    specs = rosters.load(plan.roster)
    agents = {s.name: Agent(s.name, s.model, s.threads, s.context, s.seed) for s in specs}
    for a in agents.values():
        resolve(a.model, data_dir(), progress=_progress)
    folder = Path(tempfile.mkdtemp(prefix="aurora-bench-studio-"))
    studio = None
    try:
        _progress(f"starting the studio as `aurora up` (roster {plan.roster.name}, data in {folder})")
        studio = Studio(plan, agents, folder)
        studio.wait_for(lambda: all(len(a.decisions) >= plan.warmup and a.pid for a in agents.values()),
                        f"warmed up ({plan.warmup} decisions per agent)", plan.start_timeout)
        with studio.lock:
            first = {n: len(a.decisions) for n, a in agents.items()}
        cpu0 = {n: cpu_seconds(a.pid) for n, a in agents.items()}
        t0 = time.monotonic()
        while (left := plan.seconds - (time.monotonic() - t0)) > 0:
            with studio.lock:
                made = sum(len(a.decisions) - first[n] for n, a in agents.items())
            _progress(f"measuring: {made} decisions so far, {left:.0f} s left")
            if studio.proc.poll() is not None:
                raise RuntimeError(f"the studio exited with {studio.proc.returncode} during the measurement")
            time.sleep(min(10.0, left))
        window = time.monotonic() - t0
        cpu1 = {n: cpu_seconds(a.pid) for n, a in agents.items()}
        with studio.lock:
            counted = {n: a.decisions[first[n]:] for n, a in agents.items()}
    finally:
        if studio is not None:
            _progress("stopping the studio")
            studio.stop()
        shutil.rmtree(folder, ignore_errors=True)
    _progress("measuring the limit: each agent's model decoding free, all at once")
    limit = free_decoding(list(agents.values()), plan)
    rows = {}
    for n, a in agents.items():
        ds = counted[n]
        k = len(ds)
        gen = [d["tokens"] for d in ds]
        evaluated = [d["prompt_tokens"] for d in ds]
        s_per = window / k if k else float("inf")
        gen_per = sum(gen) / k if k else 0.0
        rows[n] = {"model": a.model, "decisions": k, "decisions_per_s": k / window, "generated": gen_per,
                   "evaluated": sum(evaluated) / k if k else 0.0, "generated_median": _median(gen),
                   "evaluated_median": _median(evaluated), "cpu_per_decision": (cpu1[n] - cpu0[n]) / k if k else 0.0,
                   "restarts": sum(1 for d in ds if d.get("restarted")), "free_tok_s": limit[n],
                   "generating": sum(d.get("generating_s", 0.0) for d in ds) / k if k else 0.0,
                   "seconds": sum(d["seconds"] for d in ds) / k if k else 0.0,
                   "repeated": sum(1 for d in ds if d.get("repeated")) / k if k else 0.0,
                   "limit_ratio": (gen_per / limit[n]) / s_per if k and limit[n] else 0.0}
    return rows, window, limit


def run_bench(plan: Plan, label: str = "aurora bench studio") -> dict[str, float]:
    began = time.monotonic()
    rows, window, _ = measure(plan)
    total = sum(r["decisions"] for r in rows.values())
    all_gen = sum(r["generated"] * r["decisions"] for r in rows.values())
    all_eval = sum(r["evaluated"] * r["decisions"] for r in rows.values())
    print(f"{label}: roster {plan.roster.name}, {window:.0f} s measured after {plan.warmup} decision(s) of warm-up "
          f"per agent; limit: free decoding, {plan.limit_rounds} x {plan.limit_tokens} tokens per agent, all at once")
    columns = [("decisions", "decisions", 0), ("per s", "decisions_per_s", 2), ("gen/dec", "generated", 1),
               ("eval/dec", "evaluated", 1), ("median gen", "generated_median", 0),
               ("median eval", "evaluated_median", 0), ("model s/dec", "generating", 3), ("decide s", "seconds", 3),
               ("cpu s/dec", "cpu_per_decision", 3), ("restarts", "restarts", 0), ("repeated", "repeated", 2),
               ("free tok/s", "free_tok_s", 1),
               ("limit_ratio", "limit_ratio", 2)]
    print(f"  {'agent':<10}{'model':<16}" + "".join(f"{title:>13}" for title, _, _ in columns))
    for name, r in rows.items():
        print(f"  {name:<10}{r['model']:<16}" + "".join(f"{r[key]:>13.{places}f}" for _, key, places in columns))
    per_s = total / window
    print(f"  {'all':<26}{total:>13}{per_s:>13.2f}{all_gen / total if total else 0:>13.1f}"
          f"{all_eval / total if total else 0:>13.1f}")
    prompt_ratio = max((r["evaluated_median"] / r["generated_median"] if r["generated_median"] else float("inf"))
                       for r in rows.values())
    print(f"  targets: decisions_per_s >= {TARGETS['decisions_per_s']} ({'met' if per_s >= 2.0 else 'MISSED'}); "
          f"limit_ratio >= {TARGETS['limit_ratio']} per model; median prompt tokens evaluated per decision <= "
          f"{TARGETS['prompt_per_generated']:.0f}x median tokens generated (worst agent: {prompt_ratio:.2f}x); "
          f"gen/eval per decision include the title, statement and dream generations it led to; repeated: the "
          f"share of decisions whose ops were the decision before's again (what the model chose, shown, not changed)")
    results = {"decisions_per_s": per_s, "prompt_ratio": prompt_ratio}
    by_model: dict[str, list[float]] = {}
    for r in rows.values():
        by_model.setdefault(r["model"], []).append(r["limit_ratio"])
    results.update({f"limit_ratio.{m}": min(v) for m, v in by_model.items()})
    _progress(f"done in {time.monotonic() - began:.0f} s")
    print("RESULT bench=studio " + " ".join(f"{k}={v:.2f}" for k, v in results.items()))
    return results
