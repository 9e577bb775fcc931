"""`aurora export DIR`: the record as files: DIR/events.jsonl, and DIR/gallery/ with a PNG per finished work
and index.json describing them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import redis

from services.recorder import archive
from services.recorder.png import canvas_png
from services.tools import record

INDEX_FIELDS = ("agent", "work", "title", "statement", "done_seq", "finished", "cells")


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write the record to a folder: every event (JSON lines) and the gallery")
    p.add_argument("dir", type=Path, help="the folder to write (made if missing; its files are replaced)")
    p.add_argument("--progress-every", type=record.positive_int, default=10_000, metavar="N",
                   help="a progress line on stderr every N events (default 10000)")
    record.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return record.run_with_record("export", args, lambda client: export(client, args))


def export(r: redis.Redis, args: argparse.Namespace) -> int:
    gallery = args.dir / "gallery"
    gallery.mkdir(parents=True, exist_ok=True)
    corrupt = record.CorruptReport("export")
    last = archive.last_seq(r)  # the record as it is now: a running studio's later events are left for next time
    events = 0
    with (args.dir / "events.jsonl").open("w") as out:
        for msg in archive.iter_events(r, end=last, on_corrupt=corrupt):
            out.write(json.dumps({"seq": msg.body["seq"], "id": msg.id, "parent_id": msg.parent_id, "time": msg.time,
                                  "agent": msg.body["agent"], "kind": msg.body["kind"], "data": msg.body["data"]})
                      + "\n")
            events += 1
            if events % args.progress_every == 0:
                print(f"aurora export: {events} events, at seq {msg.body['seq']} of {last}", file=sys.stderr)
    index = []
    for work in archive.works(r, on_corrupt=corrupt):
        if work["done_seq"] > last:
            continue  # finished after the events exported
        name = f"{work['agent']}-{work['work']}.png"
        try:
            png = work["png"] or canvas_png(work["cells"])
        except ValueError as exc:
            corrupt(archive.work_key(work["agent"], work["work"]), "png", f"no png and cells that draw none: {exc}")
            continue
        (gallery / name).write_bytes(png)
        index.append({**{field: work[field] for field in INDEX_FIELDS}, "png": name})
    (gallery / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    summary = f"aurora export: {events} events and {len(index)} finished works written to {args.dir}"
    if corrupt.count:
        summary += f"; {corrupt.count} corrupt entries skipped (listed above)"
    print(summary)
    return 0
