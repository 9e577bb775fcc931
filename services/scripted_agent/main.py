"""`aurora scripted-agent`: a SCRIPTED, NON-LLM load agent for tests and benchmarks (see policy.py)."""

from __future__ import annotations

import argparse
import logging
import random
import signal
import time

from proto.errors import RemoteError
from services.base import addresses, curve
from services.base.log import event, setup
from services.canvas.client import FATAL_CODES, CanvasClient, CanvasGone, RateLimited
from services.scripted_agent.policy import decision


def add_parser(sub) -> None:
    p = sub.add_parser("scripted-agent", help="run a scripted, non-LLM load agent (tests and benchmarks only)")
    p.add_argument("name", help="agent name (1-32 of a-z 0-9 - _)")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", type=int, default=4, help="ops per decision")
    p.add_argument("--decisions", type=int, default=0, help="stop after this many (0: run until stopped)")
    p.add_argument("--pace", type=float, default=0.0, help="seconds between decisions")
    p.add_argument("--done-every", type=int, default=0, help="finish a work every N decisions (0: never)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    log = setup(f"aurora.scripted.{args.name}")
    address = addresses.from_args(args).agents
    keys = curve.client_from_args(args, address, prog="scripted-agent")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    client = CanvasClient(args.name, address, model="scripted (non-LLM)", curve=keys)
    rng = random.Random(args.seed)
    try:
        client.connect_with_backoff(should_stop=lambda: bool(stop))
    except RemoteError as exc:
        event(log, logging.ERROR, "canvas refused this agent", code=exc.code, reason=exc.reason)
        return 2
    except CanvasGone:
        return 0  # stopped before the canvas answered
    turn, text = 0, None
    while not stop and (args.decisions == 0 or turn < args.decisions):
        text = text or decision(rng, args.ops, args.done_every, turn)
        pause = args.pace
        try:
            client.decide(text)
            turn, text = turn + 1, None
        except RateLimited as exc:  # nothing applied: the same decision again once the canvas takes it
            event(log, logging.INFO, "rate limited by the canvas", retry_after=exc.retry_after)
            pause = max(pause, exc.retry_after)
        except RemoteError as exc:
            if exc.code in FATAL_CODES:
                event(log, logging.ERROR, "canvas refused this agent", code=exc.code, reason=exc.reason)
                client.close()
                return 2
            event(log, logging.ERROR, "the canvas refused a decision", code=exc.code, reason=exc.reason)
            turn, text = turn + 1, None
        except CanvasGone:
            text = None  # as before rate limits: the next decision is drawn afresh
            event(log, logging.WARNING, "canvas gone; reconnecting")
            try:
                client.connect_with_backoff(should_stop=lambda: bool(stop))
            except CanvasGone:
                break  # stopped while the canvas was away
        if pause:
            end = time.monotonic() + pause
            while not stop and time.monotonic() < end:
                client.idle()
                time.sleep(min(0.05, pause))  # pacing between decisions is the point here
    client.close()
    return 0
