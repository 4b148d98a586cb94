import shutil

import pytest

from leadops.config import ConfigError, load_rules, parse_duration
from tests.conftest import ROOT


@pytest.fixture
def cfg(tmp_path):
    d = tmp_path / "config"
    shutil.copytree(ROOT / "config", d)
    return d


def test_shipped_rule_files_are_valid():
    rules = load_rules(ROOT / "config")
    assert len([p for p in rules.roster.people if p.role == "sdr"]) == 11
    assert rules.scoring.version.startswith("scoring-")


def test_wrong_value_names_file_key_value_and_what_is_allowed(cfg):
    text = (cfg / "sla.yaml").read_text().replace("reminder_at: 0.75", "reminder_at: 1.5")
    (cfg / "sla.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_rules(cfg)
    msg = str(e.value)
    assert "sla.yaml" in msg and "reminder_at" in msg and "1.5" in msg and "less than 1" in msg


def test_wrong_enum_lists_allowed_values(cfg):
    text = (cfg / "sdrs.yaml").read_text().replace("role: manager", "role: boss", 1)
    (cfg / "sdrs.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_rules(cfg)
    assert "people.0.role = 'boss'" in str(e.value) and "'sdr', 'ae' or 'manager'" in str(e.value)


def test_unknown_time_zone_is_reported(cfg):
    text = (cfg / "sdrs.yaml").read_text().replace("America/New_York", "Mars/Olympus", 1)
    (cfg / "sdrs.yaml").write_text(text)
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        load_rules(cfg)


def test_pool_member_must_be_on_the_roster(cfg):
    text = (cfg / "routing.yaml").read_text().replace("members: [s.patel,", "members: [s.nobody,")
    (cfg / "routing.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"pools\.uk-ie\.members = 's\.nobody'"):
        load_rules(cfg)


def test_unquoted_no_is_norway_in_a_scoring_country_key(cfg):
    text = (cfg / "scoring.yaml").read_text().replace('"NO": 8', "NO: 8")
    (cfg / "scoring.yaml").write_text(text)
    [country] = [r for r in load_rules(cfg).scoring.fit if r.field == "country"]
    assert country.points["NO"] == 8 and False not in country.points


def test_any_change_to_scoring_is_a_new_model_version(cfg):
    before = load_rules(cfg).scoring.version
    (cfg / "scoring.yaml").write_text((cfg / "scoring.yaml").read_text().replace("mql_threshold: 60", "mql_threshold: 65"))
    assert load_rules(cfg).scoring.version != before


def test_missing_rule_file_says_which(cfg):
    (cfg / "routing.yaml").unlink()
    with pytest.raises(ConfigError, match=r"routing\.yaml: rule file not found"):
        load_rules(cfg)


@pytest.mark.parametrize("text,seconds", [("90m", 5400), ("4h", 14400), ("1d", 28800), ("1.5h", 5400)])
def test_durations_are_business_seconds(text, seconds):
    assert parse_duration(text) == seconds


def test_notify_yaml_is_optional_and_slack_is_off_without_it(cfg):
    (cfg / "notify.yaml").unlink()
    rules = load_rules(cfg)
    assert rules.notify.slack.enabled is False and not rules.notify.slack.carries("assignment")


@pytest.mark.parametrize(("text", "found"), [
    ("slack: {enabled: true, mode: chat}", "notify.yaml: slack.mode = 'chat'"),
    ("slack: {enabled: true, kinds: [assignment, lunch]}", "notify.yaml: slack.kinds.1 = 'lunch'"),
    ("slack: {enabled: true, managers_channel: sdr managers}", "notify.yaml: slack.managers_channel = 'sdr managers'"),
    ("slack: {enabled: true, mode: webhook, managers_channel: '#m'}", "an incoming webhook posts to its own channel"),
    ("slack: {enabled: true, channel: '#leads'}", "notify.yaml: slack.channel = '#leads'"),
])
def test_a_wrong_notify_yaml_names_file_key_and_value(cfg, text, found):
    (cfg / "notify.yaml").write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        load_rules(cfg)
    assert found in str(e.value) and len(str(e.value).splitlines()) == 1


def test_a_slack_id_in_sdrs_yaml_must_look_like_one(cfg):
    text = (cfg / "sdrs.yaml").read_text().replace("manager: m.laurent,", "manager: m.laurent, slack_user: ana,", 1)
    (cfg / "sdrs.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_rules(cfg)
    assert "slack_user = 'ana'" in str(e.value)
