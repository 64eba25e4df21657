"""Stage ``verdicts``: a pass/fail vector per rollout, ILA, CLA, reward -> ``verdicts.parquet``."""

from __future__ import annotations

from prefect import task

from hir_core import pipeline
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed  # verification is deterministic
    prompts = read_input(ctx, iteration, "prompts")
    rollouts = read_input(ctx, iteration, "rollouts")
    verdicts, metrics = pipeline.verify_rollouts(prompts, rollouts, ctx.cfg)
    return {"verdicts": verdicts}, metrics


@task(name="verify", task_run_name="verdicts-iter-{iteration}", **STAGE_TASK)
def verify(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Check every rollout against its prompt's constraints (originals-only metrics)."""
    return execute(ctx, iteration, "verdicts", _compute, force=force)
