"""The hub, the admission rules and the messages, in-process: a fake feed's batches, viewers whose sends are
recorded or never finish. No sockets: every case of the fan-out is driven exactly."""

from __future__ import annotations

import asyncio
import json

import pytest

from proto.canvas import CanvasModel
from services.audio_gateway import messages
from services.audio_gateway.admission import normalise_origin, origin_allowed
from services.audio_gateway.hub import Hub
from services.audio_gateway.live import LiveStudio
from services.audio_gateway.viewer import Viewer


class FakeFeed:
    def __init__(self) -> None:
        self.wants = 0

    def want_snapshot(self) -> None:
        self.wants += 1


class FakeTask:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def make_hub(**options) -> tuple[Hub, FakeFeed]:
    feed = FakeFeed()
    return Hub(LiveStudio(), feed.want_snapshot, **options), feed


def viewer(address: str = "10.0.0.1", limit: int = 8) -> Viewer:
    async def send(text: str) -> None:
        raise AssertionError("no pump runs in this test")
    v = Viewer(send, address, limit)
    v.task = FakeTask()
    return v


def ev(seq: int, kind: str = "move", agent: str = "ada", **data) -> tuple:
    body = {"seq": seq, "agent": agent, "kind": kind, "data": data or {"op": "move up 1", "cursor": [0, 0]}}
    return ("event", body, 1000.0 + seq, messages.event(body, 1000.0 + seq))


def snap(seq: int, jumped: bool = False) -> tuple:
    canvas = {**CanvasModel(4, 2).to_dict(), "status": "live", "activity": None}
    return ("snapshot", seq, {"ada": canvas}, jumped, ("isolated", None))


def queued(v: Viewer) -> list[dict]:
    return [json.loads(text) for _, text in v.queue]


def summary(v: Viewer) -> list[tuple]:
    return [(m["type"], m.get("seq", m.get("reason"))) for m in queued(v)]


def test_a_new_viewer_gets_the_next_snapshot_then_only_the_events_after_it():
    hub, feed = make_hub()
    v = viewer()
    assert hub.join(v) and feed.wants == 1
    hub.deliver([ev(1)])  # before its snapshot: not for it
    assert list(v.queue) == []
    hub.deliver([snap(1), ev(2), ev(3)])
    assert summary(v) == [("snapshot", 1), ("event", 2), ("event", 3)]
    first = queued(v)[0]
    assert first["canvases"]["ada"]["cells"] == ["....", "...."] and first["works"] == []
    assert first["palette"]["."] is None and first["palette"]["r"] == "#e0312b"
    assert first["colors"]["red"] == "r" and len(first["colors"]) == len(first["palette"]) - 1
    assert queued(v)[1] == {"type": "event", "seq": 2, "agent": "ada", "kind": "move",
                            "data": {"op": "move up 1", "cursor": [0, 0]}, "time": 1002.0}


def test_every_viewer_is_queued_the_same_text_encoded_once():
    hub, _ = make_hub()
    viewers = [viewer(f"10.0.0.{i}") for i in range(3)]
    for v in viewers:
        hub.join(v)
    item = ev(2)
    hub.deliver([snap(1), item])
    assert all(v.queue[1][1] is item[3] for v in viewers)  # the very string the feed made
    assert all(v.queue[0][1] is viewers[0].queue[0][1] for v in viewers)  # one snapshot text for all three


def test_a_full_queue_gives_resync_and_then_a_fresh_snapshot():
    hub, feed = make_hub()
    v, other = viewer(limit=4), viewer("10.0.0.2", limit=100)
    hub.join(v)
    hub.join(other)
    hub.deliver([snap(1), ev(2), ev(3), ev(4)])  # v's queue is full
    wants = feed.wants
    hub.deliver([ev(5)])
    assert summary(v) == [("resync", "queue_full")] and not v.active and feed.wants == wants + 1
    hub.deliver([ev(6)])  # it waits for its snapshot: nothing more is queued
    hub.deliver([snap(6), ev(7)])
    assert summary(v) == [("resync", "queue_full"), ("snapshot", 6), ("event", 7)]
    assert [m["seq"] for m in queued(other)] == [1, 2, 3, 4, 5, 6, 7]  # the other one missed nothing
    assert hub.stats.resyncs == {"queue_full": 1} and v.resyncs_in_a_row == 1


def test_a_viewer_that_never_catches_up_is_dropped_with_1013():
    hub, _ = make_hub(max_resyncs=2)
    v = viewer(limit=2)
    hub.join(v)
    seq = 0
    for _ in range(3):  # fill, overflow, new snapshot, fill, ...
        hub.deliver([snap(seq)])
        hub.deliver([ev(seq + 1), ev(seq + 2)])
        seq += 2
    assert v.closed == (1013, "too many resyncs") and v.task.cancelled
    assert hub.stats.dropped == {"too_many_resyncs": 1} and hub.stats.resyncs == {"queue_full": 2}
    hub.deliver([snap(seq), ev(seq + 1)])
    assert list(v.queue) == []  # a dropped viewer gets nothing more
    hub.leave(v)
    assert hub.viewers == set() and hub.by_address == {}


def test_a_viewer_that_catches_up_starts_its_count_of_resyncs_again():
    async def scenario() -> None:
        hub, _ = make_hub(max_resyncs=1)
        sent: list[str] = []

        async def send(text: str) -> None:
            sent.append(json.loads(text)["type"])

        v = Viewer(send, "10.0.0.1", 2)
        hub.join(v)
        hub.deliver([snap(1), ev(2), ev(3)])  # overflow: one resync, the most allowed in a row
        assert v.resyncs_in_a_row == 1
        v.task = asyncio.create_task(v.pump(hub.sent))
        hub.deliver([snap(3)])
        while v.queue or not v.active:
            await asyncio.sleep(0)  # the pump drains the queue
        await asyncio.sleep(0)
        assert v.resyncs_in_a_row == 0 and sent == ["resync", "snapshot"]  # the first snapshot was dropped
        hub.deliver([ev(4), ev(5), ev(6)])  # overflows again, but after catching up: not dropped
        assert v.closed is None and hub.stats.resyncs["queue_full"] == 2
        v.task.cancel()

    asyncio.run(scenario())


def test_a_send_that_blocks_past_the_timeout_drops_the_viewer():
    async def scenario() -> None:
        hub, _ = make_hub(send_timeout=5.0)
        never = asyncio.Event()

        async def send(text: str) -> None:
            await never.wait()  # a socket that takes nothing

        v = Viewer(send, "10.0.0.1", 8)
        hub.join(v)
        v.task = asyncio.create_task(v.pump(hub.sent))
        hub.deliver([snap(1)])
        while v.sending_since is None:
            await asyncio.sleep(0)
        hub.check_sends(now=v.sending_since + 4.0)
        assert v.closed is None
        hub.check_sends(now=v.sending_since + 5.5)
        assert v.closed == (1013, "send timed out") and hub.stats.dropped == {"send_timed_out": 1}
        with pytest.raises(asyncio.CancelledError):
            await v.task

    asyncio.run(scenario())


def test_when_the_gateways_replica_resyncs_every_viewer_starts_again():
    hub, _ = make_hub()
    viewers = [viewer(f"10.0.0.{i}") for i in range(2)]
    for v in viewers:
        hub.join(v)
    hub.deliver([snap(1), ev(2)])
    hub.deliver([snap(9, jumped=True), ev(10)])  # events 3..9 were lost on the way to the gateway
    for v in viewers:  # what was queued before the loss is dropped with the state it built
        assert summary(v) == [("resync", "studio_resynced"), ("snapshot", 9), ("event", 10)]
        assert v.resyncs_in_a_row == 0  # not the viewer's fault
    assert hub.stats.resyncs == {"studio_resynced": 2}


def test_at_most_the_cap_of_viewers_from_one_address():
    hub, _ = make_hub(max_per_address=2)
    first, second, third = viewer(), viewer(), viewer()
    assert hub.join(first) and hub.join(second)
    assert not hub.join(third) and third not in hub.viewers
    assert hub.join(viewer("10.0.0.2"))  # another address
    assert hub.stats.refusals == {"too_many_from_address": 1}
    hub.leave(first)
    assert hub.join(third)


def test_a_finished_work_is_announced_after_its_done_event_and_again_with_its_statement():
    hub, _ = make_hub()
    v = viewer(limit=100)
    hub.join(v)
    hub.deliver([snap(1), ev(2, "done", op="done", work=3, title="Tide", cells=["r.", ".b"]),
                 ev(3, "new", work=4, width=2, height=2),
                 ev(4, "statement", work=3, text="The tide.")])
    work = {"type": "work", "agent": "ada", "work": 3, "title": "Tide", "statement": None, "done_seq": 2,
            "png": "/api/works/ada/3.png"}
    assert [m["type"] for m in queued(v)] == ["snapshot", "event", "work", "event", "event", "work"]
    assert queued(v)[2] == work and queued(v)[5] == {**work, "statement": "The tide."}
    late = viewer("10.0.0.9")
    hub.join(late)
    hub.deliver([snap(4)])
    assert queued(late)[0]["works"] == [{k: v for k, v in work.items() if k != "type"} | {"statement": "The tide."}]
    assert hub.live.cells[("ada", 3)] == ["r.", ".b"]


def test_answers_reach_the_asker():
    async def scenario() -> None:
        hub, _ = make_hub()
        loop = asyncio.get_running_loop()
        good, bad = loop.create_future(), loop.create_future()
        hub.deliver([("answer", good, {"seq": 3}, None), ("answer", bad, None, KeyError("x"))])
        assert await good == {"seq": 3}
        with pytest.raises(KeyError):
            await bad

    asyncio.run(scenario())


def test_a_float_that_json_cannot_hold_becomes_null():
    body = {"seq": 1, "agent": "ada", "kind": "status", "data": {"activity": "resting", "until": float("nan"),
                                                                   "reason": None}}
    text = messages.event(body, float("inf"))
    decoded = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert decoded["data"]["until"] is None and decoded["time"] is None


@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "127.0.0.1:8080", frozenset(), True),  # no Origin: no browser page
    ("http://127.0.0.1:8080", "127.0.0.1:8080", frozenset(), True),  # the page the gateway served
    ("HTTP://LocalHost:8080/", "localhost:8080", frozenset(), True),
    ("http://127.0.0.1:9999", "127.0.0.1:8080", frozenset(), False),  # another port is another origin
    ("http://evil.example", "127.0.0.1:8080", frozenset(), False),
    ("http://evil.example", None, frozenset(), False),
    ("null", "127.0.0.1:8080", frozenset(), False),
    ("http://localhost:5173", "127.0.0.1:8080", frozenset({"http://localhost:5173"}), True),
    ("http://evil.example", "127.0.0.1:8080", frozenset({"*"}), True),
    ("ftp://127.0.0.1:8080", "127.0.0.1:8080", frozenset(), False),
])
def test_origins(origin, host, allowed, ok):
    assert origin_allowed(origin, host, allowed) is ok


def test_allowed_origins_are_written_as_browsers_write_them():
    assert normalise_origin("HTTP://Example.COM:5173/") == "http://example.com:5173"
    assert normalise_origin("*") == "*" and normalise_origin("null") == "null"
    for bad in ("localhost:5173", "http://example.com/page", "ws://example.com", ""):
        with pytest.raises(ValueError):
            normalise_origin(bad)


def test_queue_depths_and_leaving():
    hub, _ = make_hub()
    v = viewer()
    hub.join(v)
    hub.deliver([snap(1), ev(2)])
    assert hub.queued() == [2]
    hub.leave(v)
    hub.leave(v)  # twice is harmless
    assert hub.queued() == [] and hub.by_address == {}


def test_an_event_whose_data_is_not_as_the_protocol_says_is_forwarded_but_not_counted():
    hub, _ = make_hub()
    v = viewer()
    hub.join(v)
    hub.deliver([snap(1), ev(2, "done", op="done"), ev(3, "feel", op="feel calm", feel="calm")])  # no `work`
    assert summary(v) == [("snapshot", 1), ("event", 2), ("event", 3)]
    assert hub.stats.bad_events == 1 and hub.live.feelings["ada"] == {"calm": 1}
