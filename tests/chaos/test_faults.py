"""The chaos plan drawn from a seed: every kind killed, one stop, each fault in its own slice of the window."""

from __future__ import annotations

import random
import subprocess
import sys

from services.chaos import faults


def test_every_kind_is_killed_once_at_least_and_one_part_is_stopped():
    for seed in range(50):
        plan = faults.plan(random.Random(seed), 180.0)
        kills = [f.kind for f in plan if f.signal == "SIGKILL"]
        assert set(kills) == set(faults.KINDS), seed
        assert [f.signal for f in plan].count("SIGSTOP") == 1
        assert len(plan) == 7


def test_faults_fall_in_their_own_slice_of_the_window_and_a_longer_window_gets_more():
    plan = faults.plan(random.Random(3), 600.0)
    assert len(plan) == int(600 / faults.SECONDS_PER_FAULT)
    slice_ = 600.0 / len(plan)
    assert all(i * slice_ <= f.at < (i + 1) * slice_ for i, f in enumerate(plan))


def test_the_same_seed_draws_the_same_plan():
    assert faults.plan(random.Random(7), 180.0) == faults.plan(random.Random(7), 180.0)
    assert faults.plan(random.Random(7), 180.0) != faults.plan(random.Random(8), 180.0)


def test_a_stopped_process_is_not_running_and_a_reaped_one_is_gone():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert faults.running(proc.pid)
        faults.deal(faults.Fault(0.0, "agent", "SIGKILL"), "sleeper", proc.pid, say=lambda _: None)
        proc.wait(10)
        assert not faults.running(proc.pid)
    finally:
        proc.kill()
        proc.wait()
