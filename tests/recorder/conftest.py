"""The recorder tests' record: tests/support/record_writer.py's, in database 1 of the real valkey server of
tests/conftest.py."""

from __future__ import annotations

import pytest

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
