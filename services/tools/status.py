"""`aurora status`: what runs, and how each agent is doing (decisions per minute, last feeling, work).

Three sources, each optional: the state `aurora up` keeps in data/studio.json (its processes), the canvas's
snapshot (who is live, feeling, work, title; over CurveZMQ given --curve-server-key/--curve-key, as every
client of the canvas takes them), and the record (decisions per minute over the last minutes: the distinct
decisions, by the `parent_id` of their events, of each agent). It reads, and starts nothing but,
where the studio is down, the record's Redis for the time it reads.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import redis

from proto.envelope import decode
from proto.errors import ProtocolError
from proto.events import OP_KINDS
from services.base import addresses, curve
from services.base.datadir import data_dir
from services.recorder import archive
from services.supervisor import state as studio_state
from services.tools.canvas_view import snapshot
from services.tools.record import NoRecord, add_arguments as add_record_arguments, open_record

WINDOW = 300.0  # seconds of the record that decisions per minute are counted over
SCAN_LIMIT = 50_000  # events read back at most
DECISION_KINDS = OP_KINDS | {"rejected"}


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="what runs, each agent's decisions per minute and last feeling")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    add_record_arguments(p)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the canvas's snapshot")
    p.set_defaults(run=run)


def decisions_per_minute(r: redis.Redis, now: float, window: float = WINDOW) -> dict[str, float]:
    """Each agent's decisions per minute over the record's last `window` seconds."""
    decisions: dict[str, set] = defaultdict(set)
    last, read = archive.last_seq(r), 0
    while last > 0 and read < SCAN_LIMIT:
        page = r.xrevrange(archive.EVENTS, max=f"{last}-0", count=archive.PAGE)
        if not page:
            break
        for entry_id, fields in page:
            read += 1
            try:
                msg = decode(fields[b"event"], limit=archive.FRAME_LIMIT, accept=frozenset({"event"}))
            except (KeyError, ProtocolError):
                continue  # a corrupt entry counts for nothing here; `aurora export` reports them
            if msg.time < now - window:
                return {agent: len(ids) * 60.0 / window for agent, ids in decisions.items()}
            if msg.body["kind"] in DECISION_KINDS and msg.parent_id:
                decisions[msg.body["agent"]].add(msg.parent_id)
        last = int(page[-1][0].split(b"-")[0]) - 1
    return {agent: len(ids) * 60.0 / window for agent, ids in decisions.items()}


def _ago(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _processes(now: float) -> list[str]:
    found = studio_state.read(data_dir(create=False))
    if found is None or not studio_state.alive(found.get("pid")):
        return ["Aurora studio: not running (start it with `make up`)"]
    lines = [f"Aurora studio: running (supervisor pid {found['pid']}, up {_ago(now - found['started_at'])}), "
             f"open {found['gateway']}",
             f"  {'process':<28}{'pid':>8}  {'up':>14}  restarts"]
    for child in found["children"]:
        running = child["running"] and studio_state.alive(child["pid"])
        if child.get("waiting_until") and not running:  # taking turns (`aurora up --plan`)
            up = "waits to " + time.strftime("%H:%M", time.localtime(child["waiting_until"]))
        else:
            up = _ago(now - child["started_at"]) if running else "down"
        lines.append(f"  {child['name']:<28}{child['pid'] or '-':>8}  {up:>14}  {child['restarts']}")
    return lines


def run(args: argparse.Namespace) -> int:
    now = time.time()
    print("\n".join(_processes(now)))
    try:
        replica = snapshot(args, "status")
        canvases, statuses, canvas_note = replica.canvases, dict(replica.status), ""
        for name, act in replica.activity.items():  # an agent away on its turn's rest says so
            if statuses.get(name) == "away" and (act or {}).get("activity") == "waiting":
                statuses[name] = "waiting"
    except TimeoutError as exc:  # says why where it knows: a refused key, a failed handshake
        canvases, statuses, canvas_note = {}, {}, f"the canvas does not answer: {exc}"
    rates: dict[str, float] = {}
    record_note = ""
    try:
        with open_record(args) as r:
            rates = decisions_per_minute(r, now)
    except (NoRecord, redis.RedisError, OSError) as exc:
        record_note = str(exc)
    names = sorted(set(canvases) | set(rates))
    if canvases or not canvas_note:  # the canvas answered: its mode, and in a salon how many posts it holds
        posts = len(replica.board.posts)
        salon = f", {posts} post{'' if posts == 1 else 's'} in the salon" if replica.mode == "salon" else ""
        print(f"\n  mode: {replica.mode}{salon}")
    print(f"\n  {'agent':<20}{'status':<9}{'decisions/min':>14}  {'feeling':<14}{'work':>5}  title")
    for name in names:
        canvas = canvases.get(name)
        st = canvas.state() if canvas else {}
        title = f'"{st["title"]}"' if st.get("title") else "-"
        print(f"  {name:<20}{statuses.get(name, '?'):<9}{rates.get(name, 0.0):>14.1f}  "
              f"{st.get('feel') or '-':<14}{st.get('work', '-'):>5}  {title}")
    if not names:
        print("  (no agent yet)")
    for note in (canvas_note, record_note):
        if note:
            print(f"  note: {note}")
    return 0
