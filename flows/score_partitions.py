"""score-partitions: a scoring pass cut into partitions of leads, run in parallel by the task runner
the calling flow gives it (Dask), as a child run of lead-pipeline or rescore."""
from __future__ import annotations

from typing import Any

from prefect import flow, unmapped

from leadops.flows.display import finish, partitions_run_name
from leadops.reporting.numbers import count
from leadops.tasks.pipeline import combine_scores, plan_scoring, score_partition


@flow(name="score-partitions", flow_run_name=partitions_run_name)
def score_partitions(overrides: dict[str, Any], flow_run_id: str | None = None, only_changed: bool = True,
                     stages: list[str] | None = None, sources: list[str] | None = None,
                     arrived_since: str | None = None, lead_ids: list[int] | None = None) -> dict[str, Any]:
    """Score the selected open leads partition by partition, all as of one instant; returns the
    combined counts (the keys of a one-task pass). ``flow_run_id`` is the calling run, recorded in
    the score history as a one-task pass would."""
    plan = plan_scoring(overrides, only_changed, stages, sources, arrived_since, lead_ids)
    futures = score_partition.map(unmapped(overrides), plan["parts"], now=unmapped(plan["now"]),
                                  flow_run_id=unmapped(flow_run_id))
    out = combine_scores(futures.result())
    return finish(out, f"{count(out['scored'])} leads scored in {count(len(plan['parts']))} partition(s), "
                       f"{count(out['changed'])} changed")
