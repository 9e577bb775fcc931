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
    def __init__(self, data: Path, gateway_url: str, keys_env: dict[str, str] | None = None):
        self.path = Path(data) / STATE_FILE
        # keys_env: the key files (not keys) of the studio's own processes when its canvas takes only CurveZMQ.
        self.head = {"pid": os.getpid(), "started_at": time.time(), "gateway": gateway_url, "keys": keys_env or {}}
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


def local_keys() -> dict[str, str]:
    """For a viewer on the studio's host (peek, watch, status, health) given no keys: those of the studio's own
    processes while `aurora up` runs it on CurveZMQ (`--curve`, or an address off loopback); else none."""
    found = read(data_dir(create=False))
    return dict(found.get("keys") or {}) if found else {}
