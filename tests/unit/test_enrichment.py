"""Enrichment decisions: the waterfall's stopping rule, field precedence, conflicts, misses and errors."""
from leadops.domain.enrichment import (
    Answer, EnrichmentStatus, LookupResult, combine, first_values, person_fields_to_fill, replaceable_by, waterfall,
)

REQUIRED = ["industry", "employee_band"]


def hit(**fields):
    return LookupResult("hit", fields)


def asker(results, asked):
    def ask(name):
        asked.append(name)
        return Answer(name, results[name])
    return ask


def test_combine_applies_precedence_and_status():
    answers = [Answer("a", hit(industry="Software", employee_band="11-50")),
               Answer("b", hit(industry="IT", hq_city="Paris"), from_cache=True)]
    out = combine(answers, {"industry": ["b"]}, REQUIRED)
    assert out.status == "enriched" and out.values["industry"] == "IT"
    assert out.source == {"industry": "b", "employee_band": "a", "hq_city": "b"}


def test_without_precedence_the_first_provider_in_waterfall_order_wins_a_conflict():
    answers = [Answer("a", hit(industry="Software")), Answer("b", hit(industry="IT", employee_band="11-50"))]
    out = combine(answers, {}, REQUIRED)
    assert out.values == {"industry": "Software", "employee_band": "11-50"}
    assert out.source == {"industry": "a", "employee_band": "b"}


def test_a_preferred_provider_without_a_value_gives_way_to_the_next():
    answers = [Answer("a", hit(industry="Software")), Answer("b", hit(industry=""))]
    out = combine(answers, {"industry": ["b", "a"]}, ["industry"])
    assert out.values == {"industry": "Software"} and out.source == {"industry": "a"}


def test_precedence_naming_a_provider_not_asked_is_ignored():
    out = combine([Answer("a", hit(industry="Software"))], {"industry": ["z"]}, ["industry"])
    assert out.values == {"industry": "Software"}


def test_status_miss_partial_and_error():
    assert combine([Answer("a", LookupResult("miss"))], {}, ["industry"]).status == EnrichmentStatus.MISS
    failed = [Answer("a", LookupResult("miss")), Answer("b", LookupResult("error", error="x"))]
    assert combine(failed, {}, ["industry"]).status == EnrichmentStatus.ERROR
    assert combine([Answer("a", hit(hq_city="Lyon"))], {}, ["industry"]).status == EnrichmentStatus.PARTIAL
    # something found beats a failed provider: the lead is partial, not in error
    found = [Answer("a", LookupResult("error", error="x")), Answer("b", hit(hq_city="Lyon"))]
    assert combine(found, {}, ["industry"]).status == EnrichmentStatus.PARTIAL


def test_empty_values_fill_nothing():
    out = combine([Answer("a", hit(industry=None, employee_band="", technologies=[]))], {}, REQUIRED)
    assert out.status == EnrichmentStatus.MISS and out.values == {}


def test_waterfall_stops_once_the_required_fields_are_filled():
    asked: list[str] = []
    results = {"a": hit(industry="Software"), "b": hit(employee_band="11-50"), "c": hit(industry="IT")}
    answers = waterfall(["a", "b", "c"], asker(results, asked), REQUIRED)
    assert asked == ["a", "b"] and [x.provider for x in answers] == ["a", "b"]


def test_waterfall_goes_past_misses_errors_and_empty_values_to_the_last_provider():
    asked: list[str] = []
    results = {"a": LookupResult("miss"), "b": LookupResult("error", error="down"), "c": hit(industry="", employee_band="1-10")}
    answers = waterfall(["a", "b", "c"], asker(results, asked), REQUIRED)
    assert asked == ["a", "b", "c"] and len(answers) == 3


def test_no_provider_no_answer():
    assert waterfall([], asker({}, []), REQUIRED) == []


def test_a_refresh_never_makes_a_lead_worse_and_an_error_is_always_replaced():
    assert set(replaceable_by(EnrichmentStatus.ENRICHED)) == {"enriched", "partial", "miss", "error"}
    assert set(replaceable_by(EnrichmentStatus.PARTIAL)) == {"partial", "miss", "error"}
    assert set(replaceable_by(EnrichmentStatus.MISS)) == {"miss", "error"}
    assert set(replaceable_by(EnrichmentStatus.ERROR)) == {"error"}


def test_person_lookups_fill_only_a_leads_blanks_with_the_first_value_found():
    found = first_values([Answer("a", hit(seniority="director", department="")),
                          Answer("b", hit(seniority="c_level", department="it", job_title="CTO"))])
    assert found == {"seniority": "director", "department": "it", "job_title": "CTO"}
    current = {"seniority": None, "department": "sales", "job_title": None}
    assert person_fields_to_fill(current, found) == {"seniority": "director", "job_title": "CTO"}
    assert person_fields_to_fill({"seniority": "vp", "department": "it", "job_title": "x"}, found) == {}
