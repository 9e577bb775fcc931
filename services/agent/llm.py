"""One local model, loaded with llama-cpp-python, generating op-codes under a grammar, token by token.

Why a sampling loop of our own rather than `Llama.create_completion(grammar=LlamaGrammar...)`
----------------------------------------------------------------------------------------------
llama.cpp's grammar sampler checks every token of the vocabulary against the grammar at every step (49,152
tokens for SmolLM2, 262,144 for Gemma 3), before top-k, so no sampling setting reduces it: measured here,
8.4 ms a token for SmolLM2 and 60 ms for Gemma, more than decoding the token. Instead:

* the grammar (GBNF text generated from the op-code table) is compiled by llguidance, once per text and
  model (`services.agent.constraint`); asking whether one token is allowed costs about a microsecond, and
  the mask of all allowed tokens 0.1 to 1 ms;
* each step first samples as if unconstrained, then asks the matcher about that one token; only when it is
  refused is the mask computed and the token drawn again among the allowed tokens alone (llama.cpp's own
  `common_sampler` does the same). The accepted token follows the constrained distribution
  (p(t) + P(refused)*p(t)/Z = p(t)/Z), so constrained decoding runs at the speed of free decoding
  (`aurora bench agent` prints constrained_ratio for each bundled model).

The KV cache is never reset between calls: the prompt's longest common prefix with what is already in
the cache is kept (`kv_cache_seq_rm` past it) and only the rest is evaluated. An agent's turns grow one
context (services/agent/context.py): each turn's tokens are the last turn's, its generated tokens and what is
new (`joint`), so only what is new is evaluated. A question asked beside the turns (`aside`) saves the
turn's sequence (`llama_state_seq_get_data`, a few MB, a few ms) and puts it back afterwards. A model with
sliding-window attention (Gemma 3) keeps every cell by default (llama.cpp's `swa_full`); were it to keep
only its last window, a prefix would be reused only when nothing after it has to be dropped. The prompt is evaluated
in batches of `n_batch` tokens, between which `on_prefill` is called and `stop` is asked, so an agent keeps
its heartbeat and can be stopped during a long prefill too.

Control tokens (`<|im_start|>`, `<unused12>`, ...) are banned from sampling outright, except the
end-of-generation ones, which end the generation and are never rendered; the text is detokenized with
special tokens off. Content placed into a chat template is defused: text that spells a control token
(a title written as "<|im_end|>") is not turned into that token.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import re
import time
from pathlib import Path
from typing import Callable

import jinja2
import numpy as np

import llama_cpp

from services.agent.chat_template import ChatTemplate, syntax_error
from services.agent.constraint import Grammars
from services.agent.generation import SAMPLING_DEFAULTS, GenerationResult, sampling_settings
from services.agent.models import ModelError, bundled_for, check_gguf, hint_for
from services.agent.prompt import RAW_CUE

# GenerationResult and SAMPLING_DEFAULTS live in services/agent/generation.py (the server backend shares them
# without importing llama_cpp); they are still importable from here.
__all__ = ["Generator", "GenerationResult", "SAMPLING_DEFAULTS"]

PENALTY_LAST_N = 64  # generated tokens that the repeat penalty looks back on

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


class _Chain:
    """A llama.cpp sampler chain that we own (freed on close)."""

    def __init__(self) -> None:
        self.ptr = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())

    def add(self, sampler) -> None:
        llama_cpp.llama_sampler_chain_add(self.ptr, sampler)

    def free(self) -> None:
        if self.ptr is not None:
            llama_cpp.llama_sampler_free(self.ptr)
            self.ptr = None


class Generator:
    """A GGUF model in this process: prompt formatting, token counting and constrained streaming generation.

    `n_threads`: llama.cpp's threads meet at a barrier after every operation, so on a machine whose cores
    are shared with other busy processes (other agents included) a descheduled thread stalls the rest.
    Measured on 2 cores with a load of about 4: SmolLM2 at 1 thread ~45 tokens/s, at 2 threads 0.3 to
    20 tokens/s; on an idle machine 2 threads are faster (~78 against ~51). Keep agents x threads <= cores.
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int = 2, seed: int = 0,
                 sampling: dict[str, float] | None = None, chat: str = "auto", n_batch: int = 128):
        if chat not in ("auto", "template", "raw"):
            raise ValueError(f"chat must be auto, template or raw, not {chat!r}")
        self.sampling = sampling_settings(sampling)
        self.model_path = Path(model_path)
        self.seed = seed
        self.n_ctx = n_ctx
        check_gguf(self.model_path)
        t0 = time.perf_counter()
        try:
            # use_mmap: agents on the same GGUF share its pages; n_batch bounds each prefill step (see module doc).
            self.llm = llama_cpp.Llama(
                model_path=str(self.model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                n_batch=min(n_batch, n_ctx), seed=seed, use_mmap=True, verbose=False)
        except ValueError as exc:
            raise ModelError(f"llama.cpp could not load {self.model_path} ({exc}); "
                             f"{hint_for(self.model_path, bundled_for(self.model_path))}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise syntax_error(str(self.model_path), exc) from None
        self.load_s = time.perf_counter() - t0
        self._vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self.bos_text = self._piece(self.llm.token_bos())
        self.eos_text = self._piece(self.llm.token_eos())
        self._add_bos = self.llm._model.add_bos_token()
        control = [t for t in range(self.n_vocab)
                   if llama_cpp.llama_vocab_get_attr(self._vocab, t) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL]
        self._eog = {t for t in control + [self.llm.token_eos(), llama_cpp.llama_vocab_eot(self._vocab)]
                     if t >= 0 and llama_cpp.llama_vocab_is_eog(self._vocab, t)}
        self._banned = np.array([t for t in control if t not in self._eog], dtype=np.int32)
        self._banned_and_ends = np.array(sorted(set(self._banned.tolist()) | self._eog), dtype=np.int32)
        self._ban = self._banned
        self._defuse_re = self._control_pattern([self._piece(t) for t in control])

        template = self.llm.metadata.get("tokenizer.chat_template")
        label = self._label()
        if chat == "template" and not template:
            self.close()
            raise ModelError(f"model {label} has no chat template in its metadata; use chat = \"raw\" "
                             "for this model in your roster")
        self.mode = "template" if template and chat != "raw" else "raw"
        try:
            self._template = (ChatTemplate(template, model=label, bos=self.bos_text, eos=self.eos_text)
                              if self.mode == "template" else None)
        except ModelError:
            self.close()
            raise
        self._joint = self._joint_parts()
        # A sliding-window cache that keeps only its window (swa_full off; llama.cpp's default is on) cannot
        # have a suffix dropped and a prefix reused: the cells the new tokens would attend to may be gone.
        self.swa = llama_cpp.llama_model_n_swa(self.llm._model.model) > 0 and not self.llm.context_params.swa_full

        self.grammars = Grammars(self._vocab, self.n_vocab, sorted(self._eog))
        self._pre, self._post, self._pick = self._build_chains()
        self._cur = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(self.n_vocab, dtype=np.int32)
        self.redraws = 0  # picks the grammar refused and that were drawn again among the allowed (benchmarks)

    # ------------------------------------------------------------------------------------------ prompt

    def format(self, system: str, user: str, cue: str | None = RAW_CUE) -> str:
        """The full prompt text, in this model's own format (see `mode`).

        template: the GGUF's chat template (Jinja, from `tokenizer.chat_template`, checked at start-up by
        services/agent/chat_template.py) with a system and a user message and the generation prompt. raw: a plain document, because a base model such as Gemma 3
        270M carries no chat template and was never trained on turns; it continues a document best, so the
        prompt is the system text, the user text and, for a turn, a cue line after which op-codes naturally
        follow. A question (title, statement, dream) has no cue (`cue=None`): its user text ends with the
        field its answer fills.
        """
        if self.mode == "template":
            return self._template.prompt(self._defuse(system), self._defuse(user))
        text = f"{system.rstrip()}\n\n{user.rstrip()}"
        return f"{text}\n\n{cue}\n" if cue else text

    _MARK_A, _MARK_U = "\x00answer\x00", "\x00user\x00"

    def _joint_parts(self) -> tuple[str, str] | None:
        """What a template puts between an answer and the next user message, and after that message: found by
        rendering a conversation with markers in it. None when the template renders earlier turns otherwise
        than it rendered them at first (a context could then not grow: every turn starts afresh)."""
        if self.mode == "raw":
            return "\n", f"\n\n{RAW_CUE}\n"
        first = self._template.messages("s", "u")
        try:
            opening = self._template.render(first)
            longer = self._template.render(first + [{"role": "assistant", "content": self._MARK_A},
                                                    {"role": "user", "content": self._MARK_U}])
        except Exception:
            return None
        head = opening + self._MARK_A
        if not longer.startswith(head) or longer.count(self._MARK_U) != 1:
            return None
        before, after = longer[len(head):].split(self._MARK_U)
        return before, after

    @property
    def can_grow(self) -> bool:
        return self._joint is not None

    def joint(self, user: str) -> tuple[list[int], str]:
        """What follows a generated answer to carry a turn's new `user` text and ask for the next answer (its
        tokens and text): the template's end of the answer and a user message (the raw form: the text, the cue)."""
        assert self._joint is not None, "this model's template cannot grow a context"
        before, after = self._joint
        text = before + (self._defuse(user) if self.mode == "template" else user.rstrip()) + after
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=self.mode == "template"), text

    def tokenize(self, text: str) -> list[int]:
        """The tokens that `generate(text)` feeds the model (a BOS token included where the model adds one)."""
        return self._tokenize(text)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def _tokenize(self, text: str) -> list[int]:
        special = self.mode == "template"  # the template's own markers are control tokens
        add_bos = self._add_bos and not (special and self.bos_text and text.startswith(self.bos_text))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def _defuse(self, text: str) -> str:
        """Break any spelled-out control token in content, so that tokenizing it yields plain text."""
        if self._defuse_re is None:
            return text
        return self._defuse_re.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1:], text)

    @staticmethod
    def _control_pattern(texts: list[str]) -> re.Pattern | None:
        texts = sorted({t for t in texts if len(t) > 1}, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, texts))) if texts else None

    def _label(self) -> str:
        """The model as a message names it: its file, and its own name when the header gives one."""
        name = self.llm.metadata.get("general.name")
        return f"{self.model_path} ({name})" if name else str(self.model_path)

    def _piece(self, token: int) -> str:
        return self.llm._model.token_get_text(token)

    # -------------------------------------------------------------------------------------- sampling

    def _build_chains(self) -> tuple[_Chain, _Chain, object]:
        """(pre, post, pick): pre = repeat penalty (it remembers this generation's tokens), post = top-k,
        top-p, min-p and temperature (stateless), pick = the draw (dist or greedy). The control-token ban is
        not a sampler: llama.cpp's logit-bias sampler searches each biased id through any array that is not
        the whole vocabulary, thousands of ids times thousands of candidates for Gemma."""
        s = self.sampling
        pre, post = _Chain(), _Chain()
        if s["repeat_penalty"] != 1.0:
            pre.add(llama_cpp.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N,
                                                            float(s["repeat_penalty"]), 0.0, 0.0))
        if s["temperature"] > 0:
            if int(s["top_k"]) > 0:
                post.add(llama_cpp.llama_sampler_init_top_k(int(s["top_k"])))
            post.add(llama_cpp.llama_sampler_init_top_p(float(s["top_p"]), 1))
            post.add(llama_cpp.llama_sampler_init_min_p(float(s["min_p"]), 1))
            post.add(llama_cpp.llama_sampler_init_temp(float(s["temperature"])))
            # The RNG is seeded once and never reset: it runs on from one decision to the next, so a
            # repeated prompt does not force a repeated answer, and a run is reproducible from its seed.
            pick = llama_cpp.llama_sampler_init_dist(self.seed)
        else:
            pick = llama_cpp.llama_sampler_init_greedy()
        return pre, post, pick

    @staticmethod
    def _array(buf: np.ndarray, size: int) -> llama_cpp.llama_token_data_array:
        return llama_cpp.llama_token_data_array(data=buf.ctypes.data_as(llama_cpp.llama_token_data_p),
                                                size=size, selected=-1, sorted=False)

    def _candidates(self) -> llama_cpp.llama_token_data_array:
        """The whole vocabulary with the last logits, control tokens banned and penalties applied."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1), shape=(self.n_vocab,))
        cur = self._cur
        cur["id"] = self._ids
        cur["logit"] = logits
        cur["p"] = 0.0
        cur["logit"][self._ban] = -np.inf
        arr = self._array(cur, self.n_vocab)
        llama_cpp.llama_sampler_apply(self._pre.ptr, ctypes.byref(arr))  # in place: neither sorts nor cuts
        return arr

    def _draw(self, arr: llama_cpp.llama_token_data_array) -> int:
        llama_cpp.llama_sampler_apply(self._post.ptr, ctypes.byref(arr))
        llama_cpp.llama_sampler_apply(self._pick, ctypes.byref(arr))
        return arr.data[arr.selected].id

    def _constrained(self, matcher) -> int | None:
        """Draw among the tokens the grammar allows, after the unconstrained pick was refused; None when it
        allows none (the matcher failed: end the generation rather than send what it refused).

        Exact: the ban and the penalties, then top-k, top-p, min-p and temperature are applied to the
        allowed tokens alone, as if every other token had been masked to -inf first."""
        allowed = self.grammars.allowed(matcher)
        if not len(allowed):
            return None
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1), shape=(self.n_vocab,))
        sub = np.empty(len(allowed), dtype=_TOKEN_DATA)
        sub["id"] = allowed
        sub["logit"] = logits[allowed]
        sub["p"] = 0.0
        arr = self._array(sub, len(sub))
        llama_cpp.llama_sampler_apply(self._pre.ptr, ctypes.byref(arr))
        return self._draw(arr)

    def _sample(self, matcher) -> int | None:
        token = self._draw(self._candidates())
        if matcher is not None and not self.grammars.allows(matcher, token):
            self.redraws += 1
            token = self._constrained(matcher)
            if token is None:
                return None
        llama_cpp.llama_sampler_accept(self._pre.ptr, token)
        return token

    # ------------------------------------------------------------------------------------ generation

    def _prefill(self, tokens: list[int], on_prefill, stop) -> tuple[int, bool]:
        """Bring the KV cache to `tokens`, keeping its common prefix. Returns (tokens reused, stopped)."""
        llm = self.llm
        cached = llm.input_ids[:llm.n_tokens]
        n = min(len(cached), len(tokens))
        diff = np.nonzero(cached[:n] != np.asarray(tokens[:n]))[0]
        keep = int(diff[0]) if len(diff) else n
        keep = min(keep, len(tokens) - 1)  # the last prompt token is always evaluated, for fresh logits
        if self.swa and keep < len(cached):
            keep = 0  # the window's cells before `keep` may be gone: dropping a suffix would attend to nothing
        if keep <= 0 or not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # e.g. a sliding-window cache that cannot drop a suffix: start over
        llm.n_tokens = keep
        step = llm.n_batch
        for i in range(keep, len(tokens), step):
            llm.eval(tokens[i:i + step])
            if on_prefill is not None:
                on_prefill(min(i + step, len(tokens)), len(tokens))
            if stop is not None and i + step < len(tokens) and stop():
                return keep, True
        return keep, False

    def generate(self, prompt: str | list[int], *, grammar: str | None = None, max_tokens: int = 64,
                 on_token: Callable[[int], None] | None = None, stop: Callable[[], bool] | None = None,
                 on_prefill: Callable[[int, int], None] | None = None, may_end: bool = True) -> GenerationResult:
        """Continue `prompt` (a `format`ted text, or its tokens) token by token.

        `grammar` (GBNF text) constrains every token; its parse is cached by text. `on_token(id)` is called
        with each generated token, `stop()` after it (and between prefill batches): when it returns True
        the generation ends at once. Under a grammar, `text` is always a prefix of a sentence of the
        grammar: whole when `finish` is "eos"; when cut short ("length", "stop") its last line may be
        unfinished, and the caller decides whether to keep it (ops: drop it; free text: it may do).
        `may_end=False` bans the end tokens too (without a grammar: a benchmark's decoding of a fixed length).
        """
        t0 = time.perf_counter()
        tokens = self._tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        if not tokens:
            tokens = [self.llm.token_bos()]
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"the prompt has {len(tokens)} tokens, the context only {self.n_ctx}")
        max_tokens = min(max_tokens, self.n_ctx - len(tokens))
        reused, stopped = self._prefill(tokens, on_prefill, stop)
        out: list[int] = []
        ttft = 0.0
        finish = "stop" if stopped else "length"
        matcher = self.grammars.matcher(grammar) if grammar else None
        self._ban = self._banned if may_end or matcher is not None else self._banned_and_ends
        # Penalties look at this generation only: the studio's text must not push the model away from the
        # words it uses (a penalty on the prompt's last tokens would weigh against the ops its state line
        # names), nor its own earlier answers be made less likely by the studio.
        llama_cpp.llama_sampler_reset(self._pre.ptr)
        while not stopped and len(out) < max_tokens:
            if out:
                self.llm.eval([out[-1]])
            token = self._sample(matcher)
            if not out:
                ttft = time.perf_counter() - t0
            if token is None or token in self._eog:
                finish = "eos"
                break
            out.append(token)
            if on_token is not None:
                on_token(token)
            if matcher is not None and (not matcher.consume_token(token) or matcher.is_stopped()):
                finish = "eos"  # the grammar is complete: nothing but an end may follow
                break
            if stop is not None and stop():
                stopped, finish = True, "stop"
        text = self.llm.detokenize(out, special=False).decode("utf-8", errors="replace")
        total = time.perf_counter() - t0
        return GenerationResult(text=text, tokens=len(out), prompt_tokens=len(tokens),
                                ttft_s=ttft if ttft else total, total_s=total, stopped=stopped,
                                finish=finish, reused_tokens=reused, ids=out)

    @contextlib.contextmanager
    def aside(self):
        """Generate beside the current context and find it again afterwards: the KV cache of sequence 0 and
        its tokens are saved, and put back when the block ends (when they cannot be, the cache is emptied
        and the next call evaluates its whole prompt: slower, never wrong)."""
        llm, ctx = self.llm, self.llm._ctx.ctx
        n = llm.n_tokens
        ids = llm.input_ids[:n].copy()
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        # The saved cache (up to tens of MB) in pages of its own, unmapped when the block ends: from the heap,
        # buffers of each context's size were kept by the allocator, and a resident agent's memory grew by
        # ~30 MB over an hour (`aurora soak`; tests/agent/test_aside_memory.py).
        area = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE)  # private: counted as the agent's memory
        saved = (ctypes.c_uint8 * size).from_buffer(area)
        try:
            if n and llama_cpp.llama_state_seq_get_data(ctx, saved, size, 0) != size:
                n = 0
            try:
                yield
            finally:
                llm._ctx.kv_cache_seq_rm(-1, 0, -1)
                llm.n_tokens = 0
                if n and llama_cpp.llama_state_seq_set_data(ctx, saved, size, 0) == size:
                    llm.input_ids[:n] = ids
                    llm.n_tokens = n
        finally:
            del saved  # the view goes before its pages
            area.close()

    # ------------------------------------------------------------------------------------------ close

    def use_sampling(self, sampling: dict[str, float]) -> None:
        """Sample with these settings (over the defaults) from now on: the sampler chains are built again when
        they differ, the draw's RNG restarting from the seed (`aurora serve`: each request brings its own)."""
        merged = sampling_settings(sampling)
        if merged != self.sampling:
            self._free_samplers()
            self.sampling = merged
            self._pre, self._post, self._pick = self._build_chains()

    def _free_samplers(self) -> None:
        for chain in (getattr(self, "_pre", None), getattr(self, "_post", None)):
            if chain is not None:
                chain.free()
        self._pre = self._post = None
        if getattr(self, "_pick", None) is not None:
            llama_cpp.llama_sampler_free(self._pick)
            self._pick = None

    def close(self) -> None:
        """Free the model and the samplers (also done when the process ends)."""
        self._free_samplers()
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
