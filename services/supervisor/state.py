"""The running studio, as `aurora up` leaves it for `aurora status`: data/studio.json, rewritten when a
child starts, exits or restarts, and removed when the studio stops."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from services.base.datadir import data_dir

STATE_FILE = "studio.json"


class StudioState:
    def __init__(self, data: Path, gateway_url: str, events: str, keys_env: dict[str, str] | None = None):
        self.path = Path(data) / STATE_FILE
        # keys_env: the key files (not keys) of the studio's own processes when its canvas takes only CurveZMQ.
        self.head = {"pid": os.getpid(), "started_at": time.time(), "gateway": gateway_url, "events": events,
                     "keys": keys_env or {}}
        self.last: list[dict] | None = None

    def update(self, children) -> None:
        """Write the file if any child's state changed since the last write (whole, then renamed)."""
        states = [child.state() for child in children]
        if states == self.last:
            return
        self.last = states
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.head, "children": states}, indent=1))
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read(data: Path) -> dict | None:
    """The state `aurora up` left, or None if there is none (never started, or stopped cleanly)."""
    try:
        return json.loads((Path(data) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def waiting_until(data: Path, child: str) -> float | None:
    """Until when `aurora up` has a child wait its turn (services/supervisor/turns.py), or None."""
    found = read(data) or {}
    for entry in found.get("children", []):
        if entry.get("name") == child:
            return entry.get("waiting_until")
    return None


READY_DIR = "ready"  # data/ready/<agent>: touched by an agent once its model is loaded, as it starts painting


def mark_ready(data: Path, agent: str) -> None:
    """Say that `agent` has loaded its model and paints from now (read by `aurora up`'s turns: `ready_at`)."""
    folder = Path(data) / READY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / agent).touch()


def ready_at(data: Path, agent: str) -> float | None:
    """When `agent` last said it was ready (`mark_ready`), or None."""
    try:
        return (Path(data) / READY_DIR / agent).stat().st_mtime
    except OSError:
        return None


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True


def local_keys(events: str) -> dict[str, str]:
    """For a viewer on the studio's host (peek, watch, status, health) given no keys and following `events`:
    the studio's own key files while `aurora up` runs that canvas on CurveZMQ (`--curve`, or an address off
    loopback); else none (another canvas, a studio that stopped or was killed, a plaintext one)."""
    found = read(data_dir(create=False))
    if not found or found.get("events") != events or not alive(found.get("pid")):
        return {}
    return dict(found.get("keys") or {})
