"""Stage ``replays``: the configured hindsight strategy (none, hir, herl) -> ``replays.parquet``."""

from __future__ import annotations

from prefect import task

from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="hindsight", task_run_name="replays-iter-{iteration}", **STAGE_TASK)
def hindsight(
    ctx: RunContext,
    iteration: int,
    prompts: StageResult | None = None,
    rollouts: StageResult | None = None,
    verdicts: StageResult | None = None,
    force: bool = False,
) -> StageResult:
    """Select and rewrite (HiR) or revise (HeRL) the iteration's failed rollouts."""
    del prompts, rollouts, verdicts  # the inputs the graph shows; the stage reads their files
    return run_pipeline_stage(ctx, iteration, "replays", force=force)
