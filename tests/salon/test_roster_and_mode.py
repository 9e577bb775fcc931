"""The salon's settings: the roster's `[studio] mode` and `[salon]` limits (per agent, over `[defaults]`), what
is refused in them, and the canvas taking both from the roster it is started with (a real process)."""

from __future__ import annotations

import pytest

from services.agent.roster import RosterError, load, studio_mode
from services.canvas.client import CanvasClient
from services.canvas.limits import salon_board
from services.salon.board import SalonLimits
from tests.support.processes import canvas_process

ROSTER = """
[studio]
mode = "salon"

[defaults.salon]
post_minutes = 30
reply_seconds = 20

[[agent]]
name = "ada"
model = "m.gguf"

[[agent]]
name = "bob"
model = "m.gguf"
[agent.salon]
replies_per_hour = 3
"""


def test_the_roster_gives_the_mode_and_each_agent_s_limits_over_the_defaults(tmp_path):
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER)
    assert studio_mode(path) == "salon"
    board = salon_board(path)
    assert board.limits["ada"] == SalonLimits(post_minutes=30, reply_seconds=20)
    assert board.limits["bob"] == SalonLimits(post_minutes=30, reply_seconds=20, replies_per_hour=3)
    assert load(path)[1].salon == {"post_minutes": 30, "reply_seconds": 20, "replies_per_hour": 3}


@pytest.mark.parametrize("change, says", [
    (('mode = "salon"', 'mode = "crowd"'), "mode must be isolated or salon"),
    (("replies_per_hour = 3", "replies_per_hour = 0.5"), "replies_per_hour a whole one"),
    (("reply_seconds = 20", "reply_seconds = -1"), "reply_seconds must be positive"),
    (("reply_seconds = 20", "reply_minutes = 1"), "unknown key(s) reply_minutes"),
])
def test_what_the_roster_cannot_mean_is_refused_with_where_and_why(tmp_path, change, says):
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER.replace(*change))
    with pytest.raises(RosterError, match=r"(?s).*" + says.replace("(", r"\(").replace(")", r"\)")):
        studio_mode(path)
        load(path)


def test_a_canvas_started_with_a_salon_roster_is_a_salon(tmp_path):
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER)
    with canvas_process("--roster", str(path)) as (_, addrs):
        client = CanvasClient("ada", addrs.agents)
        assert client.connect_with_backoff()["mode"] == "salon"
        client.close()
    with canvas_process("--roster", str(path), "--mode", "isolated") as (_, addrs):  # the option comes first
        client = CanvasClient("ada", addrs.agents)
        assert client.connect_with_backoff()["mode"] == "isolated"
        client.close()
