"""Which Prefect task runner the parallel steps of a flow use, from the LEADOPS_ settings.

Built when a flow runs (never at import), so a deployment's worker decides from its own
environment: the same entry point runs on Prefect's default runner or on Dask.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from leadops.config import ConfigError
from leadops.tasks.common import settings
from leadops.tasks.parameters import RunSettings


def scoring_runner(run: RunSettings | None = None) -> Any | None:
    """Return a prefect_dask.DaskTaskRunner when LEADOPS_TASK_RUNNER=dask (on LEADOPS_DASK_ADDRESS,
    or a temporary LocalCluster of LEADOPS_DASK_WORKERS processes), else None: score as one task.

    Raises ConfigError for Dask on SQLite: partitions would write at the same time and SQLite
    refuses a second writer whose snapshot is stale, so runs would fail at random.
    """
    s = settings(run)
    if s.task_runner != "dask":
        return None
    if make_url(s.database_url).get_backend_name() == "sqlite":
        raise ConfigError("LEADOPS_TASK_RUNNER=dask needs PostgreSQL (LEADOPS_DATABASE_URL is SQLite, which takes "
                          "one writer at a time): unset LEADOPS_TASK_RUNNER or move the database to PostgreSQL")
    from prefect_dask import DaskTaskRunner

    if s.dask_address:
        return DaskTaskRunner(address=s.dask_address)
    # one thread per worker process: a partition is pandas work plus one database transaction,
    # so processes, not threads, are what runs partitions side by side; no dashboard (needs bokeh)
    cluster: dict[str, Any] = {"processes": True, "threads_per_worker": 1, "dashboard_address": None}
    if s.dask_workers:
        cluster["n_workers"] = s.dask_workers
    return DaskTaskRunner(cluster_kwargs=cluster)
