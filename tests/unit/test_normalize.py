"""Specs for leadops.domain.normalize: pure value normalization, no IO."""

from __future__ import annotations

import dataclasses

import pytest

from leadops.domain.normalize import (
    DEPARTMENTS,
    DISPOSABLE_EMAIL_DOMAINS,
    FREE_EMAIL_DOMAINS,
    SENIORITIES,
    EmailResult,
    clean_text,
    company_key,
    domain_from_website,
    fold,
    normalize_country,
    normalize_email,
    normalize_person_name,
    normalize_phone,
    title_to_seniority_department,
)

# --------------------------------------------------------------------------- clean_text


def test_clean_text_trims_and_collapses_internal_whitespace():
    assert clean_text("  Jean \t  Dupont\n ") == "Jean Dupont"
    assert clean_text("ACME\u00a0\u00a0SAS") == "ACME SAS"  # non-breaking spaces from Excel


def test_clean_text_applies_nfc_so_decomposed_accents_compare_equal():
    decomposed = "Ele\u0301onore"  # e + combining acute, as macOS writes it
    assert clean_text(decomposed) == "El\u00e9onore"  # precomposed é


@pytest.mark.parametrize("value", [None, "", "   ", "-", "--", "---", "n/a", "N/A", "#N/A", "null", "NULL",
                                   "none", "None", "Select", "\u200b", float("nan")])
def test_clean_text_turns_empty_and_placeholder_values_into_none(value):
    assert clean_text(value) is None


def test_clean_text_stringifies_non_strings_and_keeps_real_values():
    assert clean_text(42) == "42"
    assert clean_text("Nan") == "Nan"  # a real given name, not a NaN
    assert clean_text("NA") == "NA"  # Namibia's country code


# --------------------------------------------------------------------------- email


def test_email_is_trimmed_and_lowercased_with_its_domain():
    result = normalize_email("  Jean.Dupont@ACME.fr ")
    assert result == EmailResult("jean.dupont@acme.fr", "acme.fr", None, False, False)


def test_email_accepts_mailto_prefix_and_display_name_form():
    assert normalize_email("MAILTO:Sales@Acme.com").email == "sales@acme.com"
    assert normalize_email("Jean Dupont <jean@acme.com>").email == "jean@acme.com"


def test_invalid_email_returns_a_human_reason_and_no_address():
    result = normalize_email("jean.dupont@")
    assert result.email is None and result.domain is None
    assert result.error.startswith("invalid email syntax: ")
    assert normalize_email("jean dupont").error.startswith("invalid email syntax: ")


def test_missing_email_says_so():
    assert normalize_email(None).error == "email is missing"
    assert normalize_email("  n/a ").error == "email is missing"


def test_free_webmail_domains_are_flagged_free_not_disposable():
    result = normalize_email("jean@Gmail.com")
    assert (result.is_free, result.is_disposable) == (True, False)
    assert normalize_email("j@orange.fr").is_free is True


def test_disposable_domains_and_their_subdomains_are_flagged():
    assert normalize_email("x@yopmail.com").is_disposable is True
    assert normalize_email("x@inbox.mailinator.com").is_disposable is True
    assert normalize_email("x@yopmail.com").is_free is False


def test_email_result_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        normalize_email("a@acme.com").email = "b@acme.com"  # type: ignore[misc]


def test_domain_lists_have_the_expected_size_and_members():
    assert len(FREE_EMAIL_DOMAINS) >= 40
    assert {"gmail.com", "wanadoo.fr", "gmx.de", "proton.me", "t-online.de"} <= FREE_EMAIL_DOMAINS
    assert {"mailinator.com", "yopmail.fr", "temp-mail.org"} <= DISPOSABLE_EMAIL_DOMAINS
    assert not FREE_EMAIL_DOMAINS & DISPOSABLE_EMAIL_DOMAINS


# --------------------------------------------------------------------------- person names


@pytest.mark.parametrize(("raw", "expected"), [
    ("JEAN-PIERRE", "Jean-Pierre"),
    ("jean-pierre", "Jean-Pierre"),
    ("\u00e9LODIE", "\u00c9lodie"),  # caps lock was on: éLODIE
    ("\u00c9LODIE DUPONT", "\u00c9lodie Dupont"),
    ("o'brien", "O'Brien"),
    ("O'BRIEN", "O'Brien"),
    ("McDONALD", "McDonald"),
])
def test_all_upper_or_all_lower_names_are_recased(raw, expected):
    assert normalize_person_name(raw) == expected


def test_french_particles_stay_lowercase():
    assert normalize_person_name("marie de la fontaine") == "Marie de la Fontaine"
    assert normalize_person_name("JEAN DE LA FONTAINE") == "Jean de la Fontaine"
    assert normalize_person_name("anne-sophie du PONT") == "Anne-Sophie du Pont"


def test_germanic_particles_stay_lowercase():
    assert normalize_person_name("ludwig van beethoven") == "Ludwig van Beethoven"
    assert normalize_person_name("ursula VON DER LEYEN") == "Ursula von der Leyen"


def test_french_elided_particle_d_stays_lowercase():
    assert normalize_person_name("d'ALEMBERT") == "d'Alembert"
    assert normalize_person_name("jean d'ormesson") == "Jean d'Ormesson"


def test_a_particle_as_first_or_last_word_is_capitalized():
    assert normalize_person_name("le") == "Le"
    assert normalize_person_name("thi le") == "Thi Le"
    assert normalize_person_name("van damme") == "Van Damme"


def test_deliberate_mixed_case_is_left_as_typed():
    assert normalize_person_name("DeVito") == "DeVito"
    assert normalize_person_name("MacLeod") == "MacLeod"
    assert normalize_person_name("Jean-Claude Van Damme") == "Jean-Claude Van Damme"
    assert normalize_person_name("D'Angelo") == "D'Angelo"


def test_person_name_is_cleaned_and_empty_gives_none():
    assert normalize_person_name("  jean   DUPONT ") == "Jean Dupont"
    assert normalize_person_name("n/a") is None


# --------------------------------------------------------------------------- phone


def test_national_phone_numbers_use_the_country_as_default_region():
    assert normalize_phone("06 12 34 56 78", "FR") == "+33612345678"
    assert normalize_phone("01.23.45.67.89", "fr") == "+33123456789"
    assert normalize_phone("(415) 555-0132", "US") == "+14155550132"


def test_international_numbers_ignore_the_default_region():
    assert normalize_phone("+33 6 12 34 56 78", None) == "+33612345678"
    assert normalize_phone("0033 6 12 34 56 78", "DE") == "+33612345678"


def test_phone_country_accepts_names_and_uk_alias():
    assert normalize_phone("020 7946 0958", "UK") == "+442079460958"
    assert normalize_phone("030 123456", "Allemagne") == "+4930123456"


@pytest.mark.parametrize(("raw", "country"), [
    ("12", "FR"),
    ("06 12 34 56 78", None),  # national number with no region to read it in
    ("not a phone", "FR"),
    ("+33 1 23", None),
    (None, "FR"),
])
def test_impossible_or_unreadable_phone_numbers_give_none(raw, country):
    assert normalize_phone(raw, country) is None


# --------------------------------------------------------------------------- country


@pytest.mark.parametrize(("raw", "expected"), [
    ("FR", "FR"), ("fr", "FR"), ("FRA", "FR"), ("France", "FR"), (" france ", "FR"),
    ("Allemagne", "DE"), ("Germany", "DE"), ("Deutschland", "DE"), ("DEU", "DE"),
    ("UK", "GB"), ("United Kingdom", "GB"), ("Royaume-Uni", "GB"), ("royaume uni", "GB"),
    ("Great Britain", "GB"), ("England", "GB"), ("GBR", "GB"),
    ("USA", "US"), ("U.S.A.", "US"), ("United States", "US"), ("\u00c9tats-Unis", "US"),
    ("Etats Unis", "US"), ("etats-unis d'amerique", "US"),
    ("Espagne", "ES"), ("Spain", "ES"), ("Italie", "IT"), ("Belgique", "BE"), ("Suisse", "CH"),
    ("Switzerland", "CH"), ("Pays-Bas", "NL"), ("Netherlands", "NL"), ("The Netherlands", "NL"),
    ("Holland", "NL"), ("Luxembourg", "LU"), ("Portugal", "PT"), ("Irlande", "IE"), ("Autriche", "AT"),
    ("Su\u00e8de", "SE"), ("SUEDE", "SE"), ("Danemark", "DK"), ("Norv\u00e8ge", "NO"), ("Finlande", "FI"),
    ("Pologne", "PL"), ("Canada", "CA"), ("Maroc", "MA"), ("Tunisie", "TN"), ("Alg\u00e9rie", "DZ"),
    ("algerie", "DZ"), ("Egypte", "EG"), ("Libye", "LY"), ("Tch\u00e9quie", "CZ"),
    ("C\u00f4te d'Ivoire", "CI"), ("KE", "KE"),
])
def test_country_codes_names_and_aliases_map_to_iso_alpha2(raw, expected):
    assert normalize_country(raw) == expected


def test_every_eu_eea_country_and_the_rest_of_the_footprint_is_known_by_name_and_code():
    footprint = {
        "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "HR": "Croatia", "CY": "Cyprus",
        "CZ": "Czechia", "DK": "Denmark", "EE": "Estonia", "FI": "Finland", "FR": "France",
        "DE": "Germany", "GR": "Greece", "HU": "Hungary", "IE": "Ireland", "IT": "Italy", "LV": "Latvia",
        "LT": "Lithuania", "LU": "Luxembourg", "MT": "Malta", "NL": "Netherlands", "PL": "Poland",
        "PT": "Portugal", "RO": "Romania", "SK": "Slovakia", "SI": "Slovenia", "ES": "Spain",
        "SE": "Sweden", "IS": "Iceland", "LI": "Liechtenstein", "NO": "Norway", "GB": "United Kingdom",
        "CH": "Switzerland", "US": "United States", "CA": "Canada", "MA": "Morocco", "DZ": "Algeria",
        "TN": "Tunisia", "LY": "Libya", "EG": "Egypt",
    }
    for code, name in footprint.items():
        assert normalize_country(name) == code, name
        assert normalize_country(code.lower()) == code, code


@pytest.mark.parametrize("raw", [None, "", "Narnia", "XX", "ZZZ", "n/a", "Europe"])
def test_unknown_countries_give_none(raw):
    assert normalize_country(raw) is None


# --------------------------------------------------------------------------- company key


@pytest.mark.parametrize(("raw", "expected"), [
    ("Soci\u00e9t\u00e9 G\u00e9n\u00e9rale S.A.", "societe generale"),
    ("ACME, Inc.", "acme"),
    ("Acme SAS", "acme"),
    ("acme", "acme"),
    ("Siemens AG", "siemens"),
    ("Acme GmbH & Co. KG", "acme"),
    ("Globex Corporation Ltd", "globex"),
    ("Groupe Renault", "renault"),
    ("Capgemini Group", "capgemini"),
    ("L'Or\u00e9al", "loreal"),
    ("  Dupont   et  Fils SARL ", "dupont et fils"),
])
def test_company_key_drops_case_accents_punctuation_and_legal_suffixes(raw, expected):
    assert company_key(raw) == expected


def test_company_key_keeps_legal_words_that_are_the_name_itself():
    assert company_key("SAS Institute") == "sas institute"  # only trailing suffixes are dropped
    assert company_key("SAS") == "sas"


def test_company_key_of_empty_is_none():
    assert company_key("  ") is None
    assert company_key("...") is None


# --------------------------------------------------------------------------- job titles


@pytest.mark.parametrize(("title", "expected"), [
    ("CEO", ("c_level", "executive")),
    ("PDG", ("c_level", "executive")),
    ("Directeur G\u00e9n\u00e9ral", ("c_level", "executive")),
    ("Co-fondateur & CEO", ("c_level", "executive")),
    ("G\u00e9rant", ("c_level", "executive")),
    ("CTO", ("c_level", "engineering")),
    ("Chief Marketing Officer", ("c_level", "marketing")),
    ("DSI", ("director", "it")),
    ("Directeur des Syst\u00e8mes d'Information", ("director", "it")),
    ("VP Sales", ("vp", "sales")),
    ("Vice-Pr\u00e9sident Ventes", ("vp", "sales")),
    ("Head of Marketing", ("director", "marketing")),
    ("Directeur Commercial", ("director", "sales")),
    ("DAF", ("director", "finance")),
    ("Directeur Administratif et Financier", ("director", "finance")),
    ("DRH", ("director", "hr")),
    ("Responsable Marketing", ("manager", "marketing")),
    ("Responsable des Achats", ("manager", "purchasing")),
    ("Chef de projet", ("manager", None)),
    ("Chef de projet informatique", ("manager", "it")),
    ("Ing\u00e9nieur", ("individual", "engineering")),
    ("Ing\u00e9nieur commercial", ("individual", "sales")),
    ("D\u00e9veloppeur", ("individual", "engineering")),
    ("D\u00e9veloppeuse Full Stack", ("individual", "engineering")),
    ("Data Engineer", ("individual", "engineering")),
    ("Comptable", ("individual", "finance")),
    ("Acheteur", ("individual", "purchasing")),
    ("Juriste", ("individual", "legal")),
    ("Key Account Manager", ("individual", "sales")),
    ("Customer Success Manager", ("individual", "customer_success")),
    ("Product Marketing Manager", ("manager", "marketing")),
    ("Product Manager", ("manager", "product")),
    ("Supply Chain Manager", ("manager", "operations")),
    ("\u00c9tudiant", ("student", None)),
    ("Student", ("student", None)),
    ("\u00c9tudiante en marketing", ("student", "marketing")),
    ("Stagiaire", ("intern", None)),
    ("Intern", ("intern", None)),
    ("Marketing Intern", ("intern", "marketing")),
])
def test_titles_map_to_seniority_and_department(title, expected):
    assert title_to_seniority_department(title) == expected


def test_title_matching_is_word_boundary_aware():
    # "internal" is not "intern", "president" in "vice president" is not c-level,
    # "it" inside "Security" or "Digital" is not IT.
    assert title_to_seniority_department("Internal Auditor") == ("individual", "finance")
    assert title_to_seniority_department("Vice President Engineering") == ("vp", "engineering")
    assert title_to_seniority_department("Digital Solutions Consultant") == ("individual", None)


def test_unknown_or_empty_titles_give_nones():
    assert title_to_seniority_department("Zebra whisperer") == (None, None)
    assert title_to_seniority_department(None) == (None, None)
    assert title_to_seniority_department("-") == (None, None)


def test_title_results_stay_within_the_declared_vocabularies():
    titles = ["CEO", "VP Sales", "DSI", "Responsable RH", "Comptable", "Support client",
              "Directeur des op\u00e9rations", "Avocat", "UX Designer"]
    for title in titles:
        seniority, department = title_to_seniority_department(title)
        assert seniority in SENIORITIES
        assert department in DEPARTMENTS


# --------------------------------------------------------------------------- website


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://www.Acme.fr/contact", "acme.fr"),
    ("acme.fr", "acme.fr"),
    ("www.acme.co.uk", "acme.co.uk"),
    ("http://www2.acme.com:8080/a?b=c#d", "acme.com"),
    ("HTTPS://Shop.Acme.FR/", "shop.acme.fr"),
    ("//acme.io", "acme.io"),
])
def test_domain_from_website_keeps_only_the_lowercased_host_without_www(raw, expected):
    assert domain_from_website(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "n/a", "localhost", "not a url", "http://", "acme"])
def test_domain_from_website_rejects_values_without_a_dotted_host(raw):
    assert domain_from_website(raw) is None


@pytest.mark.parametrize(("name", "key"), [
    ("Łódź Software Sp. z o.o.", "lodz software"),
    ("Søren & Co", "soren"),
    ("Müller GmbH & Co. KG", "muller"),
    ("Foo Pty Ltd", "foo"),
    ("Acme S. A.", "acme"),
    ("Œuvre SARL", "oeuvre"),
    ("Dansk Design ApS", "dansk design"),
])
def test_company_key_handles_undecomposable_letters_and_multi_word_legal_forms(name, key):
    assert company_key(name) == key


def test_fold_maps_letters_without_a_unicode_decomposition():
    assert fold("Łukasz Søren Ærø Đorđe") == "lukasz soren aero dorde"


@pytest.mark.parametrize(("title", "expected"), [
    ("Geschäftsführer", ("c_level", "executive")),
    ("Geschäftsführerin", ("c_level", "executive")),
    ("Vertriebsleiterin", ("director", "sales")),
    ("Leiter IT", ("director", "it")),
    ("Teamleiter Vertrieb", ("manager", "sales")),
    ("Softwareentwickler", ("individual", "engineering")),
    ("Einkäuferin", ("individual", "purchasing")),
    ("Leiterin Personal", ("director", "hr")),
    ("Marketingleiter", ("director", "marketing")),
])
def test_german_titles_map_to_seniority_and_department(title, expected):
    assert title_to_seniority_department(title) == expected


# --------------------------------------------------------------------------- plain host names

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from leadops.domain import normalize as _nz  # noqa: E402


def _validator_domain(host: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(f"a@{host}", check_deliverability=False).domain.lower()
    except EmailNotValidError:
        return None


_LABEL = st.text("abz09-", min_size=0, max_size=8) | st.sampled_from(
    ["xn--abc", "ab--cd", "test", "local", "localhost", "onion", "arpa", "invalid", "example", "fr", "c0m", "a" * 64])


@hsettings(max_examples=600, deadline=None)
@given(st.lists(_LABEL, min_size=1, max_size=4).map(".".join) | st.text("ab0-.", max_size=12))
def test_a_host_taken_as_plain_is_one_the_email_validator_accepts_unchanged(host):
    if _nz._plain_host(host):
        assert _validator_domain(host) == host
    assert _nz._checked_domain.__wrapped__(host) == _validator_domain(host)  # either way, the same answer


def test_usual_business_domains_skip_the_email_validator():
    for host in ("company12.fr", "mail.acme-group.co.uk", "a1.io", "ex.com"):
        assert _nz._plain_host(host)
    for host in ("xn--bcher-kva.de", "a.test", "b.home.arpa", "a.b1", "a.b", "a..fr", "-a.fr", "localhost", "a." + "b" * 64):
        assert not _nz._plain_host(host)
