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


class Rotation:
    def __init__(self, turns: Turns, agents: dict[str, Child], publish: Callable[[], None],
                 say: Callable[[str], None] = print):
        self.turns, self.agents, self.publish, self.say = turns, agents, publish, say
        self._changing: tuple[list[str], list[str]] | None = None  # (resting, waking) while a turn changes
        self._deadline = 0.0
        self._stage = 0  # 0 asked to rest, 1 terminated, 2 killed
        self._set_untils()

    def awake(self) -> list[Child]:
        """The agents that start with the studio."""
        return [child for name, child in self.agents.items() if name in self.turns.awake]

    def _set_untils(self) -> None:
        for name, child in self.agents.items():
            if name not in self.turns.awake:
                child.resting_until = self.turns.wakes_at(name)

    def tick(self) -> None:
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
            # The turn runs from when its agents start, not from when the last ones were asked to go (a
            # dream can take a while to finish); the resting learn their later until.
            self.turns.begin(time.time())
            self._set_untils()
            self.publish()
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
