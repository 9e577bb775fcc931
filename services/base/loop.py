"""The service base: owns the ZeroMQ context, the poll loop, timers, counters and shutdown.

A service registers its sockets with a handler each and its periodic tasks; the loop does the rest
(mesa-style: the framework owns the loop). A handler that raises is logged and counted, never fatal:
one bad message must not take the service down for everyone else.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from typing import Callable

import zmq

from services.base.log import event

log = logging.getLogger("aurora.loop")


class ServiceLoop:
    def __init__(self, name: str, context: zmq.Context | None = None):
        self.name = name
        self.context = context or zmq.Context.instance()
        self.poller = zmq.Poller()
        self.handlers: dict[zmq.Socket, Callable[[zmq.Socket], None]] = {}
        self.sockets: list[zmq.Socket] = []
        self.timers: list[list] = []  # [interval, next_due, fn]
        self.after_wake: list[Callable[[], None]] = []  # after each wake-up's messages (e.g. to send a batch)
        self.counters: Counter[str] = Counter()
        self.running = False

    def socket(self, kind: int, **options) -> zmq.Socket:
        """A new socket of this service, closed with it; options are ZMQ socket option names."""
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        for name, value in options.items():
            sock.setsockopt(getattr(zmq, name), value)
        self.sockets.append(sock)
        return sock

    def on_frames(self, sock: zmq.Socket, handler: Callable[..., None], batch: int = 256, *,
                  with_user: bool = False) -> None:
        """Call `handler(frames)` with each multipart message that arrives on `sock`; with `with_user`,
        `handler(frames, user)`, `user` being the ZAP User-Id of the connection it came on (on a CurveZMQ server
        socket, the name its key is authorized under), None where there is none.

        Up to `batch` ready messages are handled per wake-up, so timers and other sockets still get their turn.
        """

        def drain(s: zmq.Socket) -> None:
            for _ in range(batch):
                try:
                    if with_user:  # metadata comes only with zmq.Frame objects, which cost a little more
                        parts = s.recv_multipart(zmq.NOBLOCK, copy=False)
                        self._guard(handler, [p.bytes for p in parts], _user_id(parts[-1]))
                    else:
                        self._guard(handler, s.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    return

        self.handlers[sock] = drain
        self.poller.register(sock, zmq.POLLIN)

    def every(self, interval: float, fn: Callable[[], None]) -> None:
        self.timers.append([interval, time.monotonic() + interval, fn])

    def stop(self, *_args) -> None:
        self.running = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self) -> None:
        self.running = True
        while self.running:
            now = time.monotonic()
            due = min((t[1] for t in self.timers), default=now + 0.5)
            timeout_ms = max(0, min(500, int((due - now) * 1000) + 1))
            try:
                ready = dict(self.poller.poll(timeout_ms))
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EINTR:
                    continue
                raise
            for sock in ready:
                self.handlers[sock](sock)
            for fn in self.after_wake:
                self._guard(fn)
            now = time.monotonic()
            for timer in self.timers:
                if now >= timer[1]:
                    timer[1] = now + timer[0]
                    self._guard(timer[2])
        self.close()

    def _guard(self, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except Exception:
            self.counters["handler_crashes"] += 1
            log.exception("handler failed; the service goes on", extra={"fields": {"service": self.name}})

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(0)
        event(log, logging.INFO, "stopped", service=self.name, counters=dict(self.counters))


def _user_id(frame: zmq.Frame) -> str | None:
    try:
        return frame.get("User-Id") or None
    except zmq.ZMQError:  # no such property: a plaintext connection
        return None
