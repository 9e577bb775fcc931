"""Supervised child processes: start, watch, restart with exponential backoff, stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Callable

from services.base.process import spawn

BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
STABLE_AFTER = 60.0  # a child that ran this long before exiting starts its backoff afresh


class Child:
    """One `aurora` subcommand in its own process. `env` is called at every start (fresh credentials)."""

    def __init__(self, name: str, argv: list[str], env: Callable[[], dict[str, str]] | None = None,
                 say: Callable[[str], None] = print):
        self.name, self.argv, self.env, self.say = name, argv, env, say
        self.proc: subprocess.Popen | None = None
        self.delay = BACKOFF_MIN
        self.restart_at = 0.0
        self.started = 0.0
        self.started_at = 0.0  # wall clock, for `aurora status`
        self.restarts = 0
        self.resting_until: float | None = None  # taking turns (services/supervisor/turns.py): wall clock

    def start(self) -> None:
        env = self.env() if self.env else None
        self.proc = spawn([sys.executable, "-m", "services.cli", *self.argv], env=env)
        self.started = time.monotonic()
        self.started_at = time.time()
        self.say(f"aurora: {self.name} started (pid {self.proc.pid})")

    def check(self, now: float) -> None:
        """Restart a child that exited, waiting longer after each quick crash (not one resting its turn)."""
        if self.proc is None or self.running or self.resting_until is not None:
            return
        if not self.restart_at:
            if now - self.started > STABLE_AFTER:
                self.delay = BACKOFF_MIN
            self.restart_at = now + self.delay
            self.say(f"aurora: {self.name} exited with {self.proc.returncode}; restarting in {self.delay:.1f}s")
            self.delay = min(self.delay * 2, BACKOFF_MAX)
        elif now >= self.restart_at:
            self.restart_at = 0.0
            self.restarts += 1
            self.start()

    def state(self) -> dict:
        """What `aurora status` shows of this child (services/supervisor/state.py)."""
        return {"name": self.name, "pid": self.proc.pid if self.proc else None, "running": self.running,
                "started_at": self.started_at, "restarts": self.restarts, "waiting_until": self.resting_until}

    def rest(self) -> None:
        """Its turn is over (until `resting_until`, which the studio state file tells it first): SIGUSR1 asks
        it to finish its decision, say until when it waits, and exit."""
        assert self.resting_until is not None
        if self.running:
            self.proc.send_signal(signal.SIGUSR1)
        self.say(f"aurora: {self.name} rests until {time.strftime('%H:%M:%S', time.localtime(self.resting_until))}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wake(self) -> None:
        self.resting_until = None
        self.restart_at, self.delay = 0.0, BACKOFF_MIN
        self.start()

    def terminate(self) -> None:
        if self.running:
            self.proc.terminate()

    def wait(self, timeout: float) -> None:
        if self.proc:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.say(f"aurora: {self.name} did not stop in {timeout:.0f}s; killing it")
                self.proc.kill()
                self.proc.wait()
