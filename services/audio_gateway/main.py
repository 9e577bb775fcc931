"""`aurora gateway`: the audio gateway, a FastAPI app served by uvicorn (services/audio_gateway/app.py).

It follows the canvas's events (--events, --snapshots), streams them to browsers over a WebSocket, serves the
live page and a read-only HTTP API. The record it reads for counts and the gallery is the Redis at REDIS_URL
(or --redis-url); without one, it counts what it sees live.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from urllib.parse import urlsplit

import redis

from services.audio_gateway.admission import origin_arg
from services.base import addresses, curve
from services.base.log import event, setup

PORT_ENV = "AURORA_GATEWAY_PORT"
DEFAULT_PORT = 8080


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not a positive number")
        return value
    return parse


def add_parser(sub) -> None:
    p = sub.add_parser("gateway", help="serve the live web page, the WebSocket and the read-only HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help=f"port to listen on (env {PORT_ENV}, default {DEFAULT_PORT})")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--allow-origin", action="append", default=[], type=origin_arg, metavar="ORIGIN",
                   help="a page origin allowed to open the WebSocket besides the gateway's own, e.g. "
                        "http://localhost:5173 (repeatable; * allows any)")
    p.add_argument("--max-viewers-per-address", type=_positive(int), default=16, metavar="N",
                   help="WebSocket viewers from one client address at once (default 16; more are closed with 1008)")
    p.add_argument("--queue", type=_positive(int), default=1024, metavar="N",
                   help="messages queued per viewer before it must resync (default 1024)")
    p.add_argument("--send-timeout", type=_positive(float), default=10.0, metavar="S",
                   help="seconds one send to a viewer may block before it is closed with 1013 (default 10)")
    p.add_argument("--redis-url", default=None,
                   help="the record to read (default: env REDIS_URL; without one, counts are what the gateway sees)")
    p.set_defaults(run=run)


def _port(args: argparse.Namespace) -> int:
    if args.port is not None:
        return args.port
    text = os.environ.get(PORT_ENV)
    if not text:
        return DEFAULT_PORT
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"aurora gateway: {PORT_ENV}={text!r} is not a port number") from None


def run(args: argparse.Namespace) -> int:
    # FastAPI, uvicorn and the app take a quarter of a second to import: every other `aurora` command is spared.
    from services.audio_gateway import metrics, server
    from services.audio_gateway.app import Settings, create_app
    from services.audio_gateway.gc_policy import GcPolicy

    log = setup("aurora.gateway")
    addrs = addresses.from_args(args)
    port = _port(args)
    redis_url = args.redis_url or os.environ.get("REDIS_URL") or None
    if redis_url:
        try:
            redis.Redis.from_url(redis_url).close()  # only parses the URL: connects to nothing
        except ValueError as exc:
            print(f"aurora gateway: the record's Redis URL is wrong: {exc}", file=sys.stderr)
            return 2
    keys = curve.client_from_args(args, addrs.events, addrs.snapshots, prog="gateway")
    settings = Settings(events=addrs.events, snapshots=addrs.snapshots, redis_url=redis_url, curve=keys,
                        allow_origins=frozenset(args.allow_origin),
                        max_viewers_per_address=args.max_viewers_per_address, queue=args.queue,
                        send_timeout=args.send_timeout)
    url = server.page_url(args.host, port)
    app = create_app(settings)
    gc_policy = GcPolicy()  # full collections would walk every viewer's state: see gc_policy.py

    def started(_server) -> None:
        gc_policy.start(asyncio.get_running_loop())  # the app is up (its lifespan ran): what it holds is frozen
        app.state.gateway.registry.register(metrics.GcCollector(gc_policy))
        print(f"aurora gateway: open {url}", flush=True)
        event(log, logging.INFO, "serving", url=url, events=addrs.events, snapshots=addrs.snapshots,
              record=_without_password(redis_url) if redis_url else None)

    gateway = server.Server(server.config(app, args.host, port), on_started=started)
    try:
        gateway.run()
    finally:
        gc_policy.stop()
    return 0 if gateway.started else 1


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url
