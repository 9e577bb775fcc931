"""Inference servers as processes of their own, on a free loopback port: the llama-cpp-python server
(`python -m llama_cpp.server`), `aurora serve`, and llama.cpp's own `llama-server` where one is on this machine
(not installed by the project: `AURORA_LLAMA_SERVER` names it, else `llama-server` on PATH); what the server
backend's tests and `aurora bench agent`'s server_ratio, serve_ratio and llama_server_ratio run an agent
against."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from services.base.process import spawn, stop
from services.base.redis_server import free_loopback_port

ROOT = Path(__file__).resolve().parents[2]  # where `-m services.cli` is found
START_TIMEOUT_S = 120.0  # loading a model on two loaded cores


class ServerMissing(RuntimeError):
    pass


LLAMA_SERVER_ENV = "AURORA_LLAMA_SERVER"  # the path of a llama.cpp `llama-server` binary


def llama_server() -> str | None:
    """The llama.cpp server binary: the one `AURORA_LLAMA_SERVER` names, else `llama-server` on PATH."""
    named = os.environ.get(LLAMA_SERVER_ENV)
    return shutil.which(named) if named else shutil.which("llama-server")


def available(kind: str = "llama-cpp-python") -> str | None:
    """None when the server of `kind` can run here, else why not."""
    if kind == "llama.cpp":
        if llama_server() is None:
            named = os.environ.get(LLAMA_SERVER_ENV)
            why = f"{named} is not an executable" if named else "llama-server not on PATH"
            return (f"no llama.cpp server here ({why}): set {LLAMA_SERVER_ENV} to a llama-server binary "
                    "(built from llama.cpp; the project installs none)")
        return None
    if kind != "llama-cpp-python":
        return None
    try:  # the app imports what the extra brings: sse_starlette, starlette_context, pydantic_settings
        importlib.import_module("llama_cpp.server.app")
    except ImportError as exc:
        return f"the llama-cpp-python server cannot start ({exc}); install the dev extra: pip install -e '.[dev]'"
    return None


class ModelServer:
    """One server process; `start()` waits until it answers, `kill()` ends it at once (SIGKILL). `kind`:
    "llama-cpp-python", "aurora" (`aurora serve`) or "llama.cpp" (`llama-server`, one slot so that the whole
    context is the agent's), all started with the same model settings."""

    def __init__(self, model_path: Path, *, kind: str = "llama-cpp-python", n_ctx: int = 2048, threads: int = 1,
                 n_batch: int = 128, seed: int = 0, port: int | None = None, log: Path | None = None,
                 api_key_env: str | None = None):
        self.model_path, self.n_ctx, self.threads, self.n_batch = Path(model_path), n_ctx, threads, n_batch
        self.kind, self.seed, self.api_key_env = kind, seed, api_key_env
        self.port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        if self.kind == "aurora":  # the Generator's own n_batch (128) is the agent's
            return [sys.executable, "-m", "services.cli", "serve", str(self.model_path), "--port", str(self.port),
                    "--context", str(self.n_ctx), "--threads", str(self.threads), "--seed", str(self.seed),
                    *(["--api-key-env", self.api_key_env] if self.api_key_env else [])]
        if self.kind == "llama.cpp":
            return [llama_server() or "llama-server", "--model", str(self.model_path), "--host", "127.0.0.1",
                    "--port", str(self.port), "--ctx-size", str(self.n_ctx), "--threads", str(self.threads),
                    "--threads-batch", str(self.threads), "--batch-size", str(self.n_batch), "--parallel", "1",
                    "--seed", str(self.seed)]
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
                "--n_threads_batch", str(self.threads), "--n_batch", str(self.n_batch), "--verbose", "False",
                "--seed", str(self.seed)]

    def start(self) -> "ModelServer":
        why = available(self.kind)
        if why:
            raise ServerMissing(why)
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = spawn(self.argv(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.kind} server exited with {self.proc.returncode} while starting"
                                   + (f" (its log: {self.log})" if self.log else ""))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the {self.kind} server did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)  # polling interval while the model loads
        return self

    def answers(self) -> bool:
        # llama-server answers /v1/models while its model still loads; its /health says 200 only once loaded
        route = "/health" if self.kind == "llama.cpp" else "/v1/models"
        try:
            return httpx.get(self.url + route, timeout=2.0).status_code in (200, 401)
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@contextmanager
def model_server(model_path: Path, **kw):
    server = ModelServer(model_path, **kw).start()
    try:
        yield server
    finally:
        server.stop()
