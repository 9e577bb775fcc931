"""`aurora grant`: the studio's Redis ACL users, for a studio that `aurora up` does not run (docker compose).

`aurora up` gives each agent its own ACL user, which can touch only its memory bank (services/agent/memory.py),
and the gateway the record's read-only user (services/recorder/archive.py), with fresh passwords at every start.
Under docker compose each service is a container whose environment is fixed when it is made, so there the
passwords come from the environment: AURORA_MEMORY_PASSWORD_<AGENT> (the name in capitals, `-` as `_`) and
AURORA_READER_PASSWORD. This command makes the users, with the same rules, and those passwords.

ACL users live in the server's memory, not in its append-only file: a Redis that restarts has lost them. With
--keep, the command stays up and makes them again whenever they are gone or their password no longer matches.
Given no password for an agent (by hand, outside compose), it makes a fresh one and prints the URL to give it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import sys
import threading
from typing import Callable

import redis

from services.agent import memory
from services.base.log import event, setup
from services.base.redis_server import url_with_credentials
from services.recorder import archive

log = logging.getLogger("aurora.grant")
READER_PASSWORD_ENV = "AURORA_READER_PASSWORD"


def password_env(agent: str) -> str:
    return "AURORA_MEMORY_PASSWORD_" + agent.upper().replace("-", "_")


def add_parser(sub) -> None:
    p = sub.add_parser("grant", help="make the agents' and the gateway's Redis users (for docker compose)")
    p.add_argument("agents", nargs="*", metavar="AGENT", help="agents whose memory-bank user to make")
    p.add_argument("--reader", action="store_true", help=f"also the record's read-only user `{archive.READER}`, "
                                                          f"password from {READER_PASSWORD_ENV}")
    p.add_argument("--redis-url", default=None, help="the admin URL (default: env REDIS_URL)")
    p.add_argument("--keep", type=float, default=0, metavar="SECONDS",
                   help="stay up, and make the users again within SECONDS of their loss (a Redis restart)")
    p.add_argument("--check", action="store_true",
                   help="make nothing: exit 0 if every user logs in with its password from the environment")
    p.set_defaults(run=run)


class Users:
    """The users to keep: (ACL user, password from the environment or None, how to make it)."""

    def __init__(self, agents: list[str], reader: bool):
        self.wanted: list[tuple[str, str | None, Callable[[redis.Redis], str]]] = []
        seen: dict[str, str] = {}
        for agent in agents:
            user = memory.user_name(agent)  # raises ValueError for a bad name
            var = password_env(agent)
            if var in seen:
                raise ValueError(f"agents {seen[var]!r} and {agent!r} would share the variable {var}")
            seen[var] = agent
            self.wanted.append((user, os.environ.get(var) or None, lambda admin, a=agent: memory.grant(admin, a)))
        if reader:
            self.wanted.append((archive.READER, os.environ.get(READER_PASSWORD_ENV) or None, archive.grant_reader))

    def missing_passwords(self) -> list[str]:
        return [user for user, password, _ in self.wanted if password is None]


def grant(admin: redis.Redis, user: str, password: str | None, make) -> str:
    """Make `user` with its rules (what `aurora up` grants) and `password`, or a fresh one; return the password.
    One transaction: no client can log in between the rules and the password."""
    with admin.pipeline(transaction=True) as p:
        fresh = make(p)
        if password is not None:
            p.execute_command("ACL", "SETUSER", user, "resetpass", f">{password}")
        p.execute()
    return password or fresh


def in_place(admin: redis.Redis, user: str, password: str) -> bool:
    """Whether `user` exists with `password` (Redis keeps the SHA-256 of each password)."""
    found = admin.execute_command("ACL", "GETUSER", user)
    if not found:
        return False
    return hashlib.sha256(password.encode()).hexdigest().encode() in found[b"passwords"]


def run(args: argparse.Namespace) -> int:
    setup("aurora.grant")
    try:
        users = Users(args.agents, args.reader)
    except ValueError as exc:
        print(f"aurora grant: {exc}", file=sys.stderr)
        return 2
    if not users.wanted:
        print("aurora grant: name at least one agent, or --reader", file=sys.stderr)
        return 2
    url = args.redis_url or os.environ.get("REDIS_URL")
    if args.check:
        return _check(url, users)
    if not url:
        print("aurora grant: no Redis: set REDIS_URL (the admin URL) or pass --redis-url", file=sys.stderr)
        return 2
    if args.keep and users.missing_passwords():
        print(f"aurora grant: --keep needs every password in the environment; missing for "
              f"{', '.join(users.missing_passwords())}", file=sys.stderr)
        return 2
    admin = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        for user, password, make in users.wanted:  # at start, always: the rules may be newer than the server's
            fresh = grant(admin, user, password, make)
            if password is None:
                print(f"{user}: {url_with_credentials(url, user, fresh)}", flush=True)
        print(f"aurora grant: {', '.join(u for u, _, _ in users.wanted)} granted", flush=True)
    except redis.RedisError as exc:
        print(f"aurora grant: cannot grant: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.keep:
        _keep(admin, users, args.keep)
    admin.close()
    return 0


def _keep(admin: redis.Redis, users: Users, every: float) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    failing = None
    while not stop.wait(every):
        try:
            for user, password, make in users.wanted:
                if not in_place(admin, user, password):
                    grant(admin, user, password, make)
                    print(f"aurora grant: {user} granted again (Redis restarted, or its password was changed)",
                          flush=True)
            if failing is not None:
                event(log, logging.WARNING, "Redis answers again", was=failing)
                failing = None
        except redis.RedisError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if reason != failing:  # once per outage: it is checked again every few seconds
                event(log, logging.ERROR, "cannot check the users; Redis does not answer", reason=reason)
                failing = reason


def _check(url: str | None, users: Users) -> int:
    if not url:
        print("aurora grant --check: no Redis: set REDIS_URL or pass --redis-url", file=sys.stderr)
        return 2
    bad = []
    for user, password, _ in users.wanted:
        if password is None:
            bad.append(f"{user} (no password in the environment)")
            continue
        client = redis.Redis.from_url(url_with_credentials(url, user, password), socket_timeout=3,
                                      socket_connect_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            bad.append(f"{user} ({type(exc).__name__}: {exc})")
        finally:
            client.close()
    if bad:
        print(f"aurora grant: cannot log in as {', '.join(bad)}", flush=True)
        return 1
    print(f"aurora grant: {', '.join(u for u, _, _ in users.wanted)} log in", flush=True)
    return 0
