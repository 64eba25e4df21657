"""Stage ``rollouts``: n_gen responses per prompt from the current policy -> ``rollouts.parquet``."""

from __future__ import annotations

from prefect import task

from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="generate-rollouts", task_run_name="rollouts-iter-{iteration}", **STAGE_TASK)
def generate_rollouts(
    ctx: RunContext,
    iteration: int,
    prompts: StageResult | None = None,
    checkpoint: StageResult | None = None,
    force: bool = False,
) -> StageResult:
    """Sample rollouts with the policy of the previous iteration's checkpoint.

    ``prompts``: this iteration's prompts stage; ``checkpoint``: the previous iteration's
    train stage (None at iteration 0: the base model). The stage reads their files.
    """
    del prompts, checkpoint  # the inputs the graph shows; the stage reads their files
    return run_pipeline_stage(ctx, iteration, "rollouts", force=force)
