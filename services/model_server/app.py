"""The HTTP API of `aurora serve`: the OpenAI-compatible routes an agent's server backend uses, in the
llama-cpp-python server's dialect (services/agent/server_backend.py `DIALECTS`), over one Generator.

Routes: GET /v1/models; POST /v1/completions (a prompt text), /v1/chat/completions (system and user messages,
rendered with the model's own template: Generator.format), /extras/tokenize/count. A request's `grammar`
(GBNF) is enforced by the agent's own sampler (llguidance, sample then check), its sampling settings are used
(`temperature`, `top_p`, `top_k`, `min_p`, `repeat_penalty`; the draw's RNG runs on from the server's seed,
a request's `seed` is not used). One generation at a time, in arrival order. A streamed reply is sent once the
generation is done, as one chunk and its end: an agent reads the whole decision before acting on it anyway.
Bad input gets a 400 whose message says what is wrong (a grammar llguidance cannot read, a prompt longer than
the context); a missing or wrong key a 401.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.agent.generation import SAMPLING_DEFAULTS


class BadRequest(ValueError):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def _number(body: dict, key: str, kind=float):
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"`{key}` must be a number")
    return kind(value)


def _sampling(body: dict) -> dict[str, float]:
    return {key: _number(body, key, int if key == "top_k" else float) for key in SAMPLING_DEFAULTS if key in body}


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string")
    return value


def _finish(result) -> str:
    return "length" if result.finish == "length" else "stop"


def _usage(result) -> dict:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.tokens,
            "total_tokens": result.prompt_tokens + result.tokens}


class Generation:
    """One generation on a worker thread, its tokens passed on as they come (for a streamed reply), holding
    the server's lock from `start` to its end."""

    _END = object()

    def __init__(self, gen, lock: threading.Lock):
        self.gen, self.lock = gen, lock
        self.queue: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self._result = None

    def start(self, prompt: str, grammar: str | None, max_tokens: int, sampling: dict[str, float]) -> None:
        self.lock.acquire()
        try:
            tokens = self.gen.count_tokens(prompt)
            if tokens >= self.gen.n_ctx:
                raise BadRequest(f"the prompt has {tokens} tokens, the context only {self.gen.n_ctx}")
            if grammar is not None:
                self.gen.grammars.matcher(grammar)  # compiled now (ValueError: llguidance cannot read it)
            self.gen.use_sampling(sampling)
        except BaseException:
            self.lock.release()
            raise
        threading.Thread(target=self._work, args=(prompt, grammar, max_tokens), daemon=True).start()

    def _work(self, prompt: str, grammar: str | None, max_tokens: int) -> None:
        try:
            self._result = self.gen.generate(prompt, grammar=grammar, max_tokens=max_tokens, on_token=self.queue.put,
                                             stop=self.cancelled.is_set)
        except Exception as exc:  # unforeseen: the reply ends with it rather than hanging
            self._result = exc
        finally:
            self.lock.release()
            self.queue.put(self._END)

    def pieces(self):
        """The text as it comes, in pieces that are whole characters."""
        ids: list[int] = []
        sent = ""
        while (token := self.queue.get()) is not self._END:
            ids.append(token)
            text = self.gen.llm.detokenize(ids, special=False).decode("utf-8", errors="ignore")
            if len(text) > len(sent) and text.startswith(sent):
                yield text[len(sent):]
                sent = text
        self.queue.put(self._END)  # for result()

    def result(self):
        while self.queue.get() is not self._END:
            pass
        self.queue.put(self._END)
        if isinstance(self._result, Exception):
            raise self._result
        return self._result

    def cancel(self) -> None:
        self.cancelled.set()


def create_app(gen, name: str, api_key: str | None = None) -> FastAPI:
    app = FastAPI(title="aurora serve", docs_url=None, redoc_url=None)
    lock = threading.Lock()  # one generation at a time: the Generator keeps one context

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            return _error(401, "a missing or wrong API key (Authorization: Bearer ...)")
        return await call_next(request)

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "aurora"}]}

    def parse(request_body: bytes) -> dict:
        try:
            body = json.loads(request_body)
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    @app.post("/extras/tokenize/count")
    async def count(request: Request):
        try:
            text = _text(parse(await request.body()).get("input"), "`input`")
        except BadRequest as exc:
            return _error(400, str(exc))
        def locked() -> int:
            with lock:
                return gen.count_tokens(text)
        return {"count": await run_in_threadpool(locked)}

    def complete(body: dict, prompt: str, chat: bool):
        max_tokens = body.get("max_tokens") or 16
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise BadRequest("`max_tokens` must be a positive integer")
        grammar = body.get("grammar")
        if grammar is not None:
            _text(grammar, "`grammar`")
        sampling = _sampling(body)
        run = Generation(gen, lock)
        run.start(prompt, grammar, max_tokens, sampling)  # raises what the request cannot have, before a reply
        head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}", "created": int(time.time()),
                "model": name}
        if not body.get("stream"):
            result = run.result()
            choice = ({"message": {"role": "assistant", "content": result.text}} if chat else {"text": result.text})
            return JSONResponse({**head, "object": "chat.completion" if chat else "text_completion",
                                 "choices": [{"index": 0, **choice, "finish_reason": _finish(result)}],
                                 "usage": _usage(result)})
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(piece: str | None, reason: str | None, **extra) -> str:
            choice = {"delta": {"content": piece} if piece else {}} if chat else {"text": piece or ""}
            return "data: " + json.dumps({**head, "object": kind, "choices": [
                {"index": 0, **choice, "finish_reason": reason}], **extra}) + "\n\n"

        def events():
            try:
                streamed = ""
                for piece in run.pieces():
                    streamed += piece
                    yield chunk(piece, None)
                result = run.result()
                if result.text.startswith(streamed) and len(result.text) > len(streamed):
                    yield chunk(result.text[len(streamed):], None)  # what a piece could not yet say
                yield chunk(None, _finish(result), usage=_usage(result))
                yield "data: [DONE]\n\n"
            finally:
                run.cancel()  # a client gone away stops the generation

        return StreamingResponse(events(), media_type="text/event-stream")

    def answer(handler):
        async def route(request: Request):
            try:
                body = parse(await request.body())
                return await run_in_threadpool(handler, body)  # a generation never blocks the event loop
            except (BadRequest, ValueError) as exc:  # ValueError: the Generator's (grammar, context)
                return _error(400, str(exc))
        return route

    def completions(body: dict):
        return complete(body, _text(body.get("prompt"), "`prompt`"), chat=False)

    def chat_completions(body: dict):
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise BadRequest("`messages` must be a list of {role, content}")
        parts = {"system": [], "user": []}
        for m in messages:
            if m.get("role") not in parts:
                raise BadRequest("this server takes system and user messages only")
            parts[m["role"]].append(_text(m.get("content"), "a message's content"))
        with lock:
            prompt = gen.format("\n\n".join(parts["system"]), "\n\n".join(parts["user"]))
        return complete(body, prompt, chat=True)

    app.post("/v1/completions")(answer(completions))
    app.post("/v1/chat/completions")(answer(chat_completions))
    return app
