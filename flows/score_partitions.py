"""score-partitions: a scoring pass cut into partitions of leads, run in parallel by the task runner
the calling flow gives it (Dask), as a child run of lead-pipeline or rescore."""
from __future__ import annotations

from prefect import flow, unmapped

from leadops.flows.display import finish, partitions_run_name
from leadops.reporting.numbers import count
from leadops.domain.scoring_pass import ScoreSummary
from leadops.tasks.parameters import RunSettings
from leadops.tasks.pipeline import combine_scores, plan_scoring, score_partition


@flow(name="score-partitions", flow_run_name=partitions_run_name)
def score_partitions(run: RunSettings, flow_run_id: str | None = None, only_changed: bool = True,
                     stages: list[str] | None = None, sources: list[str] | None = None,
                     arrived_since: str | None = None, lead_ids: list[int] | None = None) -> ScoreSummary:
    """Score the selected open leads partition by partition, all as of one instant; returns the
    combined counts (grain: lead; what a one-task pass returns). ``flow_run_id`` is the calling run,
    recorded in the score history as a one-task pass would."""
    plan = plan_scoring(run, only_changed, stages, sources, arrived_since, lead_ids)
    futures = score_partition.map(unmapped(run), plan.parts, now=unmapped(plan.now), flow_run_id=unmapped(flow_run_id))
    out = combine_scores(futures.result())
    return finish(out, f"{count(out.scored)} leads scored in {count(len(plan.parts))} partition(s), "
                       f"{count(out.changed)} changed")
