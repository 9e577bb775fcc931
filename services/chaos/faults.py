"""The faults `aurora chaos` deals a studio running under `aurora up`, and the processes they hit.

A fault is a SIGKILL, or once per run a SIGSTOP held for twice the heartbeat liveness (proto/heartbeat.py) and
then a SIGCONT. Its target is one part of the studio: the canvas, the recorder, the embedded Redis (valkey, a
child of `aurora up` that studio.json does not list), the gateway, the LLM agent, or a scripted agent. The
plan is drawn from the seed: every kind is killed at least once, in a shuffled order, each fault at a random
moment of its own slice of the window.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from proto.heartbeat import INTERVAL, LIVENESS
from services.supervisor import state

KINDS = ("canvas", "recorder", "redis", "gateway", "agent", "scripted agent")
STOP_FOR = 2 * INTERVAL * LIVENESS  # seconds a stopped part stays stopped: its peers count it missing
SECONDS_PER_FAULT = 25.0            # a longer window gets more faults than one per kind


@dataclass
class Fault:
    at: float     # seconds into the window, at the earliest (the studio must have recovered from the last one)
    kind: str     # one of KINDS
    signal: str   # "SIGKILL" or "SIGSTOP"

    def __str__(self) -> str:
        return f"{self.signal} {self.kind}"


def plan(rng: random.Random, seconds: float) -> list[Fault]:
    """Every kind killed once (shuffled), more kills drawn at random for a longer window, one stop among them."""
    count = max(len(KINDS) + 1, int(seconds / SECONDS_PER_FAULT))
    kinds = list(KINDS)
    rng.shuffle(kinds)
    kinds += [rng.choice(KINDS) for _ in range(count - 1 - len(kinds))]
    signals = ["SIGKILL"] * len(kinds)
    where = rng.randrange(count)
    kinds.insert(where, rng.choice(KINDS))
    signals.insert(where, "SIGSTOP")
    return [Fault(seconds * (i + rng.random()) / count, kind, sig) for i, (kind, sig) in enumerate(zip(kinds, signals))]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state first), or None when there is no such pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int | None) -> bool:
    """Alive and neither a zombie nor stopped."""
    fields = _stat(pid) if pid else None
    return fields is not None and fields[0] not in ("Z", "X", "T", "t")


class Parts:
    """The processes of one `aurora up` (its pid, its data folder): where each part runs now."""

    def __init__(self, up_pid: int, folder: Path):
        self.up_pid, self.folder = up_pid, folder

    def pids(self) -> dict[str, int | None]:
        """Each child's name (as `aurora status` says it) and pid, and `redis`."""
        found = state.read(self.folder) or {}
        parts = {child["name"]: child.get("pid") for child in found.get("children", [])}
        parts["redis"] = self.redis_pid()
        return parts

    def redis_pid(self) -> int | None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[1] == str(self.up_pid):
                try:
                    comm = (entry / "comm").read_text()
                except OSError:
                    continue
                if "valkey" in comm or "redis" in comm:
                    return int(entry.name)
        return None

    def not_running(self) -> list[str]:
        """The parts not running now: empty when all are, all before `aurora up` has listed them (studio.json)."""
        parts = self.pids()
        if len(parts) == 1:  # `redis` only
            return ["every part"]
        return [name for name, pid in parts.items() if not running(pid)]

    def target(self, kind: str, rng: random.Random) -> tuple[str, int]:
        """(name, pid) of the part a fault of `kind` hits now."""
        parts = self.pids()
        names = sorted(name for name in parts if _is(kind, name) and running(parts[name]))
        if not names:
            raise RuntimeError(f"no running {kind} to hit (parts: {parts})")
        name = rng.choice(names)
        return name, parts[name]

    def leftovers(self) -> list[str]:
        """Every process still alive (not a zombie) whose environment names this studio's data folder: the
        studio's own processes and any they started, however they were started."""
        marker = f"AURORA_DATA={self.folder}".encode()
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            fields = _stat(int(entry.name))
            if marker in environ.split(b"\0") and fields is not None and fields[0] not in ("Z", "X"):
                out.append(f"pid {entry.name}: {cmdline[:120]}")
        return out


def _is(kind: str, name: str) -> bool:
    if kind == "agent":
        return name.startswith("agent ")
    if kind == "scripted agent":
        return name.startswith("scripted-")
    return name == kind


def deal(fault: Fault, name: str, pid: int, say) -> None:
    """SIGKILL the part, or SIGSTOP it for STOP_FOR seconds and SIGCONT it."""
    if fault.signal == "SIGKILL":
        os.kill(pid, signal.SIGKILL)
        say(f"SIGKILL {name} (pid {pid})")
        return
    os.kill(pid, signal.SIGSTOP)
    say(f"SIGSTOP {name} (pid {pid}) for {STOP_FOR:.0f} s")
    try:
        time.sleep(STOP_FOR)  # the fault is the stop's length: longer than its peers' liveness
    finally:
        os.kill(pid, signal.SIGCONT)
    say(f"SIGCONT {name} (pid {pid})")
