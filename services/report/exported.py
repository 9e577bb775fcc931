"""The events of an `aurora export` folder (its events.jsonl, services/tools/export_cmd.py), as the record's
event messages, for `aurora report --beside`: another run is compared from its export, with no second Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from proto.envelope import Message

EVENTS = "events.jsonl"


class NoExport(Exception):
    """The path holds no export; the message says what to give."""


def events_file(path: Path) -> Path:
    file = path / EVENTS if path.is_dir() else path
    if not file.is_file():
        raise NoExport(f"{path} is no `aurora export` folder (no {EVENTS}); make one with `aurora export DIR` "
                       "on the other run's data")
    return file


class ExportedEvents:
    """Iterating yields each line's event in the file's order; lines that are no event are counted in `bad`."""

    def __init__(self, path: Path):
        self.file = events_file(path)
        self.bad = 0

    def __iter__(self) -> Iterator[Message]:
        with self.file.open() as lines:
            for line in lines:
                try:
                    e = json.loads(line)
                    body = {"seq": int(e["seq"]), "agent": str(e["agent"]), "kind": str(e["kind"]), "data": e["data"]}
                    yield Message("event", body, "canvas", id=str(e["id"]), parent_id=e.get("parent_id"),
                                  time=float(e["time"]))
                except (ValueError, KeyError, TypeError):
                    self.bad += 1
