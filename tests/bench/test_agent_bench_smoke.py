"""The agent benchmark's machinery at tiny scale: the real model, a real Agent, raw llama-cpp-python and real
agent processes for memory, with a few tokens, one round of each and two processes."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

from services.bench.agent_bench import Plan, run_bench  # noqa: E402

TINY = Plan(tokens=6, warmup=0, decisions=1, ttft_rounds=1, free_rounds=1, processes=2, server_decisions=2,
             turn_changes=1)
RESULT = re.compile(r"RESULT bench=agent ratio=(\d+\.\d{2}) ttft_ratio=(\d+\.\d{2}) mem_ratio=(\d+\.\d{2})"
                    r" constrained_ratio\.smollm2-135m=(\d+\.\d{2}) constrained_ratio\.gemma3-270m=(\d+\.\d{2})"
                    r" server_ratio=(\d+\.\d{2}) serve_ratio=(\d+\.\d{2})"
                    r" turn_change_s=(\d+\.\d) turn_change_decisions=(\d+\.\d)"
                    r"(?: llama_server_ratio=\d+\.\d{2})?")  # only where a llama-server binary is found
KEYS = ("ratio", "ttft_ratio", "mem_ratio", "constrained_ratio.smollm2-135m", "constrained_ratio.gemma3-270m",
        "server_ratio", "serve_ratio", "turn_change_s", "turn_change_decisions")


@pytest.mark.timeout(360)  # with the llama-cpp-python server's start, and a studio taking a turn
def test_tiny_run_prints_the_result_line_and_leaves_no_process(capsys):
    results = run_bench(TINY)

    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    match = RESULT.fullmatch(lines[-1])
    assert match, lines[-1]
    for group, key in zip(match.groups(), KEYS, strict=True):
        assert float(group) == round(results[key], len(group.split(".")[1])) and results[key] > 0, (key, results)
    assert results["ttft_ratio"] < 1, "a prompt whose prefix is in the KV cache starts sooner"
    assert any(line.strip().startswith("gemma3-270m") for line in lines), "a row of the decoding table per model"
    assert any("unparsable lines 0" in line for line in lines), lines
    assert "[bench] decision 1/1" in out.err
    assert "server_ratio decision 2/2 server" in out.err, "the agent decided through the llama-cpp-python server"
    assert "server_ratio decision 2/2 serve" in out.err, "and through `aurora serve`"
    assert any("from a rest to the waking agent's first decision" in line for line in lines), lines
    assert not _children_left(), "every agent process of the memory measurement, and the server, is stopped"


def _children_left() -> list[str]:
    import os

    mine = str(os.getpid())
    left = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline") as f:
                cmd = f.read()
        except (OSError, IndexError):
            continue
        if fields[1] == mine and ("services.bench.agent_mem" in cmd or "llama_cpp.server" in cmd
                                   or "services.cli\x00serve" in cmd) and fields[0] != "Z":
            left.append(entry)
    return left
