"""`aurora up`: start the studio's processes, restart one that crashes (with backoff), stop all on Ctrl-C.

For now the studio is the canvas service, and optionally scripted (non-LLM) load agents; the LLM agents,
recorder and gateway join as their issues land.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from services.base import addresses

BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0


class Child:
    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv = name, argv
        self.proc: subprocess.Popen | None = None
        self.delay = BACKOFF_MIN
        self.restart_at = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", *self.argv])
        self.started = time.monotonic()
        print(f"aurora: {self.name} started (pid {self.proc.pid})", flush=True)

    def check(self, now: float) -> None:
        """Restart a child that exited, waiting longer after each quick crash."""
        if self.proc is None or self.proc.poll() is None:
            return
        if not self.restart_at:
            if now - self.started > 60:
                self.delay = BACKOFF_MIN  # it ran a good while: start the backoff afresh
            self.restart_at = now + self.delay
            print(f"aurora: {self.name} exited with {self.proc.returncode}; restarting in {self.delay:.1f}s",
                  flush=True)
            self.delay = min(self.delay * 2, BACKOFF_MAX)
        elif now >= self.restart_at:
            self.restart_at = 0.0
            self.start()


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="start the whole studio (what `make up` runs)")
    addresses.add_arguments(p)
    p.add_argument("--scripted", type=int, default=0, metavar="N",
                   help="also run N scripted, non-LLM load agents (for trying the studio without models)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    addrs = addresses.from_args(args)
    addr_args = ["--agents", addrs.agents, "--events", addrs.events, "--snapshots", addrs.snapshots]
    children = [Child("canvas", ["canvas", *addr_args])]
    for i in range(args.scripted):
        children.append(Child(f"scripted-{i + 1}", ["scripted-agent", f"scripted-{i + 1}", "--seed", str(i),
                                                    "--pace", "0.5", "--done-every", "40", *addr_args]))
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    for child in children:
        child.start()
    print(f"Aurora studio is up (pid {os.getpid()}).\n"
          f"  agents connect to  {addrs.agents}\n"
          f"  events stream from {addrs.events} (snapshots at {addrs.snapshots})\n"
          f"  see every canvas:  aurora peek\n"
          f"Ctrl-C stops everything.", flush=True)
    while not stopping:
        now = time.monotonic()
        for child in children:
            child.check(now)
        time.sleep(0.2)  # the supervisor's own tick
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.terminate()
    for child in children:
        if child.proc:
            try:
                child.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.proc.kill()
    print("Aurora studio stopped.", flush=True)
    return 0
