"""How the agent benchmark times generations: one side's series of them, and stock llama-cpp-python's."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Side:
    """One side's generations: tokens, fixed cost (all but decoding tokens 2..n) and decoding time each."""

    tokens: list[int] = field(default_factory=list)
    fixed_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)

    def add(self, tokens: int, fixed_s: float, decode_s: float) -> None:
        self.tokens.append(tokens)
        self.fixed_s.append(fixed_s)
        self.decode_s.append(decode_s)

    @property
    def mean_tokens(self) -> float:
        return sum(self.tokens) / len(self.tokens)

    @property
    def mean_fixed_s(self) -> float:
        return sum(self.fixed_s) / len(self.fixed_s)

    @property
    def tok_s(self) -> float:
        """Decoded tokens per second (tokens after the first of each generation)."""
        decoded = sum(max(0, n - 1) for n in self.tokens)
        return decoded / sum(self.decode_s) if decoded else float("nan")

    def at(self, n: int) -> float:
        """Seconds for a decision of exactly n generated tokens."""
        return self.mean_fixed_s + (n - 1) / self.tok_s



class Raw:
    """Stock llama-cpp-python: one Llama, `create_completion` with a LlamaGrammar, as its users write it."""

    def __init__(self, model_path: Path, *, n_ctx: int, threads: int, n_batch: int, seed: int,
                 sampling: dict[str, float]):
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=threads,
                                   n_threads_batch=threads, n_batch=n_batch, seed=seed, use_mmap=True, verbose=False)
        self.sampling = sampling
        self.grammars: dict[str, object] = {}

    def complete(self, prompt: str, grammar: str | None, max_tokens: int) -> tuple[int, float, float]:
        """(tokens, seconds to the first token, seconds after it) for one streamed completion."""
        g = None
        if grammar is not None:
            g = self.grammars.get(grammar)
            if g is None:
                g = self.grammars[grammar] = self.llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
        s = self.sampling
        t0 = time.perf_counter()
        first = None
        tokens = 0
        for chunk in self.llm.create_completion(
                prompt, max_tokens=max_tokens, temperature=s["temperature"], top_p=s["top_p"],
                top_k=int(s["top_k"]), min_p=s["min_p"], repeat_penalty=s["repeat_penalty"], grammar=g,
                stream=True):
            if chunk["choices"][0]["finish_reason"] is None:  # one chunk per token, then a closing one
                tokens += 1
                if first is None:
                    first = time.perf_counter()
        end = time.perf_counter()
        first = first or end
        return tokens, first - t0, end - first

    def close(self) -> None:
        self.llm.close()
