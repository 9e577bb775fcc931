"""Spending limits for one agent: tokens per hour and decisions per minute, over sliding windows.

When a limit is spent the agent rests until enough of the window has expired for its next decision, and
then goes on by itself; `state()` says whether it rests, why, and until when (wall-clock, so the time can
be shown and survive a restart). A limit of None means unlimited.
"""

from __future__ import annotations

import time
from collections import deque

HOUR, MINUTE = 3600.0, 60.0


class Budget:
    def __init__(self, tokens_per_hour: int | None, decisions_per_minute: int | None, clock=time.time):
        self.tokens_per_hour = tokens_per_hour
        self.decisions_per_minute = decisions_per_minute
        for limit in (tokens_per_hour, decisions_per_minute):
            if limit is not None and limit <= 0:
                raise ValueError(f"a limit must be positive or None (unlimited), not {limit}")
        self.clock = clock
        self.tokens: deque[tuple[float, int]] = deque()     # (time, tokens) within the last hour
        self.decisions: deque[tuple[float, int]] = deque()  # (time, decisions) within the last minute

    def _expire(self, now: float) -> None:
        for window, span in ((self.tokens, HOUR), (self.decisions, MINUTE)):
            while window and window[0][0] + span <= now:  # the same sum as `until`: exact at it
                window.popleft()

    def charge(self, tokens: int, decisions: int = 1) -> None:
        """Record a decision (after it was made) and the tokens it cost; either may be 0 (a generation
        that is not a decision, such as a dream, still costs tokens)."""
        now = self.clock()
        self._expire(now)
        for window, amount in ((self.tokens, int(tokens)), (self.decisions, int(decisions))):
            if amount > 0:  # zeros would only lengthen the windows
                window.append((now, amount))

    @staticmethod
    def _until(window: deque, span: float, limit: int | None) -> float | None:
        """When the window's total drops below the limit again; None if it is below it now."""
        total = sum(n for _, n in window)
        if limit is None or total < limit:
            return None
        for t, n in window:  # oldest first: the time the entry that brings the total under expires
            total -= n
            if total < limit:
                return t + span
        return None  # not reached: limits are positive

    def state(self) -> dict:
        now = self.clock()
        self._expire(now)
        by_tokens = self._until(self.tokens, HOUR, self.tokens_per_hour)
        by_decisions = self._until(self.decisions, MINUTE, self.decisions_per_minute)
        waits = [(u, r) for u, r in ((by_tokens, "tokens_per_hour"), (by_decisions, "decisions_per_minute"))
                 if u is not None]
        until, reason = max(waits) if waits else (None, None)  # both limits must allow the next decision
        return {"resting": until is not None, "until": until, "reason": reason,
                "tokens_last_hour": sum(n for _, n in self.tokens),
                "decisions_last_minute": sum(n for _, n in self.decisions)}

    def resting_until(self) -> float | None:
        return self.state()["until"]

    # Persistence: entries merged into buckets stamped with their newest time, so the saved state stays
    # small (at most ~60 token buckets) and errs towards resting a little longer, never overspending.
    def to_dict(self) -> dict:
        def buckets(window: deque, width: float) -> list[list[float]]:
            out: list[list[float]] = []
            for t, n in window:
                if out and t - out[-1][2] < width:
                    out[-1][0], out[-1][1] = t, out[-1][1] + n
                else:
                    out.append([t, n, t])  # newest time, total, bucket start
            return [[t, n] for t, n, _ in out]

        self._expire(self.clock())
        return {"tokens": buckets(self.tokens, MINUTE), "decisions": buckets(self.decisions, 1.0)}

    @classmethod
    def from_dict(cls, data: dict | None, tokens_per_hour: int | None, decisions_per_minute: int | None,
                  clock=time.time) -> "Budget":
        budget = cls(tokens_per_hour, decisions_per_minute, clock)
        for name in ("tokens", "decisions"):
            for t, n in sorted((data or {}).get(name, [])):
                getattr(budget, name).append((float(t), int(n)))
        budget._expire(clock())
        return budget
