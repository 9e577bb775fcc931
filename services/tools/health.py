"""`aurora health PART`: exit 0 when that part of the studio serves, 1 when it does not, with one line saying why.

The healthchecks of docker-compose.yml run these (each inside its own service's container, with its
environment), and anyone can ask the same question by hand. Every check asks the running service itself and
changes nothing: the canvas and an agent are seen through a snapshot request, as a late-joining viewer sees
them; the gateway through its /healthz; the recorder's Redis through PING and INFO.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request

import redis

from services.base import addresses, curve
from services.tools.canvas_view import snapshot

GATEWAY_PORT_ENV, GATEWAY_DEFAULT_PORT = "AURORA_GATEWAY_PORT", 8080  # as `aurora gateway` reads them


def add_parser(sub) -> None:
    p = sub.add_parser("health", help="check that one part of the studio serves (exit 0), for healthchecks")
    parts = p.add_subparsers(dest="part", metavar="PART", required=True)

    canvas = parts.add_parser("canvas", help="the canvas answers a snapshot request: it serves (a canvas that has "
                                             "just started serves only once a recorder has said hello)")
    agent = parts.add_parser("agent", help="the canvas counts this agent live (it has said hello and beats)")
    agent.add_argument("name", help="the agent's name")
    for q in (canvas, agent):
        addresses.add_arguments(q)
        curve.add_client_arguments(q)
        q.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the snapshot (default 3)")

    recorder = parts.add_parser("recorder", help="the recorder can store: its Redis (REDIS_URL) answers and takes "
                                                 "writes (its link to the canvas shows in `aurora health canvas`)")
    recorder.add_argument("--redis-url", default=None, help="default: env REDIS_URL, as `aurora recorder` reads it")
    recorder.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")

    gateway = parts.add_parser("gateway", help="the gateway's /healthz answers 200: its replica of the studio "
                                               "has synced")
    gateway.add_argument("--url", default=None,
                         help=f"the gateway's address (default http://127.0.0.1:${GATEWAY_PORT_ENV}, "
                              f"{GATEWAY_DEFAULT_PORT} where unset)")
    gateway.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check = {"canvas": _canvas, "agent": _agent, "recorder": _recorder, "gateway": _gateway}[args.part]
    healthy, line = check(args)
    print(f"{args.part}: {line}", flush=True)
    return 0 if healthy else 1


def _canvas(args: argparse.Namespace) -> tuple[bool, str]:
    try:
        replica = snapshot(args, "health", sender="health")
    except TimeoutError as exc:
        return False, f"{exc} (a canvas serves only once a recorder has said hello)"
    return True, f"serving at seq {replica.seq}, {len(replica.canvases)} canvas(es)"


def _agent(args: argparse.Namespace) -> tuple[bool, str]:
    try:
        replica = snapshot(args, "health", sender="health")
    except TimeoutError as exc:
        return False, str(exc)
    status = replica.status.get(args.name)
    if status != "live":
        return False, f"{args.name} is {status or 'unknown to the canvas'}, not live"
    return True, f"{args.name} is live, {replica.canvases[args.name].ops} ops applied"


def _recorder(args: argparse.Namespace) -> tuple[bool, str]:
    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        return False, "no Redis to check: set REDIS_URL or pass --redis-url"
    client = redis.Redis.from_url(url, socket_timeout=args.timeout, socket_connect_timeout=args.timeout)
    try:
        client.ping()
        persistence = client.info("persistence")
    except (redis.RedisError, ValueError) as exc:
        return False, f"Redis does not answer: {type(exc).__name__}: {exc}"
    finally:
        client.close()
    # A server that could not write its append-only file or its last snapshot refuses writes: the recorder
    # would hold every batch, and the canvas every reply.
    for field in ("aof_last_write_status", "rdb_last_bgsave_status"):
        if persistence.get(field, "ok") != "ok":
            return False, f"Redis refuses writes ({field}: {persistence[field]}); check its disk"
    return True, "Redis answers and takes writes"


def _gateway(args: argparse.Namespace) -> tuple[bool, str]:
    base = args.url or f"http://127.0.0.1:{os.environ.get(GATEWAY_PORT_ENV) or GATEWAY_DEFAULT_PORT}"
    url = base.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as reply:
            body = json.load(reply)
    except urllib.error.HTTPError as exc:  # 503: the body says what is wrong
        try:
            body = json.load(exc)
        except ValueError:
            body = {}
        return False, f"{url} answered {exc.code}: {body.get('status', 'no status')}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{url} does not answer: {exc}"
    return True, f"{body.get('status')} at seq {body.get('seq')}, record {body.get('record')}, " \
                 f"{body.get('viewers')} viewer(s)"
