"""The `aurora` command: one subcommand per service and per tool."""

from __future__ import annotations

import argparse
import sys

from services.agent import main as agent
from services.base.addresses import ConfigError
from services.audio_gateway import main as gateway
from services.bench import main as bench
from services.bench import soak
from services.canvas import main as canvas
from services.chaos import main as chaos
from services.model_server import main as model_server
from services.recorder import main as recorder
from services.report import main as report
from services.scripted_agent import main as scripted_agent
from services.supervisor import main as supervisor
from services.tools import (export_cmd, grant_cmd, health, keys_cmd, models_cmd, ops_cmd, peek, replay_cmd, roster_cmd,
                            status, watch)

SUBCOMMANDS = (supervisor, status, canvas, recorder, gateway, agent, scripted_agent, peek, watch, replay_cmd,
               export_cmd, report, ops_cmd, models_cmd, roster_cmd, keys_cmd, grant_cmd, health, bench, model_server,
               soak, chaos)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aurora", description="Aurora: local language models paint and play.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except ConfigError as exc:  # the config file is read when a command first needs an address
        print(f"aurora {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
