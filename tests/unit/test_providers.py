"""Provider building blocks: value coercion, JSON paths, backoff, rate limiter, circuit breaker."""
import random

import pytest

from leadops.providers.http import band_from_range, coerce, dig_any, jittered_backoff
from leadops.providers.limits import CircuitBreaker, RateLimiter


@pytest.mark.parametrize(("value", "band"), [
    ("51-250", "51-200"), ("251-1K", "201-1000"), ("1K-5K", "1001-5000"), ("10001+", "5001+"), ("1-10", "1-10"),
    ("201-500", "201-1000"), ("", None), ("lots", None),
])
def test_band_from_provider_ranges(value, band):
    assert band_from_range(value) == band


def test_coerce_maps_values_to_leadops_vocabulary():
    out = coerce({"employee_count": "1,200", "employee_band": "51-250", "country": "Germany",
                  "technologies": "HubSpot; Salesforce,HubSpot", "linkedin_url": "linkedin.com/company/x",
                  "industry": "  Software ", "hq_city": {"nested": 1}, "legal_name": None})
    assert out == {"employee_count": 1200, "employee_band": "1001-5000", "country": "DE",
                   "technologies": ["HubSpot", "Salesforce"], "linkedin_url": "https://www.linkedin.com/company/x",
                   "industry": "Software"}


def test_dig_any_takes_the_first_present_alternative():
    data = {"legalName": None, "name": "Acme", "metrics": {"employees": 12}}
    assert dig_any(data, "legalName|name") == "Acme" and dig_any(data, "metrics.employees") == 12
    assert dig_any(data, "metrics.nope|geo.city") is None


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    waits = [jittered_backoff(a, rng) for a in range(10)]
    assert 0.25 <= waits[0] <= 0.5 and 2.0 <= waits[3] <= 4.0 and max(waits) <= 30.0


def test_rate_limiter_spaces_calls_without_bursts():
    now = [100.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == [0.25, 0.25, 0.25, 0.25]
    now[0] += 10  # idle time is not banked as a burst
    limiter.acquire()
    limiter.acquire()
    assert slept[-1] == 0.25


def test_circuit_breaker_opens_half_opens_and_closes():
    t = [0.0]
    cb = CircuitBreaker(threshold=2, cooldown=60, clock=lambda: t[0])
    assert cb.allow()
    cb.record(False, "HTTP 500")
    assert cb.allow() and cb.state.state == "closed"
    cb.record(False, "HTTP 500")
    assert cb.state.state == "open" and not cb.allow() and cb.opened == 1
    t[0] = 61
    assert cb.allow() and cb.state.state == "half_open"
    assert not cb.allow()  # one trial call at a time
    cb.record(False, "HTTP 502")
    assert cb.state.state == "open" and cb.state.opened_until == 121
    t[0] = 122
    assert cb.allow()
    cb.record(True)
    assert cb.state.state == "closed" and cb.state.failures == 0


def test_coerce_person_maps_levels_and_roles():
    from leadops.providers.http import coerce_person

    assert coerce_person({"job_title": " Head of HR ", "seniority": ["senior", "director"],
                          "department": "human_resources"}) == {
        "job_title": "Head of HR", "seniority": "director", "department": "hr"}
    assert coerce_person({"seniority": "cxo", "department": "astrology"}) == {"seniority": "c_level"}
    assert coerce_person({"seniority": None, "department": None}) == {}
