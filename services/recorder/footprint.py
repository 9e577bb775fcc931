"""What the record costs Redis: `python -m services.recorder.footprint [--events-per-agent-day N]`.

Reads the record's Redis (REDIS_URL, else the studio's embedded one, as `aurora replay` does) and prints the
memory of its keys by family (MEMORY USAGE, every element counted), the bytes per event they come to, and
that times the events an agent makes in a day: those of this record (its events, agents and time span), or N.
The families that retention trims behind the archive (events, snapshots, notes) are told apart from those
Redis keeps (the gallery, feelings, facts, anchors): with retention, the first stop growing after the window.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import redis

from services.recorder import archive
from services.tools import record

DAY = 86_400.0
MOVED = ("events", "snapshots", "notes")  # the families retention archives and trims


def family(key: bytes) -> str:
    """aurora:events -> events, aurora:snapshots:ada -> snapshots, aurora:work:ada:3 -> work, ..."""
    return key.decode(errors="replace").split(":")[1]


def measure(r: redis.Redis) -> Counter[str]:
    sizes: Counter[str] = Counter()
    for key in r.scan_iter(match="aurora:*", count=1000):
        sizes[family(key)] += r.memory_usage(key, samples=0) or 0
    return sizes


def span(r: redis.Redis) -> tuple[int, float]:
    """(events Redis holds, seconds from the first to the last of them)."""
    ends = r.xrange(archive.EVENTS, count=1) + r.xrevrange(archive.EVENTS, count=1)
    if not ends:
        return 0, 0.0
    first, last = (_time_of(r, archive.seq_of(entry_id.decode())) for entry_id, _ in ends)
    return r.xlen(archive.EVENTS), last - first


def _time_of(r: redis.Redis, seq: int) -> float:
    return next(archive.iter_events(r, start=seq, end=seq)).time


def report(r: redis.Redis, per_agent_day: float | None) -> int:
    sizes = measure(r)
    events, seconds = span(r)
    agents = len(archive.agents(r))
    if not events or not agents:
        print("footprint: Redis holds no events of the record", file=sys.stderr)
        return 1
    if per_agent_day is None and seconds <= 0:
        print("footprint: the record spans no time to take a rate from; give --events-per-agent-day",
              file=sys.stderr)
        return 1
    total = sum(sizes.values())
    moved = sum(sizes[f] for f in MOVED)
    print(f"record: {events} events of {agents} agents over {seconds / 60:.1f} min; "
          f"Redis used_memory {r.info('memory')['used_memory'] / 1e6:.1f} MB")
    for name, size in sizes.most_common():
        print(f"  {name:<10} {size / 1e6:9.2f} MB  {size / events:8.1f} B/event")
    rate = per_agent_day if per_agent_day is not None else events / agents / seconds * DAY
    print(f"bytes per event: {total / events:.0f} (moved by retention {moved / events:.0f}, "
          f"kept {(total - moved) / events:.0f})")
    print(f"events per agent per day: {rate:,.0f} ({'given' if per_agent_day is not None else 'this record'})")
    print(f"Redis per agent per day: {total / events * rate / 1e6:.0f} MB without retention; "
          f"{(total - moved) / events * rate / 1e6:.0f} MB a day kept past the window")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.recorder.footprint", description=__doc__.splitlines()[0])
    p.add_argument("--events-per-agent-day", type=float, default=None, metavar="N",
                   help="project with N events per agent per day (default: this record's rate)")
    record.add_arguments(p)
    args = p.parse_args(argv)
    return record.run_with_record("footprint", args, lambda r: report(r, args.events_per_agent_day))


if __name__ == "__main__":
    sys.exit(main())
