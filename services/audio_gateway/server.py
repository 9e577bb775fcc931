"""Serving the gateway's app with uvicorn.

Two additions to uvicorn's own. A WebSocket protocol that bounds what the kernel buffers for a viewer (so a
viewer that stops reading fills its queue, and is resynced, after a bounded amount of data rather than after
the megabytes TCP autotuning would allow), and hands the app a way to cut a connection (the scope extension
`aurora.abort`), so that a viewer that never reads is not kept open forever by a close frame stuck behind the
data it never took. And a server that says where to open the page once it listens.
"""

from __future__ import annotations

import socket
from typing import Callable

import uvicorn

from services.audio_gateway.ws import ABORT

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # an older uvicorn: connections are closed, never cut
    WebSocketsSansIOProtocol = None

INPUT_LIMIT = 64 * 1024  # the largest message a viewer may send (it is ignored); a larger one closes with 1009
SEND_BUFFER = 256 * 1024  # SO_SNDBUF of a viewer's socket: at 100 ms round trip, still 2.5 MB/s to it
GRACEFUL_SHUTDOWN = 3.0  # seconds open connections get to close when the gateway stops

if WebSocketsSansIOProtocol is not None:
    class AbortableWebSockets(WebSocketsSansIOProtocol):
        def handle_connect(self, event) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)  # set when the handshake is answered with 101
            if scope is None:
                return
            scope["extensions"][ABORT] = {"abort": self.transport.abort}
            sock = self.transport.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            except (AttributeError, OSError):  # not a TCP socket (a Unix socket, a test transport)
                pass

    WS_PROTOCOL: object = AbortableWebSockets
else:
    WS_PROTOCOL = "auto"


class Server(uvicorn.Server):
    """uvicorn's server, calling `on_started(self)` once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[["Server"], None] | None = None):
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started(self)


def config(app, host: str, port: int) -> uvicorn.Config:
    """Quiet (services.base.log decides what is logged; no access log), bounded input, bounded shutdown.

    No per-message compression: it would compress every message once per viewer, where the fan-out encodes
    it once for all; events are a few hundred bytes."""
    return uvicorn.Config(app, host=host, port=port, ws=WS_PROTOCOL, ws_max_size=INPUT_LIMIT,
                          ws_per_message_deflate=False, log_config=None, access_log=False, server_header=False,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN)


def page_url(host: str, port: int) -> str:
    """The address to open in a browser for a server bound to `host`."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
