"""Turns: when the roster does not fit the machine at once, who is awake now and who wakes next.

Every `every` seconds the agents that have waited longest take the place of those awake longest, as many as
fit (services/supervisor/plan.py says what fits). Ties go by roster order, so a roster of equal agents wakes in
groups, round and round. Pure bookkeeping on a clock given to it: the supervisor does the stopping and
starting, and asks here when a resting agent will wake (it tells the agent, who says so in the record).
"""

from __future__ import annotations

import copy
import math

from services.supervisor.plan import Machine, Need, choose


class Turns:
    def __init__(self, needs: list[Need], machine: Machine, every: float, now: float):
        self.needs, self.machine, self.every = list(needs), machine, every
        self.index = {n.name: i for i, n in enumerate(self.needs)}
        self.since = {n.name: now for n in self.needs}  # when each agent last woke or went to rest
        self.awake: set[str] = set(choose(self.needs, machine))
        self.taking_turns = len(self.awake) < len(self.needs)
        self.next_at = now + every if self.taking_turns else math.inf

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def rotate(self, now: float) -> tuple[list[str], list[str]]:
        """The turn changes: (agents to rest, agents to wake), each in roster order."""
        waiting = sorted((n for n in self.needs if n.name not in self.awake),
                         key=lambda n: (self.since[n.name], self.index[n.name]))
        # Of those awake, the most recently woken keep their place first; the longest awake give theirs up.
        awake = sorted((n for n in self.needs if n.name in self.awake),
                       key=lambda n: (-self.since[n.name], self.index[n.name]))
        chosen = set(choose(waiting + awake, self.machine))
        rest = [n.name for n in self.needs if n.name in self.awake - chosen]
        wake = [n.name for n in self.needs if n.name in chosen - self.awake]
        for name in rest + wake:
            self.since[name] = now
        self.awake = chosen
        self.next_at = now + self.every
        return rest, wake

    def begin(self, now: float) -> None:
        """The turn that changed has its agents painting now: it runs `every` from here (when there are turns)."""
        if self.taking_turns:
            self.next_at = now + self.every

    def wakes_at(self, name: str) -> float:
        """When a resting agent will wake if nothing changes (its until); now-ish for one awake."""
        if name in self.awake:
            return self.since[name]
        ahead = copy.deepcopy(self)
        for _ in range(len(self.needs)):
            at = ahead.next_at
            ahead.rotate(at)
            if name in ahead.awake:
                return at
        return math.inf  # cannot happen while every agent fits alone (plan.check)

    def schedule(self, start: float, turns: int) -> list[tuple[float, list[str]]]:
        """The next `turns` turns from `start`: (when, who is awake), for `aurora up --plan`."""
        ahead = copy.deepcopy(self)
        out = [(start, [n.name for n in self.needs if n.name in ahead.awake])]
        for _ in range(turns - 1):
            at = ahead.next_at
            ahead.rotate(at)
            out.append((at, [n.name for n in self.needs if n.name in ahead.awake]))
        return out

    def round(self, start: float) -> list[tuple[float, list[str]]]:
        """The turns from `start` until the first one's agents are all awake again (that turn included), for
        `aurora up --plan`; the schedule of every agent's first turn when they never are."""
        if not self.taking_turns:
            return self.schedule(start, 1)
        shown = self.schedule(start, len(self.needs) + 1)
        first = set(shown[0][1])
        return next((shown[:i + 1] for i, (_, awake) in enumerate(shown[1:], 1) if set(awake) == first), shown)
