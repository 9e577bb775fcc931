"""`aurora roster`: check a roster, or write one that lists every GGUF file in a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.agent import roster as rosters


def add_parser(sub) -> None:
    p = sub.add_parser("roster", help="check a roster (default: the bundled one), or make one from a folder")
    p.add_argument("--check", default=str(rosters.DEFAULT_ROSTER), metavar="FILE", help="roster to check")
    p.add_argument("--from-folder", metavar="DIR", help="print a roster with one agent per .gguf in DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_folder:
        if not Path(args.from_folder).is_dir():
            print(f"aurora roster: {args.from_folder} is not a folder", file=sys.stderr)
            return 2
        print(rosters.from_folder(Path(args.from_folder)))
        return 0
    try:
        specs = rosters.load(Path(args.check))
    except rosters.RosterError as exc:
        print(f"aurora roster: {exc}", file=sys.stderr)
        return 2
    for s in specs:
        print(f"{s.name:<20} {s.model}  threads={s.threads} context={s.context} seed={s.seed} budget={s.budget}")
    return 0
