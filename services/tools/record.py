"""The record the tools read (`aurora replay`, `aurora export`): which Redis holds it, and opening it.

REDIS_URL if set; else the studio's embedded server (data in <data>/redis): the running one, or one started
on that data for the duration of the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import redis

from services.base.datadir import data_dir
from services.base.redis_server import RedisUnavailable, add_port_argument, record_redis
from services.recorder import archive

MAKE_ONE = "the studio records as it runs: start it with `make up` (or `aurora up`)"


class NoRecord(Exception):
    """No record to read, or not one this reader knows; the message says what to do."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_port_argument(p, "port of the studio's embedded Redis, when REDIS_URL is not set")


@contextmanager
def open_record(args: argparse.Namespace) -> Iterator[redis.Redis]:
    """A client (bytes) for the Redis that holds the record; raises NoRecord if there is none."""
    url = os.environ.get("REDIS_URL")
    if url:
        with _client(url) as client:
            yield client
        return
    folder = data_dir(create=False) / "redis"
    if not (folder / "admin.pass").exists():
        raise NoRecord(f"no record: {folder} holds no Redis data; {MAKE_ONE}")
    with record_redis(folder, args.redis_port) as url, _client(url) as client:
        yield client


@contextmanager
def _client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    try:
        if archive.last_seq(client) == 0:  # not the events stream: retention may have moved all of it
            raise NoRecord(f"no record: the Redis holds no events; {MAKE_ONE}")
        found = archive.layout(client)
        if found != archive.LAYOUT:
            raise NoRecord(f"the record has storage layout {found or 'unknown'}; "
                           f"this reader knows layout {archive.LAYOUT}")
        yield client
    finally:
        client.close()


def run_with_record(command: str, args: argparse.Namespace, body: Callable[[redis.Redis], int]) -> int:
    """`body(client)`'s exit status, or 1 with the reason on stderr if the record cannot be read."""
    try:
        with open_record(args) as client:
            return body(client)
    except (NoRecord, RedisUnavailable) as exc:
        print(f"aurora {command}: {exc}", file=sys.stderr)
    except redis.exceptions.RedisError as exc:
        print(f"aurora {command}: the Redis failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


class CorruptReport:
    """An `on_corrupt` for the archive's readers: each corrupt entry on stderr, with its key and ID, counted."""

    def __init__(self, command: str):
        self.command = command
        self.count = 0

    def __call__(self, key: str, entry_id: str, reason: str) -> None:
        self.count += 1
        print(f"aurora {self.command}: skipped corrupt entry {key} {entry_id}: {reason}", file=sys.stderr)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
