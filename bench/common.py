"""What the benchmarks share: a fresh, empty database of either kind."""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
from pathlib import Path

PG = os.environ.get("LEADOPS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_url(kind: str, tag: str, tmp: Path | None = None) -> str:
    """Return the URL of an empty database: a new SQLite file (in ``tmp`` or a new temp folder), or a
    new PostgreSQL schema named after ``tag`` and this process (dropped and recreated)."""
    if kind == "sqlite":
        return f"sqlite:///{Path(tmp or tempfile.mkdtemp()) / f'{tag}.db'}"
    schema = f"bench_{tag}_{os.getpid()}"
    pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    pg_admin(f'CREATE SCHEMA "{schema}"')
    atexit.register(_drop_schema, schema)  # a 1M run's schema holds gigabytes: nothing is left in `test`
    return f"{PG}?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    """Drop a schema ``fresh_url`` made (at the benchmark's exit); says so on stderr if it cannot."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except SQLAlchemyError as e:  # the figures are printed already; only the clean-up failed
        print(f"could not drop schema {schema}: {e}", file=sys.stderr)


def child_env(tmp: Path, mode: str, spec: dict) -> dict[str, str]:
    """Return the environment of a benchmark child: its own Prefect home (ephemeral API, no PREFECT_API_URL
    inherited), no analytics, and leadops settings from ``spec`` (url, config, var)."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_API_URL"))}
    env.update({
        "PREFECT_HOME": str(tmp / f"prefect-{mode}"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING",
        "LEADOPS_EXPECTATIONS_DIR": str(root / "expectations"),
    })
    for key, var in (("url", "LEADOPS_DATABASE_URL"), ("config", "LEADOPS_CONFIG_DIR"), ("var", "LEADOPS_VAR_DIR")):
        if spec.get(key):
            env[var] = str(spec[key])
    return env


def spawn(script: str, mode: str, spec: dict, env: dict[str, str]) -> dict:
    """Run ``script --child MODE SPEC`` and return the JSON object its last stdout line holds; exits naming
    the mode with the end of its stderr when it fails."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, script, "--child", mode, json.dumps(spec)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env=env, check=False)
    if proc.returncode:
        sys.exit(f"{Path(script).name} {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def task_seconds(flow_run_id: str) -> dict[str, float]:
    """Return seconds per task of the flow run ``flow_run_id`` (the Prefect API of this process's settings), start to
    end, in start order; the runs of one task (``ingest-<file>``: ``ingest``) are added up."""
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        for _ in range(50):  # task run states arrive as events: wait until every run has its end time
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            if runs and all(r.end_time for r in runs):
                break
            time.sleep(0.1)
    out: dict[str, float] = {}
    for r in sorted(runs, key=lambda r: r.start_time or r.expected_start_time):
        name = "ingest" if r.name.startswith("ingest-") and not r.name.startswith("ingest-api") else r.name.rsplit("-", 1)[0]
        if r.start_time and r.end_time:
            out[name] = out.get(name, 0.0) + (r.end_time - r.start_time).total_seconds()
    return out


def pg_admin(statement: str) -> None:
    """Run one statement on the PostgreSQL server in autocommit (CREATE / DROP DATABASE cannot run in a
    transaction; schemas are made and dropped the same way)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(statement))
    finally:
        engine.dispose()


#: prefix of the PostgreSQL databases the stage benchmarks create (LEADOPS_BENCH_PG_PREFIX, e.g. ``wt_pg_``): two people
#: benchmarking on one server otherwise drop each other's databases, whose names are fixed
PG_PREFIX = os.environ.get("LEADOPS_BENCH_PG_PREFIX", "")


def pg_database(name: str, template: str | None = None) -> str:
    """Return the URL of PostgreSQL database ``name`` (after PG_PREFIX), dropped and created again (as a copy of
    ``template``, after PG_PREFIX unless it starts with it: a name read back from a URL this made)."""
    name = PG_PREFIX + name
    if template is not None and not template.startswith(PG_PREFIX):
        template = PG_PREFIX + template
    pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
    pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return PG.rsplit("/", 1)[0] + f"/{name}"


def stage_workload(folder: Path, leads: int) -> tuple[Path, Path]:
    """Write a stage benchmark's inputs into ``folder``: the generated leads file (``leads`` rows over leads/20
    companies), the offline provider's firmographics and a config using it; returns (config folder, leads file)."""
    import workload

    folder.mkdir(parents=True, exist_ok=True)
    domains = max(1, leads // 20)
    firmo = workload.firmographics_csv(folder / "firmographics.csv", domains)
    config = workload.config_dir(folder / "config", workload.provider_config("offline", firmo))
    path = folder / f"leads-{leads}.csv"
    workload.generate(path, leads, domains)
    return config, path


def server_cpu(url: str) -> float | None:
    """Return the CPU seconds (user + system) of the PostgreSQL server processes connected to the database of ``url``
    now (the backends of a stage's run, read from /proc: a server on this host only); None for SQLite or when
    they cannot be read. Wall time on a shared machine is noisy; a stage's CPU here and in its own process is not."""
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            pids = c.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid()")).scalars().all()
    finally:
        engine.dispose()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return None
    return total
