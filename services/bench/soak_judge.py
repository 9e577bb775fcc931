"""Whether a soak passed: memory growth, Redis memory per event, stalls and deaths, judged on the samples
(services/bench/soak_sampling.py). The bounds, and why:

- **A process's memory** is judged on its anonymous PSS (Pss_Anon: heap, the model's KV cache, buffers), not
  its whole PSS: the file-backed part (the mmap'd GGUF weights, shared libraries) is shared with every other
  process that maps the same files, so a process's share of it moves whenever one of those starts or stops (a
  test loading the same model, a second studio), which is not its own growth; a leak is anonymous memory.
  Growth is the slope of a least-squares line through the samples after the settle time (the first quarter
  of the run, at most 5 minutes: caches filling, allocator arenas reaching their size), so that no single
  noisy sample trips it as first-versus-last would. A process FAILS when both
    * the slope exceeds PSS_MB_PER_H: 8 MB/h is 1.3 GB over a week, about what a laptop studio can spare one
      process before the machine swaps; and
    * the growth the line shows over the fitted span exceeds the noise floor, the larger of NOISE_MB and
      NOISE_SHARE of its value after settling (6 MB or 3%): a Python process's allocator and the gateway's
      and recorder's buffers move by a few MB in a steady state, and a short run cannot tell that from a leak.
  Redis is left out of this bound: it holds the record, which grows by design; it is judged per event.
- **Redis memory per event** is the slope of INFO used_memory against the events recorded (least squares,
  after the settle time), over at least MIN_EVENTS events. It FAILS above REDIS_BYTES_PER_EVENT (2 KB): an
  event is a stream entry of a few hundred bytes with the notes, works and snapshots derived from it; at 2 KB
  the two-agent default studio (some 300,000 events a day on 2 cores) would add ~600 MB a day before the
  retention window moves events to files, which is the most a week-long run can carry.
- **A stall**: an agent with no decision for STALL_SAMPLES (3) consecutive sample intervals in none of
  which it rested by its budget (3 minutes at the default sampling; an agent decides every second or two).
  Each such run is one stall, and any stall FAILS.
- **A death**: nothing is killed in a soak, so a process that exits (the supervisor restarts it) crashed, or
  the kernel's OOM killer took it: any death FAILS, and is reported with its exit code and minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.bench.soak_sampling import REDIS, Death, Sample

PSS_MB_PER_H = 8.0
NOISE_MB, NOISE_SHARE = 6.0, 0.03
REDIS_BYTES_PER_EVENT = 2048.0
MIN_EVENTS = 200
STALL_SAMPLES = 3
SETTLE_SHARE, SETTLE_MAX_S = 0.25, 300.0
MIN_FIT = 3  # samples for a line


@dataclass(frozen=True)
class Growth:
    name: str
    pid: int
    mb_per_h: float
    over_run_mb: float  # what the line grows over the samples it fits
    floor_mb: float     # the noise floor for this process

    @property
    def failed(self) -> bool:
        return self.mb_per_h > PSS_MB_PER_H and self.over_run_mb > self.floor_mb


@dataclass(frozen=True)
class Stall:
    agent: str
    start: float  # seconds since the first sample: the last sample with a decision before it
    end: float
    samples: int


@dataclass
class Verdict:
    growth: dict[str, Growth]            # by process: the fastest-growing of its incarnations
    bytes_per_event: float | None        # None: too few events recorded to say
    decisions_per_min: dict[str, float]  # each agent's mean over the run
    stalls: list[Stall]
    deaths: list[Death]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def max_growth_mb_per_h(self) -> float:
        return max((g.mb_per_h for n, g in self.growth.items() if n != REDIS), default=0.0)


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares line's slope through the points (0 for fewer than two distinct xs)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def settle_s(samples: list[Sample]) -> float:
    return min(SETTLE_MAX_S, SETTLE_SHARE * samples[-1].t) if samples else 0.0


def growths(samples: list[Sample]) -> dict[str, Growth]:
    """Each process's growth after settling, per incarnation (a restart starts a new line); the fastest."""
    after = [s for s in samples if s.t >= settle_s(samples)]
    lines: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for s in after:
        for name, m in s.memory.items():
            lines.setdefault((name, m.pid), []).append((s.t, m.anon_mb))
    out: dict[str, Growth] = {}
    for (name, pid), points in lines.items():
        if len(points) < MIN_FIT:
            continue
        ts, mbs = [t for t, _ in points], [mb for _, mb in points]
        per_s = slope(ts, mbs)
        g = Growth(name, pid, per_s * 3600, per_s * (ts[-1] - ts[0]), max(NOISE_MB, NOISE_SHARE * mbs[0]))
        if name not in out or g.mb_per_h > out[name].mb_per_h:
            out[name] = g
    return out


def bytes_per_event(samples: list[Sample]) -> float | None:
    points = [(s.redis.recorded, s.redis.used_memory) for s in samples if s.t >= settle_s(samples) and s.redis]
    if len(points) < MIN_FIT or points[-1][0] - points[0][0] < MIN_EVENTS:
        return None
    return slope([e for e, _ in points], [b for _, b in points])


def stalls(samples: list[Sample]) -> list[Stall]:
    found = []
    for agent in samples[0].decisions if samples else ():
        run = 0
        for i in range(1, len(samples) + 1):
            idle = i < len(samples) and samples[i].decisions.get(agent) == samples[i - 1].decisions.get(agent) \
                and not samples[i].resting.get(agent, False)
            if idle:
                run += 1
            elif run:
                if run >= STALL_SAMPLES:
                    found.append(Stall(agent, samples[i - 1 - run].t, samples[i - 1].t, run))
                run = 0
    return found


def decisions_per_min(samples: list[Sample]) -> dict[str, float]:
    first, last = samples[0], samples[-1]
    span = last.t - first.t
    return {a: (last.decisions.get(a, n) - n) * 60 / span if span else 0.0 for a, n in first.decisions.items()}


def judge(samples: list[Sample], died: list[Death], began: float) -> Verdict:
    """`began`: the first sample's Unix time, for the minute of each death."""
    v = Verdict(growths(samples), bytes_per_event(samples), decisions_per_min(samples), stalls(samples), died)
    for g in v.growth.values():
        if g.failed and g.name != REDIS:
            v.failures.append(f"FAIL memory: {g.name} (pid {g.pid}) grows {g.mb_per_h:.1f} MB/h of anonymous PSS "
                              f"(bound {PSS_MB_PER_H:g} MB/h), {g.over_run_mb:.1f} MB over the run "
                              f"(noise floor {g.floor_mb:.1f} MB)")
    if v.bytes_per_event is not None and v.bytes_per_event > REDIS_BYTES_PER_EVENT:
        v.failures.append(f"FAIL redis: {v.bytes_per_event:.0f} bytes of Redis memory per event recorded "
                          f"(bound {REDIS_BYTES_PER_EVENT:.0f})")
    for s in v.stalls:
        v.failures.append(f"FAIL stall: agent {s.agent} made no decision from minute {s.start / 60:.1f} to "
                          f"{s.end / 60:.1f} ({s.samples} samples) without resting by its budget")
    for d in died:
        v.failures.append(f"FAIL death: {d.name} exited with {d.code} at minute {(d.at - began) / 60:.1f} "
                          f"(the supervisor restarted it; what the studio logged as errors is shown above)")
    return v
