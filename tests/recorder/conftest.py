"""The recorder tests' record: tests/support/record_writer.py's, in database 1 of the real valkey server of
tests/conftest.py."""

from __future__ import annotations

import pytest
import redis

from tests.support.record_writer import RecordWriter, write_record

@pytest.fixture
def r(record_db):
    """A client (bytes, as the readers want) to an empty database."""
    return record_db


@pytest.fixture
def record(r) -> RecordWriter:
    return write_record(r)


class Reports(list):
    """An on_corrupt that keeps what it is told, as (key, entry_id, reason)."""

    def __call__(self, key: str, entry_id: str, reason: str) -> None:
        self.append((key, entry_id, reason))

    def where(self) -> list[tuple[str, str]]:
        return [(key, entry_id) for key, entry_id, _ in self]


@pytest.fixture
def reports() -> Reports:
    return Reports()


def replace_entry(r: redis.Redis, key: str, entry_id: str, fields: dict) -> None:
    """Rewrite stream `key` with the entry `entry_id` holding `fields` instead (streams cannot be edited)."""
    entries = r.xrange(key)
    assert entry_id.encode() in [i for i, _ in entries], f"{key} has no entry {entry_id}"
    r.delete(key)
    for i, old in entries:
        r.xadd(key, fields if i == entry_id.encode() else old, id=i)
