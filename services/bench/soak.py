"""`aurora soak [--minutes N] [--every S] [--out DIR]`: the default roster under `aurora up` for an hour (or
N minutes), sampled every minute; fails on growth beyond a bound or on a stall.

The whole studio runs as `aurora up` runs it (real models, the canvas, the recorder, an embedded Redis and
the gateway, each in its own process), in a data folder of its own on free ports (the `Studio` of
services/bench/studio_bench.py). Once every agent has decided, it samples each process's PSS, Redis's memory
with the record's size, and each agent's decisions (services/bench/soak_sampling.py); the bounds and why are
in services/bench/soak_judge.py. Into --out it writes soak.png (services/bench/soak_figure.py), samples.json
and samples.csv, then prints a summary and the RESULT line. Exit status: 0 passed, 1 failed a bound, 2 the
studio did not start or stopped, 130 interrupted (what was sampled is still written and judged).
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.agent import roster as rosters
from services.agent.models import resolve
from services.base.datadir import data_dir
from services.bench.soak_judge import Verdict, judge
from services.bench.soak_sampling import MB, Death, Sample, Sampler, deaths
from services.bench.studio_bench import Agent, Plan, Studio

WARMUP_DECISIONS = 1  # each agent has decided (its model loaded, its grammar compiled) before the first sample


def add_parser(sub) -> None:
    p = sub.add_parser("soak", help="run the default studio for an hour and fail on memory growth or a stall")
    p.add_argument("--minutes", type=float, default=60.0, help="how long to sample (default 60)")
    p.add_argument("--every", type=float, default=60.0, metavar="SECONDS",
                   help="seconds between samples (default 60; short runs in tests use less)")
    p.add_argument("--out", type=Path, help="folder for soak.png, samples.json and samples.csv "
                                            "(default: soak/ in the data folder)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="keep the studio's data folder at DIR (new or empty), to study the run after: "
                        "`AURORA_DATA=DIR aurora report`")
    p.set_defaults(run=run)


def _progress(text: str) -> None:
    print(f"[soak] {text}", file=sys.stderr, flush=True)


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    died: list[Death] = field(default_factory=list)  # what the supervisor said exited
    began: float = 0.0                                # the first sample's Unix time


def soak(minutes: float, every: float, run: Run, keep: Path | None = None) -> None:
    """Start the studio, sample it into `run` until `minutes` have passed, stop it. RuntimeError: the studio
    did not start or stopped; KeyboardInterrupt ends it early. Either way `run` holds what was sampled."""
    agents = {s.name: Agent(s.name, s.model, s.threads, s.context, s.seed) for s in rosters.load()}
    for a in agents.values():
        resolve(a.model, data_dir(), progress=_progress)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            raise RuntimeError(f"{keep} is not empty: --keep takes a new or empty folder")
    folder = keep or Path(tempfile.mkdtemp(prefix="aurora-soak-"))
    studio = sampler = None
    try:
        _progress(f"starting the studio as `aurora up` (default roster, data in {folder})")
        studio = Studio(Plan(), agents, folder)
        studio.wait_for(lambda: all(len(a.decisions) >= WARMUP_DECISIONS for a in agents.values()),
                        "deciding (every agent once)", Plan().start_timeout)
        sampler = Sampler(studio)
        run.began = sampler.began
        _progress(f"sampling every {every:g} s for {minutes:g} minutes")
        while True:
            run.samples.append(sampler.sample())
            _progress(_line(run.samples, minutes))
            if run.samples[-1].t >= minutes * 60 - 1e-6:
                break
            next_at = sampler.began + len(run.samples) * every
            while (left := next_at - time.time()) > 0:
                if studio.proc.poll() is not None:
                    raise RuntimeError(f"the studio exited with {studio.proc.returncode} at minute "
                                       f"{run.samples[-1].t / 60:.1f}: " + " | ".join(studio.said[-5:]))
                time.sleep(min(1.0, left))
    finally:
        if sampler is not None:
            sampler.close()
        if studio is not None:
            run.died = deaths(studio.said, studio.said_at)
            _progress("stopping the studio")
            studio.stop()
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _line(samples: list[Sample], minutes: float) -> str:
    """One progress line: the minute, decisions so far, Redis and every process's PSS."""
    s = samples[-1]
    r = f"redis {s.redis.used_memory / MB:.1f} MB, {s.redis.recorded} events" if s.redis else "redis not answering"
    pss = ", ".join(f"{n} {m.pss_mb:.0f}" for n, m in sorted(s.memory.items()))
    return f"minute {s.t / 60:.1f} of {minutes:g}: decisions {sum(s.decisions.values())} ({r}); PSS MB: {pss}"


def write(out: Path, samples: list[Sample], verdict: Verdict, began: float) -> None:
    from services.bench.soak_figure import figure  # matplotlib: loaded here, not by every `aurora` command

    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.png").write_bytes(figure(samples, verdict, began))
    (out / "samples.json").write_text(json.dumps({
        "began": began, "samples": [asdict(s) for s in samples],
        "verdict": {"passed": verdict.passed, "failures": verdict.failures,
                    "growth": {n: asdict(g) for n, g in verdict.growth.items()},
                    "bytes_per_event": verdict.bytes_per_event, "decisions_per_min": verdict.decisions_per_min,
                    "stalls": [asdict(s) for s in verdict.stalls], "deaths": [asdict(d) for d in verdict.deaths]},
    }, indent=1))
    with (out / "samples.csv").open("w", newline="") as f:  # long form: one value per row, restarts and all
        rows = csv.writer(f)
        rows.writerow(["minute", "series", "name", "value"])
        for s in samples:
            minute = round(s.t / 60, 3)
            for name, m in sorted(s.memory.items()):
                rows.writerows([[minute, "pss_mb", name, round(m.pss_mb, 2)],
                                [minute, "anon_mb", name, round(m.anon_mb, 2)], [minute, "pid", name, m.pid]])
            if s.redis:
                rows.writerows([minute, f"redis_{k}", "redis", v] for k, v in asdict(s.redis).items())
            rows.writerows([minute, "decisions", a, n] for a, n in s.decisions.items())


def report(samples: list[Sample], verdict: Verdict, out: Path) -> None:
    print(f"aurora soak: {len(samples)} samples over {samples[-1].t / 60:.1f} minutes; figure and samples in {out}")
    for name, g in sorted(verdict.growth.items()):
        last = samples[-1].memory.get(name)
        now = f"PSS {last.pss_mb:.0f} MB (anonymous {last.anon_mb:.0f})" if last else "gone"
        print(f"  {name:<16}{now:<32}growth {g.mb_per_h:+7.1f} MB/h, {g.over_run_mb:+6.1f} MB over the run")
    if samples[-1].redis:
        r = samples[-1].redis
        print(f"  redis: used_memory {r.used_memory / MB:.1f} MB, {r.keys} keys, {r.recorded} events recorded, "
              f"{r.stream} in the stream; " + ("too few events to judge per event" if verdict.bytes_per_event is None
                                              else f"{verdict.bytes_per_event:.0f} bytes per event"))
    print("  decisions per minute: " + ", ".join(f"{a} {n:.1f}" for a, n in verdict.decisions_per_min.items()))
    print(f"  stalls: {len(verdict.stalls)}; deaths: {len(verdict.deaths)}")
    for line in verdict.failures:
        print(line)
    print("aurora soak: " + ("passed" if verdict.passed else f"FAILED ({len(verdict.failures)} bound(s) broken)"))
    rates = verdict.decisions_per_min.values()
    print(f"RESULT bench=soak minutes={samples[-1].t / 60:.1f} pss_growth_mb_per_h={verdict.max_growth_mb_per_h:.2f} "
          f"redis_bytes_per_event={verdict.bytes_per_event or 0:.0f} "
          f"decisions_per_min={sum(rates) / len(rates) if rates else 0:.2f} stalls={len(verdict.stalls)}")


def run(args) -> int:
    out = args.out or data_dir() / "soak"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill stops the studio as Ctrl-C does
    result, status = Run(), None
    try:
        soak(args.minutes, args.every, result, args.keep)
    except KeyboardInterrupt:
        print("aurora soak: interrupted; the studio is stopped", file=sys.stderr)
        status = 130
    except RuntimeError as exc:
        print(f"aurora soak: {exc}", file=sys.stderr)
        status = 2
    if len(result.samples) < 2:
        print("aurora soak: fewer than two samples, nothing to judge", file=sys.stderr)
        return status or 2
    verdict = judge(result.samples, result.died, result.began)
    write(out, result.samples, verdict, result.began)
    report(result.samples, verdict, out)
    return status or (0 if verdict.passed else 1)
