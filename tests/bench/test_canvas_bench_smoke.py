"""The canvas benchmark's machinery at tiny scale: real processes and sockets, a fraction of a second each."""

from __future__ import annotations

import multiprocessing
import re

import pytest

from services.bench.canvas_bench import Plan, run_bench

TINY = Plan(closed_agents=2, paced_agents=2, pace=0.01, closed_rounds=1, paced_rounds=1, warmup=0.2,
            closed_seconds=0.5, paced_seconds=0.5)


@pytest.mark.timeout(60)
def test_tiny_run_prints_the_result_line_and_leaves_no_process(capsys):
    ratio, p99 = run_bench(TINY)

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"RESULT bench=canvas ratio=(\d+\.\d{2}) p99_ms=(\d+\.\d{2})", lines[-1])
    assert match, lines[-1]
    assert float(match[1]) == round(ratio, 2) and ratio > 0
    assert float(match[2]) == round(p99, 2) and p99 > 0
    assert any("SCRIPTED, NON-LLM" in line for line in lines)
    assert not any(" errors" in line or " rejected" in line for line in lines), lines
    assert multiprocessing.active_children() == []
