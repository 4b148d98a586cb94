"""Tasks retry what a retry can fix (a lost connection, a locked database) and nothing else (a wrong
rule file, bad arguments, an unknown id): attempts counted, and read back through the Prefect client."""
import importlib
import pkgutil
from uuid import UUID

import pytest
from prefect import flow, task
from sqlalchemy.exc import OperationalError, StatementError

from leadops.config import ConfigError
from leadops.tasks.common import retry_transient_only


def attempts_until_given_up(error: BaseException) -> int:
    """Return how many times a task with 2 retries and the leadops retry condition runs when every
    attempt raises ``error``."""
    calls = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_transient_only)
    def failing() -> None:
        calls.append(1)
        raise error

    @flow
    def run_it() -> None:
        failing(return_state=True)  # the task's failure is what is measured, not the flow's

    run_it()
    return len(calls)


@pytest.mark.parametrize("error", [
    ConfigError("config/scoring.yaml: rules[3].points: 'ten' is not a number"),
    ValueError("arrived_since 'yesterday' is not an ISO date"),
    TypeError("score_leads() got an unexpected keyword argument 'stage'"),
    KeyError("no SDR with code 's.nobody'"),
    FileNotFoundError("var/inbox/leads.csv"),
    StatementError("naive datetime", "SELECT 1", {}, ValueError("naive datetime")),
], ids=lambda e: type(e).__name__)
def test_an_error_a_rerun_cannot_fix_runs_once(error):
    assert attempts_until_given_up(error) == 1


@pytest.mark.parametrize("error", [
    OSError("connection reset by peer"),
    ConnectionRefusedError("127.0.0.1:5432"),
    TimeoutError("read timed out"),
    OperationalError("SELECT 1", {}, Exception("database is locked")),
], ids=lambda e: type(e).__name__)
def test_a_transient_error_is_retried(error):
    assert attempts_until_given_up(error) == 3


def test_a_transient_failure_of_a_leadops_task_is_retried_and_the_run_completes(leadops_env, session, roster, monkeypatch):
    """rescore's scoring task meets a locked database once: its task run ran twice, the flow completed."""
    import leadops.flows.rescore as rescore_module
    import leadops.tasks.pipeline as pipeline

    real = pipeline.score.score_open_leads
    failures = [OperationalError("UPDATE leads", {}, Exception("database is locked"))]

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline.score, "score_open_leads", flaky)
    # the same task without the 10 s wait between attempts (with_options keeps the retry condition)
    monkeypatch.setattr(rescore_module, "rescore_leads", pipeline.rescore_leads.with_options(retry_delay_seconds=0))
    out = rescore_module.rescore(route=False)
    [run] = task_runs(out.flow_run_id, "rescore_leads")
    assert run.run_count == 2 and run.state.is_completed() and not failures


def test_a_leadops_task_given_bad_arguments_fails_once_and_names_the_problem(leadops_env, session, roster):
    """An arrival date that is no date: the scoring task fails on its first attempt, never retried."""
    from leadops.flows.rescore import rescore

    state = rescore(arrived_since="last tuesday", return_state=True)
    assert state.is_failed()
    [run] = task_runs(state.state_details.flow_run_id, "rescore_leads")
    assert run.run_count == 1 and run.state.is_failed() and "last tuesday" in run.state.message


def test_every_leadops_task_with_retries_uses_the_retry_condition():
    """A task module added later must not bring back retries of deterministic errors."""
    from prefect import Task

    from leadops import flows, tasks

    found = []
    for package in (tasks, flows):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found += [(f"{module.__name__}.{name}", obj) for name, obj in vars(module).items()
                      if isinstance(obj, Task) and obj.retries and obj.__module__ == module.__name__]
    assert {"leadops.tasks.pipeline.ingest_file", "leadops.tasks.pipeline.enrich_leads",
            "leadops.tasks.pipeline.route_leads", "leadops.tasks.sla.sweep_clocks",
            "leadops.tasks.report.build_report"} <= {name for name, _ in found}
    assert [name for name, t in found if t.retry_condition_fn is not retry_transient_only] == []


def task_runs(flow_run_id, task_name):
    """Return the task runs of one flow run whose task is ``task_name``, once each is in a final state: task run
    states reach the API as events, which may land after the flow run returned (waited for up to a minute)."""
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        for _ in range(600):
            runs = [r for r in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
                any_=[UUID(str(flow_run_id))]))) if r.task_key.startswith(task_name) or r.name.startswith(task_name)]
            if runs and all(r.state is not None and r.state.is_final() for r in runs):
                break
            time.sleep(0.1)
    return runs
