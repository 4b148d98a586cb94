"""The fairness of a pool's rotation: each member's leads against their weighted share of the leads they could
take (leadops.domain.fairness)."""
import pytest

from leadops.domain.fairness import MIN_EXPECTED, Placement, pool_fairness


def rotation(n, eligible):
    """Return ``n`` placements among ``eligible`` (code -> weight) as a perfect weighted round robin deals them:
    each lead to the member whose count per weight is lowest after taking it (ties by code)."""
    got = dict.fromkeys(eligible, 0)
    out = []
    for _ in range(n):
        code = min(eligible, key=lambda c: ((got[c] + 1) / eligible[c], c))
        got[code] += 1
        out.append(Placement(eligible, code))
    return out


def member(result, code):
    return next(m for m in result.members if m.code == code)


def test_a_fair_rotation_among_members_with_different_availability_scores_one_though_totals_differ():
    # b is out of office for the first 30 leads: a takes them all; then both are there for 40 leads
    placements = rotation(30, {"a": 1.0}) + rotation(40, {"a": 1.0, "b": 1.0})
    result = pool_fairness(placements, ["a", "b"])
    a, b = member(result, "a"), member(result, "b")
    assert (a.got, b.got) == (50, 20)  # very different totals...
    assert a.expected == pytest.approx(50) and b.expected == pytest.approx(20)
    assert result.fairness == pytest.approx(1.0)  # ...and a perfectly fair rotation
    assert a.available == 1.0 and b.available == pytest.approx(40 / 70)


def test_weights_set_the_shares():
    placements = rotation(50, {"a": 1.5, "b": 1.0})
    result = pool_fairness(placements)
    assert member(result, "a").got == 30 and member(result, "b").got == 20
    assert member(result, "a").expected == pytest.approx(30)
    assert result.fairness == pytest.approx(1.0)


def test_territories_of_different_volume_do_not_make_a_fair_pool_look_unfair():
    big = rotation(60, {"a": 1.0, "b": 1.0})
    small = rotation(12, {"c": 1.0, "d": 1.0})
    loads = {p: sum(x.got == p for x in big + small) for p in "abcd"}
    assert max(loads.values()) / min(loads.values()) == pytest.approx(5.0)  # what one figure over everyone said
    assert pool_fairness(big).fairness == pytest.approx(1.0)
    assert pool_fairness(small).fairness == pytest.approx(1.0)


def test_an_sdr_who_got_twice_their_share_shows_a_ratio_of_two():
    everyone = {"a": 1.0, "b": 1.0, "c": 1.0}
    placements = [Placement(everyone, "a")] * 20 + [Placement(everyone, "b")] * 5 + [Placement(everyone, "c")] * 5
    result = pool_fairness(placements, ["a", "b", "c"])
    assert member(result, "a").ratio == pytest.approx(2.0)
    assert member(result, "b").ratio == pytest.approx(0.5)
    assert result.fairness == pytest.approx(4.0) and not result.unbounded


def test_a_member_who_got_none_of_their_share_makes_the_pool_unbounded():
    both = {"a": 1.0, "b": 1.0}
    result = pool_fairness([Placement(both, "a")] * 20, ["a", "b"])
    assert result.unbounded and result.fairness is None
    assert member(result, "b").ratio == 0 and member(result, "b").expected == pytest.approx(10)


def test_members_expected_too_few_leads_are_listed_but_not_counted():
    # c could take only 4 of the 40 leads (expected 4/3, under the minimum) and got none of them
    three = {"a": 1.0, "b": 1.0, "c": 1.0}
    placements = rotation(36, {"a": 1.0, "b": 1.0}) + [Placement(three, "a"), Placement(three, "b")] * 2
    result = pool_fairness(placements, ["a", "b", "c"])
    c = member(result, "c")
    assert c.expected < MIN_EXPECTED and not c.counted and c.got == 0
    assert not result.unbounded and result.fairness is not None
    assert result.fairness == pytest.approx(max(member(result, x).ratio for x in "ab")
                                            / min(member(result, x).ratio for x in "ab"))
    # with fewer than two members counted there is nothing to compare
    assert pool_fairness(rotation(6, {"a": 1.0, "b": 1.0})).fairness is None


def test_a_member_never_eligible_is_listed_without_a_ratio_and_leads_given_outside_the_eligible_count_for_nobody():
    placements = [*rotation(20, {"a": 1.0, "b": 1.0}), Placement({"a": 1.0}, "b")]
    result = pool_fairness(placements, ["a", "b", "z"])
    assert [m.code for m in result.members] == ["a", "b", "z"]
    assert member(result, "z").ratio is None and member(result, "z").available == 0
    assert result.leads == 20 and result.outside == 1 and member(result, "b").got == 10
    assert result.fairness == pytest.approx(1.0)
