"""How long the fuzz tests run: a fixed number of examples per door, derandomized so that CI sees the same inputs
every run (about two minutes in all on two loaded cores). `AURORA_FUZZ_SCALE=N` runs N times as many examples, drawn
at random (a new seed each run), to search longer by hand:

    AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("AURORA_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """Settings for one door's batch of `examples` (times the scale)."""
    return settings(max_examples=max(1, round(examples * SCALE)), deadline=None, derandomize=SCALE == 1,
                    database=None, suppress_health_check=list(HealthCheck))
