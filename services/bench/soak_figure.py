"""The soak's figure: each process's memory, Redis's memory against the events recorded, and each agent's
decisions per minute, over the run (matplotlib, Agg backend as in services/report/plots.py)."""

from __future__ import annotations

from services.bench.soak_judge import Verdict, settle_s
from services.bench.soak_sampling import MB, Sample
from services.report.plots import _png, plt


def figure(samples: list[Sample], verdict: Verdict, began: float) -> bytes:
    """A PNG's bytes: three panels sharing the x axis (minutes since the first sample)."""
    fig, (mem, red, dec) = plt.subplots(3, 1, figsize=(12, 10), sharex=True)
    minutes = [s.t / 60 for s in samples]
    names = sorted({n for s in samples for n in s.memory})
    for i, name in enumerate(names):
        colour = f"C{i % 10}"
        xs = [m for m, s in zip(minutes, samples) if name in s.memory]
        g = verdict.growth.get(name)
        label = f"{name} ({g.mb_per_h:+.1f} MB/h)" if g else name
        mem.plot(xs, [s.memory[name].pss_mb for s in samples if name in s.memory], color=colour, label=label)
        mem.plot(xs, [s.memory[name].anon_mb for s in samples if name in s.memory], color=colour, ls="--", lw=0.8)
    mem.set_ylabel("MB")
    mem.set_title("PSS per process (solid), its anonymous part (dashed: judged; growth after settling)")
    mem.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))

    have = [(m, s.redis) for m, s in zip(minutes, samples) if s.redis]
    red.plot([m for m, _ in have], [r.used_memory / MB for _, r in have], color="C3", label="used_memory")
    red.set_ylabel("MB")
    events = red.twinx()
    events.plot([m for m, _ in have], [r.recorded for _, r in have], color="C7", ls=":", label="events recorded")
    events.set_ylabel("events recorded (dotted)")
    per = "too few events to say" if verdict.bytes_per_event is None else f"{verdict.bytes_per_event:.0f} B/event"
    red.set_title(f"Redis memory ({per}) and events recorded (dotted)")

    mids = [(a.t + b.t) / 120 for a, b in zip(samples, samples[1:])]
    for agent in verdict.decisions_per_min:
        rates = [(b.decisions[agent] - a.decisions[agent]) * 60 / (b.t - a.t) for a, b in zip(samples, samples[1:])]
        dec.plot(mids, rates, marker="o", ms=3, label=f"{agent} (mean {verdict.decisions_per_min[agent]:.1f})")
    for s in verdict.stalls:
        dec.axvspan(s.start / 60, s.end / 60, color="red", alpha=0.15)
    dec.set_ylabel("decisions per minute")
    dec.set_xlabel("minutes since the first sample")
    dec.set_title("decisions per minute per agent (stalls shaded red)")
    dec.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))

    for ax in (mem, red, dec):
        ax.axvspan(0, settle_s(samples) / 60, color="#999999", alpha=0.12)  # settling: not fitted
        for d in verdict.deaths:
            ax.axvline((d.at - began) / 60, color="red", lw=1)
    fig.suptitle(("passed" if verdict.passed else "FAILED") + f": {len(samples)} samples over "
                 f"{samples[-1].t / 60:.1f} minutes (grey: settling; red lines: a process died)")
    return _png(fig)
