"""`aurora watch`: every canvas of the studio, live and in colour, in a terminal (joins late, by snapshot).

Three layers: `Studio` keeps what a viewer knows (a `Replica` of the canvases, and the latest notes and
feelings it has seen); `render` is pure (a `Frame` in, a rich renderable out, so it is tested without a
terminal); `watch` is the loop that polls the replica and redraws at most `--refresh` times a second.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from rich import box
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from proto.canvas import CanvasModel
from proto.envelope import Message
from proto.ops.table import BLANK, COLOURS
from services.base import addresses, curve
from services.canvas.replica import Replica
from services.tools.canvas_view import viewer_keys

BLANK_RGB = "#ffffff"  # an unpainted cell is paper white, as in the record's PNGs (services/recorder/png.py)
CODE_RGB = {BLANK: BLANK_RGB, **{c.code: c.rgb for c in COLOURS.values()}}
PANEL_MIN = 38  # columns: the tools line ("brush circle  pen down  tempo 240") fits unbroken
KEEP = 8  # notes shown, and feelings kept per agent
IDLE_REDRAW = 1.0  # seconds: with nothing new, redraw this often anyway (a resized terminal, a clock)
STATUS_STYLE = {"live": "bold green", "missing": "bold yellow", "away": "dim"}


def _port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


CANVAS_PORTS = {key: _port(default) for key, (_, default) in addresses.DEFAULTS.items()}


# -- addresses ---------------------------------------------------------------------------------------------

def canvas_host(value: str) -> str:
    """The host named by `--canvas` (tcp://HOST[:PORT] or HOST[:PORT]), as ZeroMQ writes it in an address.

    The port, if given, must be one of the canvas's default ports: the others are derived from the host, and a
    canvas on other ports cannot be guessed (give --events and --snapshots then)."""
    try:
        parts = urlsplit(value if "://" in value else "tcp://" + value)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not tcp://HOST[:PORT]: {value!r} ({exc})") from None
    if parts.scheme != "tcp" or not host or parts.path not in ("", "/") or parts.query or parts.username:
        raise argparse.ArgumentTypeError(f"not tcp://HOST[:PORT]: {value!r}")
    if port is not None and port not in CANVAS_PORTS.values():
        ports = ", ".join(map(str, sorted(CANVAS_PORTS.values())))
        raise argparse.ArgumentTypeError(
            f"port {port} is not one of the canvas's default ports ({ports}); for a canvas on other ports "
            "give --events and --snapshots")
    return f"[{host}]" if ":" in host else host


def resolve_addresses(canvas: str | None, events: str | None, snapshots: str | None) -> tuple[str, str]:
    """The events and snapshots addresses: explicit options first, then --canvas's host with the default ports,
    then the environment, then the built-in defaults (services.base.addresses)."""
    if canvas:
        host = canvas_host(canvas)
        events = events or f"tcp://{host}:{CANVAS_PORTS['events']}"
        snapshots = snapshots or f"tcp://{host}:{CANVAS_PORTS['snapshots']}"
    addrs = addresses.CanvasAddresses.from_env(events=events, snapshots=snapshots)
    return addrs.events, addrs.snapshots


# -- what the viewer knows ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoteSeen:
    seq: int
    agent: str
    pitch: str
    duration: str
    velocity: int
    color: str
    time: float


@dataclass(frozen=True)
class Frame:
    """Everything one screen shows. `notes` oldest first; `feelings` per agent, newest first."""

    seq: int
    canvases: Mapping[str, CanvasModel]
    status: Mapping[str, str] = field(default_factory=dict)
    activity: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    notes: Sequence[NoteSeen] = ()
    feelings: Mapping[str, Sequence[str]] = field(default_factory=dict)
    agents: Sequence[str] = ()  # only these (in this order), if any
    source: str = ""
    problem: str | None = None


class Studio:
    """A replica plus the latest notes and feelings it has seen since joining (a snapshot carries neither
    history: each agent's current feeling only). With `agents`, the others' notes are not kept."""

    def __init__(self, replica: Replica, agents: Sequence[str] = (), keep: int = KEEP):
        self.replica = replica
        self.agents = tuple(dict.fromkeys(agents))
        self.keep = keep
        self.notes: deque[NoteSeen] = deque(maxlen=keep)
        self.feelings: dict[str, deque[str]] = {}

    def wanted(self, agent: str) -> bool:
        return not self.agents or agent in self.agents

    def absorb(self, msgs: Sequence[Message]) -> None:
        for msg in msgs:
            body = msg.body
            agent, kind, data = body["agent"], body["kind"], body["data"]
            if kind == "note" and self.wanted(agent):
                self.notes.append(NoteSeen(body["seq"], agent, str(data.get("pitch")), str(data.get("duration")),
                                           int(data.get("velocity", 0)), str(data.get("color")), msg.time))
            elif kind == "feel":
                self._felt(agent, str(data.get("feel")))
        self.reconcile()

    def reconcile(self) -> None:
        """Each agent's current feeling heads its list (after a snapshot, whose events were never seen)."""
        for name, canvas in self.replica.canvases.items():
            if canvas.feel:
                trail = self.feelings.get(name)
                if not trail or trail[0] != canvas.feel:
                    self._felt(name, canvas.feel)

    def _felt(self, agent: str, feel: str) -> None:
        self.feelings.setdefault(agent, deque(maxlen=self.keep)).appendleft(feel)

    def frame(self, source: str = "", problem: str | None = None) -> Frame:
        r = self.replica
        return Frame(r.seq, r.canvases, r.status, r.activity, tuple(self.notes),
                     {name: tuple(trail) for name, trail in self.feelings.items()}, self.agents, source, problem)


# -- rendering (pure) --------------------------------------------------------------------------------------

def _rgb(name: str) -> str:
    colour = COLOURS.get(name)
    return colour.rgb if colour else BLANK_RGB


def _ink(rgb: str) -> str:
    """Black or white, whichever reads on the background `rgb`."""
    r, g, b = (int(rgb[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def swatch(name: str) -> Text:
    return Text.assemble(("■", Style(color=_rgb(name))), f" {name}")


def canvas_text(canvas: CanvasModel, cell_width: int, colour: bool) -> Text:
    """The cells, each `cell_width` blank characters on its colour, the cursor marked; without colour, the colour
    codes of the agent's own view (`@` the cursor)."""
    if not colour:
        return Text(canvas.view(coords=False), no_wrap=True, overflow="crop")
    text = Text(no_wrap=True, overflow="crop")
    cx, cy = canvas.cursor
    mark = "<>" if cell_width == 2 else "@"
    for y, row in enumerate(canvas.rows()):
        if y:
            text.append("\n")
        x = 0
        for code, run in groupby(row):  # a span per run of one colour, not per cell
            n, rgb = len(list(run)), CODE_RGB[code]
            if y == cy and x <= cx < x + n:
                before, after = cx - x, x + n - cx - 1
                text.append(" " * (before * cell_width), Style(bgcolor=rgb))
                text.append(mark, Style(color=_ink(rgb), bgcolor=rgb, bold=True))
                text.append(" " * (after * cell_width), Style(bgcolor=rgb))
            else:
                text.append(" " * (n * cell_width), Style(bgcolor=rgb))
            x += n
    return text


def _activity(activity: Mapping[str, Any] | None) -> Text | None:
    if not activity or not activity.get("activity"):
        return None
    line = Text(str(activity["activity"]), style="italic")
    if activity.get("until"):
        line.append(" until " + time.strftime("%H:%M:%S", time.localtime(activity["until"])))
    if activity.get("reason"):
        line.append(f" ({activity['reason']})", style="dim")
    return line


def agent_panel(name: str, frame: Frame, cell_width: int, colour: bool, max_width: int) -> Panel:
    canvas = frame.canvases.get(name)
    if canvas is None:
        return Panel(Text("not in the studio", style="dim"), title=Text(name, style="bold"), title_align="left",
                     width=min(PANEL_MIN, max_width))
    status = frame.status.get(name, "away")
    s = canvas.state()
    title = Text.assemble((name, "bold"), " ", (status, STATUS_STYLE.get(status, "")))
    work = Text(f"work {s['work']} ")
    work.append(repr(s["title"]) if s["title"] else "untitled", style="bold" if s["title"] else "dim")
    feel = s["feel"] or "-"
    mood = Text.assemble(("feel ", "dim"), (feel, "bold magenta"), "  ", swatch(s["color"]))
    tools = Text.assemble(("brush ", "dim"), s["brush"], ("  pen ", "dim"), s["pen"], ("  tempo ", "dim"),
                          str(s["tempo"]))
    lines: list[RenderableType] = [work, mood, tools]
    doing = _activity(frame.activity.get(name))
    if doing is not None:
        lines.append(doing)
    lines.append(canvas_text(canvas, cell_width, colour))
    width = min(max(canvas.width * cell_width + 4, PANEL_MIN), max_width)
    return Panel(Group(*lines), title=title, title_align="left", width=width, box=box.ROUNDED)


def notes_table(frame: Frame) -> RenderableType:
    if not frame.notes:
        return Text("no notes since joining", style="dim")
    table = Table("seq", "agent", "pitch", "duration", "velocity", "colour", "at", title="latest notes",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for n in reversed(frame.notes):
        table.add_row(str(n.seq), n.agent, Text(n.pitch, style="bold"), n.duration, str(n.velocity), swatch(n.color),
                      Text(time.strftime("%H:%M:%S", time.localtime(n.time)), style="dim"))
    return table


def feelings_text(frame: Frame) -> Text:
    names = [n for n in (frame.agents or sorted(frame.feelings)) if frame.feelings.get(n)]
    if not names:
        return Text("no emotions named yet", style="dim")
    text = Text("latest emotions (newest first)\n", style="italic")
    width = max(map(len, names))
    for i, name in enumerate(names):
        if i:
            text.append("\n")
        text.append(f"{name:<{width}}  ", style="bold")
        for j, feel in enumerate(frame.feelings[name]):
            text.append(" < " if j else "", style="dim")
            text.append(feel, style="bold magenta" if j == 0 else "magenta")
    return text


def render(frame: Frame, width: int = 80, colour: bool = True) -> RenderableType:
    """One screen: a heading, a panel per agent in a grid that fits `width`, the latest notes and emotions.
    Cells are two characters wide when the widest canvas fits the width that way, else one."""
    names = list(frame.agents) if frame.agents else sorted(frame.canvases)
    live = sum(frame.status.get(n) == "live" for n in names)
    head = Text.assemble(("aurora watch", "bold"), f"  seq {frame.seq}  {len(names)} canvas(es), {live} live")
    if frame.source:
        head.append(f"  {frame.source}", style="dim")
    parts: list[RenderableType] = [head]
    if frame.problem:
        parts.append(Text(frame.problem, style="bold red"))
    widest = max((frame.canvases[n].width for n in names if n in frame.canvases), default=0)
    cell_width = 2 if colour and widest * 2 + 4 <= width else 1
    panels = [agent_panel(n, frame, cell_width, colour, width) for n in names]
    parts.append(Columns(panels) if panels else Text("no canvases yet", style="dim"))
    parts += [notes_table(frame), feelings_text(frame)]
    return Group(*parts)


class Screen:
    """`render` at the width of the console drawing it (so a resized terminal is followed), with colour blocks
    when the console has colour (FORCE_COLOR and NO_COLOR are honoured), the colour codes when not."""

    def __init__(self, frame: Frame):
        self.frame = frame

    def __rich_console__(self, console: Console, options):
        yield render(self.frame, options.max_width, console.color_system is not None and not console.no_color)


# -- the loop ----------------------------------------------------------------------------------------------

def watch(studio: Studio, console: Console, *, refresh: float = 4.0, timeout: float = 5.0, source: str = "",
          duration: float | None = None) -> None:
    """Poll the replica and redraw: at most `refresh` times a second while events come, every IDLE_REDRAW
    seconds when none do. A snapshot the canvas does not answer is shown and retried. The loop ends after
    `duration` seconds (None: never; Ctrl-C, a KeyboardInterrupt, ends it too)."""
    replica = studio.replica
    period = 1.0 / refresh
    end = None if duration is None else time.monotonic() + duration
    problem: str | None = None
    changed, last, next_frame = True, 0.0, 0.0
    with Live(Screen(studio.frame(source)), console=console, auto_refresh=False, redirect_stdout=False,
              redirect_stderr=False) as live:
        while True:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            due = next_frame if changed else max(next_frame, last + IDLE_REDRAW)
            if now >= due:
                live.update(Screen(studio.frame(source, problem)), refresh=True)
                changed, last, next_frame = False, now, now + period
                continue
            wait = (due if end is None else min(due, end)) - now
            snapshots = replica.counters["snapshots"]
            try:
                if problem:
                    replica.sync(timeout)
                    problem = None
                msgs = replica.poll(wait)
            except TimeoutError as exc:
                problem, changed = f"canvas unreachable, retrying: {exc}", True
                continue
            if msgs or replica.counters["snapshots"] != snapshots:
                studio.absorb(msgs)
                changed = True
        live.update(Screen(studio.frame(source, problem)))  # drawn as Live stops


# -- the command -------------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser(
        "watch", help="watch every canvas live in the terminal (joins late, by snapshot)",
        description="Every canvas of the studio, live and in colour, with the latest notes and emotions. "
                    "Where the canvas is: --events and --snapshots if given; else --canvas's host with the "
                    f"canvas's default ports ({CANVAS_PORTS['events']} events, {CANVAS_PORTS['snapshots']} "
                    "snapshots); else the environment; else the built-in defaults. Colour follows the terminal "
                    "(FORCE_COLOR=1 keeps it in a pipe, NO_COLOR=1 drops it: cells are then their colour codes).")
    for key in ("events", "snapshots"):
        var, default = addresses.DEFAULTS[key]
        p.add_argument(f"--{key}", default=None, metavar="ADDR",
                       help=f"the canvas {key} socket (env {var}, default {default})")
    p.add_argument("--canvas", type=_checked_canvas, metavar="tcp://HOST[:PORT]",
                   help="the canvas's host (say, from another machine): events on its port "
                        f"{CANVAS_PORTS['events']}, snapshots on {CANVAS_PORTS['snapshots']}; PORT, if given, must "
                        "be one of the canvas's default ports; --events/--snapshots win over it")
    curve.add_client_arguments(p)
    p.add_argument("--refresh", type=_positive, default=4.0, metavar="FPS", help="redraws a second at most (4)")
    p.add_argument("--agent", action="append", default=[], metavar="NAME", help="only this agent (repeatable)")
    p.add_argument("--once", action="store_true", help="print one frame after joining, and exit")
    p.add_argument("--timeout", type=_positive, default=5.0, metavar="S",
                   help="seconds to wait for the canvas's snapshot (5)")
    p.set_defaults(run=run)


def _checked_canvas(value: str) -> str:
    canvas_host(value)  # raises ArgumentTypeError: argparse says what is wrong and exits 2
    return value


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return number


def run(args: argparse.Namespace) -> int:
    events, snapshots = resolve_addresses(args.canvas, args.events, args.snapshots)
    replica = Replica(events, snapshots, sender="watch", curve=viewer_keys(args, events, snapshots, "watch"))
    studio = Studio(replica, args.agent)
    console = Console()
    try:
        try:
            replica.sync(timeout=args.timeout)
        except TimeoutError as exc:
            print(f"aurora watch: {exc}")
            return 1
        studio.reconcile()
        if args.once:
            console.print(Screen(studio.frame(events)))
        else:
            watch(studio, console, refresh=args.refresh, timeout=args.timeout, source=events)
        return 0
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a viewer leaves, even while it waits for the first snapshot
    finally:
        replica.close()

