"""One WebSocket viewer: its bounded queue of messages, and the task that sends them in order.

The hub puts messages in the queue (never waiting on the socket); `pump` sends them one by one. A viewer
whose queue is full gets no more events: the hub clears its queue and gives it `resync` and a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Awaitable, Callable

Item = tuple[str, str]  # (message type, JSON text): the text is shared by every viewer it is queued to

_ids = itertools.count(1)


class Viewer:
    def __init__(self, send: Callable[[str], Awaitable[None]], address: str, limit: int):
        self.id = next(_ids)
        self.send = send
        self.address = address
        self.limit = limit  # the queue's length
        self.queue: deque[Item] = deque()
        self.wake = asyncio.Event()
        self.active = False  # it has had its snapshot and gets every event (else it waits for one)
        self.resyncs_in_a_row = 0  # resyncs since its queue was last drained while active
        self.sending_since: float | None = None  # time.monotonic() when the send in progress began
        self.closed: tuple[int, str] | None = None  # (code, reason) once the hub has dropped it
        self.task: asyncio.Task | None = None  # the pump, cancelled when the hub drops the viewer
        self.sent = 0

    def __repr__(self) -> str:
        return f"<Viewer {self.id} {self.address} queued={len(self.queue)} active={self.active}>"

    def put(self, item: Item) -> None:
        self.queue.append(item)
        self.wake.set()

    async def pump(self, sent: Callable[[str], None]) -> None:
        """Send what is queued, in order, until the hub drops this viewer; a failed send raises."""
        queue = self.queue
        while self.closed is None:
            if not queue:
                if self.active:
                    self.resyncs_in_a_row = 0  # caught up
                self.wake.clear()
                await self.wake.wait()
                continue
            kind, text = queue.popleft()
            self.sending_since = time.monotonic()
            await self.send(text)
            self.sending_since = None
            self.sent += 1
            sent(kind)
