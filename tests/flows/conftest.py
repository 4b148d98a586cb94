"""One Prefect test harness for the whole session (it costs ~13 s to start)."""
import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def leadops_env(monkeypatch, settings):
    """Point the flows' tasks (which read the environment) at this test's database and folders."""
    monkeypatch.setenv("LEADOPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEADOPS_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("LEADOPS_EXPECTATIONS_DIR", str(settings.expectations_dir))
    return settings
