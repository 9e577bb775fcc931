"""The recorder benchmark's machinery at tiny scale: a real valkey, a real `aurora recorder` process, a few
hundred events and a fraction of a second of pacing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from services.bench.recorder_bench import Plan, run_bench

TINY = Plan(events=600, batch=16, window=4, rounds=1, warmup=0.2, paced_seconds=0.5)


def children() -> set[int]:
    """The pids of this process's children (Linux /proc), zombies included."""
    me, out = str(os.getpid()), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while listed
            continue
        if fields[1] == me:
            out.add(int(stat.parent.name))
    return out


@pytest.mark.timeout(90)
def test_tiny_run_prints_the_result_line_and_leaves_no_process(capsys):
    before = children()
    ratio, wait_p99 = run_bench(TINY)

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"RESULT bench=recorder ratio=(\d+\.\d{2}) wait_p99_ms=(\d+\.\d{2})", lines[-1])
    assert match, lines[-1]
    assert float(match[1]) == round(ratio, 2) and ratio > 0
    assert float(match[2]) == round(wait_p99, 2) and wait_p99 > 0
    assert any("SCRIPTED, NON-LLM" in line for line in lines)
    assert children() <= before, "the recorder or valkey outlived the bench"
