"""The llama-cpp-python server (`python -m llama_cpp.server`) as a process of its own, on a free loopback
port: what the server backend's tests and `aurora bench agent`'s server_ratio run an agent against."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from services.base.process import spawn, stop
from services.base.redis_server import free_loopback_port

START_TIMEOUT_S = 120.0  # loading a model on two loaded cores


class ServerMissing(RuntimeError):
    pass


def available() -> str | None:
    """None when the server can run here, else why not (its `[server]` extra's packages are missing)."""
    try:  # the app imports what the extra brings: sse_starlette, starlette_context, pydantic_settings
        importlib.import_module("llama_cpp.server.app")
    except ImportError as exc:
        return f"the llama-cpp-python server cannot start ({exc}); install the dev extra: pip install -e '.[dev]'"
    return None


class LlamaServer:
    """One server process; `start()` waits until it answers, `kill()` ends it at once (SIGKILL)."""

    def __init__(self, model_path: Path, *, n_ctx: int = 2048, threads: int = 1, n_batch: int = 128,
                 port: int | None = None, log: Path | None = None):
        self.model_path, self.n_ctx, self.threads, self.n_batch = Path(model_path), n_ctx, threads, n_batch
        self.port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "LlamaServer":
        why = available()
        if why:
            raise ServerMissing(why)
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = spawn(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
             "--n_threads_batch", str(self.threads), "--n_batch", str(self.n_batch), "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the llama-cpp-python server exited with {self.proc.returncode} while starting"
                                   + (f" (its log: {self.log})" if self.log else ""))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the llama-cpp-python server did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)  # polling interval while the model loads
        return self

    def answers(self) -> bool:
        try:
            return httpx.get(self.url + "/v1/models", timeout=2.0).status_code == 200
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
def llama_server(model_path: Path, **kw):
    server = LlamaServer(model_path, **kw).start()
    try:
        yield server
    finally:
        server.stop()
