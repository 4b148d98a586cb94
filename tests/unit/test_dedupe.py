import pytest

from leadops.domain.dedupe import best_match, person, similarity


def p(key, first, last, company="forge", domain="forge.fr"):
    return person(key, domain, first, last, company)


def test_same_person_with_accents_and_order_swapped_matches():
    assert similarity(p(1, "Hélène", "Lefèvre"), p(2, "LEFEVRE", "helene")) == 100


def test_different_people_at_the_same_company_do_not_match():
    assert similarity(p(1, "Hélène", "Lefèvre"), p(2, "Hugo", "Lemaire")) < 70


def test_same_name_at_another_company_or_domain_does_not_match():
    assert similarity(p(1, "Jean", "Martin", "forge"), p(2, "Jean", "Martin", "atelier numerique")) == 0
    assert similarity(p(1, "Jean", "Martin"), p(2, "Jean", "Martin", domain="atelier.fr")) == 0


def test_unknown_company_on_one_side_still_compares_names():
    assert similarity(p(1, "Jean", "Martin", None), p(2, "Jean", "Martin")) == 100


def test_best_match_respects_the_threshold_and_picks_the_closest():
    pool = [p("a", "Jon", "Martin"), p("b", "Jean", "Martin"), p("c", "Jeanne", "Marin")]
    assert best_match(p(0, "Jean", "Martin"), pool, 92) == ("b", 100)
    assert best_match(p(0, "Jean-Luc", "Picard"), pool, 92) is None


@pytest.mark.parametrize("first,last", [("Jean", None), (None, None)])
def test_no_last_name_means_no_fuzzy_comparison(first, last):
    assert person(1, "forge.fr", first, last, "forge") is None
