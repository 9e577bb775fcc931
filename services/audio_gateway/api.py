"""The read-only HTTP API: GET only; nothing here changes an agent, a canvas or a memory bank.

Live fields (an agent's status, activity and tools) come from the gateway's replica of the studio, asked on
its own thread (services/audio_gateway/feed.py). Counts and the gallery come from the record in Redis when
there is one, and from what the gateway saw live otherwise (each answer's `source` says which).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from proto.names import name_problem
from services.audio_gateway import metrics, schemas
from services.audio_gateway.live import NOTES_KEPT
from services.canvas.replica import Replica
from services.recorder.png import canvas_png

router = APIRouter()

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The highest seq: a record's stream IDs are <seq>-0, 64 bits unsigned. Past it Redis refuses the ID, which the API
# took for a failure of the record (logged, counted, answered from live counts): it is the request's fault, a 422.
SEQ_MAX = (1 << 64) - 1


def _gateway(request: Request):
    return request.app.state.gateway


def _studio(replica: Replica, name: str | None = None) -> dict[str, Any]:
    """The replica's live fields (feed thread): every agent's, or one agent's with its cells."""
    agents = {}
    for agent, canvas in replica.canvases.items():
        if name is not None and agent != name:
            continue
        state = canvas.state()
        agents[agent] = {"status": replica.status.get(agent, "away"), "activity": replica.activity.get(agent),
                         "work": state["work"], "title": state["title"], "feel": state["feel"],
                         "colour": state["color"], "brush": state["brush"], "pen": state["pen"],
                         "tempo": state["tempo"], "ops": state["ops"], "width": canvas.width,
                         "height": canvas.height}
        if name is not None:
            agents[agent].update(cursor=state["cursor"], cells=list(canvas.rows()))
    return {"seq": replica.seq, "agents": agents}


async def ask_replica(gateway, fn):
    try:
        return await gateway.feed.ask(fn)
    except TimeoutError:
        raise HTTPException(503, "the gateway's replica of the studio does not answer") from None


NO_LIVE = dict.fromkeys(("status", "activity", "work", "title", "feel", "colour", "brush", "pen", "tempo", "ops",
                         "width", "height"))


async def _agents(gateway, only: str | None = None) -> tuple[int, str, list[dict[str, Any]]]:
    """(seq, source, agents): the studio's agents and the record's (or those seen live), `only` that one."""
    studio = await ask_replica(gateway, lambda replica: _studio(replica, only))
    names = set(studio["agents"])
    wanted = (lambda found: set(found)) if only is None else (lambda found: set(found) & {only})
    recorded = await gateway.read_record(lambda record: record.agents())
    facts = None
    if recorded is not None:
        names |= wanted(recorded)
        facts = await gateway.read_record(lambda record: record.facts(sorted(names)))
    if facts is None:
        names |= wanted(gateway.live.agents())
    agents = []
    for name in sorted(names):
        if facts is not None:
            f = facts[name]
            counts = {"notes_played": f["notes"], "works_finished": f["works"], "ops_applied": f["ops_applied"],
                      "ops_rejected": f["ops_rejected"]}
        else:
            counts = gateway.live.facts(name)
        agents.append({"name": name, **NO_LIVE, **studio["agents"].get(name, {}), **counts})
    return studio["seq"], "record" if facts is not None else "live", agents


@router.get("/api/agents", response_model=schemas.Agents, summary="every agent: live state and counts")
async def agents(request: Request):
    seq, source, found = await _agents(_gateway(request))
    return {"seq": seq, "source": source, "agents": found}


@router.get("/api/agents/{name}", response_model=schemas.AgentDetail, summary="one agent, with its canvas",
            responses={404: {"description": "no agent of that name"}})  # documented: a client may rely on it
async def agent(request: Request, name: str):
    gateway = _gateway(request)
    if name_problem(name):
        raise HTTPException(404, f"no agent {name[:40]!r}")
    _, _, found = await _agents(gateway, name)
    if not found:
        raise HTTPException(404, f"no agent {name!r}")
    return {"cursor": None, "cells": None, **found[0]}


@router.get("/api/works", response_model=schemas.Works, summary="the gallery of finished works, newest first")
async def works(request: Request, limit: int = Query(20, ge=1, le=100),
                before: int | None = Query(None, ge=1, le=SEQ_MAX,
                                           description="only works finished before this seq (paging)")):
    gateway = _gateway(request)
    found = await gateway.read_record(lambda record: record.works(limit + 1, before))
    source = "record"
    if found is None:
        found, source = gateway.live.page(limit + 1, before), "live"
    more = len(found) > limit
    found = found[:limit]
    next_page = f"/api/works?limit={limit}&before={found[-1]['done_seq']}" if more else None
    return {"source": source, "works": found, "next": next_page}


@router.get("/api/works/{agent}/{work}.png", summary="a finished work's image",
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "no such work"}},
            response_class=Response)
async def work_png(request: Request, agent: str, work: int):
    gateway = _gateway(request)
    if name_problem(agent):
        raise HTTPException(404, "no such work")
    png, cells = None, None
    found = await gateway.read_record(lambda record: record.work_image(agent, work))
    if found is not None:
        png, cells = found
    if png is None or not png.startswith(PNG_SIGNATURE):
        cells = cells or gateway.live.cells.get((agent, work))
        try:
            png = canvas_png(cells) if cells else None
        except ValueError:  # cells that are no canvas
            png = None
    if png is None:
        raise HTTPException(404, "no such work")
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/api/emotions", response_model=schemas.Emotions, summary="the feelings each agent named, counted")
async def emotions(request: Request):
    gateway = _gateway(request)

    async def read(record):
        return await record.feelings(await record.agents())

    found = await gateway.read_record(read)
    if found is not None:
        return {"source": "record", "agents": found}
    return {"source": "live", "agents": {name: dict(words) for name, words in sorted(gateway.live.feelings.items())}}


@router.get("/api/notes", response_model=schemas.Notes, summary="notes played: per agent, a count and the latest")
async def notes(request: Request, latest: int = Query(10, ge=0, le=NOTES_KEPT)):
    gateway = _gateway(request)

    async def read(record):
        return await record.notes(await record.agents(), latest)

    found = await gateway.read_record(read)
    if found is not None:
        return {"source": "record", "agents": found}
    live = gateway.live
    return {"source": "live", "agents": {
        name: {"count": live.notes[name], "latest": list(reversed(live.latest_notes[name]))[:latest]}
        for name in sorted(live.notes)}}


@router.get("/healthz", response_model=schemas.Health,
            summary="200 while everything the gateway serves from is serving, else 503 and what is not",
            responses={503: {"model": schemas.Health}})
async def healthz(request: Request):
    gateway = _gateway(request)
    hub, feed = gateway.hub, gateway.feed
    silent = None if feed.heard is None else round(time.monotonic() - feed.heard, 3)
    record = "none"
    if gateway.record is not None:
        record = "ok" if await gateway.read_record(lambda r: r.client.ping()) else "unreachable"
    reachable = silent is not None and silent < gateway.settings.silence
    # degraded: synced, but the canvas has gone silent or the record's Redis does not serve (a load balancer
    # sends viewers elsewhere; the page still shows what the gateway holds)
    status = ("failed" if feed.failed else "unsynced" if not hub.synced
              else "degraded" if not reachable or record == "unreachable" else "ok")
    body = {"status": status, "synced": hub.synced, "seq": hub.seq, "canvas_reachable": reachable,
            "canvas_silent_seconds": silent, "viewers": len(hub.viewers), "record": record}
    return JSONResponse(body, status_code=200 if status == "ok" else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def prometheus(request: Request):
    return Response(metrics.render(_gateway(request).registry), media_type=metrics.CONTENT_TYPE)
