"""constrained_ratio: decoding under the op-code grammar ÷ decoding free, for each bundled model, in one run.

For each model, on one agent prompt (services.agent.prompt, as an agent builds it for that model), rounds of
three generations of up to N tokens, in rotating order:
* constrained: the agent's Generator under `gbnf(8)` (llguidance masks, services/agent/constraint.py);
* free: the same Generator with no grammar (the baseline of the ratio);
* stock: llama-cpp-python's `create_completion(grammar=LlamaGrammar)` on a second Llama of the same file,
  for the table in docs/benchmarks.md (what a user of the library gets without Aurora's sampler).
Decoding speed counts the tokens after the first of each generation, so prompt evaluation is left out.
The one-time costs are reported: building llguidance's view of the vocabulary and compiling the grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from services.bench.generation_timing import Raw, Side


@dataclass
class Decoding:
    model: str
    vocab: int
    constrained: Side = field(default_factory=Side)
    free: Side = field(default_factory=Side)
    stock: Side = field(default_factory=Side)
    setup_s: float = 0.0    # llguidance's view of the vocabulary, once per model
    compile_s: float = 0.0  # the grammar, once per grammar text and model
    redraws: int = 0        # model picks the grammar refused, redrawn among the allowed tokens

    @property
    def ratio(self) -> float:
        return self.constrained.tok_s / self.free.tok_s

    @property
    def stock_ratio(self) -> float:
        return self.stock.tok_s / self.free.tok_s


def measure(model: str, model_path: Path, *, prompt_for: Callable, grammar: str, tokens: int, rounds: int,
            n_ctx: int, threads: int, seed: int, progress: Callable[[str], None]) -> Decoding:
    """`prompt_for(gen)` gives the agent prompt formatted for that Generator's model."""
    from services.agent.llm import SAMPLING_DEFAULTS, Generator

    gen = Generator(model_path, n_ctx=n_ctx, n_threads=threads, seed=seed)
    raw = None
    try:
        raw = Raw(model_path, n_ctx=n_ctx, threads=threads, n_batch=gen.llm.n_batch, seed=seed,
                  sampling=dict(SAMPLING_DEFAULTS))
        prompt = prompt_for(gen)
        out = Decoding(model, gen.n_vocab)
        gen.grammars.matcher(grammar)  # the one-time costs, reported apart
        out.setup_s, out.compile_s = gen.grammars.setup_s, gen.grammars.compile_s[grammar]
        redraws = gen.redraws
        kinds = ("constrained", "free", "stock")
        for r in range(rounds):
            for kind in kinds[r % 3:] + kinds[:r % 3]:
                if kind == "stock":
                    n, first, decode = raw.complete(prompt, grammar, tokens)
                    out.stock.add(n, first, decode)
                else:
                    res = gen.generate(prompt, grammar=grammar if kind == "constrained" else None, max_tokens=tokens)
                    getattr(out, kind).add(res.tokens, res.ttft_s, res.total_s - res.ttft_s)
            progress(f"{model}: constrained, free and stock decoding, round {r + 1}/{rounds}")
        out.redraws = gen.redraws - redraws
        return out
    finally:
        if raw is not None:
            raw.close()
        gen.close()


def report(results: list[Decoding], *, tokens: int, rounds: int, target: float) -> list[str]:
    lines = [f"decoding under the grammar vs free: the agent's Generator on an agent prompt, up to {tokens} tokens, "
             f"{rounds} round(s) of each; stock = llama-cpp-python create_completion(grammar=LlamaGrammar)",
             f"  {'model':<16}{'vocab':>8}{'free tok/s':>12}{'stock tok/s':>13}{'ours tok/s':>12}"
             f"{'constrained_ratio':>19}{'setup s':>9}{'compile ms':>12}{'redraws':>9}"]
    for d in results:
        met = "met" if d.ratio >= target else "MISSED"
        lines.append(f"  {d.model:<16}{d.vocab:>8}{d.free.tok_s:>12.1f}{d.stock.tok_s:>8.1f} ({d.stock_ratio:.2f})"
                     f"{d.constrained.tok_s:>12.1f}{d.ratio:>12.2f} {met:<6}{d.setup_s:>9.2f}"
                     f"{1000 * d.compile_s:>12.1f}{d.redraws:>9}")
    lines.append(f"  constrained_ratio = ours ÷ free (target >= {target}); setup: llguidance's view of the vocabulary, "
                 "once per model; compile: the grammar, once per grammar text")
    return lines
