"""The gateway's feed thread against a real canvas: woken for a request, it answers and goes back to sleep."""

from __future__ import annotations

import asyncio
import select

from services.audio_gateway.feed import Feed
from tests.support.processes import canvas_process, wait_until


def test_a_woken_feed_reads_its_wake_up_and_sleeps_again():
    with canvas_process() as (_, addrs):
        loop = asyncio.new_event_loop()  # never run: the batches it is handed wait there, unread
        feed = Feed(addrs.events, addrs.snapshots)
        feed.start(loop, lambda batch: None)
        try:
            wait_until(lambda: feed.synced_once, timeout=15, what="the feed's first snapshot")
            feed.want_snapshot()  # a byte on the wake-up socket

            def woken() -> bool:
                return bool(select.select([feed._wake_r], [], [], 0)[0])

            # Read at once; a wake-up left unread would keep the thread's poll returning: a busy loop.
            wait_until(lambda: not woken(), timeout=5, what="the wake-up read")
        finally:
            feed.stop()
            loop.close()
