"""`aurora replay`: an agent's canvas as it was at any seq of the record, in the terminal or as a PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis

from services.recorder import archive
from services.recorder.png import canvas_png
from services.tools import record


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="show an agent's canvas at any seq of the record (ASCII, or a PNG)")
    p.add_argument("--agent", required=True, help="the agent's name")
    p.add_argument("--at", type=record.positive_int, metavar="SEQ", help="the seq (default: the last recorded)")
    p.add_argument("--png", type=Path, metavar="FILE", help="write the canvas to FILE as a PNG instead")
    record.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return record.run_with_record("replay", args, lambda client: replay(client, args))


def replay(r: redis.Redis, args: argparse.Namespace) -> int:
    known = archive.agents(r)
    if args.agent not in known:
        return _fail(f"no agent {args.agent!r} in the record; its agents: {', '.join(known) or '(none)'}")
    last = archive.last_seq(r)
    seq = last if args.at is None else args.at
    if seq > last:
        return _fail(f"seq {seq} is beyond the record, whose last seq is {last}")
    canvas = archive.canvas_at(r, args.agent, seq, on_corrupt=record.CorruptReport("replay"))
    if canvas is None:
        return _fail(f"{args.agent} had no canvas yet at seq {seq}")
    state = canvas.state()
    title = f'"{state["title"]}"' if state["title"] is not None else "(untitled)"
    header = f"{args.agent}, work {state['work']}, at seq {seq} of {last}: {title}"
    if args.png is not None:
        args.png.write_bytes(canvas_png(canvas.rows()))
        print(f"{header}: {canvas.width}x{canvas.height} cells written to {args.png}")
    else:
        print(header)
        print(canvas.view(cursor=False))
    return 0


def _fail(reason: str) -> int:
    print(f"aurora replay: {reason}", file=sys.stderr)
    return 1
