"""The running studio, as `aurora up` leaves it for `aurora status`: data/studio.json, rewritten when a
child starts, exits or restarts, and removed when the studio stops."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

STATE_FILE = "studio.json"


class StudioState:
    def __init__(self, data: Path, gateway_url: str):
        self.path = Path(data) / STATE_FILE
        self.head = {"pid": os.getpid(), "started_at": time.time(), "gateway": gateway_url}
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
