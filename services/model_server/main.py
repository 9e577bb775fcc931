"""`aurora serve MODEL`: one model behind an OpenAI-compatible HTTP API (services/model_server/app.py), whose
op grammar is enforced by the agent's own sampler; agents reach it with `backend = "openai"` and the default
dialect. Why a server of our own beside llama-cpp-python's: services/agent/server_backend.py."""

from __future__ import annotations

import argparse
import sys

from services.agent.models import ModelError, resolve
from services.base.curve import is_loopback
from services.base.datadir import data_dir
from services.base.log import setup


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve one model over HTTP for agents (an OpenAI-compatible API)")
    p.add_argument("model", help="a bundled model's name or a GGUF path")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--context", type=int, default=2048, help="context in tokens (at least the agents' `context`)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="the model's name in the API (default: MODEL)")
    p.add_argument("--api-key-env", default=None,
                   help="the NAME of an environment variable holding the key clients must send")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.agent.llm import Generator  # imports llama_cpp
    from services.agent.server_backend import api_key
    from services.model_server.app import create_app

    setup("aurora.serve")
    try:
        key = api_key(args.api_key_env)
        path = resolve(args.model, data_dir(), progress=lambda m: print(f"aurora serve: {m}", flush=True))
        gen = Generator(path, n_ctx=args.context, n_threads=args.threads, seed=args.seed)
    except (ModelError, ValueError) as exc:
        print(f"aurora serve: {exc}", file=sys.stderr)
        return 2
    print(f"aurora serve: {path} on http://{args.host}:{args.port} (context {args.context})", flush=True)
    if key is None and not is_loopback(f"tcp://{args.host}:{args.port}"):
        print(f"aurora serve: warning: listening on {args.host} with no API key: anyone who can reach it can use "
              "the model (--api-key-env)", file=sys.stderr, flush=True)
    try:
        uvicorn.run(create_app(gen, args.name or args.model, key), host=args.host, port=args.port,
                    log_level="warning")
    finally:
        gen.close()
    return 0
