"""The record in Redis (services/recorder/STORAGE.md, layout 1), read without blocking the event loop.

Only reads: the gateway never writes to Redis. A method raises redis.RedisError when Redis fails; the API
then answers from what the gateway saw live. An entry that does not decode is skipped and logged, as the
archive's readers do (services/recorder/archive.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio

from services.audio_gateway.messages import png_path
from services.recorder import archive

log = logging.getLogger("aurora.gateway.record")

FACTS = ("events", "ops_applied", "ops_rejected", "notes", "feelings", "works", "first_seq", "last_seq")
WORK_FIELDS = (b"title", b"done_seq", b"finished", b"statement")


class Record:
    def __init__(self, url: str, *, timeout: float = 2.0):
        self.url = url
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    async def close(self) -> None:
        await self.client.aclose()

    async def problem(self) -> str | None:
        """Why this Redis holds no record this reader knows (None: it does). Raises RedisError."""
        found = await self.client.hget(archive.RECORDER, "layout")
        if found is None:
            return "the Redis holds no record yet"
        if found.decode() != archive.LAYOUT:
            return f"the record has storage layout {found.decode()}; this gateway reads layout {archive.LAYOUT}"
        return None

    async def agents(self) -> list[str]:
        return sorted(name.decode() for name in await self.client.smembers(archive.AGENTS))

    async def facts(self, names: list[str]) -> dict[str, dict[str, int]]:
        """`aurora:facts:<agent>` of each name, numbers decoded (0 for a count not written)."""
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(f"aurora:facts:{name}")
        out = {}
        for name, h in zip(names, await pipe.execute()):
            out[name] = {field: _int(h.get(field.encode())) for field in FACTS}
        return out

    async def works(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Finished works, newest first: those done before seq `before` only, at most `limit`."""
        high = f"({before}-0" if before is not None else "+"  # IDs are <seq>-0; "(233" would keep 233-0
        entries = await self.client.xrevrange(archive.WORKS, max=high, min="-", count=limit)
        keys = []
        for entry_id, fields in entries:
            try:
                keys.append((entry_id.decode(), fields[b"agent"].decode(), int(fields[b"work"])))
            except (KeyError, ValueError, UnicodeDecodeError):
                archive.log_corrupt(archive.WORKS, entry_id.decode(errors="replace"), "no `agent` or `work` field")
        pipe = self.client.pipeline(transaction=False)
        for _, agent, number in keys:
            pipe.hmget(archive.work_key(agent, number), WORK_FIELDS)
        out = []
        for (entry_id, agent, number), values in zip(keys, await pipe.execute()):
            title, done_seq, finished, statement = values
            if done_seq is None:
                archive.log_corrupt(archive.work_key(agent, number), entry_id, "the work's hash is missing")
                continue
            out.append({"agent": agent, "work": number, "title": _text(title), "statement": _text(statement),
                        "done_seq": int(done_seq), "finished": float(finished) if finished else None,
                        "png": png_path(agent, number)})
        return out

    async def work_image(self, agent: str, number: int) -> tuple[bytes | None, list[str] | None] | None:
        """(png, cells) of a finished work, either None where the hash lacks it; None for no such work."""
        png, cells = await self.client.hmget(archive.work_key(agent, number), (b"png", b"cells"))
        if png is None and cells is None:
            return None
        rows = None
        if cells is not None:
            try:
                rows = json.loads(cells)
            except ValueError:
                archive.log_corrupt(archive.work_key(agent, number), "cells", "not JSON")
        return png or None, rows if isinstance(rows, list) else None

    async def feelings(self, names: list[str]) -> dict[str, dict[str, int]]:
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(f"aurora:feelings:{name}")
        return {name: {word.decode(errors="replace"): _int(count) for word, count in h.items()}
                for name, h in zip(names, await pipe.execute())}

    async def notes(self, names: list[str], latest: int) -> dict[str, dict[str, Any]]:
        """Per agent: `count` (notes played: its facts', as the notes of the archived past are no longer in its
        notes stream) and its `latest` notes, newest first."""
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hget(f"aurora:facts:{name}", "notes")
            if latest:
                pipe.xrevrange(f"aurora:notes:{name}", count=latest)
        results = iter(await pipe.execute())
        out = {}
        for name in names:
            count = next(results)
            entries = next(results) if latest else []
            out[name] = {"count": _int(count), "latest": [_note(entry_id, fields) for entry_id, fields in entries]}
        return out


def _note(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A note as `aurora:notes:<agent>` holds it (STORAGE.md), numbers decoded."""
    get = fields.get
    return {"seq": int(entry_id.partition(b"-")[0]), "pitch": _text(get(b"pitch")), "midi": _int(get(b"midi"), None),
            "duration": _text(get(b"duration")), "beats": _float(get(b"beats")),
            "velocity": _int(get(b"velocity"), None), "color": _text(get(b"color")), "brush": _text(get(b"brush")),
            "x": _int(get(b"x"), None), "y": _int(get(b"y"), None), "work": _int(get(b"work"), None)}


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value else None


def _int(value: bytes | None, default: int | None = 0) -> int | None:
    try:
        return int(value) if value not in (None, b"") else default
    except ValueError:
        return default


def _float(value: bytes | None) -> float | None:
    try:
        return float(value) if value not in (None, b"") else None
    except ValueError:
        return None
