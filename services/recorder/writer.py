"""Writing staged batches to Redis beside the recorder's loop, so that the loop decodes and stages the next
batch while Redis runs this one.

Measured with `aurora bench recorder`: a batch's script takes about as long in Redis and on the socket as
its decoding and staging take in Python; done one after the other, the recorder kept a third of raw XADD's
rate. `ThreadWriter` is one thread with its own Redis connection (from the client's pool), running batches
in order and reporting each outcome, in order, on an inproc ZeroMQ socket that the service loop polls, so
the loop's sockets and state never leave its thread. A batch staged after one that failed is refused by the
script itself (it must follow the stored seq), so nothing is written out of order or with a gap.

`SyncWriter` runs each batch at once in the caller's thread, for tests and tools that need no overlap.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

import redis
import zmq

Done = Callable[[int, str | None], None]  # (the batch's last seq, None when stored, else why not)


def _attempt(run: Callable[[list], None], args: list) -> str | None:
    try:
        run(args)
        return None
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"


class SyncWriter:
    def __init__(self, run: Callable[[list], None], done: Done):
        self.run, self.done = run, done
        self.in_flight = 0
        self.depth = 1

    def submit(self, last: int, args: list) -> None:
        self.done(last, _attempt(self.run, args))

    def close(self) -> None:
        pass


class ThreadWriter:
    """`submit` queues a batch; the loop reads `socket` and passes each message to `on_message`."""

    def __init__(self, run: Callable[[list], None], done: Done, context: zmq.Context, depth: int = 4):
        self.run, self.done = run, done
        self.in_flight = 0
        self.depth = depth  # batches submitted and not yet answered, at most (the recorder keeps to it)
        self._todo: queue.Queue = queue.Queue()
        address = f"inproc://recorder-writer-{id(self)}"
        self.socket = context.socket(zmq.PAIR)  # the loop's end
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(address)
        self._theirs = context.socket(zmq.PAIR)
        self._theirs.setsockopt(zmq.LINGER, 0)
        self._theirs.connect(address)
        self._thread = threading.Thread(target=self._work, name="recorder-writer", daemon=True)
        self._thread.start()

    def submit(self, last: int, args: list) -> None:
        self.in_flight += 1
        self._todo.put((last, args))

    def on_message(self, frames: list[bytes]) -> None:
        self.in_flight -= 1
        self.done(int(frames[0]), frames[1].decode() or None)

    def _work(self) -> None:
        while (item := self._todo.get()) is not None:
            last, args = item
            error = _attempt(self.run, args)
            self._theirs.send_multipart([str(last).encode(), (error or "").encode()])
        self._theirs.close(0)

    def close(self) -> None:
        self._todo.put(None)
        self._thread.join(10)
        self.socket.close(0)
