"""`aurora models`: every GGUF model on this machine, read from its header, with the memory an agent on it needs."""

from __future__ import annotations

import argparse
import sys

from services.agent import discovery
from services.agent import roster as rosters
from services.agent.gguf_info import agent_need_bytes, bytes_text, count_text

COLUMNS = ("NAME", "SOURCE", "FAMILY", "PARAMS", "QUANT", "SIZE", "CONTEXT", "MEMORY", "TEMPLATE", "PATH")


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the GGUF models you have (Ollama, LM Studio, Hugging Face, folders)")
    p.add_argument("--from", dest="sources", action="append", metavar="SOURCE",
                   help="ollama, lmstudio, hf, or a folder or file (repeatable; default: ollama, lmstudio and hf)")
    p.add_argument("--context", type=int, default=None, metavar="N",
                   help="tokens of context for the MEMORY column (default: the bundled roster's)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sources = args.sources or list(discovery.SOURCES)
    context = rosters.load()[0].context if args.context is None else args.context
    if context < 1:
        print("aurora models: --context must be at least 1", file=sys.stderr)
        return 2
    found, problems = discovery.find_all(sources)
    for problem in problems:
        print(f"aurora models: {problem}", file=sys.stderr)
    if not found:
        looked = ", ".join(str(p) for s in sources for p in discovery.places(s))
        print(f"aurora models: no GGUF model found (looked in {looked}); give a folder with --from DIR",
              file=sys.stderr)
        return 1
    rows = [COLUMNS] + [_row(f, context) for f in found]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1])
    print(f"\nMEMORY: weights + KV cache at a context of {context} tokens (--context N) + the agent's process "
          "(estimated), for one agent: what `aurora up --plan` counts")
    for f in found:
        if f.why_not:
            print(f"{f.name}: {f.why_not}")
    return 0


def _row(f: discovery.Found, context: int) -> tuple[str, ...]:
    i = f.info
    memory = "-" if f.why_not else bytes_text(agent_need_bytes(i, context))
    return (f.name, f.source, i.architecture, count_text(i.parameters), i.quantisation, bytes_text(i.file_bytes),
            str(i.context_length or "?"), memory, "own" if i.chat_template else "none", str(i.path))
