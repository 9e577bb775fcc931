"""`aurora bench studio --quick`'s machinery as CI runs it: the default roster's real models in a whole studio started
as `aurora up` starts it, a window (30 s here, against --quick's 60: every agent decides several times in it after
its warm-up decision), then the limit (each model decoding free, all at once)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

from services.bench.studio_bench import QUICK, run_bench  # noqa: E402
from tests.bench.test_gateway_bench_smoke import children  # noqa: E402

RESULT = re.compile(r"RESULT bench=studio decisions_per_s=(\d+\.\d{2}) prompt_ratio=(\d+\.\d{2})"
                    r" limit_ratio\.smollm2-135m=(\d+\.\d{2}) limit_ratio\.gemma3-270m=(\d+\.\d{2})")


@pytest.mark.timeout(600)  # under 2 minutes on an idle 2-core machine; CI's cores are shared
def test_the_quick_run_measures_both_agents_and_leaves_no_process(capsys):
    before = set(children())
    results = run_bench(replace(QUICK, seconds=30.0))

    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    match = RESULT.fullmatch(lines[-1])
    assert match, lines[-1]
    assert float(match.group(1)) == round(results["decisions_per_s"], 2) > 0
    for model in ("smollm2-135m", "gemma3-270m"):
        assert 0 < results[f"limit_ratio.{model}"] < 1.5, results  # each agent decided, each model decoded
    rows = {line.split()[0]: line.split() for line in lines if line.strip().startswith(("smol ", "gemma "))}
    assert set(rows) == {"smol", "gemma"} and all(int(row[2]) > 0 for row in rows.values()), lines
    assert "[bench] measuring the limit" in out.err
    assert set(children()) <= before, "the studio and the free-decoding processes are stopped"
