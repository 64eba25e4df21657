"""Stage ``batch``: originals + replays with old/reference log-probs and advantages -> ``batch.parquet``."""

from __future__ import annotations

from prefect import task

from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="build-batch", task_run_name="batch-iter-{iteration}", **STAGE_TASK)
def build_batch(
    ctx: RunContext,
    iteration: int,
    prompts: StageResult | None = None,
    rollouts: StageResult | None = None,
    verdicts: StageResult | None = None,
    replays: StageResult | None = None,
    checkpoint: StageResult | None = None,
    force: bool = False,
) -> StageResult:
    """Assemble the exact training samples of the iteration (log-probs from the policy of
    ``checkpoint``, the previous iteration's train stage)."""
    del prompts, rollouts, verdicts, replays, checkpoint  # the graph's inputs: files are read
    return run_pipeline_stage(ctx, iteration, "batch", force=force)
