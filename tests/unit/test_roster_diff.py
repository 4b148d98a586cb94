"""The roster diff: what a sync of sdrs.yaml adds, changes, deactivates (pure, no database)."""
from datetime import datetime, UTC

from leadops.config import Roster
from leadops.domain.roster import absence_instant, describe, diff, member_from_person


def roster(*people: dict) -> Roster:
    return Roster.model_validate({"people": list(people)})


SAM = {"code": "s.sam", "name": "Sam", "email": "sam@example.com"}
LEA = {"code": "s.lea", "name": "Léa", "email": "lea@example.com", "territories": ["FR"]}


def members(r: Roster):
    return {p.code: member_from_person(p) for p in r.people}


def test_a_new_person_is_added_and_an_unchanged_roster_is_no_change():
    current = members(roster(SAM))
    wanted = list(members(roster(SAM, LEA)).values())
    assert [(c.code, c.kind) for c in diff(current, wanted)] == [("s.lea", "added")]
    assert diff(members(roster(SAM, LEA)), wanted) == []


def test_a_changed_cap_and_an_absence_are_changes_naming_the_fields():
    current = members(roster(SAM))
    later = dict(SAM, daily_cap=10, out_of_office=[{"start": "2026-12-21", "end": "2026-12-31"}])
    [change] = diff(current, list(members(roster(later)).values()))
    assert change.kind == "changed"
    assert set(change.fields) == {"daily_cap", "out_of_office"}
    assert change.fields["daily_cap"] == (40, 10)
    assert describe(change) == "changed s.sam: daily_cap 40 -> 10, out_of_office 0 period(s) -> 1 period(s)"


def test_a_person_missing_from_the_file_is_deactivated_once():
    current = members(roster(SAM, LEA))
    [change] = diff(current, list(members(roster(SAM)).values()))
    assert (change.code, change.kind) == ("s.lea", "deactivated")
    gone = dict(current)
    gone["s.lea"] = member_from_person(roster(dict(LEA, active=False)).people[0])
    assert diff(gone, list(members(roster(SAM)).values())) == []


def test_active_false_deactivates_and_back_to_true_reactivates():
    current = members(roster(SAM))
    [off] = diff(current, list(members(roster(dict(SAM, active=False))).values()))
    assert off.kind == "deactivated"
    [on] = diff(members(roster(dict(SAM, active=False))), list(current.values()))
    assert on.kind == "reactivated"


def test_absence_dates_are_whole_local_days_ending_inclusive():
    start = absence_instant("2026-12-21", "Europe/Paris", end=False)
    end = absence_instant("2026-12-31", "Europe/Paris", end=True)
    assert start == datetime(2026, 12, 20, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert absence_instant("2026-12-21T14:00", "Europe/London", end=False) == datetime(2026, 12, 21, 14, 0, tzinfo=UTC)
