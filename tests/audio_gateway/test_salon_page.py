"""The salon on the live page, in a real headless Chromium (Debian's, driven by Playwright; skipped without it,
failed under CI, as in tests/audio_gateway/test_page.py).

Real processes on free ports: a volatile canvas in salon mode and `aurora gateway`; two SCRIPTED, NON-LLM agents
on real connections (services/canvas/client.py) send ops this test wrote: each paints, titles and posts a work,
one answers the other's with a reply (markup in it, which must show as text) and a reaction. The page must
show each post with its author, title, thumbnail in the palette's colours, reaction and reply, live, and the
same again to a page that loads afterwards.
"""

from __future__ import annotations

import time

import httpx
import pytest
import zmq

from services.canvas.client import CanvasClient
from tests.audio_gateway import test_page as browser
from tests.audio_gateway.test_page import require_browser, rgba, start_gateway
from tests.support.processes import canvas_process, free_port, stop

page = browser.page  # the fixture: a page of Debian's Chromium, its errors collected

PAINT = 'color {colour}\npen down\nmove right 3\nmove down 1\nmove left 3\ntitle "{title}"\ndone\npost'
MARKUP = "<img src=x onerror=window.injected=1> nice"

THUMB_PIXELS = """li => {
    const canvas = li.querySelector("canvas.thumb");
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return {width: canvas.width, height: canvas.height, data: Array.from(data)};
}"""


def agent(name: str, address: str) -> CanvasClient:
    """A SCRIPTED, NON-LLM agent: a real connection to the canvas; the ops are this test's."""
    client = CanvasClient(name, address, context=zmq.Context.instance())
    client.connect_with_backoff(deadline=time.monotonic() + 20)
    return client


@pytest.fixture
def salon_studio():
    require_browser()  # before any process starts
    with canvas_process("--mode", "salon") as (_, addrs):
        port = free_port()
        gateway = start_gateway(port, addrs)
        try:
            yield addrs, f"http://127.0.0.1:{port}/"
        finally:
            stop(gateway)


@pytest.mark.timeout(150)
def test_the_page_shows_the_salon_live_its_posts_replies_and_reactions(salon_studio, page):
    from playwright.sync_api import expect

    addrs, url = salon_studio
    page.goto(url)
    page.wait_for_function("() => window.aurora && window.aurora.snapshots === 1")
    assert page.evaluate("() => window.aurora.mode") == "salon"
    expect(page.locator("#salon")).to_be_visible()
    expect(page.locator("#salon-empty")).to_be_visible()

    ada, bob = agent("ada", addrs.agents), agent("bob", addrs.agents)
    try:
        assert ada.decide(PAINT.format(colour="red", title="Red rooms"))["applied"][-1] == "post"
        first = page.locator('#salon-posts li[data-post="1"]')
        expect(first.locator(".title")).to_have_text("Red rooms")  # live: it came while the page watched
        expect(first.locator(".by")).to_have_text("ada · work 1 · post 1")
        expect(page.locator("#salon-empty")).to_be_hidden()

        answered = bob.decide(f'reply 1 "{MARKUP}"\nreact 1 joy')
        assert len(answered["applied"]) == 2, answered["rejected"]
        expect(first.locator(".replies li")).to_have_count(1)
        expect(first.locator(".replies li .who")).to_have_text("bob")
        expect(first.locator(".replies li q")).to_have_text(MARKUP)  # as text: no element was made of it
        expect(first.locator(".reactions li")).to_have_text(["joy"])
        assert bob.decide(PAINT.format(colour="blue", title="Blue hall"))["applied"][-1] == "post"
        expect(page.locator("#salon-posts li .title")).to_have_text(["Blue hall", "Red rooms"])  # newest first
    finally:
        ada.close()
        bob.close()

    assert first.locator("img").count() == 0 and page.evaluate("() => window.injected") is None
    assert page.evaluate("() => window.aurora.salon") == 4  # two posts, a reply, a reaction: each a message

    # each thumbnail is drawn cell by cell in the palette's colours, blank cells left for the paper
    with httpx.Client(base_url=url, trust_env=False, timeout=10) as http:
        posts = {p["post"]: p for p in http.get("/api/salon").json()["posts"]}
    for number, painted in ((1, "r"), (2, "b")):
        rows = posts[number]["thumb"]
        assert any(painted in row for row in rows)
        shown = page.locator(f'#salon-posts li[data-post="{number}"]').evaluate(THUMB_PIXELS)
        assert (shown["width"], shown["height"]) == (len(rows[0]), len(rows))
        assert shown["data"] == [v for row in rows for code in row for v in rgba(code)]

    # a page that loads now gets the same salon from its snapshot
    page.reload()
    page.wait_for_function("() => window.aurora && window.aurora.snapshots === 1")
    expect(page.locator("#salon-posts li .title")).to_have_text(["Blue hall", "Red rooms"])
    expect(page.locator('#salon-posts li[data-post="1"] .replies li q')).to_have_text(MARKUP)
    expect(page.locator('#salon-posts li[data-post="1"] .reactions li')).to_have_text(["joy"])
    assert page.errors == []
