"""Turns applied to the agents' processes: the leaving rest first (their memory freed), then the coming wake.

A resting agent is told until when it waits (in the studio state file, read by the agent on SIGUSR1), finishes
the decision under way, says so in the record (`status` waiting, with `until`) and exits; one that does not
go within GRACE seconds is stopped, then killed. Only when every leaving process is gone do the next start, so
the machine never holds more models than the plan allows.
"""

from __future__ import annotations

import time
from typing import Callable

from services.supervisor.children import Child
from services.supervisor.turns import Turns

GRACE = 60.0  # seconds a resting agent has to finish its decision (a dream takes longest) before SIGTERM
TERM_GRACE = 15.0  # and then before SIGKILL
READY_LIMIT = 180.0  # seconds the waking agents may take to load their models before their turn runs anyway


class Rotation:
    def __init__(self, turns: Turns, agents: dict[str, Child], publish: Callable[[], None],
                 say: Callable[[str], None] = print, ready_at: Callable[[str], float | None] = lambda name: None):
        self.turns, self.agents, self.publish, self.say = turns, agents, publish, say
        self.ready_at = ready_at  # when an agent last said it had loaded its model (services/supervisor/state.py)
        self._changing: tuple[list[str], list[str]] | None = None  # (resting, waking) while a turn changes
        self._deadline = 0.0
        self._stage = 0  # 0 asked to rest, 1 terminated, 2 killed
        # (agents, since): the agents of a turn started at `since`, whose turn runs once they are ready
        self._starting: tuple[list[str], float] | None = (sorted(turns.awake), time.time()) if turns.taking_turns \
            else None
        self._set_untils()

    def awake(self) -> list[Child]:
        """The agents that start with the studio."""
        return [child for name, child in self.agents.items() if name in self.turns.awake]

    def _set_untils(self) -> None:
        for name, child in self.agents.items():
            if name not in self.turns.awake:
                child.resting_until = self.turns.wakes_at(name)

    def tick(self) -> None:
        if self._starting is not None:
            self._begin_when_ready(*self._starting)
            return
        if self._changing is None:
            if not self.turns.due(time.time()):
                return
            resting, waking = self.turns.rotate(time.time())
            self._set_untils()
            self.publish()  # the state file holds each resting agent's until before it is asked to rest
            for name in resting:
                self.agents[name].rest()
            self._changing, self._stage = (resting, waking), 0
            self._deadline = time.monotonic() + GRACE
            return
        resting, waking = self._changing
        leaving = [self.agents[name] for name in resting if self.agents[name].running]
        if not leaving:
            for name in waking:
                self.agents[name].wake()
            self._changing = None
            self._starting = (waking, time.time())
            return
        if time.monotonic() < self._deadline:
            return
        for child in leaving:
            if self._stage == 0:
                self.say(f"aurora: {child.name} did not rest within {GRACE:.0f}s; stopping it")
                child.terminate()
            else:
                self.say(f"aurora: {child.name} did not stop; killing it")
                child.proc.kill()
        self._stage += 1
        self._deadline = time.monotonic() + TERM_GRACE

    def _begin_when_ready(self, waking: list[str], since: float) -> None:
        """The turn runs from when its agents have loaded their models and paint, not from when they were started
        or the last ones were asked to go (a model loads slowly on a busy machine, a dream can take a while): a
        turn is painting time. After READY_LIMIT it runs anyway. The resting learn their later until."""
        now = time.time()
        ready = all((self.ready_at(name) or 0.0) >= since for name in waking)
        if not ready and now - since < READY_LIMIT:
            return
        if not ready:
            self.say(f"aurora: {', '.join(waking)} not ready after {READY_LIMIT:.0f}s; their turn runs from now")
        self._starting = None
        self.turns.begin(now)
        self._set_untils()
        self.publish()
