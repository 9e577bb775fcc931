"""`aurora chaos --minutes 3` as CI runs it: a studio under `aurora up` (one SmolLM2 agent, scripted load
agents, a viewer) has each of its parts killed, one stopped, and loses nothing acknowledged."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

from tests.support.processes import ROOT  # noqa: E402

RESULT = re.compile(r"RESULT bench=chaos kills=(\d+) lost=(\d+) max_pause_s=(\d+\.\d{2})")
SEED = 11


@pytest.mark.timeout(1200)  # about 4 minutes on an idle 2-core machine: 3 of faults, the rest start and checks
def test_three_minutes_of_chaos_lose_nothing_and_leave_nothing():
    done = subprocess.run([sys.executable, "-m", "services.cli", "chaos", "--minutes", "3", "--seed", str(SEED)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1150)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    match = RESULT.fullmatch(lines[-1])
    assert match, lines[-1]
    kills, lost = int(match[1]), int(match[2])
    assert kills >= 6 and lost == 0
    out = done.stdout
    for part in ("canvas", "recorder", "redis", "gateway", "agent smol", "scripted-"):
        assert f"SIGKILL {part}" in out, part
    assert "SIGSTOP " in out and "FAILED" not in out
    assert "no gap" in out and "left after the studio stopped: none" in out
