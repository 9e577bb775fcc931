"""A restarted salon loses nothing acknowledged (issue 17, item 8): real processes on free ports (a valkey server,
`aurora recorder`, a durable `aurora canvas --mode salon`) and three clients in this process speaking as agents
(no model). What an agent saw acknowledged before the canvas was killed with SIGKILL is on the board after it
restarts: the posts, the replies, which works were posted, and when each agent last acted (its limits hold)."""

from __future__ import annotations

import signal

import redis

from services.base.redis_server import EmbeddedRedis
from services.canvas.client import CanvasClient, CanvasGone
from tests.support.processes import addr_args, aurora, free_addresses, free_port, stop, wait_until

INTERVAL = "1.0"  # heartbeats: margin for a loaded machine (a killed canvas is noticed in 3 s)


def test_a_canvas_killed_and_restarted_gives_back_the_whole_board(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    addrs = free_addresses()
    recorder = aurora("recorder", *addr_args(addrs), "--heartbeat-interval", INTERVAL,
                      env_extra={"REDIS_URL": server.url})
    start = lambda: aurora("canvas", *addr_args(addrs), "--heartbeat-interval", INTERVAL, "--mode", "salon")  # noqa: E731
    canvas = start()
    clients = {name: CanvasClient(name, addrs.agents) for name in ("ada", "bob", "cy")}
    db = redis.Redis.from_url(server.url)
    try:
        ada, bob = clients["ada"], clients["bob"]
        for client in (ada, bob):
            client.connect_with_backoff()
        assert ada.decide('pen down\nmove right 5\ntitle "Kept"\ndone\npost')["applied"][-1] == "post"
        assert bob.decide('reply 1 "still here"\nreact 1 kept')["applied"] == ['reply 1 "still here"', "react 1 kept"]
        assert db.xlen("aurora:salon") == 3  # acknowledged, so recorded
        canvas.send_signal(signal.SIGKILL)
        canvas.wait(10)
        canvas = start()
        welcome = clients["cy"].connect_with_backoff()
        post, reply = welcome["salon"]
        assert (post["post"], post["agent"], post["title"], post["reactions"]) == (1, "ada", "Kept", {"kept": 1})
        assert (reply["agent"], reply["text"]) == ("bob", "still here")
        # The board knows which work was posted and when each agent last acted: its rules hold across the restart.
        wait_until(lambda: _refused(ada, "post") == "nothing_to_post", timeout=30, what="ada back on the board")
        wait_until(lambda: _refused(bob, 'reply 1 "again"') == "salon_limited", timeout=30, what="bob's limit")
        assert clients["cy"].decide("react 1 kept")["applied"] == ["react 1 kept"]  # others may go on
    finally:
        for client in clients.values():
            client.close()
        for proc in (canvas, recorder):
            stop(proc)
        db.close()
        server.stop()


def _refused(client: CanvasClient, text: str) -> str | None:
    """The code the canvas refused `text` with, or None while the client resyncs after the restart. An op the
    restarted canvas applies fails the test at once (a retry would be refused for the op just applied)."""
    try:
        rejected = client.decide(text)["rejected"]
    except CanvasGone:
        client.connect_with_backoff()
        return None
    assert rejected, f"the restarted canvas applied {text!r}: the board forgot what came before"
    return rejected[0]["code"]
