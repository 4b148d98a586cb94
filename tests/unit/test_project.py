"""The project folder: `leadops init` makes one, settings are found from anywhere inside it."""
import pytest
import yaml

from leadops.config import ConfigError, get_settings, load_rules
from leadops.project import MARKER, ProjectError, find_root, init_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    for k in ("LEADOPS_HOME", "LEADOPS_CONFIG_DIR", "LEADOPS_DATABASE_URL", "LEADOPS_VAR_DIR",
              "LEADOPS_EXPECTATIONS_DIR", "LEADOPS_COMPANY_TIME_ZONE"):
        monkeypatch.delenv(k, raising=False)
    init_project(tmp_path / "acme")
    return tmp_path / "acme"


def test_init_writes_a_project_with_no_sample_people_and_valid_rule_files(project):
    assert (project / MARKER).is_file()
    rules = load_rules(project / "config")
    assert rules.roster.people == []
    assert rules.routing.pools["everyone"].members == []  # "*" with nobody on the roster yet
    assert sorted(p.name for p in (project / "expectations").glob("*.json")) == [
        "activities.json", "activities_raw.json", "leads_intake.json", "leads_raw.json"]
    spec = yaml.safe_load((project / "prefect.yaml").read_text())
    [pull] = spec["pull"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(project)
    assert (project / ".env.example").is_file() and ".env" in (project / ".gitignore").read_text()


def test_init_refuses_an_existing_project_and_keeps_edited_files(project):
    with pytest.raises(ProjectError, match="already a leadops project"):
        init_project(project)
    (project / "config" / "sla.yaml").write_text("edited")
    (project / "config" / "routing.yaml").unlink()
    (project / MARKER).unlink()
    again = init_project(project)
    assert "config/sla.yaml" in again.kept and (project / "config" / "sla.yaml").read_text() == "edited"
    assert "config/routing.yaml" in again.written


def test_every_command_inside_the_project_finds_it(project, monkeypatch):
    deep = project / "var" / "inbox"
    monkeypatch.chdir(deep)
    assert find_root() == project
    s = get_settings()
    assert s.home == project
    assert s.config_dir == project / "config"
    assert s.expectations_dir == project / "expectations"
    assert s.var_dir == project / "var"
    assert s.database_url == f"sqlite:///{project / 'leadops.db'}"


def test_settings_come_from_the_environment_then_env_file_then_leadops_yaml(project, monkeypatch):
    monkeypatch.chdir(project)
    spec = yaml.safe_load((project / MARKER).read_text())
    spec["settings"]["company_time_zone"] = "America/New_York"
    spec["settings"]["intake_chunk_rows"] = 500
    (project / MARKER).write_text(yaml.safe_dump(spec))
    assert get_settings().company_time_zone == "America/New_York"
    (project / ".env").write_text("LEADOPS_COMPANY_TIME_ZONE=Europe/London\n")
    s = get_settings()
    assert (s.company_time_zone, s.intake_chunk_rows) == ("Europe/London", 500)
    monkeypatch.setenv("LEADOPS_COMPANY_TIME_ZONE", "Asia/Tokyo")
    assert get_settings().company_time_zone == "Asia/Tokyo"


def test_a_wrong_project_setting_names_the_file_and_key(project, monkeypatch):
    monkeypatch.chdir(project)
    spec = yaml.safe_load((project / MARKER).read_text())
    spec["settings"]["databse_url"] = "sqlite:///x.db"
    (project / MARKER).write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"leadops.yaml: settings.databse_url: not a leadops setting"):
        get_settings()


def test_leadops_home_points_anywhere_and_must_be_a_project(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_root() is None
    monkeypatch.setenv("LEADOPS_HOME", str(project))
    assert get_settings().config_dir == project / "config"
    monkeypatch.setenv("LEADOPS_HOME", str(tmp_path))
    with pytest.raises(ProjectError, match=r"no leadops\.yaml there"):
        find_root()


def test_star_in_a_pool_is_every_active_sdr_of_the_roster(project):
    (project / "config" / "sdrs.yaml").write_text(yaml.safe_dump({"people": [
        {"code": "m.boss", "name": "Boss", "email": "boss@example.com", "role": "manager"},
        {"code": "s.one", "name": "One", "email": "one@example.com"},
        {"code": "s.two", "name": "Two", "email": "two@example.com", "active": False},
        {"code": "s.three", "name": "Three", "email": "three@example.com"},
    ]}))
    rules = load_rules(project / "config")
    assert rules.routing.pools["everyone"].members == ["s.one", "s.three"]
