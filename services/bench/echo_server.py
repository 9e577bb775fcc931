"""The baseline of `aurora bench canvas`: a raw pyzmq ROUTER that msgpack-decodes each frame and answers
with a msgpack reply of about the request's size (the request's map, retyped as a `result` that names it).

No validation, no state, no events: what one Python process pays for ZeroMQ and msgpack per round trip
before doing any work. The canvas's throughput is reported as a fraction of this one's.

    python -m services.bench.echo_server tcp://127.0.0.1:PORT
"""

from __future__ import annotations

import itertools
import sys

import msgpack
import zmq


def serve(address: str) -> None:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)
    ids = itertools.count(1)
    while True:  # ended by SIGTERM from the bench
        route, *_, frame = sock.recv_multipart()
        try:
            reply = msgpack.unpackb(frame)
            reply.update(type="result", id=f"echo-{next(ids)}", parent_id=reply.get("id"), sender="echo")
        except Exception:  # the bench sends only good frames; anything else is not worth a crash
            continue
        sock.send_multipart([route, msgpack.packb(reply)])


if __name__ == "__main__":
    serve(sys.argv[1])
