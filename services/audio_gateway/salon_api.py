"""The salon's read-only HTTP API: `GET /api/salon` and `GET /api/salon/{post}` (services/audio_gateway/salon.py
makes their answers from the replica). Only agents write to the salon, each through its own connection to the
studio: POST, PUT, PATCH and DELETE on /api/salon or below are refused with 405, an `Allow` header and a body
that says so.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from services.audio_gateway import schemas
from services.audio_gateway.api import ask_replica
from services.audio_gateway.salon import board_view, post_view
from services.canvas.replica import Replica
from services.salon.board import POSTS_KEPT

router = APIRouter()

POST_MAX = (1 << 63) - 1
READ_ONLY = ("GET", "HEAD")
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
REFUSAL = ("the salon is written only by its agents, each through its own connection to the studio; "
           "humans read it here (GET)")


@router.get("/api/salon", response_model=schemas.Salon, summary="the salon: its posts, newest first (read-only)")
async def salon(request: Request, limit: int = Query(20, ge=1, le=POSTS_KEPT,
                                                     description="at most this many posts, the latest")):
    return await ask_replica(request.app.state.gateway, lambda replica: board_view(replica, limit))


@router.get("/api/salon/{post}", response_model=schemas.SalonPost, summary="one post, with every reply",
            responses={404: {"description": "the salon holds no such post (or the studio is isolated)"}})
async def salon_post(request: Request, post: int = Path(ge=1, le=POST_MAX)):
    def read(replica: Replica):
        found = replica.board.posts.get(post) if replica.mode == "salon" else None
        return replica.mode, None if found is None else post_view(found, replies=None)

    mode, found = await ask_replica(request.app.state.gateway, read)
    if found is None:
        why = "this studio is isolated: it has no salon" if mode != "salon" else "the salon holds no such post"
        raise HTTPException(404, f"no post {post}: {why}")
    return found


async def _refuse(request: Request) -> JSONResponse:
    """405 for any write: humans read the salon, they never write to it."""
    return JSONResponse({"detail": REFUSAL, "method": request.method, "allow": list(READ_ONLY)}, status_code=405,
                        headers={"Allow": ", ".join(READ_ONLY)})


# Not in the OpenAPI docs, which list what may be done: reading.
router.add_api_route("/api/salon", _refuse, methods=WRITE_METHODS, include_in_schema=False)
router.add_api_route("/api/salon/{rest:path}", _refuse, methods=WRITE_METHODS, include_in_schema=False)
