"""The read-only HTTP API over real processes: a canvas, scripted (non-LLM) load agents, `aurora gateway` on a
free port; with a record written by the real recorder into the real valkey of tests/conftest.py, or without
one. Every value is checked against the canvas's own snapshot, the record's events, or the events the canvas
published."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

import pytest
import redis
import zmq

from proto.events import OP_KINDS
from services.canvas.client import CanvasClient
from services.canvas.replica import Replica
from services.recorder import archive
from services.recorder.png import canvas_png
from tests.audio_gateway.support import Listener, gateway_process, scripted, stop_all
from tests.recorder.pngread import read_png
from tests.support.processes import addr_args, aurora, canvas_process, free_addresses, free_port, stop, wait_until

INTERVAL = "0.2"
LIVE_FIELDS = ("work", "title", "feel", "brush", "pen", "tempo", "ops")


def fresh_snapshot(addrs) -> Replica:
    replica = Replica(addrs.events, addrs.snapshots, context=zmq.Context.instance())
    replica.sync()
    replica.close()
    return replica


def counted(events) -> dict[str, dict]:
    """What the record's facts should say, counted straight from events (bodies)."""
    out: dict[str, dict] = defaultdict(lambda: {"notes_played": 0, "works_finished": 0, "ops_applied": 0,
                                                "ops_rejected": 0, "feelings": Counter(), "notes": []})
    for body in events:
        agent, kind, data = body["agent"], body["kind"], body["data"]
        facts = out[agent]
        facts["ops_applied"] += kind in OP_KINDS
        facts["ops_rejected"] += kind == "rejected"
        facts["works_finished"] += kind == "done"
        if kind == "note":
            facts["notes_played"] += 1
            facts["notes"].append((body["seq"], data))
        if kind == "feel":
            facts["feelings"][data["feel"]] += 1
    return out


def check_live_fields(agent: dict, replica: Replica) -> None:
    canvas = replica.canvases[agent["name"]]
    state = canvas.state()
    assert agent["status"] == replica.status[agent["name"]]
    assert agent["activity"] == replica.activity.get(agent["name"])
    assert agent["colour"] == state["color"]
    assert {f: agent[f] for f in LIVE_FIELDS} == {f: state[f] for f in LIVE_FIELDS}
    assert (agent["width"], agent["height"]) == (canvas.width, canvas.height)


@pytest.fixture
def recorded_studio(redis_server):
    """A durable canvas and `aurora recorder` writing into a flushed valkey; yields (addrs, client)."""
    db = redis.Redis.from_url(redis_server.url)
    db.flushdb()
    with canvas_process("--heartbeat-interval", INTERVAL, durable=True) as (_, addrs):
        recorder = aurora("recorder", *addr_args(addrs), "--heartbeat-interval", INTERVAL,
                          env_extra={"REDIS_URL": redis_server.url})
        try:
            yield addrs, db
        finally:
            stop(recorder)
            db.close()


def cy_finishes_a_work(addrs) -> None:
    """An agent with a status, a feeling, a note, a refused line, a titled work and its statement."""
    cy = CanvasClient("cy", addrs.agents, context=zmq.Context.instance())
    cy.connect_with_backoff(deadline=time.monotonic() + 20)
    cy.notify("status", {"activity": "painting", "until": None, "reason": "a test"})
    cy.decide('feel calm\ncolor red\npen down\nmove right 4\nnote C4 quarter 90\nmove sideways\ntitle "Quiet"\ndone')
    cy.notify("statement", {"work": 1, "text": "Red, then quiet."})
    cy.decide("feel calm\nfeel bold")
    cy.close()


def test_the_api_answers_from_the_record_and_the_live_studio(recorded_studio, redis_server):
    addrs, db = recorded_studio
    agents = [scripted(addrs, name, "--seed", str(i), "--decisions", "40", "--done-every", "10")
              for i, name in enumerate(("ada", "bo"))]
    try:
        cy_finishes_a_work(addrs)
        assert [a.wait(60) for a in agents] == [0, 0]
    finally:
        stop_all(agents)
    final = fresh_snapshot(addrs)
    wait_until(lambda: archive.last_seq(db) == final.seq, what="everything recorded")
    events = [msg.body for msg in archive.iter_events(db)]
    expected = counted(events)
    gallery = list(reversed(archive.works(db)))  # newest first
    assert len(gallery) == 9  # 4 works each for ada and bo, and cy's

    # the gateway joins after it all: the counts it gives can only come from the record
    with gateway_process(addrs, redis_url=redis_server.url) as gateway:
        status, health = gateway.health()
        assert status == 200 and health["record"] == "ok" and health["seq"] == final.seq
        assert (gateway.stdout.read_text().strip() ==
                f"aurora gateway: open http://127.0.0.1:{gateway.port}/")

        listing = gateway.json("/api/agents")
        assert listing["seq"] == final.seq and listing["source"] == "record"
        assert [a["name"] for a in listing["agents"]] == ["ada", "bo", "cy"]
        for agent in listing["agents"]:
            check_live_fields(agent, final)
            facts = expected[agent["name"]]
            assert {k: agent[k] for k in ("notes_played", "works_finished", "ops_applied", "ops_rejected")} == \
                   {k: facts[k] for k in ("notes_played", "works_finished", "ops_applied", "ops_rejected")}
        cy = gateway.json("/api/agents/cy")
        assert cy["ops_rejected"] == 1 and cy["works_finished"] == 1 and cy["feel"] == "bold"
        assert cy["activity"] == {"activity": "painting", "until": None, "reason": "a test"}
        assert cy["cells"] == final.canvases["cy"].rows() and cy["cursor"] == list(final.canvases["cy"].cursor)
        assert gateway.get("/api/agents/nobody").status_code == 404
        assert gateway.get("/api/agents/Not%20A%20Name").status_code == 404

        # the gallery, newest first, in pages
        page = gateway.json("/api/works", params={"limit": 4})
        assert page["source"] == "record"
        shown = page["works"]
        while page["next"]:
            page = gateway.json(page["next"])
            shown += page["works"]
        assert [(w["agent"], w["work"], w["title"], w["statement"], w["done_seq"], w["finished"])
                for w in shown] == \
               [(w["agent"], w["work"], w["title"], w["statement"], w["done_seq"], w["finished"]) for w in gallery]
        assert shown[0]["png"] == f"/api/works/{gallery[0]['agent']}/{gallery[0]['work']}.png"
        quiet = next(w for w in shown if w["agent"] == "cy")
        assert (quiet["title"], quiet["statement"]) == ("Quiet", "Red, then quiet.")

        # a work's image: the record's PNG; rendered from its cells when the record has none
        image = gateway.get(quiet["png"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content == db.hget("aurora:work:cy:1", "png")
        db.hdel("aurora:work:ada:2", "png")
        rendered = gateway.get("/api/works/ada/2.png")
        cells = json.loads(db.hget("aurora:work:ada:2", "cells"))
        assert rendered.status_code == 200 and rendered.content == canvas_png(cells)
        width, height, _ = read_png(rendered.content)
        assert (width, height) == (8 * len(cells[0]), 8 * len(cells))
        for missing in ("/api/works/ada/99.png", "/api/works/Zed/1.png", "/api/works/ada/x.png"):
            assert gateway.get(missing).status_code in (404, 422), missing

        emotions = gateway.json("/api/emotions")
        assert emotions == {"source": "record",
                            "agents": {n: dict(f["feelings"]) for n, f in expected.items() if n in ("ada", "bo", "cy")}}
        assert emotions["agents"]["cy"] == {"calm": 2, "bold": 1}

        notes = gateway.json("/api/notes", params={"latest": 3})
        assert notes["source"] == "record"
        for name in ("ada", "bo", "cy"):
            played = expected[name]["notes"]
            assert notes["agents"][name]["count"] == len(played)
            latest = notes["agents"][name]["latest"]
            assert [(n["seq"], n["pitch"], n["duration"], n["velocity"]) for n in latest] == \
                   [(seq, d["pitch"], d["duration"], d["velocity"]) for seq, d in reversed(played[-3:])]

        # a viewer's snapshot lists the record's latest works
        viewer = Listener(gateway.ws_url)
        wait_until(lambda: viewer.of_type("snapshot"), what="a snapshot")
        works = viewer.of_type("snapshot")[0]["works"]
        assert [(w["agent"], w["work"], w["statement"]) for w in works] == \
               [(w["agent"], w["work"], w["statement"]) for w in gallery]
        viewer.close()


def test_without_a_record_the_counts_are_what_the_gateway_saw(redis_server):
    with canvas_process("--heartbeat-interval", INTERVAL) as (_, addrs):
        with gateway_process(addrs) as gateway:  # synced and subscribed before any agent comes
            start = gateway.health()[1]["seq"]
            watcher = Replica(addrs.events, addrs.snapshots, context=zmq.Context.instance())
            assert watcher.sub.poll(5000)
            watcher.sync()
            seen = []
            agents = [scripted(addrs, name, "--seed", str(i), "--decisions", "30", "--done-every", "10")
                      for i, name in enumerate(("ada", "bo"))]
            try:
                assert [a.wait(60) for a in agents] == [0, 0]
            finally:
                stop_all(agents)
            final = fresh_snapshot(addrs)
            while watcher.seq < final.seq:
                seen += [m.body for m in watcher.poll(0.1)]
            watcher.close()
            gateway.wait_for_seq(final.seq)
            expected = counted(b for b in seen if b["seq"] > start)

            listing = gateway.json("/api/agents")
            assert listing["source"] == "live" and listing["seq"] == final.seq
            for agent in listing["agents"]:
                check_live_fields(agent, final)
                facts = expected[agent["name"]]
                assert (agent["notes_played"], agent["works_finished"], agent["ops_applied"], agent["ops_rejected"]) \
                    == (facts["notes_played"], facts["works_finished"], facts["ops_applied"], facts["ops_rejected"])
            assert gateway.json("/api/emotions") == {
                "source": "live", "agents": {n: dict(f["feelings"]) for n, f in expected.items() if f["feelings"]}}
            notes = gateway.json("/api/notes", params={"latest": 2})["agents"]
            for name in ("ada", "bo"):
                assert notes[name]["count"] == expected[name]["notes_played"]
                assert [n["seq"] for n in notes[name]["latest"]] == [s for s, _ in reversed(expected[name]["notes"][-2:])]

            dones = [b for b in seen if b["kind"] == "done"]
            works = gateway.json("/api/works", params={"limit": 100})
            assert works["source"] == "live" and works["next"] is None
            assert [(w["agent"], w["work"], w["title"], w["done_seq"]) for w in works["works"]] == \
                   [(b["agent"], b["data"]["work"], b["data"]["title"], b["seq"]) for b in reversed(dones)]
            image = gateway.get(works["works"][0]["png"])
            assert image.status_code == 200 and image.content == canvas_png(dones[-1]["data"]["cells"])

            # read-only: no method but GET (and HEAD) on any path; the docs list GETs only
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                for path in ("/api/agents", "/api/agents/ada", "/api/works", "/api/notes", "/", "/healthz"):
                    assert gateway.http.request(method, path).status_code == 405, (method, path)
            assert gateway.get("/docs").status_code == 200
            spec = gateway.json("/openapi.json")
            assert {m for path in spec["paths"].values() for m in path} == {"get"}
            assert {"/api/agents", "/api/agents/{name}", "/api/works", "/api/works/{agent}/{work}.png",
                    "/api/emotions", "/api/notes", "/healthz", "/metrics"} <= set(spec["paths"])


def test_healthz_is_503_until_the_canvas_comes_and_degraded_while_the_record_is_down():
    addrs = free_addresses()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the counts come from what is seen
    with gateway_process(addrs, redis_url=dead_redis, synced=False) as gateway:
        status, health = gateway.health()
        assert status == 503 and health["status"] == "unsynced" and not health["synced"]
        assert not health["canvas_reachable"] and health["record"] == "unreachable"
        viewer = Listener(gateway.ws_url)  # accepted; its snapshot comes once there is a studio
        canvas = aurora("canvas", *addr_args(addrs), "--volatile", "--heartbeat-interval", INTERVAL)
        try:
            # A tick may be heard before the snapshot the feed asked for comes back (seen on a loaded machine).
            wait_until(lambda: all(gateway.health()[1][k] for k in ("canvas_reachable", "synced")), timeout=30,
                       what="the canvas heard and the studio synced")
            status, health = gateway.health()
            # synced, but the record it serves counts from is down: degraded, and not 200
            assert health["synced"] and health["record"] == "unreachable"
            assert status == 503 and health["status"] == "degraded"
            wait_until(lambda: viewer.of_type("snapshot"), what="the waiting viewer's snapshot")
            assert [m["type"] for _, m in viewer.messages][0] == "snapshot"
            agents = gateway.json("/api/agents")
            assert agents["source"] == "live"
            assert gateway.metric("aurora_gateway_record_errors_total") >= 1
            text = gateway.get("/metrics")
            assert text.headers["content-type"].startswith("text/plain")
            for name in ("aurora_gateway_viewers", "aurora_gateway_events_received_total",
                         "aurora_gateway_messages_sent_total", "aurora_gateway_queue_depth",
                         "aurora_gateway_seq"):
                assert f"\n{name}" in text.text or f"# TYPE {name}" in text.text, name
            assert gateway.metric("aurora_gateway_viewers") == 1
            page = gateway.get("/")
            assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
            viewer.close()
        finally:
            stop(canvas)


def test_healthz_is_degraded_with_503_once_the_canvas_falls_silent(record_url):
    addrs = free_addresses()
    canvas = aurora("canvas", *addr_args(addrs), "--volatile", "--heartbeat-interval", INTERVAL)
    try:
        with gateway_process(addrs, redis_url=record_url) as gateway:
            status, health = gateway.health()
            assert status == 200 and health["status"] == "ok" and health["record"] == "ok"
            stop(canvas)
            wait_until(lambda: gateway.health()[0] == 503, timeout=30, what="/healthz 503")
            status, health = gateway.health()
            assert health["status"] == "degraded" and not health["canvas_reachable"] and health["synced"]
    finally:
        stop(canvas)
