"""`aurora roster`: check a roster, or write one with an agent per model found (Ollama, LM Studio, HF, a folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.agent import discovery
from services.agent import roster as rosters


def add_parser(sub) -> None:
    p = sub.add_parser("roster", help="check a roster (default: the bundled one), or make one from the models you have")
    p.add_argument("--check", default=str(rosters.DEFAULT_ROSTER), metavar="FILE", help="roster to check")
    p.add_argument("--from", dest="sources", action="append", metavar="SOURCE",
                   help="print a roster with one agent per model found in SOURCE: ollama, lmstudio, hf, or a folder "
                        "(repeatable; see `aurora models`)")
    p.add_argument("--from-folder", dest="sources", action="append", metavar="DIR", help="the same as --from DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.sources:
        return _make(args.sources)
    try:
        specs = rosters.load(Path(args.check))
    except rosters.RosterError as exc:
        print(f"aurora roster: {exc}", file=sys.stderr)
        return 2
    for s in specs:
        print(f"{s.name:<20} {s.model}  threads={s.threads} context={s.context} seed={s.seed} budget={s.budget}")
    return 0


def _make(sources: list[str]) -> int:
    found, problems = discovery.find_all(sources)
    for problem in problems:
        print(f"aurora roster: {problem}", file=sys.stderr)
    for f in found:
        if f.why_not:
            print(f"aurora roster: left out {f.name}: {f.why_not}", file=sys.stderr)
    runnable = [f for f in found if not f.why_not]
    if not runnable:
        print(f"aurora roster: no model an agent can run in {', '.join(sources)}; `aurora models --from SOURCE` "
              "shows what is there", file=sys.stderr)
        return 1
    print(rosters.from_found(runnable))
    return 0
