"""The live web page (services/audio_gateway/static/) in a real headless Chromium, Debian's, driven by Playwright.

Real processes on free ports: a volatile canvas, two scripted (non-LLM) load agents and `aurora gateway`; a
Replica in this process sees what the canvas published. The page must draw every canvas exactly as the canvas
holds it, and schedule on its AudioContext every note the canvas published after the page's snapshot.

Without /usr/bin/chromium the browser test is skipped, except under CI (CI=true), where it fails: `make test`
installs Debian's chromium. No browser is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import zmq

from proto.ops.table import BLANK, COLOURS
from services.canvas.replica import Replica
from tests.support.processes import ROOT, addr_args, aurora, canvas_process, free_port, stop, wait_until

STATIC = ROOT / "services" / "audio_gateway" / "static"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                 "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
AGENTS = ("ada", "bob")
DECISIONS = 45  # per agent: four works finished (--done-every 10), a fifth begun; ~20 notes each


def require_browser() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = f"no {CHROMIUM} (Debian's chromium: apt-get install chromium; `make test` installs it as root)"
    elif importlib.util.find_spec("playwright") is None:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"the web page's browser test cannot run under CI: {missing}")
    if missing:
        pytest.skip(f"the web page's browser test is skipped: {missing}")


# -- the page's files, without a browser ------------------------------------------------------------------


def test_the_page_knows_the_colour_codes_of_the_op_table():
    """studio.js keeps a copy of proto/ops/table.py's colour codes (a stroke names its colour, cells hold codes)."""
    source = (STATIC / "studio.js").read_text()
    table = re.search(r"COLOUR_CODES = \{(.*?)\};", source, re.S).group(1)
    assert dict(re.findall(r'(\w+): "(\w)"', table)) == {name: c.code for name, c in COLOURS.items()}
    assert f'BLANK = "{BLANK}"' in source


def test_the_page_shows_as_many_posts_as_a_snapshot_carries():
    """salon.js trims the board to what the gateway's snapshot sends (services/audio_gateway/salon.py), so a
    page that loads later shows the posts one that watched all along shows."""
    from services.audio_gateway.salon import SNAPSHOT_POSTS

    assert f"const POSTS_SHOWN = {SNAPSHOT_POSTS};" in (STATIC / "salon.js").read_text()


def test_the_page_loads_nothing_from_another_origin():
    addresses = []
    for path in STATIC.iterdir():
        text = path.read_text()
        addresses += re.findall(r'(?:src|href)="([^"]*)"', text)  # html
        addresses += re.findall(r"url\(([^)]*)\)", text)  # css
        addresses += re.findall(r'^import .* from "([^"]*)";', text, re.M)  # js modules
    assert "app.js" in addresses and "./studio.js" in addresses
    assert [a for a in addresses if "//" in a or ":" in a] == []


def test_without_chromium_the_browser_test_is_skipped_but_under_ci_it_fails(monkeypatch, tmp_path):
    monkeypatch.setitem(globals(), "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no .*chromium"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI: no .*chromium"):
        require_browser()


# -- the page in a browser --------------------------------------------------------------------------------


def gateway_process(port: int, addrs):
    # no record (REDIS_URL empty): the gateway's gallery is what it saw live
    return aurora("gateway", "--port", str(port), "--events", addrs.events, "--snapshots", addrs.snapshots,
                  env_extra={"REDIS_URL": ""})


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start_gateway(port: int, addrs):
    """`aurora gateway` on `port`, once it serves the page."""
    gateway = gateway_process(port, addrs)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: gateway.poll() is not None or answers(url), timeout=30, what="the gateway serves /")
        assert gateway.poll() is None, f"the gateway exited with {gateway.returncode}"
    except BaseException:
        stop(gateway)
        raise
    return gateway


class Studio:
    """A volatile canvas and a gateway in front of it."""

    def __init__(self, addrs):
        self.addrs = addrs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.gateway = start_gateway(self.port, addrs)


@pytest.fixture
def studio():
    with canvas_process() as (_, addrs):
        s = Studio(addrs)
        try:
            yield s
        finally:
            stop(s.gateway)


@pytest.fixture
def page():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)  # for each wait: generous, on a loaded machine
            page.errors = []  # what the page threw or logged as an error: none is expected
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
            yield page
        finally:
            browser.close()


def studio_seq(addrs) -> int:
    """The studio's seq now, from a snapshot."""
    r = Replica(addrs.events, addrs.snapshots)
    try:
        r.sync()
        return r.seq
    finally:
        r.close()


@pytest.fixture
def replica(studio):
    context = zmq.Context()
    r = Replica(studio.addrs.events, studio.addrs.snapshots, context=context)
    assert r.sub.poll(5000), "nothing on the events socket, not even a tick"  # subscribed: no event is missed
    r.sync()
    yield r
    r.close()
    context.destroy(0)


PAINTED = """names => names.every(name => {
    const canvas = document.querySelector(`[data-agent="${name}"] canvas`);
    if (!canvas || !canvas.width) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
})"""

PIXELS = """names => Object.fromEntries(names.map(name => {
    const canvas = document.querySelector(`[data-agent="${name}"] canvas`);
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return [name, {width: canvas.width, height: canvas.height, data: Array.from(data)}];
}))"""


def rgba(code: str) -> list[int]:
    if code == BLANK:
        return [0, 0, 0, 0]  # a blank cell is transparent: the paper behind it shows
    rgb = next(c.rgb for c in COLOURS.values() if c.code == code)
    return [int(rgb[i:i + 2], 16) for i in (1, 3, 5)] + [255]


def screenshot(page) -> None:
    """`make screenshot` (AURORA_SCREENSHOT=docs/studio.png): the page while the agents paint, for the README."""
    target = os.environ.get("AURORA_SCREENSHOT")
    if not target:
        return
    page.screenshot(path=target)
    size = Path(target).stat().st_size
    assert 0 < size < 400_000, f"{target}: {size} bytes, too large for the README"


@pytest.mark.timeout(180)
def test_the_page_draws_every_canvas_and_schedules_every_note(studio, replica, page):
    from playwright.sync_api import expect

    addrs = studio.addrs
    started = time.monotonic()
    page.goto(studio.url)
    page.wait_for_function("() => window.aurora && window.aurora.connected && window.aurora.snapshots === 1")
    page.click("#enable-sound")
    page.wait_for_function("() => window.aurora.audio === 'running'")
    since = page.evaluate("() => window.aurora.snapshotSeq")

    events: Counter[str] = Counter()  # per agent, the events the canvas published after the page's snapshot
    notes: Counter[str] = Counter()
    finished: list[tuple[str, str]] = []  # (agent, work) of each `done`, in seq order

    def follow(until: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while replica.seq < until:
            assert time.monotonic() < deadline, f"the replica is at {replica.seq}, not {until}"
            for msg in replica.poll(0.05):
                if msg.body["seq"] > since:
                    events[msg.body["agent"]] += 1
                    notes[msg.body["agent"]] += msg.body["kind"] == "note"
                    if msg.body["kind"] == "done":
                        finished.append((msg.body["agent"], str(msg.body["data"]["work"])))

    agents = [aurora("scripted-agent", name, "--seed", str(i), "--pace", "0.05", "--done-every", "10",
                     "--decisions", str(DECISIONS), *addr_args(addrs)) for i, name in enumerate(AGENTS)]
    try:
        # while they paint, the page draws: every agent's canvas shows paint at some moment
        page.wait_for_function(PAINTED, arg=list(AGENTS))
        if os.environ.get("AURORA_SCREENSHOT"):  # while they are live and painting, finished works in the gallery
            page.wait_for_function(f"names => [...document.querySelectorAll('#gallery img')].filter(i => i.complete"
                                   f" && i.naturalWidth > 0).length >= 2 && ({PAINTED})(names)", arg=list(AGENTS))
            screenshot(page)
        wait_until(lambda: all(a.poll() is not None for a in agents), timeout=60, what="the agents finish")
        assert [a.returncode for a in agents] == [0, 0]
    finally:
        for a in agents:
            stop(a)

    final = studio_seq(addrs)  # once the agents have left
    follow(final)
    assert replica.counters["snapshots"] == 1, "the replica missed events: the counts below would not be comparable"
    page.wait_for_function(f"() => window.aurora.seq >= {final}")
    state = page.evaluate("() => window.aurora")

    assert state["connected"] and state["seq"] == final
    assert (state["snapshots"], state["resyncs"], state["gaps"]) == (1, 0, 0)
    for name in AGENTS:
        assert notes[name] > 0, f"{name} played no note: the scripted agents changed?"
        assert state["drawn"][name] == events[name]
        assert state["notes"][name] == notes[name]
        assert state["scheduled"][name] == notes[name], f"{name}: scheduled {state['scheduled'][name]} of {notes[name]}"

    # the header counts the agents that joined after the page went live, as well as those it began with
    expect(page.locator("#connection")).to_have_text(f"live · {len(replica.canvases)} agents")

    # every pixel is its cell's colour, as the canvas holds it
    pixels = page.evaluate(PIXELS, list(AGENTS))
    for name in AGENTS:
        canvas = replica.canvases[name]
        shown = pixels[name]
        assert (shown["width"], shown["height"]) == (canvas.width, canvas.height)
        expected = [v for row in canvas.rows() for code in row for v in rgba(code)]
        assert shown["data"] == expected, f"{name}'s canvas on the page differs from the canvas's"
        card = page.locator(f'[data-agent="{name}"]')  # its words are written at the next animation frame
        expect(card.locator(".status")).to_have_text("away")  # it said bye
        expect(card.locator(".last")).to_have_text("#4 “Scripted work”")

    # the gallery: every finished work, newest first, its PNG loaded
    page.wait_for_function(f"() => document.querySelectorAll('#gallery img').length === {len(finished)}"
                           " && [...document.querySelectorAll('#gallery img')].every(i => i.naturalWidth > 0)")
    shown = page.eval_on_selector_all("#gallery li", "lis => lis.map(li => [li.dataset.agent, li.dataset.work])")
    assert [tuple(w) for w in shown] == finished[::-1] and len(finished) == 2 * (DECISIONS // 10)
    expect(page.locator("#gallery li .title").first).to_have_text("Scripted work")

    # on a phone: nothing wider than the screen, the canvases scaled up to its width, their pixels crisp
    page.set_viewport_size({"width": 390, "height": 844})
    layout = page.evaluate("""() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        widths: [...document.querySelectorAll('.agent canvas')].map(c => c.getBoundingClientRect().width),
        rendering: getComputedStyle(document.querySelector('.agent canvas')).imageRendering,
    })""")
    assert layout["overflow"] <= 0
    assert all(320 <= w <= 390 for w in layout["widths"]), layout["widths"]
    assert layout["rendering"] == "pixelated"

    assert page.errors == []
    print(f"browser test: {time.monotonic() - started:.1f}s from page load, seq {final}, notes {dict(notes)}")



@pytest.mark.timeout(120)
def test_the_page_reconnects_to_a_restarted_gateway_and_catches_up(studio, page):
    """The gateway goes away while the studio goes on; the page retries with backoff, and takes a fresh snapshot
    from the gateway that comes back on the same port."""
    from playwright.sync_api import expect

    page.goto(studio.url)
    page.wait_for_function("() => window.aurora.connected && window.aurora.snapshots === 1")
    assert page.evaluate("() => window.aurora.mode") == "isolated"
    expect(page.locator("#salon")).to_be_hidden()  # an isolated studio has no salon to show
    stop(studio.gateway)
    page.wait_for_function("() => !window.aurora.connected")
    expect(page.locator("#connection")).to_have_attribute("data-state", "closed")
    agent = aurora("scripted-agent", "ada", "--decisions", "10", *addr_args(studio.addrs))
    try:
        assert agent.wait(30) == 0
    finally:
        stop(agent)
    studio.gateway = start_gateway(studio.port, studio.addrs)
    seq = studio_seq(studio.addrs)
    page.wait_for_function(f"() => window.aurora.snapshots === 2 && window.aurora.seq === {seq}")
    state = page.evaluate("() => window.aurora")
    assert state["connected"] and state["reconnects"] >= 1 and state["resyncs"] == 0
    expect(page.locator('[data-agent="ada"] .status')).to_have_text("away")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    # while the gateway was away the browser said so in its console (connection refused), and nothing else
    assert [e for e in page.errors if "WebSocket connection to" not in e] == []
