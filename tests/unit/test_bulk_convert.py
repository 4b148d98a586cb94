"""bulk_insert's column conversion: once per distinct value where that gives the same values as per row."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg

from leadops.db.bulk import _converted
from leadops.db.models import UTCDateTime


def _per_row(values, process):
    return [v if v is None else process(v) for v in values]


def test_repeated_values_convert_as_one_by_one():
    now = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    columns = [[True, False, None, True, False] * 20, [now, now + timedelta(seconds=1), None, now] * 25]
    for dialect in (sqlite.dialect(), psycopg.dialect()):
        for values, kind in zip(columns, (Boolean(), UTCDateTime()), strict=True):
            process = kind._cached_bind_processor(dialect)
            assert _converted(values, process) == _per_row(values, process)


def test_mixed_types_and_unhashable_values_convert_one_by_one():
    calls = []

    def process(v):
        calls.append(v)
        return repr(v)

    mixed = [True, 1, True, 1] * 10  # equal as dict keys, not as values
    assert _converted(mixed, process) == ["True", "1", "True", "1"] * 10
    assert len(calls) == 40
    documents = [{"a": 1}, None, {"a": 1}]
    assert _converted(documents, process) == ["{'a': 1}", None, "{'a': 1}"]


def test_a_repeated_column_calls_the_processor_once_per_value():
    calls = []

    def process(v):
        calls.append(v)
        return v * 2

    assert _converted([3, None, 3, 4, 3, 3, 4, None], process) == [6, None, 6, 8, 6, 6, 8, None]
    assert sorted(calls) == [3, 4]
