"""GET /ws: the WebSocket a viewer listens on (PROTOCOL.md section 12).

Admission (its Origin, then the cap on viewers per client address), then two tasks: the viewer's pump sends
what the hub queues, and the input is read and ignored (counted), so that a viewer that talks is never
blocked on nor listened to. The first to end ends the connection.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket

from services.audio_gateway.admission import origin_allowed
from services.audio_gateway.hub import POLICY_VIOLATION, Hub
from services.audio_gateway.viewer import Viewer
from services.base.log import event

log = logging.getLogger("aurora.gateway.ws")

router = APIRouter()

ABORT = "aurora.abort"  # a scope extension (services/audio_gateway/server.py): {"abort": drop the TCP connection}
CLOSE_TIMEOUT = 2.0  # seconds a close may wait for a viewer's socket to take the close frame
ABORT_AFTER = 5.0  # seconds a dropped viewer has to answer the close before its connection is cut


@router.websocket("/ws")
async def viewer_socket(websocket: WebSocket) -> None:
    gateway = websocket.app.state.gateway
    hub: Hub = gateway.hub
    address = websocket.client.host if websocket.client else "unknown"
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin, websocket.headers.get("host"), gateway.settings.allow_origins):
        hub.refuse("origin", address, origin=origin[:200])
        await websocket.close(code=POLICY_VIOLATION)  # before the handshake: the browser gets HTTP 403
        return
    await websocket.accept()
    viewer = Viewer(websocket.send_text, address, gateway.settings.queue)
    if not hub.join(viewer):
        await _close(websocket, POLICY_VIOLATION, "too many viewers from this address")
        return
    pump = viewer.task = asyncio.create_task(viewer.pump(hub.sent))
    listen = asyncio.create_task(_ignore_input(websocket, hub))
    try:
        await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.leave(viewer)
        pump.cancel()
        listen.cancel()
        ended = await asyncio.gather(pump, listen, return_exceptions=True)
    failed = [e for e in ended if isinstance(e, Exception)]
    if failed:
        event(log, logging.DEBUG, "viewer gone", viewer=viewer.id, error=repr(failed[0])[:200])
    if viewer.closed is not None:
        await _close(websocket, *viewer.closed, cut_after=ABORT_AFTER)


async def _ignore_input(websocket: WebSocket, hub: Hub) -> None:
    """Read what the viewer sends, and drop it; return when it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        hub.stats.input_messages += 1


async def _close(websocket: WebSocket, code: int, reason: str, cut_after: float | None = None) -> None:
    """Close with `code`; a viewer whose socket does not take the close frame in time is cut off (and, with
    `cut_after`, one that has not answered the close by then)."""
    abort = websocket.scope.get("extensions", {}).get(ABORT, {}).get("abort")
    try:
        await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_TIMEOUT)
    except asyncio.TimeoutError:
        if abort is not None:
            abort()
        return
    except Exception:  # the viewer is gone already
        return
    if abort is not None and cut_after is not None:
        asyncio.get_running_loop().call_later(cut_after, _quietly, abort)


def _quietly(abort) -> None:
    try:
        abort()  # nothing happens to a connection that closed meanwhile
    except Exception:
        pass
