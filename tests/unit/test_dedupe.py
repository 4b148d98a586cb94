import pytest
from hypothesis import given, strategies as st

from leadops.domain.dedupe import DomainPeople, best_match, match_name, person, similarity


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


NAMES = ["Jean", "Jeanne", "Jan", "Martin", "Marin", "Martins", "Lefèvre", "Lefevre", "O'Brien", "Obrien"]


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(["forge", "forges", None, "atelier"]),
                          st.sampled_from(["forge.fr", "atelier.fr"])), max_size=12),
       st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(["forge", None])),
       st.sampled_from([80, 92, 100]))
def test_best_match_is_the_first_maximum_of_similarity(people, me, threshold):
    pool = [p(i, first, last, company, domain) for i, (first, last, company, domain) in enumerate(people)]
    candidate = p("me", *me)
    expected = None
    for other in pool:  # the definition: first person with the highest similarity at or above the threshold
        score = similarity(candidate, other)
        if score >= threshold and (expected is None or score > expected[1]):
            expected = (other.key, score)
    assert best_match(candidate, pool, threshold) == expected
    compact = DomainPeople()  # intake's pool: the candidate's domain only, as parallel lists
    for other in pool:
        if other.domain == candidate.domain:
            compact.add(other)
    assert best_match(candidate, compact, threshold) == expected  # other domains never match anyway
    # intake's question: no Person is made for a candidate whose name reaches nobody's
    assert compact.best(candidate.domain, candidate.name, candidate.company, threshold) == expected


def test_match_names_sort_their_words_so_word_order_never_counts():
    assert match_name("Élodie", "de la Fontaine") == "de elodie fontaine la"
    assert match_name(None, "DUPONT") == "dupont" and match_name("Jean", None) is None
    pool = [p("a", "Jean", "Martinez"), p("b", "Martin", "Jean")]  # first and last names swapped
    assert best_match(p(0, "Jean", "Martin"), pool, 92) == ("b", 100)
