"""Stage ``batch``: originals + replays with old/reference log-probs and advantages -> ``batch.parquet``."""

from __future__ import annotations

from prefect import task

from hir_core import pipeline
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed  # deterministic given the policy
    tables = {
        t: read_input(ctx, iteration, t) for t in ("prompts", "rollouts", "verdicts", "replays")
    }
    engine = ctx.policy.engine_for(iteration)
    batch, metrics = pipeline.build_batch(
        tables["prompts"],
        tables["rollouts"],
        tables["verdicts"],
        tables["replays"],
        ctx.cfg,
        engine,
    )
    return {"batch": batch}, metrics


@task(name="build-batch", task_run_name="batch-iter-{iteration}", **STAGE_TASK)
def build_batch(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Assemble the exact training samples of the iteration."""
    return execute(ctx, iteration, "batch", _compute, force=force)
