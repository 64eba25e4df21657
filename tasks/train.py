"""Stage ``train``: one policy update on the batch -> ``train.json`` + ``checkpoints/iter-K/``."""

from __future__ import annotations

from prefect import get_run_logger, task

from tasks._options import TRAIN_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, run_pipeline_stage


@task(name="train-step", task_run_name="train-iter-{iteration}", **TRAIN_TASK)
def train_step(
    ctx: RunContext,
    iteration: int,
    batch: StageResult | None = None,
    checkpoint: StageResult | None = None,
    force: bool = False,
) -> StageResult:
    """Update the policy (the live DeepSpeed engine) on ``batch`` and checkpoint it (HF
    safetensors + optimizer) atomically; then drop the optimizer state of checkpoints older
    than ``keep_optimizer_states``. ``checkpoint``: the previous iteration's train stage."""
    del batch, checkpoint  # the inputs the graph shows; the stage reads their files
    result = run_pipeline_stage(ctx, iteration, "train", force=force)
    if ctx.cfg.keep_optimizer_states is not None:
        removed = ctx.rundir.prune_optimizer_states(ctx.cfg.keep_optimizer_states, iteration)
        for folder in removed:
            get_run_logger().info("optimizer state removed (keep_optimizer_states): %s", folder)
    return result
