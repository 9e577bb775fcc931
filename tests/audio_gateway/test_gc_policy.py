"""The gateway's garbage-collection policy (services/audio_gateway/gc_policy.py): in this process, stepped by
hand or by a running event loop, and in a real `aurora gateway` process through its /metrics."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest

from services.audio_gateway.gc_policy import GcPolicy
from tests.audio_gateway.support import Listener, gateway_process
from tests.support.processes import canvas_process, wait_until


class Node:
    __slots__ = ("other", "__weakref__")

    def __init__(self, other=None):
        self.other = other


def cycles(n: int) -> list[Node]:
    """n pairs of nodes, each pair a cycle (only the cyclic collector frees it); the first node of each pair."""
    out = []
    for _ in range(n):
        a = Node()
        a.other = Node(a)
        out.append(a)
    return out


def frozen(obj) -> bool:
    """gc.get_objects() lists the three generations, not the permanent one."""
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


@pytest.fixture
def policy():
    """A policy started on an event loop that is not running: it steps only when the test says."""
    loop = asyncio.new_event_loop()
    policy = GcPolicy(period=3600)
    try:
        yield policy, loop
    finally:
        policy.stop()
        loop.close()
        assert gc.get_freeze_count() == 0


def test_start_freezes_what_the_process_holds_and_times_collections(policy):
    policy, loop = policy
    before = Node()
    policy.start(loop)
    assert frozen(before)
    assert gc.get_freeze_count() == policy.base == policy.stats.frozen > 0
    assert policy.stats.collections[2] == 1  # the start's own full collection, timed
    gc.collect(0)
    assert policy.stats.collections[0] >= 1 and policy.stats.pause_seconds[0] > 0
    assert policy.stats.longest[2] > 0


def test_a_step_collects_dead_cycles_first_then_freezes_the_survivors(policy):
    policy, loop = policy
    policy.start(loop)
    kept = cycles(1)[0]
    dead = weakref.ref(cycles(1)[0])  # a cycle already dead: no reference left but its own
    assert not frozen(kept)
    policy.step()
    assert dead() is None, "a dead cycle was frozen instead of collected"
    assert frozen(kept) and frozen(kept.other)
    assert policy.stats.steps == 1 and policy.stats.thaws == 0
    assert policy.stats.frozen >= gc.get_freeze_count()  # an upper bound between exact counts


def test_cycles_that_die_frozen_are_collected_once_the_heap_has_grown_and_the_last_full_collection_is_old(policy):
    policy, loop = policy
    policy.growth, policy.min_growth, policy.min_interval = 0.1, 0, 3600
    policy.start(loop)
    batch = max(500, int(policy.base * 0.03))  # pairs: 6% of the heap at start
    viewers = cycles(batch)  # long-lived state, like a viewer's connection
    policy.step()
    assert frozen(viewers[0])
    departed = [weakref.ref(v) for v in viewers[::50]]
    del viewers  # they left: their cycles are dead, but frozen
    joined = []
    for _ in range(3):  # others join: the heap grows past 10%, but the last full collection is recent
        joined.append(cycles(batch))
        policy.step()
    assert policy.stats.frozen > policy.limit and policy.stats.thaws == 0
    assert all(r() is not None for r in departed), "frozen cycles were collected without a thaw"
    policy.min_interval = 0  # now it is old enough
    joined.append(cycles(batch))
    policy.step()
    assert policy.stats.thaws == 1
    assert all(r() is None for r in departed), "the thaw did not collect the dead frozen cycles"
    assert frozen(joined[-1][0]) and policy.base == policy.stats.frozen == gc.get_freeze_count()
    policy.step()  # under the limit again: a plain step
    assert policy.stats.thaws == 1 and policy.stats.steps == 6


def test_on_a_running_loop_it_steps_every_period():
    policy = GcPolicy(period=0.01)

    async def main() -> Node:
        policy.start(asyncio.get_running_loop())
        later = Node()
        deadline = time.monotonic() + 10
        while not (policy.stats.steps >= 3 and frozen(later)):
            assert time.monotonic() < deadline, f"{policy.stats.steps} steps in 10 s"
            await asyncio.sleep(0.01)  # polling interval: the steps are the loop's timer callbacks
        return later

    try:
        asyncio.run(main())
    finally:
        policy.stop()
    assert gc.get_freeze_count() == 0 and policy._on_gc not in gc.callbacks


def test_the_gateway_process_runs_the_policy_and_shows_it_in_metrics():
    with canvas_process() as (_, addrs), gateway_process(addrs) as gateway:
        viewer = Listener(gateway.ws_url)
        try:
            wait_until(lambda: viewer.of_type("snapshot"), what="a snapshot")
            full = gateway.metric("aurora_gateway_gc_collections_total", generation="2")
            assert full >= 1  # the start's, at least
            wait_until(lambda: gateway.metric("aurora_gateway_gc_collections_total", generation="2") >= full + 2,
                       timeout=15, what="two steps of the policy (one a second)")
            assert gateway.metric("aurora_gateway_gc_frozen_objects") > 10_000  # the app and its libraries
            assert gateway.metric("aurora_gateway_gc_pause_seconds_total", generation="2") > 0
            assert gateway.metric("aurora_gateway_gc_pause_max_seconds", generation="2") > 0
        finally:
            viewer.close()
