"""Every rule-file and environment value that can be wrong is refused at load, naming file (or variable), key,
value and what is allowed; `check_rules`/`check_config` collect every problem at once (issue 19, item 5)."""
import re
import shutil

import pytest
import yaml

from leadops.config import (
    ConfigError,
    check_config,
    check_rules,
    get_settings,
    load_rules,
    read_yaml,
)
from tests.conftest import ROOT

ENV = ("LEADOPS_HOME", "LEADOPS_CONFIG_DIR", "LEADOPS_DATABASE_URL", "LEADOPS_VAR_DIR", "LEADOPS_EXPECTATIONS_DIR",
       "LEADOPS_COMPANY_TIME_ZONE")


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    d = tmp_path / "config"
    shutil.copytree(ROOT / "config", d)
    return d


def edit_person(cfg, code, **changes):
    """Rewrite sdrs.yaml with ``changes`` applied to person ``code``, as plain YAML text (flow style kept off so
    the YAML of each value is what a person would type)."""
    people = yaml.safe_load((cfg / "sdrs.yaml").read_text())["people"]
    [person] = [p for p in people if p["code"] == code]
    person.update(changes)
    (cfg / "sdrs.yaml").write_text(yaml.safe_dump({"people": people}, allow_unicode=True))


def replace(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def one_problem(cfg) -> str:
    rules, problems = check_rules(cfg)
    assert rules is None and len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- YAML booleans and countries


def test_only_true_and_false_are_booleans_in_rule_files():
    assert read_yaml("a: [NO, no, yes, off, On, y]\nb: true\nc: False") == {
        "a": ["NO", "no", "yes", "off", "On", "y"], "b": True, "c": False}


def test_unquoted_no_in_territories_is_norway(cfg):
    replace(cfg / "sdrs.yaml", 'territories: [NL, BE, DK, SE, "NO", FI]', "territories: [NL, BE, DK, SE, NO, FI]")
    [jansen] = [p for p in load_rules(cfg).roster.people if p.code == "s.jansen"]
    assert jansen.territories == ["NL", "BE", "DK", "SE", "NO", "FI"]


def test_unquoted_no_as_holiday_country_is_norway(cfg):
    replace(cfg / "sdrs.yaml", "holiday_country: NL", "holiday_country: NO")
    [jansen] = [p for p in load_rules(cfg).roster.people if p.code == "s.jansen"]
    assert jansen.holiday_country == "NO"


def test_unquoted_no_in_a_routing_condition_is_norway(cfg):
    replace(cfg / "routing.yaml", '"NO", FI, PL', "NO, FI, PL")
    [rule] = [r for r in load_rules(cfg).routing.rules if r.name == "north-east"]
    assert "NO" in rule.when["country"] and False not in rule.when["country"]


def test_booleans_written_yes_and_no_still_read_as_booleans(cfg):
    replace(cfg / "routing.yaml", "assign_new_accounts: true", "assign_new_accounts: no")
    assert load_rules(cfg).routing.assign_new_accounts is False


def test_a_country_that_is_not_an_iso_code_names_the_person_and_suggests_one(cfg):
    replace(cfg / "sdrs.yaml", "territories: [GB, IE], segments: [smb, mid]", "territories: [UK, IE], segments: [smb, mid]")
    line = one_problem(cfg)
    assert line.startswith(f"{cfg / 'sdrs.yaml'}: people.")
    assert ".territories.0 = 'UK' (s.patel): expected an ISO 3166-1 alpha-2 country code" in line
    assert "did you mean 'GB'?" in line


def test_a_routing_condition_on_a_country_name_is_refused(cfg):
    replace(cfg / "routing.yaml", "country: [US, CA]", "country: [US, Canada]")
    line = one_problem(cfg)
    assert f"{cfg / 'routing.yaml'}: rules." in line and "(americas)" in line
    assert "country.1 = 'Canada'" in line and "did you mean 'CA'?" in line


def test_a_scoring_country_in_lower_case_is_refused(cfg):
    replace(cfg / "scoring.yaml", "FR: 15", "fr: 15")
    line = one_problem(cfg)
    assert "scoring.yaml: fit." in line and "points.fr: expected an ISO 3166-1 alpha-2" in line and "'FR'" in line


def test_an_unknown_holiday_country_names_file_person_key_and_value(cfg):
    edit_person(cfg, "s.nowak", holiday_country="XX")
    line = one_problem(cfg)
    assert re.search(r"sdrs\.yaml: people\.\d+\.holiday_country = 'XX' \(s\.nowak\): expected an ISO 3166-1", line)


def test_a_country_without_a_holiday_calendar_is_refused(cfg):
    edit_person(cfg, "s.nowak", holiday_country="AC")  # Ascension Island: ISO, but no calendar in holidays
    line = one_problem(cfg)
    assert "holiday_country = 'AC' (s.nowak): no public-holiday calendar for 'AC' in the holidays package" in line


# --------------------------------------------------------------------------- out of office


def test_an_absence_ending_before_it_starts_names_the_person_and_the_period(cfg):
    edit_person(cfg, "s.nowak", out_of_office=[{"start": "2026-11-28", "end": "2026-11-16"}])
    line = one_problem(cfg)
    assert re.search(r"sdrs\.yaml: people\.\d+\.out_of_office \(s\.nowak\): item 0 2026-11-28\.\.2026-11-16 "
                     r"ends before it starts", line)


def test_a_one_day_absence_is_fine(cfg):
    edit_person(cfg, "s.nowak", out_of_office=[{"start": "2026-11-16", "end": "2026-11-16"}])
    assert check_rules(cfg)[1] == []


def test_overlapping_absences_of_one_person_are_refused(cfg):
    edit_person(cfg, "s.nowak", out_of_office=[{"start": "2026-12-01", "end": "2026-12-05"},
                                              {"start": "2026-11-16", "end": "2026-11-28"},
                                              {"start": "2026-11-28", "end": "2026-11-30"}])
    line = one_problem(cfg)
    assert "(s.nowak): item 1 2026-11-16..2026-11-28 and item 2 2026-11-28..2026-11-30 overlap" in line
    assert "item 0" not in line


def test_back_to_back_absences_do_not_overlap(cfg):
    edit_person(cfg, "s.nowak", out_of_office=[{"start": "2026-11-16", "end": "2026-11-20"},
                                              {"start": "2026-11-21T00:00", "end": "2026-11-22"}])
    assert check_rules(cfg)[1] == []


def test_unquoted_dates_are_read_and_a_bad_date_is_named(cfg):
    replace(cfg / "sdrs.yaml", '{start: "2026-11-16", end: "2026-11-28"', "{start: 2026-11-16, end: 2026-11-31")
    line = one_problem(cfg)
    assert "out_of_office.0.end = '2026-11-31' (s.nowak): expected an ISO date such as 2026-11-16" in line


# --------------------------------------------------------------------------- weights


def test_a_pool_whose_members_all_have_weight_0_is_refused_naming_both_files(cfg):
    edit_person(cfg, "s.patel", weight=0)
    edit_person(cfg, "s.oconnor", weight=0)
    problems = check_rules(cfg)[1]
    assert [p for p in problems if "pool uk-ie" in p] == [(
        f"{cfg / 'sdrs.yaml'}: weight = 0 for every active member of pool uk-ie in routing.yaml (s.patel, s.oconnor): "
        "the pool can never assign a lead; give at least one of them a weight above 0")]


def test_weight_0_for_one_member_of_a_pool_is_allowed_and_takes_no_new_lead(cfg):
    edit_person(cfg, "s.patel", weight=0)
    rules = load_rules(cfg)
    assert [p.weight for p in rules.roster.people if p.code == "s.patel"] == [0]


def test_a_rule_routing_to_a_weight_0_sdr_is_refused(cfg):
    edit_person(cfg, "s.brooks", weight=0)
    replace(cfg / "routing.yaml", "to: {pool: americas}", "to: {sdr: s.brooks}")
    line = one_problem(cfg)
    assert line == (f"{cfg / 'sdrs.yaml'}: s.brooks.weight = 0, the only target of rule americas in routing.yaml: "
                    "the rule can never assign a lead; give s.brooks a weight above 0 or route the rule to a pool")


def test_a_negative_weight_is_refused(cfg):
    edit_person(cfg, "s.brooks", weight=-1)
    assert "weight = -1 (s.brooks): Input should be greater than or equal to 0" in one_problem(cfg)


# --------------------------------------------------------------------------- all problems at once


def test_every_problem_of_every_file_is_reported_at_once(cfg):
    edit_person(cfg, "s.nowak", holiday_country="XX", out_of_office=[{"start": "2026-11-28", "end": "2026-11-16"}])
    edit_person(cfg, "s.patel", territories=["UK"])
    replace(cfg / "sla.yaml", "reminder_at: 0.75", "reminder_at: 1.5")
    replace(cfg / "scoring.yaml", "FR: 15", "fr: 15")
    rules, problems = check_rules(cfg)
    assert rules is None
    assert len(problems) == 5, problems
    assert sum("sdrs.yaml" in p for p in problems) == 3
    assert any("(s.nowak): expected an ISO" in p for p in problems)
    assert any("(s.nowak): item 0 2026-11-28..2026-11-16 ends before it starts" in p for p in problems)
    with pytest.raises(ConfigError) as e:  # load_rules carries them all, one line each
        load_rules(cfg)
    assert str(e.value).splitlines() == problems


# --------------------------------------------------------------------------- settings


def test_a_bad_company_time_zone_names_the_variable(cfg, monkeypatch):
    monkeypatch.setenv("LEADOPS_COMPANY_TIME_ZONE", "Europe/Pariss")
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(cfg))
    monkeypatch.chdir(cfg)
    with pytest.raises(ConfigError) as e:
        get_settings()
    assert str(e.value) == ("environment: LEADOPS_COMPANY_TIME_ZONE = 'Europe/Pariss': unknown time zone "
                            "'Europe/Pariss'; use an IANA name such as 'Europe/Paris'")


def test_a_bad_time_zone_in_leadops_yaml_or_env_file_names_that_file(tmp_path, monkeypatch):
    from leadops.project import MARKER, init_project

    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    root = tmp_path / "acme"
    init_project(root)
    monkeypatch.chdir(root)
    spec = yaml.safe_load((root / MARKER).read_text())
    spec["settings"]["company_time_zone"] = "Mars/Olympus"
    (root / MARKER).write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=re.escape(f"{root / MARKER}: settings.company_time_zone = 'Mars/Olympus'")):
        get_settings()
    (root / ".env").write_text("LEADOPS_COMPANY_TIME_ZONE=Moon/Base\n")
    with pytest.raises(ConfigError, match=re.escape(f"{root / '.env'}: LEADOPS_COMPANY_TIME_ZONE = 'Moon/Base'")):
        get_settings()


def test_check_config_reports_settings_and_rule_files_together(cfg, monkeypatch):
    monkeypatch.setenv("LEADOPS_COMPANY_TIME_ZONE", "Nowhere")
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(cfg))
    monkeypatch.chdir(cfg)
    edit_person(cfg, "s.patel", territories=["UK"])
    out = check_config()
    assert out.settings is None and out.rules is None and out.config_dir == cfg
    assert len(out.problems) == 2
    assert out.problems[0].startswith("environment: LEADOPS_COMPANY_TIME_ZONE = 'Nowhere'")
    assert "territories.0 = 'UK' (s.patel)" in out.problems[1]


def test_check_config_of_the_shipped_files_is_clean(cfg, monkeypatch):
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(cfg))
    monkeypatch.chdir(cfg)
    out = check_config()
    assert out.problems == [] and out.rules is not None and out.settings.company_time_zone == "Europe/Paris"


def test_the_sample_history_never_gives_a_new_lead_to_a_weight_0_sdr(cfg):
    """weight 0 = no new lead, in the seeded history as in routing: the sample routes with the real
    router (it once had its own, which stopped the demo with 'Total of weights must be greater than
    zero' when the only territory match had weight 0)."""
    from datetime import UTC, datetime, timedelta

    from leadops.seed.context import calendar_of_person
    from leadops.seed.plan import PlannedLead
    from leadops.seed.routing import SampleRouter

    edit_person(cfg, "s.patel", weight=0)  # one of the two uk-ie members
    rules = load_rules(cfg)
    router = SampleRouter(rules, {p.code: calendar_of_person(p) for p in rules.roster.people})
    start = datetime(2026, 3, 10, 10, tzinfo=UTC)  # a Tuesday, 10:00 in London
    decisions = [router.route(PlannedLead({"country": "GB", "employee_band": "11-50"}, None, None), None,
                              start + timedelta(minutes=i)) for i in range(30)]
    assert {(d.rule, d.sdr) for d in decisions} == {("uk-ireland", "s.oconnor")}
    assert all({"sdr": "s.patel", "skipped": "weight 0"} in [{k: c[k] for k in ("sdr", "skipped") if k in c}
                                                            for c in d.candidates] for d in decisions)
