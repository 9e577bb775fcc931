"""The read-only HTTP API's answers (services/audio_gateway/api.py), as OpenAPI shows them at /docs.

`source` says where counts come from: `record` (the recorder's Redis, REDIS_URL: the studio's whole history)
or `live` (what this gateway has seen since it started; no record, or Redis failed this request).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Source = Literal["record", "live"]


class Agent(BaseModel):
    name: str
    status: str | None = Field(description="live, missing or away (null: in the record, not in the studio)")
    activity: dict[str, Any] | None = Field(description="the data of its last `status` event")
    work: int | None = Field(description="the number of the work on its canvas")
    title: str | None
    feel: str | None = Field(description="the last feeling it named")
    colour: str | None
    brush: str | None
    pen: str | None
    tempo: int | None
    ops: int | None = Field(description="ops applied on its canvas (the canvas's count)")
    width: int | None
    height: int | None
    notes_played: int
    works_finished: int
    ops_applied: int
    ops_rejected: int


class AgentDetail(Agent):
    cursor: list[int] | None
    cells: list[str] | None = Field(description="its canvas, rows of colour codes (`.` blank)")


class Agents(BaseModel):
    seq: int = Field(description="the studio's seq the live fields are at")
    source: Source = Field(description="where notes_played, works_finished, ops_applied and ops_rejected come from")
    agents: list[Agent]


class Work(BaseModel):
    agent: str
    work: int
    title: str | None
    statement: str | None
    done_seq: int
    finished: float | None = Field(description="Unix time the work was finished")
    png: str = Field(description="the URL path of its image")


class Works(BaseModel):
    source: Source
    works: list[Work] = Field(description="newest first")
    next: str | None = Field(description="the URL of the next (older) page, null on the last")


class Emotions(BaseModel):
    source: Source
    agents: dict[str, dict[str, int]] = Field(description="agent -> feeling -> times named")


class Note(BaseModel):
    seq: int
    pitch: str | None
    midi: int | None
    duration: str | None
    beats: float | None
    velocity: int | None
    color: str | None
    brush: str | None
    x: int | None
    y: int | None
    work: int | None = None
    time: float | None = None


class AgentNotes(BaseModel):
    count: int
    latest: list[Note] = Field(description="newest first")


class Notes(BaseModel):
    source: Source
    agents: dict[str, AgentNotes]


class Health(BaseModel):
    status: Literal["ok", "degraded", "unsynced", "failed"] = Field(
        description="ok (200); else 503: degraded (the canvas silent or the record unreachable), unsynced (no "
                    "snapshot of the studio yet), failed (the gateway's link to the canvas failed)")
    synced: bool = Field(description="the gateway's replica has had a snapshot of the studio")
    seq: int
    canvas_reachable: bool = Field(description="the canvas was heard (an event or a tick) within its liveness")
    canvas_silent_seconds: float | None
    viewers: int
    record: Literal["none", "ok", "unreachable"]


class SalonReply(BaseModel):
    agent: str
    text: str
    seq: int = Field(description="the seq of its `reply` event")


class SalonPost(BaseModel):
    post: int = Field(description="the post's number, from 1, studio-wide")
    agent: str = Field(description="who made the work and posted it")
    work: int
    title: str | None
    thumb: list[str] = Field(description="the work at half its size: rows of colour codes (`.` blank)")
    seq: int = Field(description="the seq of its `post` event")
    at: float = Field(description="Unix time it was posted")
    replies: list[SalonReply] = Field(description="oldest first: in a listing the latest 20, for one post all")
    replies_total: int
    reactions: dict[str, int] = Field(description="word -> how many agents' reactions named it")


class Salon(BaseModel):
    mode: str = Field(description="the studio's mode: `salon`, or `isolated` (no salon: no posts)")
    seq: int = Field(description="the seq of the board's last event")
    posts: list[SalonPost] = Field(description="newest first")
