"""LEADOPS_TASK_RUNNER=dask: the pipeline's scoring in partitions on a real Dask cluster (two worker
processes) gives the database the default runner gives; on SQLite the setting is refused up front."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import ROOT

FIRST = ["Léa", "Hans", "Marta", "Pierre", "Sofia", "Tom", "Inès", "Lukas", "Chloé", "Jan", "Emma", "Noah", "Olga"]
LAST = ["Martin", "Müller", "Rossi", "Dubois", "García", "Smith", "Nowak", "Bernard", "Jansen", "Lefèvre", "Kowalski"]
TITLES = ["CTO", "DSI", "Head of Sales", "Marketing Manager", "Data Engineer", "Student", "VP Operations"]
COUNTRIES = ["France", "Germany", "United Kingdom", "Spain", "Belgium", "Italy"]
SOURCES = ["web_form", "demo_request", "white_paper", "webinar", "contact_sales", "trade_show"]


def write_inbox(inbox) -> None:
    """Three lead files of 120 rows; each repeats 20 people of the one before, and has dirty rows."""
    inbox.mkdir(parents=True, exist_ok=True)
    for f in range(3):
        rows = ["Email,First Name,Last Name,Company,Job Title,Country,Source"]
        for k in range(f * 100, f * 100 + 120):
            rows.append(f"p{k}@company{k % 41}.fr,{FIRST[k % 13]},{LAST[k % 11]},Company {k % 41} SAS,"
                        f"{TITLES[k % 7]},{COUNTRIES[k % 6]},{SOURCES[k % 6]}")
        rows += [f"not-an-email-{f},No,Body,X,CTO,France,web_form", f"q{f}@mailinator.com,Dis,Posable,Y,CTO,France,web_form"]
        (inbox / f"webform-{f}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def fresh_database(url: str, rules) -> None:
    """Empty every table of ``url`` and load the roster again."""
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster
    from leadops.db.session import session_scope
    from tests.conftest import _truncate_pg

    _truncate_pg(url)
    with session_scope(url) as s:
        apply_roster(SqlUnitOfWork.around(s), rules.roster)


def database_state(url: str) -> dict:
    """Return what a pipeline run leaves in the database, keyed by lead email (ids and times left out)."""
    from leadops.db.session import get_engine

    with get_engine(url).connect() as c:
        leads = {r.email: r for r in c.execute(text(
            "select l.email, l.source, l.lifecycle_stage, l.fit_score, l.engagement_score, l.score, l.grade, "
            "l.score_version, l.owner_sdr_id is not null as owned, (select count(*) from score_history h "
            "where h.lead_id = l.id) as history, (select count(*) from lead_stage_history g where g.lead_id = l.id) "
            "as stages from leads l"))}
        counts = {t: c.execute(text(f"select count(*) from {t}")).scalar() for t in
                  ("quarantine", "lead_merges", "ingest_batches", "assignments", "notification_outbox")}
        runs = set(c.execute(text("select distinct flow_run_id from score_history")).scalars())
    return {"leads": leads, "counts": counts, "score_runs": runs}


@pytest.fixture(scope="module")
def dask_cluster(pg_schema_url, tmp_path_factory):
    """A Dask LocalCluster of two worker processes whose environment points at the test database."""
    from distributed import LocalCluster

    env = {"LEADOPS_DATABASE_URL": pg_schema_url, "LEADOPS_CONFIG_DIR": str(ROOT / "config"),
           "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
           "LEADOPS_VAR_DIR": str(tmp_path_factory.mktemp("dask-var"))}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env) as cluster:
        yield cluster


COUNTED = ("files", "rows_read", "inserted", "merged", "quarantined", "scored", "score_changed", "promoted_mql",
           "disqualified", "model_version", "routed")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_dask_scoring_partitions_leave_the_database_the_default_runner_leaves(leadops_env, rules, dask_cluster,
                                                                             monkeypatch):
    from distributed import Client, get_task_stream

    from leadops.flows.lead_pipeline import lead_pipeline

    url = leadops_env.database_url
    fresh_database(url, rules)
    write_inbox(leadops_env.inbox_dir)
    default = lead_pipeline()
    expected = database_state(url)

    fresh_database(url, rules)
    write_inbox(leadops_env.inbox_dir)
    monkeypatch.setenv("LEADOPS_TASK_RUNNER", "dask")
    monkeypatch.setenv("LEADOPS_DASK_ADDRESS", dask_cluster.scheduler_address)
    monkeypatch.setenv("LEADOPS_SCORE_PARTITION_LEADS", "40")
    with Client(dask_cluster.scheduler_address) as client, get_task_stream(client) as stream:
        on_dask = lead_pipeline()
    got = database_state(url)

    # every row accounted the same way, the same leads with the same scores, stages and history
    assert {k: on_dask.as_dict()[k] for k in COUNTED} == {k: default.as_dict()[k] for k in COUNTED}
    assert default.rows_read == 366 and default.rows_read == default.inserted + default.merged \
        + default.quarantined
    assert got["counts"] == expected["counts"]
    assert got["leads"].keys() == expected["leads"].keys() and len(got["leads"]) == default.inserted
    for email, lead in expected["leads"].items():
        assert got["leads"][email] == lead, email
    # the history points at each pipeline run, whichever process scored
    assert expected["score_runs"] == {default.flow_run_id} and got["score_runs"] == {on_dask.flow_run_id}

    # the scoring ran on the cluster: one Dask task per partition of 40 leads, on both worker processes
    partitions = -(-default.scored // 40)
    scored_on = [t["worker"] for t in stream.data if t["key"].startswith("score_partition")]
    assert len(scored_on) == partitions > 2
    assert set(scored_on) == set(dask_cluster.scheduler_info["workers"])

    # rescore takes the same path: every open lead again, on the cluster, and nothing changes
    from leadops.flows.rescore import rescore

    open_leads = sum(lead.lifecycle_stage in ("new", "mql", "sal", "sql", "nurture", "recycled")
                     for lead in got["leads"].values())
    again = rescore(route=False)
    assert (again.scoring.scored, again.scoring.changed, again.scoring.stage_changes) == (open_leads, 0, {})
    assert again.scoring.distribution_before == again.scoring.distribution_after


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dask_on_sqlite_is_refused_before_any_work(leadops_env, monkeypatch):
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.config import ConfigError

    write_inbox(leadops_env.inbox_dir)
    monkeypatch.setenv("LEADOPS_TASK_RUNNER", "dask")
    with pytest.raises(ConfigError, match="LEADOPS_TASK_RUNNER=dask needs PostgreSQL"):
        lead_pipeline()
    assert len(list(leadops_env.inbox_dir.glob("*.csv"))) == 3  # nothing ingested, nothing moved
