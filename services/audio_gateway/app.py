"""The gateway's FastAPI app: `create_app(settings)` wires the feed, the hub, the record and the routes.

The web page (static/) is served at /, the WebSocket at /ws (services/audio_gateway/ws.py), the read-only
HTTP API under /api, /healthz and /metrics (services/audio_gateway/api.py; the salon's under /api/salon,
services/audio_gateway/salon_api.py), the latest study at /report
(services/audio_gateway/report_page.py), the OpenAPI docs at /docs.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import redis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from proto.heartbeat import INTERVAL, LIVENESS
from proto.version import PROTOCOL_VERSION
from services.audio_gateway import api, metrics, report_page, salon_api, ws
from services.audio_gateway.feed import Feed
from services.audio_gateway.hub import Hub
from services.audio_gateway.live import LiveStudio
from services.audio_gateway.record import Record
from services.base.datadir import report_dir
from services.base.log import event

log = logging.getLogger("aurora.gateway")

STATIC = Path(__file__).resolve().parent / "static"
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    events: str  # the canvas's events socket
    snapshots: str  # the canvas's snapshots socket
    redis_url: str | None = None  # the record; None: the API counts what the gateway sees live
    allow_origins: frozenset[str] = frozenset()  # besides the gateway's own (admission.normalise_origin)
    max_viewers_per_address: int = 16
    queue: int = 1024  # messages queued per viewer before it is resynced
    max_resyncs: int = 3  # resyncs in a row (never caught up in between) before a viewer is dropped
    send_timeout: float = 10.0  # seconds one send may block before its viewer is dropped
    snapshot_works: int = 24  # finished works in a snapshot
    silence: float = INTERVAL * LIVENESS  # seconds without an event or a tick before the canvas is unreachable
    sync_timeout: float = 2.0  # seconds to wait for a snapshot from the canvas
    curve: object = None  # services.base.curve.ClientCurve: the gateway's keys, for a canvas off loopback
    report_dir: Path = field(default_factory=report_dir)  # the latest `aurora report`, served at /report


class Gateway:
    """Everything one app serves from; the routes find it at `request.app.state.gateway`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.live = LiveStudio()
        self.feed = Feed(settings.events, settings.snapshots, sync_timeout=settings.sync_timeout, curve=settings.curve)
        self.hub = Hub(self.live, self.feed.want_snapshot, queue=settings.queue, max_resyncs=settings.max_resyncs,
                       send_timeout=settings.send_timeout, max_per_address=settings.max_viewers_per_address,
                       snapshot_works=settings.snapshot_works)
        self.record = Record(settings.redis_url) if settings.redis_url else None
        self.registry = metrics.registry_for(self.hub, self.feed)
        self._watch: asyncio.Task | None = None

    async def start(self) -> None:
        if self.record is not None:
            await self._open_record()
        self.feed.start(asyncio.get_running_loop(), self.hub.deliver)
        self._watch = asyncio.create_task(self.hub.watch_sends())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await asyncio.to_thread(self.feed.stop)
        if self.record is not None:
            await self.record.close()

    async def _open_record(self) -> None:
        """Check the record's layout and begin the gallery with its latest works."""
        try:
            problem = await self.record.problem()
            if problem is None:
                self.live.seed(await self.record.works(self.settings.snapshot_works))
                return
        except (redis.RedisError, OSError) as exc:
            event(log, logging.WARNING, "the record's Redis does not answer; counting live until it does",
                  error=f"{type(exc).__name__}: {exc}")
            return
        if "layout" in problem:
            event(log, logging.WARNING, "not reading the record", reason=problem)
            await self.record.close()
            self.record = None
        else:
            event(log, logging.INFO, "no record yet; its works will show as they are finished", reason=problem)

    async def read_record(self, read: Callable[[Record], Awaitable[T]]) -> T | None:
        """`read(record)`, or None when there is no record or its Redis fails (counted and logged)."""
        if self.record is None:
            return None
        try:
            return await read(self.record)
        except (redis.RedisError, OSError) as exc:
            self.hub.stats.record_errors += 1
            event(log, logging.WARNING, "the record's Redis failed; answering from live counts",
                  error=f"{type(exc).__name__}: {exc}")
            return None


# The page loads nothing from elsewhere and runs no inline script: a browser is told to allow nothing more.
PAGE_POLICY = (b"content-security-policy",
               b"default-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'")


class StaticPage(StaticFiles):
    """The page's files, sent with PAGE_POLICY; a WebSocket to any path but /ws is refused rather than failing
    in StaticFiles."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_policy(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), PAGE_POLICY]
            await send(message)

        await super().__call__(scope, receive, send_with_policy)


DESCRIPTION = """Aurora's audio gateway: the live studio for browsers.

`GET /ws` is a WebSocket of JSON messages (proto/PROTOCOL.md section 12): a `snapshot`, then every `event` in
order, `work` when a work is finished, `salon` when a post of the salon changed, `resync` and a fresh snapshot
for a viewer that fell behind. Everything here is read-only: nothing changes an agent, a canvas, a memory bank
or the salon (only agents write there; a write to /api/salon is refused with 405)."""


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        gateway = Gateway(settings)
        app.state.gateway = gateway
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="Aurora gateway", version=PROTOCOL_VERSION, description=DESCRIPTION, lifespan=lifespan)
    if settings.allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=sorted(settings.allow_origins), allow_methods=["GET"])
    app.include_router(api.router)
    app.include_router(salon_api.router)
    app.include_router(ws.router)
    app.include_router(report_page.router)
    app.mount("/", StaticPage(directory=STATIC, html=True), name="page")  # last: it answers every other path
    return app
