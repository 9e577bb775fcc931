"""`aurora ops`: print what the op table generates (the manual, the grammar) or parse text from stdin."""

from __future__ import annotations

import argparse
import sys

from proto.ops.grammar import gbnf
from proto.ops.manual import manual
from proto.ops.parser import Op, parse
from proto.ops.table import LANGUAGE_VERSION


def add_parser(sub) -> None:
    p = sub.add_parser("ops", help="the op-code language: manual, grammar, or check text from stdin")
    p.add_argument("what", choices=("manual", "grammar", "check", "version"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "manual":
        print(manual())
    elif args.what == "grammar":
        print(gbnf(), end="")
    elif args.what == "version":
        print(LANGUAGE_VERSION)
    else:
        bad = 0
        for item in parse(sys.stdin.read()):
            if isinstance(item, Op):
                print(f"ok      {item.text}")
            else:
                bad += 1
                print(f"{item.code:<12} {item.text}  ({item.reason})")
        return 1 if bad else 0
    return 0
