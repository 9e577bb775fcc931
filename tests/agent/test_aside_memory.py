"""A question asked aside (title, statement, dream) does not make a resident agent's memory grow: the saved KV
cache of the turn's context, a buffer of the context's size each time, is given back whole when the question is
answered. With the real bundled SmolLM2 in this process: its context at sizes that come and go, as an agent's
does, a question aside at each; this process's anonymous memory measured (/proc/self/smaps_rollup).

From the heap, those buffers stayed with the allocator: ~8 MB here, ~30 MB over an hour's `aurora soak` (which
failed on it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

ROLLUP = Path("/proc/self/smaps_rollup")
SIZES = [50, 400, 100, 250, 50, 400, 150, 300, 200, 400]  # tokens in the context when a question is asked
BOUND_MB = 4.0  # what the Python objects of 10 generations may take; the heap-held buffers took ~8 MB


def anonymous_mb() -> float:
    return int(re.search(r"^Anonymous:\s+(\d+) kB", ROLLUP.read_text(), re.M).group(1)) / 1024


@pytest.mark.skipif(not ROLLUP.exists(), reason="needs Linux's /proc/self/smaps_rollup")
@pytest.mark.timeout(300)
def test_questions_asked_aside_give_their_memory_back(model_paths):
    from services.agent.llm import Generator

    with Generator(model_paths("smollm2-135m"), n_ctx=1024, n_threads=1, seed=1) as gen:
        llm = gen.llm
        tokens = llm.tokenize(("paint a quiet field of rows and notes " * 60).encode(), add_bos=False)
        llm.eval(tokens[:max(SIZES)])  # every page of the KV cache these sizes use, touched once

        def context_of(n: int) -> None:
            llm._ctx.kv_cache_seq_rm(-1, SIZES[0], -1)
            llm.n_tokens = SIZES[0]
            llm.eval(tokens[SIZES[0]:n])

        context_of(SIZES[0])
        with gen.aside():
            gen.generate("Title:", max_tokens=2)
        before = anonymous_mb()
        for n in SIZES:
            context_of(n)
            with gen.aside():
                gen.generate("Title:", max_tokens=2)
            assert llm.n_tokens == n  # the context is found again after the question
        grown = anonymous_mb() - before
    assert grown < BOUND_MB, f"anonymous memory grew {grown:.1f} MB over {len(SIZES)} questions asked aside"
