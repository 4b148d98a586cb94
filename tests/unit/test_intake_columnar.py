"""A chunk of lead rows normalized by column (lead_records) gives exactly the records row by row
(lead_record) would: same keys in the same order, same values of the same types."""
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings as hsettings, strategies as st

from leadops.domain import normalize as nz
from leadops.domain.intake import LeadRowRules, lead_record, lead_records
from leadops.intake.leads import LEAD_LIMITS

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: Tight limits (and some on keys that are not text, or not in a record) so that field problems
#: are common and come from every kind of column.
TIGHT_LIMITS = {"email": 18, "email_domain": 9, "first_name": 6, "last_name": 7, "company": 12, "company_key": 9,
                "job_title": 10, "seniority": 8, "department": 9, "phone": 11, "country": 2, "language": 2,
                "source": 10, "campaign": 4, "match_name": 10, "email_raw": 15, "country_unrecognized": 4,
                "date_error": 30, "raw_error": 5, "row_number": 1, "is_competitor": 1, "field_problems": 1,
                "not_a_column": 3}


def nasty(*values: str | None) -> st.SearchStrategy[str | None]:
    """Mostly the given values (so that a chunk repeats them), sometimes any text."""
    return st.one_of(st.sampled_from((None, "", " ", "\t ", *values)), st.text(max_size=12))


CELLS = {
    "email": nasty("John.Doe@Example.COM", "jane@acme.fr", "Jane Doe <JANE@acme.fr>", "mailto:x@acme.fr?subject=hi",
                   "someone@yopmail.com", "a@sub.mailinator.com", "boss@gmail.com", "spy@competitor.com",
                   "spy@rival.fr", "bad@", "@acme.fr", "no-at-sign", "élodie@exemple.fr", "a@b", "a..b@acme.fr",
                   "x" * 70 + "@acme.fr", "ctl\x01@acme.fr", "averyveryverylongname@acme.fr", "a@bücher.de"),
    "first_name": nasty("élodie", "JEAN-PIERRE", "Zoë", "Łukasz", "søren", "McDONALD", "d'ALEMBERT", "Ana Maria",
                        "x" * 201, "Bo\x02b", "Priya"),
    "last_name": nasty("DUPONT", "de la fontaine", "o'brien", "Müller", "Núñez", "van der BERG", "y" * 205,
                       "Nov\x7fak", "Smith"),
    "full_name": nasty("Jean Dupont", "Madonna", "Marie de la Fontaine", "  Lone  "),
    "company": nasty("ACME, Inc.", "Société Générale S.A.", "L'Oréal", "SAS", "Groupe Renault", "c" * 300,
                     "Acme\x00Corp", "Acme SAS"),
    "job_title": nasty("CTO", "Head of Marketing", "Stagiaire", "PDG", "vp sales", "Responsable Marketing",
                       "Geschäftsführer", "t" * 300, "Data Analyst"),
    "phone": nasty("01 42 68 53 00", "+33 6 12 34 56 78", "0033612345678", "0612345678", "+1 650 253 0000",
                   "(650) 253-0000", "12", "abc", "+49 30 123456"),
    "country": nasty("France", "FR", "fr", "FRA", "Allemagne", "Royaume-Uni", "États-Unis", "Etats Unis", "UK",
                     "Narnia", "KE", "xx", "Deutschland", "Côte d'Ivoire"),
    "source": nasty("web_form", "Web Form", "web-form", "demo_request", "Demo Request", "Trade Show", "s" * 60,
                    "\x07src", "webinar"),
    "campaign": nasty("Q1", "Spring 2026", "c" * 201),
    "language": nasty("fr", "en", "en-US", "français", "portuguese"),
    "created_at": nasty("2026-03-01", "2026-03-01T10:00:00+02:00", "2026-03-01 10:00:00", "2026-03-29T02:30:00",
                        "01/03/2026", "01/03/2026 10:30", "31/02/2026", "2026-13-45", "yesterday", "01.03.2026",
                        "2026-11-20T10:00:00Z"),
    "consent": nasty("No", "non", "Désabonné", "yes", "opt-out", "OPT OUT", "Ne pas contacter", "oui", "0"),
}

rows_st = st.lists(
    st.tuples(st.integers(min_value=1, max_value=10**6),
              st.fixed_dictionaries({}, optional=CELLS),
              st.sampled_from((None, None, None, "bad JSON", "x" * 10))),
    max_size=40)
rules_st = st.builds(
    LeadRowRules, default_source=st.sampled_from(("web_form", "Other Source")),
    source=st.sampled_from((None, "", "Trade Show", "webinar")), campaign=st.sampled_from((None, "", "Q4")),
    date_format=st.sampled_from((None, "%d.%m.%Y", "%Y-%m-%d")),
    time_zone=st.sampled_from(("Europe/Paris", "America/New_York", "UTC")),
    competitor_domains=st.just(frozenset({"competitor.com", "rival.fr"})),
    hand_raiser_sources=st.sampled_from((frozenset({"demo_request", "contact_sales"}), frozenset())),
    limits=st.sampled_from((LEAD_LIMITS, TIGHT_LIMITS, {})))


def typed(records: list[dict[str, Any]]) -> list[list[tuple[str, type, Any]]]:
    """The records as comparable lists: key order, value types and values all count."""
    return [[(k, type(v), v) for k, v in rec.items()] for rec in records]


def row_by_row(rows, rules: LeadRowRules) -> list[dict[str, Any]]:
    return [lead_record(n, f, e, rules, NOW) for n, f, e in rows]


@hsettings(max_examples=400, deadline=None)
@given(rows=rows_st, rules=rules_st)
def test_a_chunk_normalized_by_column_is_exactly_the_chunk_normalized_row_by_row(rows, rules):
    got = lead_records(rows, rules, NOW)
    assert typed(got) == typed(row_by_row(rows, rules))
    assert len({id(rec["field_problems"]) for rec in got}) == len(got)  # a list of its own per record


@hsettings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(min_value=1, max_value=10**6), st.fixed_dictionaries(CELLS),
                               st.sampled_from((None, "bad JSON"))), max_size=40), rules=rules_st)
def test_rows_holding_every_field_are_normalized_as_row_by_row(rows, rules):
    # a file's rows all hold the same fields: their columns are picked in one pass (the other test's rows lack some)
    assert typed(lead_records(rows, rules, NOW)) == typed(row_by_row(rows, rules))


def test_each_distinct_value_is_normalized_once_and_limits_are_checked_on_the_rows_that_break_them(monkeypatch):
    rows = [(2, {"email": "ana@acme.fr", "first_name": "ana", "last_name": "NOVAK", "company": "Acme SAS",
                 "job_title": "CTO", "country": "France", "phone": "01 42 68 53 00", "source": "Web Form"}, None),
            (3, {"email": "Tom@Acme.fr", "first_name": "tom", "last_name": "Berg", "company": "Acme SAS",
                 "job_title": "CTO", "country": "France", "phone": "01 42 68 53 00", "source": "Web Form"}, None),
            (4, {"email": "x@yopmail.com", "first_name": "Zoé", "last_name": "L" * 201, "company": "Acme SAS",
                 "job_title": "Head of Marketing", "country": "Narnia", "consent": "non"}, "bad JSON")]
    rules = LeadRowRules(default_source="web_form", source=None, campaign="Q4", date_format=None,
                         time_zone="Europe/Paris", competitor_domains=frozenset({"rival.fr"}),
                         hand_raiser_sources=frozenset({"demo_request"}), limits=LEAD_LIMITS)
    expected = row_by_row(rows, rules)
    calls: list[object] = []
    title = nz.title_to_seniority_department

    def counted(value: object) -> tuple[str | None, str | None]:
        calls.append(value)
        return title(value)

    monkeypatch.setattr(nz, "title_to_seniority_department", counted)
    got = lead_records(rows, rules, NOW)
    assert typed(got) == typed(expected)
    assert sorted(calls, key=str) == ["CTO", "Head of Marketing"]
    assert [(r["email"], r["company_key"], r["country"], r["phone"], r["source"]) for r in got[:2]] == [
        ("ana@acme.fr", "acme", "FR", "+33142685300", "web_form"), ("tom@acme.fr", "acme", "FR", "+33142685300", "web_form")]
    assert got[0]["match_name"] == "ana novak" and got[0]["campaign"] == "Q4"
    assert got[2]["is_disposable_email"] and got[2]["do_not_contact"] and got[2]["country_unrecognized"] == "Narnia"
    assert [r["field_problems"] for r in got] == [[], [], ["last name longer than 200 characters"]]
