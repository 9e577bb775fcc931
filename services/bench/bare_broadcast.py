"""The baseline of `aurora bench gateway`: a bare `websockets` broadcast server fed by the canvas's events.

A plain ZeroMQ SUB on the canvas's events socket; each event is decoded (proto.topics.decode_published) and
turned into the very JSON text the gateway sends for it (services.audio_gateway.messages.event, so the bytes
are the same), then written to every connected WebSocket at once with `websockets.asyncio.server.broadcast`.
No replica, no snapshot, no per-viewer queue, no resync, no Origin or per-address check, no back-pressure:
the floor of what one Python process with `websockets` pays to fan a message out. The gateway's messages/s
and latency are reported next to this one's. Ticks (`studio.tick`) are not forwarded, as the gateway does not
forward them.

It runs on the event loop uvicorn gives the gateway (uvloop when it is installed, else asyncio's), without
per-message compression (the gateway has none), with the same listen backlog as uvicorn's.

    python -m services.bench.bare_broadcast --events tcp://127.0.0.1:PORT --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import zmq
from websockets.asyncio.server import broadcast, serve

from proto.errors import ProtocolError
from proto.topics import decode_published
from services.audio_gateway import messages
from services.bench.viewers import loop_factory, raise_file_limit

BACKLOG = 2048  # uvicorn's default
INPUT_LIMIT = 64 * 1024  # what a viewer may send (ignored), as the gateway's limit


class Fanout:
    """The SUB socket's events, broadcast to every open connection of `server` as they arrive."""

    def __init__(self, events: str):
        self.context = zmq.Context()
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)  # as the gateway's replica
        self.sub.setsockopt_string(zmq.SUBSCRIBE, "")
        self.sub.connect(events)
        self.server = None
        self.events = 0

    def start(self, loop: asyncio.AbstractEventLoop, server) -> None:
        self.server = server
        loop.add_reader(self.sub.getsockopt(zmq.FD), self.drain)
        loop.call_soon(self.drain)  # ZeroMQ's FD is edge-triggered: read what came before the reader was added

    def drain(self) -> None:
        sub = self.sub
        while sub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frames = sub.recv_multipart(zmq.NOBLOCK)
            try:
                msg = decode_published(frames)
            except ProtocolError:  # the canvas sends only good frames; nothing to fan out
                continue
            if msg.type != "event":  # a tick
                continue
            self.events += 1
            broadcast(self.server.connections, messages.event(msg.body, msg.time))

    def close(self) -> None:
        self.sub.close(0)
        self.context.term()


async def _viewer(connection) -> None:
    """A viewer only listens: what it sends is read and dropped until it goes."""
    async for _ in connection:
        pass


async def main(events: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    fanout = Fanout(events)
    try:
        async with serve(_viewer, host, port, compression=None, max_size=INPUT_LIMIT, backlog=BACKLOG) as server:
            fanout.start(loop, server)
            print(f"bare broadcast: listening on ws://{host}:{port}/", flush=True)
            await stop
            loop.remove_reader(fanout.sub.getsockopt(zmq.FD))
    finally:
        fanout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True, help="the canvas's events socket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_file_limit()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main(args.events, args.host, args.port))
