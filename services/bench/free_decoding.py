"""One model's free decoding speed, measured in a process of its own: the limit of `aurora bench studio`.

The studio bench starts one of these per agent of the roster, with that agent's model and threads; each loads
its model, says `ready`, and waits for `go` on stdin, so that all of them decode at the same time, as the
agents did (on a machine with as many cores as agents x threads, each then has its own; the memory bus is
shared as it was in the studio). Each generates `tokens` tokens `rounds` times from an agent's first prompt,
with no grammar, and prints a JSON line: tokens decoded after the first of each generation, per second.

    python -m services.bench.free_decoding MODEL_PATH THREADS CONTEXT TOKENS ROUNDS SEED
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from services.agent.llm import Generator
    from services.agent.prompt import Turn, system_text, user_text
    from proto.canvas import CanvasModel

    path, threads, context, tokens, rounds, seed = argv[0], *map(int, argv[1:6])
    gen = Generator(path, n_ctx=context, n_threads=threads, seed=seed)
    canvas = CanvasModel()
    # A fixed moment, so that every run reads the same prompt; the end tokens are banned, so that each
    # generation decodes `tokens` tokens.
    turn = Turn("bench", canvas.view(), canvas.state(), now=1_800_000_000.0)
    prompt = gen.format(system_text("bench"), user_text(turn))
    gen.generate(prompt, max_tokens=2)  # the prompt in the KV cache: only decoding is timed below
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    decoded, seconds = 0, 0.0
    for _ in range(rounds):
        result = gen.generate(prompt, max_tokens=tokens, may_end=False)
        decoded += max(0, result.tokens - 1)
        seconds += result.total_s - result.ttft_s
    print(json.dumps({"tok_s": decoded / seconds if seconds else 0.0, "tokens": decoded}), flush=True)
    gen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
