"""Dates in lead files: the source's format first, else ISO 8601, then day-first export formats."""
from datetime import UTC, datetime

import pytest

from leadops.domain.intake import parse_date


@pytest.mark.parametrize("value, fmt, expected", [
    ("2026-11-20T10:00:00+01:00", None, datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
    ("2026-11-20T10:00:00Z", None, datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ("2026-11-20 10:00:00", None, datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),  # naive: company time (CET)
    ("2026-07-20", None, datetime(2026, 7, 19, 22, 0, tzinfo=UTC)),  # CEST
    ("2026-1-2", None, datetime(2026, 1, 1, 23, 0, tzinfo=UTC)),  # unpadded: not ISO, still a date
    ("20/11/2026 10:30", None, datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
    ("02/03/2026", None, datetime(2026, 3, 1, 23, 0, tzinfo=UTC)),  # day first
    ("2026-20-11", "%Y-%d-%m", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),  # the source's own format wins
    ("2026-11-20", "%d/%m/%Y", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),  # not in it: ISO still read
])
def test_dates_are_read_in_order_and_stored_in_utc(value, fmt, expected):
    assert parse_date(value, fmt, "Europe/Paris") == (expected, None)


def test_no_value_is_no_date_and_a_wrong_one_says_why():
    assert parse_date(None, None, "Europe/Paris") == (None, None)
    assert parse_date("", "%d/%m/%Y", "Europe/Paris") == (None, None)
    dt, why = parse_date("next tuesday", None, "Europe/Paris")
    assert dt is None and why == "'next tuesday' is not a date (ISO 8601 or dd/mm/yyyy)"
    assert parse_date("31/02/2026", "%d/%m/%Y", "Europe/Paris")[1] == "'31/02/2026' is not a date (%d/%m/%Y)"
