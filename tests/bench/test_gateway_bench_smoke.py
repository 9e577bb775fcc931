"""The gateway benchmark's machinery at tiny scale: a real canvas, a real `aurora gateway`, the bare broadcast
server, load agents and viewer processes over real sockets, a few viewers and a second of load per round."""

from __future__ import annotations

import multiprocessing
import os
import re
from pathlib import Path

import pytest

from services.bench.gateway_bench import Plan, run_bench

TINY = Plan(viewers=4, processes=1, agents=2, pace=0.02, rounds=1, warmup=0.3, seconds=1.0)


def children() -> dict[int, str]:
    """This process's children (Linux /proc), zombies included: pid -> command line. multiprocessing's own
    helpers (its fork server and resource tracker, started once per process and shared by every bench that
    uses them) are left out."""
    me, out = str(os.getpid()), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone while listed
            continue
        if fields[1] == me and "from multiprocessing." not in cmdline:
            out[int(stat.parent.name)] = cmdline
    return out


@pytest.mark.timeout(120)
def test_tiny_run_prints_the_result_line_and_leaves_no_process(capsys):
    before = children()
    ratio, p99, p99_ratio = run_bench(TINY)

    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    match = re.fullmatch(r"RESULT bench=gateway ratio=(\d+\.\d{2}) p99_ms=(\d+\.\d{2}) p99_ratio=(\d+\.\d{2})", lines[-1])
    assert match, lines[-1]
    assert float(match[1]) == round(ratio, 2) and ratio > 0
    assert float(match[2]) == round(p99, 2) and p99 > 0
    assert float(match[3]) == round(p99_ratio, 2) and p99_ratio > 0
    assert any("SCRIPTED, NON-LLM" in line for line in lines)
    rounds = [line for line in lines if line.strip().startswith("round ")]
    assert len(rounds) == 2 and all("delivered" in line for line in rounds), lines
    assert not any(word in line for line in rounds for word in (" missed", " closed", " resyncs")), rounds
    assert "[bench] round 1, bare" in out.err
    assert multiprocessing.active_children() == []
    left = {pid: cmd for pid, cmd in children().items() if pid not in before}
    assert not left, f"processes the bench started are still running: {left}"
