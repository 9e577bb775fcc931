"""What `aurora soak` reads at each sample: every process's PSS (Linux /proc/<pid>/smaps_rollup), the Redis's
memory and the record's size, and each agent's decisions and rests so far.

The studio's processes are found from what `aurora up` prints ("aurora: NAME started (pid N)"), so a child
that the supervisor restarts is followed under its new pid; "aurora: NAME exited with CODE" is a death.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import redis

from services.bench.children import smaps_rollup
from services.bench.studio_bench import Studio
from services.base.redis_server import EmbeddedRedis
from services.recorder import archive

STARTED = re.compile(r"aurora: (.+) started \(pid (\d+)\)$")
EXITED = re.compile(r"aurora: (.+) exited with (-?\d+);")
SUPERVISOR, REDIS = "supervisor", "redis"
MB = 1024 * 1024


@dataclass(frozen=True)
class Memory:
    pid: int
    pss_mb: float   # the process's proportional share of every page it maps
    anon_mb: float  # of which anonymous (heap, KV cache): what a leak grows (services/bench/soak_judge.py)


@dataclass(frozen=True)
class RedisSize:
    used_memory: int  # bytes, INFO memory
    keys: int         # DBSIZE: the record's keys and the agents' banks
    stream: int       # entries in the events stream now (XLEN)
    recorded: int     # events stored since the studio began (the recorder's last seq)


@dataclass
class Sample:
    t: float   # seconds since the first sample
    at: float  # Unix time
    memory: dict[str, Memory] = field(default_factory=dict)  # by process name; a process gone is absent
    redis: RedisSize | None = None                          # None: Redis did not answer
    decisions: dict[str, int] = field(default_factory=dict)  # each agent's decisions since the studio began
    resting: dict[str, bool] = field(default_factory=dict)   # rested by its budget since the sample before


@dataclass(frozen=True)
class Death:
    name: str
    code: int
    at: float  # Unix time the supervisor said so


def memory_of(pid: int) -> Memory | None:
    """A process's PSS now, or None if it is gone (or a zombie, whose rollup is empty)."""
    try:
        kb = smaps_rollup(pid)
    except OSError:
        return None
    if not kb["Pss"]:
        return None
    return Memory(pid, kb["Pss"] / 1024, (kb["Pss_Anon"] or kb["Pss"]) / 1024)  # no Pss_Anon: a kernel before 5.4


def children(said: list[str]) -> dict[str, int]:
    """The supervisor's children now, by name: the pid of each one's latest start."""
    return {m.group(1): int(m.group(2)) for m in map(STARTED.match, said) if m}


def deaths(said: list[str], said_at: list[float]) -> list[Death]:
    return [Death(m.group(1), int(m.group(2)), at) for m, at in zip(map(EXITED.match, said), said_at) if m]


class Sampler:
    """Reads one running `Studio` (services/bench/studio_bench.py)."""

    def __init__(self, studio: Studio):
        self.studio = studio
        url = EmbeddedRedis(studio.folder / "redis", studio.redis_port).url  # the supervisor's admin URL
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.began = self.last = time.time()

    def sample(self) -> Sample:
        now = time.time()
        size, redis_pid = self._redis()
        with self.studio.lock:
            pids = {SUPERVISOR: self.studio.proc.pid, **children(self.studio.said)}
            agents = self.studio.agents.values()
            decisions = {a.name: len(a.decisions) for a in agents}
            resting = {a.name: any(r["ts"] <= now and (r.get("until") or 0) >= self.last for r in a.rests)
                       for a in agents}
        self.last = now
        if redis_pid:
            pids[REDIS] = redis_pid
        memory = {name: m for name, pid in pids.items() if (m := memory_of(pid)) is not None}
        return Sample(now - self.began, now, memory, size, decisions, resting)

    def _redis(self) -> tuple[RedisSize | None, int | None]:
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.info("memory").info("server").dbsize().xlen(archive.EVENTS).hget(archive.RECORDER, "seq")
            memory, server, keys, stream, seq = pipe.execute()
        except redis.RedisError:
            return None, None
        return RedisSize(memory["used_memory"], keys, stream, int(seq or 0)), server.get("process_id")

    def close(self) -> None:
        self.redis.close()
