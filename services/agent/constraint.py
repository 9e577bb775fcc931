"""Which tokens may come next under a grammar: llguidance's matcher over one model's vocabulary.

llama.cpp's own grammar sampler checks every token of the vocabulary against the grammar's stacks at every
step (49,152 tokens for SmolLM2, 262,144 for Gemma 3), which costs more than decoding the token. llguidance
compiles the grammar into a lexer automaton once and walks a trie of the vocabulary against it, so the mask
of allowed tokens for a step costs a fraction of a millisecond, and asking about one token costs less.

What is built once and kept:
* the tokenizer view of the vocabulary (every token's bytes, control tokens marked so that no grammar can
  ever produce them) — per model, the one-time cost reported as `setup_s`;
* one compiled matcher per grammar text, reset between generations instead of compiled again. The grammar
  texts are generated from the op-code table (`proto.ops.grammar`), so a changed table is a different text
  and compiles a new matcher: the cache cannot serve a stale language.

Nothing is cached on disk: the whole set-up is about a second for SmolLM2 and a few for Gemma, once per
agent process that lives for days; a disk cache would have to be invalidated by model and library
version for no gain worth having.
"""

from __future__ import annotations

import ctypes
import time

import llguidance
import numpy as np

import llama_cpp


_LIBC = ctypes.CDLL(None)  # the C library this process already runs on
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)  # glibc only


def _give_back_freed_memory() -> None:
    """Compiling the op grammar (its 50,000 feeling words) takes llguidance about 1 KB of scratch per word,
    freed at once but kept by the C allocator: ~63 MB that every agent process would hold for good
    (`aurora bench agent`'s mem_ratio). malloc_trim returns it to the system; elsewhere it is a no-op."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def token_bytes(vocab, n_vocab: int) -> list[bytes]:
    """Every token's bytes as the model writes them; control tokens prefixed with 0xFF, llguidance's mark
    for a special token (no grammar matches it, so it can never be sampled under one)."""
    size = 256
    buf = ctypes.create_string_buffer(size)
    out = []
    for token in range(n_vocab):
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, True)
        if n < 0:  # a piece longer than the buffer: -n is its length
            size = -n
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, True)
        piece = buf.raw[:n]
        if llama_cpp.llama_vocab_get_attr(vocab, token) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            piece = b"\xff" + piece
        out.append(piece)
    return out


class Grammars:
    """The grammars one model generates under. Not thread-safe: one generation at a time, as in an agent."""

    def __init__(self, vocab, n_vocab: int, eog: list[int]):
        self._vocab = vocab
        self.n_vocab = n_vocab
        self._eog = sorted(eog)
        self._tokenizer: llguidance.LLTokenizer | None = None
        self._matchers: dict[str, llguidance.LLMatcher] = {}
        self.setup_s = 0.0  # building the tokenizer view (once per model)
        self.compile_s: dict[str, float] = {}  # per grammar text (once each)
        # One bit per token, in 32-bit words; filled in place by llguidance.
        self._mask = np.zeros((n_vocab + 31) // 32, dtype=np.uint32)

    def _tokenizer_view(self) -> llguidance.LLTokenizer:
        if self._tokenizer is None:
            t0 = time.perf_counter()
            tokenize = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
            self._tokenizer = llguidance.LLTokenizer.from_llamacpp(
                tokens=token_bytes(self._vocab, self.n_vocab), vocab_ptr=self._vocab, tokenize_fptr=tokenize,
                eos_token=self._eog, slices=None)
            self.setup_s = time.perf_counter() - t0
        return self._tokenizer

    def matcher(self, gbnf: str) -> llguidance.LLMatcher:
        """A matcher for `gbnf` at its start state (compiled the first time this text is seen)."""
        matcher = self._matchers.get(gbnf)
        if matcher is not None:
            matcher.reset()
            return matcher
        tokenizer = self._tokenizer_view()
        t0 = time.perf_counter()
        try:
            grammar = llguidance.grammar_from("gbnf", gbnf)
        except ValueError as exc:
            raise ValueError(f"llguidance could not read the grammar: {exc}") from None
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(f"llguidance refused the grammar: {matcher.get_error()}")
        self.compile_s[gbnf] = time.perf_counter() - t0
        self._matchers[gbnf] = matcher
        _give_back_freed_memory()
        return matcher

    def allows(self, matcher: llguidance.LLMatcher, token: int) -> bool:
        return matcher.validate_tokens([token]) == 1

    def allowed(self, matcher: llguidance.LLMatcher) -> np.ndarray:
        """The ids of the tokens the grammar allows next (end-of-generation ones when it may end)."""
        mask = self._mask
        matcher.unsafe_compute_mask_ptr(mask.ctypes.data, mask.nbytes)
        bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[:self.n_vocab]
        return np.flatnonzero(bits).astype(np.int32)

    @property
    def cached(self) -> int:
        return len(self._matchers)
