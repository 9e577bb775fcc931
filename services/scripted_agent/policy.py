"""A SCRIPTED, NON-LLM policy for load tests and benchmarks. It is not a model and makes no art.

It writes random but valid op-code text drawn from the op table, from a seeded random generator, so runs
are repeatable. Nothing in the study may be computed from its output.
"""

from __future__ import annotations

import random

from proto.ops.parser import Op, format_op
from proto.ops.table import OCTAVES, OPS, PITCH_LETTERS, SALON_OPS

WORDS = ("calm", "restless", "curious", "bright", "heavy", "tender", "wild", "still")

def random_op(rng: random.Random, *, allow_done: bool = True) -> Op:
    # `look` only asks an LLM agent to show its model the canvas: nothing for a load agent to send. The salon's
    # ops are not drawn either: an isolated studio refuses them, and a load test measures the canvas's ops.
    names = [n for n in OPS if n != "look" and n not in SALON_OPS and (allow_done or n != "done")]
    name = rng.choice(names)
    args = []
    for arg in OPS[name].args:
        if arg.kind == "choice":
            args.append(rng.choice(arg.choices))
        elif arg.kind == "int":
            args.append(rng.randint(arg.lo, min(arg.hi, arg.lo + 15) if name == "move" else arg.hi))
        elif arg.kind == "pitch":
            args.append(f"{rng.choice(PITCH_LETTERS)}{rng.choice(('', '#', 'b'))}{rng.choice(OCTAVES)}")
        elif arg.kind == "word":
            args.append(rng.choice(WORDS))
        else:
            args.append(f"Scripted {rng.randint(1, 999)}")
    return Op(name, tuple(args))


def decision(rng: random.Random, ops: int = 4, done_every: int = 0, turn: int = 0) -> str:
    """One decision's text: `ops` random ops (never `done` unless this is every `done_every`-th turn, and then
    after `pen down`, so that the work has a painted cell: the canvas refuses `done` on an empty one)."""
    lines = [format_op(random_op(rng, allow_done=False)) for _ in range(ops)]
    if done_every and turn % done_every == done_every - 1:
        lines += ["pen down", 'title "Scripted work"', "done"]
    return "\n".join(lines)
