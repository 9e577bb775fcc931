"""Limits the canvas enforces on each agent, whatever the agent keeps to itself (PROTOCOL.md section 7).

The salon's limits (how often an agent may post, reply, react) come from the same roster (`salon_board`).

Decisions per minute come from the roster the canvas was started with (`aurora canvas --roster`), the file the
studio's own agents read theirs from: an agent never tells the canvas its limit, so it cannot raise it. The window
is the agent's own (services/agent/budget.py: a sliding minute, a decision counted once made), and the canvas
counts a decision when it arrives, before the agent counts it: an agent that keeps to its budget is never refused.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from services.agent import roster
from services.salon.board import Board, SalonLimits

MINUTE = 60.0


class DecisionRate:
    def __init__(self, limits: dict[str, int] | None = None):
        self.limits = limits or {}  # agent name -> decisions per minute; an agent not named here is not limited
        self.recent: dict[str, deque[float]] = {}  # times of each limited agent's decisions in the last minute

    @classmethod
    def from_roster(cls, path: str | Path) -> "DecisionRate":
        """The limits of the roster at `path` (RosterError says what is wrong with it)."""
        return cls({spec.name: int(spec.budget["decisions_per_minute"]) for spec in roster.load(Path(path))
                    if spec.budget.get("decisions_per_minute")})

    def admit(self, agent: str, now: float) -> float | None:
        """Count a decision of `agent` arriving at `now` and return None; or, when its minute is spent, count
        nothing and return the seconds until its next decision is taken."""
        limit = self.limits.get(agent)
        if limit is None:
            return None
        times = self.recent.setdefault(agent, deque())
        while times and times[0] + MINUTE <= now:
            times.popleft()
        if len(times) >= limit:
            return times[0] + MINUTE - now
        times.append(now)
        return None


def salon_board(path: str | Path | None) -> Board:
    """The salon's board with each agent's limits from the roster at `path` (the defaults when None)."""
    if path is None:
        return Board()
    return Board({spec.name: SalonLimits.from_table(spec.salon) for spec in roster.load(Path(path))})
