"""`aurora chaos`: the studio under `aurora up`, with parts killed at random, then checked against its record.

It starts the studio as `aurora bench studio` does (services/bench/studio_bench.py: a data folder of its own,
free ports) with one real LLM agent (SmolLM2, one thread, a small context), `--scripted N` scripted non-LLM
load agents, and two viewers (services/chaos/viewer.py: a Replica over ZeroMQ, a WebSocket client of the
gateway). Then, at seeded random moments spread over the window (services/chaos/faults.py), it SIGKILLs the
canvas, the recorder, Redis, the gateway, the LLM agent and a scripted agent, each at least once, and once
SIGSTOPs a part for longer than the heartbeat liveness. Before each next fault the studio must have recovered
by itself: every part running (the supervisor restarted what died), the gateway's /healthz at 200, and every
agent with a decision acknowledged since.

At the end it checks, and prints:
  (a) every decision whose `result` an agent got is in the record (services/chaos/checks.py);
  (b) the record (archive and Redis) has no sequence gap;
  (c) every canvas, in a fresh snapshot from the canvas, equals the record's at the snapshot's seq;
  (d) each viewer that watched through every fault equals the record at its seq;
  (e) no process of the run is left once the studio has stopped.
The last line is `RESULT bench=chaos kills=<n> lost=<n> max_pause_s=<x>`, where max_pause_s is the longest
time, between the first fault and the recovery from the last, with no event recorded (by the events' own
times). It exits 1 when a decision was lost or a check failed, with a line saying which.
"""

from __future__ import annotations

import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

from services.base.redis_server import EmbeddedRedis, record_redis
from services.bench.studio_bench import Agent, Plan, Studio
from services.canvas.client import ACKS_ENV
from services.canvas.replica import Replica
from services.chaos import checks, faults
from services.chaos.viewer import Viewer, WebViewer

LLM_AGENT = Agent("smol", "smollm2-135m", threads=1, context=1024, seed=1)
ROSTER = f"""# aurora chaos: one real LLM agent, small and on one thread, beside the scripted load agents
[defaults]
threads = {LLM_AGENT.threads}
context = {LLM_AGENT.context}
max_tokens = 48

[[agent]]
name = "{LLM_AGENT.name}"
model = "{LLM_AGENT.model}"
seed = {LLM_AGENT.seed}
"""
READY_TIMEOUT = 600.0    # until every agent has decided once: the model loads on a loaded machine
RECOVER_TIMEOUT = 240.0  # from a fault until the studio has recovered by itself
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the gateway is here: never via a proxy


def add_parser(sub) -> None:
    p = sub.add_parser("chaos", help="kill parts of a studio at random moments, then check that nothing "
                                     "acknowledged was lost (prints a RESULT line)")
    p.add_argument("--minutes", type=float, default=10.0, help="the window in which faults are dealt (default 10)")
    p.add_argument("--seed", type=int, default=1, help="draws the faults, their moments and their targets")
    p.add_argument("--scripted", type=int, default=3, metavar="N", help="scripted, non-LLM load agents (default 3)")
    p.add_argument("--keep", action="store_true", help="keep the run's data folder (kept anyway when a check fails)")
    p.set_defaults(run=run)


def say(text: str) -> None:
    print(f"[chaos] {text}", file=sys.stderr, flush=True)


class StudioGone(RuntimeError):
    pass


class Run:
    """One chaos run: the studio it started, the faults dealt, what the checks found."""

    def __init__(self, args, folder: Path):
        self.args, self.folder = args, folder
        self.rng = random.Random(args.seed)
        self.acks = checks.Acks(folder / "acks")
        self.failures: list[str] = []
        self.kills = 0
        self.recoveries: list[str] = []
        self.faulted = [0.0, 0.0]  # wall clock: the first fault, the last recovery (max_pause_s is measured there)
        (folder / "acks").mkdir()
        roster = folder / "roster.toml"
        roster.write_text(ROSTER)
        plan = Plan(roster=roster, up_args=("--scripted", str(args.scripted)), env={ACKS_ENV: str(folder / "acks")})
        self.agent_names = {LLM_AGENT.name, *(f"scripted-{i + 1}" for i in range(args.scripted))}
        self.studio = Studio(plan, {LLM_AGENT.name: LLM_AGENT}, folder)
        self.parts = faults.Parts(self.studio.proc.pid, folder)
        self.viewer: Viewer | None = None
        self.web: WebViewer | None = None

    # -- waiting on the studio ---------------------------------------------------------------------

    def until(self, condition, what: str, timeout: float) -> float:
        """Poll `condition` until it holds; the seconds it took. StudioGone if `aurora up` exits, TimeoutError."""
        began = time.monotonic()
        while not condition():
            if self.studio.proc.poll() is not None:
                raise StudioGone(f"`aurora up` exited with {self.studio.proc.returncode} while {what}")
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"the studio was not {what} within {timeout:.0f} s")
            time.sleep(0.2)  # polling interval of a condition wait
        return time.monotonic() - began

    def healthy(self) -> bool:
        """The gateway's /healthz says ok (200): the canvas and the record serve."""
        try:
            with LOCAL.open(f"http://127.0.0.1:{self.studio.gateway_port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def decided_since(self, before: dict[str, int]) -> bool:
        counts = self.acks.read()
        return all(counts.get(name, 0) > before.get(name, 0) for name in self.agent_names)

    def recover(self, fault: faults.Fault, name: str, pid: int) -> float:
        """Wait until the part hit runs again (not as `pid`, if it was killed) and all others run, then until
        every agent has had a decision acknowledged and /healthz says ok."""
        began = time.monotonic()

        def replaced() -> bool:
            return fault.signal != "SIGKILL" or self.parts.pids().get(name) not in (None, pid)

        self.until(lambda: replaced() and not self.parts.not_running(), f"running again after {fault}",
                   RECOVER_TIMEOUT)
        before = self.acks.read()
        self.until(lambda: self.decided_since(before) and self.healthy(), f"deciding again after {fault}",
                   RECOVER_TIMEOUT - (time.monotonic() - began))
        return time.monotonic() - began

    # -- the run -----------------------------------------------------------------------------------

    def deal_faults(self) -> None:
        """Every planned fault, each once the studio has recovered from the last; `faulted` spans the first
        fault to the last recovery (wall clock), as far as it got."""
        window = self.args.minutes * 60
        planned = faults.plan(self.rng, window)
        say(f"{len(planned)} faults in {window:.0f} s: " + ", ".join(str(f) for f in planned))
        start = time.monotonic()
        for i, fault in enumerate(planned, 1):
            self.until(lambda: time.monotonic() - start >= fault.at, f"waiting for fault {i}", window + 60)
            if i == 1:
                self.faulted = [time.time()] * 2
            name, pid = self.parts.target(fault.kind, self.rng)
            faults.deal(fault, name, pid, say)
            self.kills += fault.signal == "SIGKILL"
            took = self.recover(fault, name, pid)
            self.faulted[1] = time.time()
            self.recoveries.append(f"{fault.signal} {name}: recovered in {took:.1f} s")
            say(f"fault {i}/{len(planned)}: {self.recoveries[-1]} ({time.monotonic() - start:.0f} s into the window)")
        left = window - (time.monotonic() - start)
        if left > 0:
            self.until(lambda: time.monotonic() - start >= window, "at the end of the window", left + 60)

    def check_live(self, db: redis.Redis) -> None:
        """(c) and (d), while the studio runs."""
        fresh = Replica(self.studio.addrs[1], self.studio.addrs[2], sender="chaos-check")
        try:
            fresh.sync(timeout=60)
            unequal = checks.unequal_canvases(db, fresh.canvases, fresh.seq)
            print(f"  (c) canvases equal to the record at seq {fresh.seq}: {len(fresh.canvases) - len(unequal)} of "
                  f"{len(fresh.canvases)}")
            if unequal or set(fresh.canvases) < self.agent_names:
                self.failures.append(f"(c) canvases that differ from the record: {unequal}; canvases: "
                                     f"{sorted(fresh.canvases)}")
        finally:
            fresh.close()
        if self.viewer.finish(fresh.seq, timeout=60):
            replica = self.viewer.replica
            self.check_viewer("the ZeroMQ viewer", replica.seq, replica.canvases,
                              f"{replica.counters['snapshots']} snapshot(s), {self.viewer.snapshot_failures} "
                              f"unanswered request(s)", db)
        else:
            self.failures.append(f"(d) the ZeroMQ viewer did not reach seq {fresh.seq} (at {self.viewer.replica.seq})")
        web = self.web.at(fresh.seq, timeout=60)
        if web is not None:
            self.check_viewer("the WebSocket viewer", *web, f"{self.web.connections} connection(s), "
                              f"{self.web.snapshots} snapshot(s)", db)
        else:
            self.failures.append(f"(d) the WebSocket viewer was not synced at seq {fresh.seq} (at {self.web.seq})")

    def check_viewer(self, who: str, seq: int, canvases: dict, how: str, db: redis.Redis) -> None:
        unequal = checks.unequal_canvases(db, canvases, seq)
        print(f"  (d) {who}, at seq {seq} after {how}: {len(canvases) - len(unequal)} of {len(canvases)} canvases "
              f"equal to the record")
        if unequal or set(canvases) < self.agent_names:
            self.failures.append(f"(d) {who}'s canvases that differ from the record: {unequal}; canvases: "
                                 f"{sorted(canvases)}")

    def check_record(self, since: float, until: float) -> tuple[int, float]:
        """(a) and (b), on the record of the stopped studio; (lost, max pause)."""
        with record_redis(self.folder / "redis", self.studio.redis_port) as url:
            db = redis.Redis.from_url(url)
            try:
                record = checks.scan(db, since, until)
            finally:
                db.close()
        self.acks.read()
        lost = checks.lost(self.acks.entries, record)
        torn = f"; {self.acks.torn} line(s) torn by a kill, not read" if self.acks.torn else ""
        print(f"  (a) decisions acknowledged to the agents: {len(self.acks.entries)} "
              f"({', '.join(f'{n} {c}' for n, c in sorted(self.acks.by_agent.items()))}), in the record: "
              f"{len(self.acks.entries) - len(lost)}{torn}")
        if lost:
            self.failures.append(f"(a) {len(lost)} acknowledged decision(s) not in the record, e.g. {lost[:3]}")
        print(f"  (b) the record: {record.events} events, seq 1..{record.last}, "
              f"{'no gap' if not record.gaps else f'gaps (expected, found): {record.gaps[:5]}'}")
        if record.gaps:
            self.failures.append(f"(b) the record has {len(record.gaps)} gap(s): {record.gaps[:5]}")
        return len(lost), record.max_pause

    def execute(self) -> tuple[int, float]:
        say(f"starting the studio as `aurora up` (data in {self.folder}): {LLM_AGENT.name} ({LLM_AGENT.model}) "
            f"and {self.args.scripted} scripted (non-LLM) agents")
        self.until(lambda: self.decided_since({}) and not self.parts.not_running() and self.healthy(),
                   "up with every agent deciding", READY_TIMEOUT)
        self.viewer = Viewer(self.studio.addrs[1], self.studio.addrs[2])
        self.viewer.start()
        self.web = WebViewer(f"ws://127.0.0.1:{self.studio.gateway_port}/ws")
        self.web.start()
        try:
            self.deal_faults()
        except (TimeoutError, RuntimeError) as exc:
            self.failures.append(f"(recovery) {exc}")
            if self.faulted[0]:
                self.faulted[1] = time.time()  # the pause it did not recover from counts too
        print(f"aurora chaos: seed {self.args.seed}, {self.args.minutes:g} min, {self.kills} kills")
        for line in self.recoveries:
            print(f"  {line}")
        if self.studio.proc.poll() is None:
            db = redis.Redis.from_url(EmbeddedRedis(self.folder / "redis", self.studio.redis_port).url)
            try:
                self.check_live(db)
            except (TimeoutError, redis.RedisError) as exc:
                self.failures.append(f"(c/d) {exc}")
            finally:
                db.close()
        self.stop()
        return self.check_record(*self.faulted)

    def stop(self) -> None:
        say("stopping the studio")
        if self.viewer is not None:
            self.viewer.stopping.set()
            self.viewer.join(30)
            self.viewer.close()
        if self.web is not None:
            self.web.finish()
        self.studio.stop()
        deadline = time.monotonic() + 30
        while (left := self.parts.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling for the last children to exit
        print(f"  (e) processes of the run left after the studio stopped: {len(left) or 'none'}")
        if left:
            self.failures.append(f"(e) processes left: {left}")


def run(args) -> int:
    if args.scripted < 1 or args.minutes <= 0:
        print("aurora chaos: give --minutes above 0 and --scripted 1 or more (a scripted agent is one of the parts "
              "it kills)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill cleans up as Ctrl-C does
    folder = Path(tempfile.mkdtemp(prefix="aurora-chaos-"))
    chaos = None
    try:
        chaos = Run(args, folder)
        lost, pause = chaos.execute()
    except KeyboardInterrupt:
        if chaos is not None:
            chaos.studio.stop()
        print(f"aurora chaos: interrupted; the studio is stopped (data in {folder})", file=sys.stderr)
        return 130
    except StudioGone as exc:
        chaos.stop()
        print(f"aurora chaos: {exc}; its data is in {folder}", file=sys.stderr)
        return 1
    for failure in chaos.failures:
        print(f"FAILED {failure}")
    if chaos.failures or args.keep:
        print(f"aurora chaos: the run's data is kept in {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"RESULT bench=chaos kills={chaos.kills} lost={lost} max_pause_s={pause:.2f}")
    return 1 if chaos.failures or lost else 0
