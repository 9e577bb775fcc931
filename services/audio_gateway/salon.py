"""The salon as humans see it (PROTOCOL.md sections 12 and 14): the views of the board that the API and the
WebSocket give, computed on the feed thread from the gateway's replica of the studio.

`GET /api/salon` (services/audio_gateway/salon_api.py) lists the board's posts, newest first, each with its
latest replies and its reactions; `GET /api/salon/{post}` gives one post with every reply. The replica keeps
the board from the canvas's snapshot and its `post`, `reply` and `react` events (services/canvas/replica.py,
with services/salon/board.py's own rules). The same views go to WebSocket viewers: the board in a `snapshot`,
and each post again in a `salon` message whenever an event changes it (services/audio_gateway/feed.py).
"""

from __future__ import annotations

from typing import Any

from services.canvas.replica import Replica
from services.salon.board import Post

REPLIES_LISTED = 20  # the latest replies to a post that a listing, a snapshot or a `salon` message carries
SNAPSHOT_POSTS = 50  # the posts a viewer's snapshot carries


def post_view(post: Post, replies: int | None = REPLIES_LISTED) -> dict[str, Any]:
    """A post as viewers and the API show it: its latest `replies` replies (all with None), and how many."""
    return {**post.to_dict(replies), "replies_total": len(post.replies)}


def board_view(replica: Replica, limit: int) -> dict[str, Any]:
    """The studio's mode and the board's latest `limit` posts, newest first (feed thread)."""
    posts = list(reversed(replica.board.posts.values()))[:limit] if replica.mode == "salon" else []
    return {"mode": replica.mode, "seq": replica.board.seq, "posts": [post_view(p) for p in posts]}


def salon_of(replica: Replica) -> tuple[str, dict[str, Any] | None]:
    """(mode, board) for a viewer's snapshot: the board only in a salon."""
    if replica.mode != "salon":
        return replica.mode, None
    view = board_view(replica, SNAPSHOT_POSTS)
    return replica.mode, {"seq": view["seq"], "posts": view["posts"]}


def changed_post(replica: Replica, body: dict[str, Any]) -> dict[str, Any] | None:
    """The post a salon event (`post`, `reply`, `react`) just changed, as viewers show it; None if the board
    does not hold it (a reply to a post it let go)."""
    number = body["data"].get("post") if isinstance(body.get("data"), dict) else None
    post = replica.board.posts.get(number) if isinstance(number, int) else None
    return None if post is None else post_view(post)
