from leadops.reporting.numbers import DASH, count, decimal, percent, table_cells


def test_counts_have_thousands_separators_not_exponents():
    assert count(104500) == "104,500"
    assert count(104500.0) == "104,500"
    assert count(7) == "7"
    assert count(None) == DASH


def test_ratios_print_as_percentages_and_missing_rates_as_a_dash():
    assert percent(0.766) == "76.6%"
    assert percent(1) == "100.0%"
    assert percent(0.5, digits=0) == "50%"
    assert percent(None) == DASH


def test_decimals_and_table_rows():
    assert decimal(1234.56) == "1,234.6"
    row = table_cells({"sdr": "s.dubois", "leads": 12000, "rate": 0.25, "ok": True, "none": None, "p95_ms": 1234.5})
    assert row == {"sdr": "s.dubois", "leads": "12,000", "rate": "0.25", "ok": True, "none": None, "p95_ms": "1,234.5"}
