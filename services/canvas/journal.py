"""What the canvas has applied but the recorder has not yet confirmed, and what waits on it (PROTOCOL.md 11).

Durable: an event is *committed* once the recorder says it is stored (`recorded` with a seq at or past it).
Until then its PUB frames are held, and so is every reply that shows its effect (a `result`, a `welcome`, a
`snapshot`): an agent never sees an op applied that a crash could still take back, and a viewer never sees
an event that the record might not hold. Events go to the recorder in batches, one per wake-up of the
service loop (`take_unsent`), and are kept until committed, so a recorder that restarts, or that finds a gap,
gets them again (`resend_after`). Memory stays bounded without a limit of its own: each agent has at most one
decision in flight, and its next one waits for this one's reply.

Volatile (`aurora canvas --volatile`, for tests and benchmarks of the canvas alone): everything is committed
at once and nothing is held.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Held:
    seq: int                      # committed at or past this, `release` runs
    release: Callable[[], None]
    since: float
    route: bytes | None = None    # the agent waiting, told to wait if it takes long
    parent_id: str | None = None
    told: bool = False


@dataclass
class Journal:
    durable: bool
    publish: Callable[[list[bytes]], None]
    committed: int = 0
    pending: deque = field(default_factory=deque)   # (seq, frames, record item) applied, not yet committed
    unsent: list = field(default_factory=list)      # record items (proto.events.record_item) not yet sent
    held: deque = field(default_factory=deque)      # Held, in seq order

    def add(self, seq: int, frames: list[bytes], item: Callable[[], list]) -> None:
        """An event the studio just applied; `item()` makes its record item (only a durable journal asks)."""
        if not self.durable:
            self.committed = seq
            self.publish(frames)
            return
        record = item()
        self.pending.append((seq, frames, record))
        self.unsent.append(record)

    def hold(self, item: Held) -> None:
        """Release now if its seq is committed, else when it is."""
        if item.seq <= self.committed:
            item.release()
        else:
            self.held.append(item)

    def take_unsent(self) -> list[bytes]:
        out, self.unsent = self.unsent, []
        return out

    def resend_after(self, seq: int) -> None:
        """The recorder holds everything up to `seq`: send the rest again, from there."""
        self.unsent = [record for s, _, record in self.pending if s > seq]

    def commit(self, seq: int) -> None:
        """The recorder has stored everything up to `seq`: publish those events and release what waited."""
        if seq <= self.committed:
            return
        self.committed = seq
        while self.pending and self.pending[0][0] <= seq:
            self.publish(self.pending.popleft()[1])
        while self.held and self.held[0].seq <= seq:
            self.held.popleft().release()

    def overdue(self, now: float, after: float) -> list[Held]:
        """Held replies older than `after` seconds whose agent has not yet been told to wait (marked told)."""
        out = []
        for item in self.held:
            if item.route is not None and not item.told and now - item.since >= after:
                item.told = True
                out.append(item)
        return out

    @property
    def backlog(self) -> int:
        return len(self.pending)
