"""The scripted, non-LLM load policy draws only the canvas's ops: a load test measures the canvas."""

import random

from proto.ops.parser import Op, parse
from proto.ops.table import SALON_OPS
from services.scripted_agent.policy import decision


def test_the_load_policy_writes_valid_canvas_ops_and_never_the_salon_s():
    rng = random.Random(7)
    ops = [item for turn in range(300) for item in parse(decision(rng, ops=6, done_every=5, turn=turn))]
    assert all(isinstance(item, Op) for item in ops)
    names = {op.name for op in ops}
    assert not names & set(SALON_OPS) and {"move", "note", "feel", "done"} <= names
