"""Stage ``prompts``: the B training prompts of an iteration -> ``prompts.parquet``."""

from __future__ import annotations

from prefect import task

from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="sample-prompts", task_run_name="prompts-iter-{iteration}", **STAGE_TASK)
def sample_prompts(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Sample this iteration's prompts (a pure function of config and iteration)."""
    return run_pipeline_stage(ctx, iteration, "prompts", force=force)
