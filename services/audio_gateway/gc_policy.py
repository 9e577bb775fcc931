"""The gateway process's garbage collection: long-lived objects are frozen, so collections walk only new ones.

Why. CPython's cyclic collector walks every object of the generations it collects, and nothing else runs
meanwhile (the GIL). A full (generation-2) collection of a gateway with 1,000 viewers walks all they hold
(connections, protocol state, tasks) besides the replica and the imported libraries: 100-180 ms on a 2-core
machine, during which no message is sent. CPython starts one whenever the objects that survived two young
collections since the last one reach a quarter of the old generation, and at tens of thousands of messages a
second enough of them survive that long in the viewers' queues (to be freed by reference counting just after)
to start one every few seconds, though the heap does not grow.

The policy, run by `GcPolicy` on the event loop:

- At start (the app serves): a full collection, then `gc.freeze()`: the imported code and the app move to the
  permanent generation, which no collection walks.
- Every `period` (1 s): `gc.collect()`, which now walks only what is not frozen (what was made since the last
  step and is still alive: ~2 ms at 1,000 viewers and 57,000 messages/s), then `gc.freeze()`. What survived is
  long-lived (a viewer that joined, its connection) and is not walked again. Cycles that died within the period
  are collected first, never frozen; acyclic garbage, the message churn, is freed by reference counting, frozen
  or not. CPython's own collections then only ever see the objects of one period.
- Bounded memory: a frozen object that later dies in a cycle (a departed viewer's connection) is not collected
  while it is frozen. So once the heap (frozen, and new) has grown by `growth` (half) since the last full
  collection, and that one is `min_interval` (a minute) old, a step thaws instead: `gc.unfreeze()`, one full
  collection (the long pause, ~150 ms at 1,000 viewers), `gc.freeze()`. The message churn does not grow the
  heap; new long-lived objects and dead cycles do, so the dead cycles kept stay under about half the live heap
  plus what dies in a minute, and the long pause comes at most once a minute and only after such growth (not
  every few seconds). The frozen objects are counted exactly (`gc.get_freeze_count` walks the list: ~15 ms a
  million objects) only when a running upper bound says that the heap may have grown enough, and at most every
  `recount` seconds.

`stats` (collections and their pauses by generation, via `gc.callbacks`; thaws; frozen objects) is what
/metrics shows (services/audio_gateway/metrics.py). Logged at info: the start and each thaw; at debug, each step.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from services.base.log import event

log = logging.getLogger("aurora.gateway.gc")

PERIOD = 1.0  # seconds between steps (collect what is not frozen, freeze what survived)
GROWTH = 0.5  # growth of the permanent generation since the last full collection that makes the next one
MIN_GROWTH = 10_000  # objects: the least growth that does, however small the heap
MIN_INTERVAL = 60.0  # seconds: the least time between two full collections (at most one long pause a minute)
RECOUNT = 10.0  # seconds: the least time between two exact counts of the permanent generation


class GcStats:
    """The collections seen since the policy started (any thread's), and what the policy did."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]  # by generation
        self.pause_seconds = [0.0, 0.0, 0.0]  # in total, by generation
        self.longest = [0.0, 0.0, 0.0]  # the longest one pause, by generation
        self.steps = 0
        self.thaws = 0  # full collections of the thawed heap, the start's not counted
        self.frozen = 0  # objects in the permanent generation (an upper bound between exact counts)


class GcPolicy:
    def __init__(self, period: float = PERIOD, growth: float = GROWTH, min_growth: int = MIN_GROWTH,
                 min_interval: float = MIN_INTERVAL, recount: float = RECOUNT):
        self.period = period
        self.growth = growth
        self.min_growth = min_growth
        self.min_interval = min_interval
        self.recount = recount
        self.stats = GcStats()
        self.base = 0  # objects frozen right after the last full collection
        self._full_at = 0.0  # time.monotonic() of the last full collection
        self._counted_at = float("-inf")  # ... of the last exact count
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._began: float | None = None

    @property
    def limit(self) -> int:
        """The objects (frozen, and new since the last step) past which a step thaws and collects them all."""
        return self.base + max(int(self.base * self.growth), self.min_growth)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Freeze what the process holds now, and step every `period` seconds on `loop` (from its thread)."""
        gc.callbacks.append(self._on_gc)
        self._loop = loop
        pause, collected = self._full()
        event(log, logging.INFO, "gc policy started", frozen=self.base, pause_ms=round(1000 * pause, 1),
              collected=collected, period_s=self.period, growth=self.growth, min_interval_s=self.min_interval)
        self._timer = loop.call_later(self.period, self._tick)

    def stop(self) -> None:
        """No more steps; the permanent generation goes back to the oldest (the process may go on)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        gc.unfreeze()

    def _tick(self) -> None:
        self._timer = self._loop.call_later(self.period, self._tick)  # first: a failed step stops nothing
        self.step()

    def step(self) -> None:
        """Collect what is not frozen and freeze what survived; or, when the whole has grown enough (and the
        last full collection is old enough), thaw and collect it all: one walk of the heap, not two."""
        began = now = time.monotonic()
        new = len(gc.get_objects())  # not frozen: what came since the last step (some of it dead)
        counted = thawed = False
        if (self.stats.frozen + new > self.limit and now - self._full_at >= self.min_interval
                and now - self._counted_at >= self.recount):
            self.stats.frozen = gc.get_freeze_count()  # the bound said it may have grown: count it
            self._counted_at = now
            counted = True
        if counted and self.stats.frozen + new > self.limit:
            frozen = self.stats.frozen + new
            pause, collected = self._full()
            thawed = True
            self.stats.thaws += 1
            event(log, logging.INFO, "gc thawed: full collection", frozen_before=frozen, frozen=self.base,
                  collected=collected, pause_ms=round(1000 * pause, 1))
        else:
            gc.collect()  # walks only what is not frozen
            gc.freeze()
            self.stats.frozen += new
        self.stats.steps += 1
        event(log, logging.DEBUG, "gc step", new=new, frozen=self.stats.frozen, limit=self.limit, counted=counted,
              thawed=thawed, ms=round(1000 * (time.monotonic() - began), 2))

    def _full(self) -> tuple[float, int]:
        began = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        pause = time.perf_counter() - began
        self.base = self.stats.frozen = gc.get_freeze_count()
        self._full_at = time.monotonic()
        return pause, collected

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began is not None:
            pause = time.perf_counter() - self._began
            self._began = None
            generation = info["generation"]
            stats = self.stats
            stats.collections[generation] += 1
            stats.pause_seconds[generation] += pause
            if pause > stats.longest[generation]:
                stats.longest[generation] = pause
