"""Stage ``verdicts``: a pass/fail vector per rollout, ILA, CLA, reward -> ``verdicts.parquet``."""

from __future__ import annotations

from prefect import task

from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="verify", task_run_name="verdicts-iter-{iteration}", **STAGE_TASK)
def verify(
    ctx: RunContext,
    iteration: int,
    prompts: StageResult | None = None,
    rollouts: StageResult | None = None,
    force: bool = False,
) -> StageResult:
    """Check every rollout against its prompt's constraints (originals-only metrics)."""
    del prompts, rollouts  # the inputs the graph shows; the stage reads their files
    return run_pipeline_stage(ctx, iteration, "verdicts", force=force)
