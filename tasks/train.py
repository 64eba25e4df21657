"""Stage ``train``: one policy update on the batch -> ``train.json`` + ``checkpoints/iter-K/``."""

from __future__ import annotations

import json

from prefect import get_run_logger, task

from hir_core import pipeline
from hir_core.storage import atomic_write
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed  # the update is deterministic given batch and engine state
    batch = read_input(ctx, iteration, "batch")
    engine = ctx.policy.engine_for(iteration)
    # A step that fails half-way flags the engine; a retry then reloads the previous
    # checkpoint (pipeline.engine_for_iteration) instead of stepping a half-updated policy.
    metrics = pipeline.train_step(batch, engine, ctx.cfg)
    pipeline.save_checkpoint(engine, ctx.rundir.checkpoint_dir(iteration))
    with atomic_write(ctx.rundir.train_json_path(iteration)) as handle:
        handle.write(json.dumps(metrics, indent=1, sort_keys=True).encode())
    return {}, metrics


@task(name="train-step", task_run_name="train-iter-{iteration}", **STAGE_TASK)
def train_step(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Update the live DeepSpeed engine and checkpoint it (HF safetensors + optimizer);
    then drop the optimizer state of checkpoints older than ``keep_optimizer_states``."""
    result = execute(ctx, iteration, "train", _compute, force=force)
    if ctx.cfg.keep_optimizer_states is not None:
        removed = ctx.rundir.prune_optimizer_states(ctx.cfg.keep_optimizer_states, iteration)
        for folder in removed:
            get_run_logger().info("optimizer state removed (keep_optimizer_states): %s", folder)
    return result
