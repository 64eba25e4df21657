"""Stage ``rollouts``: n_gen responses per prompt from the current policy -> ``rollouts.parquet``."""

from __future__ import annotations

from prefect import task

from hir_core import pipeline
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input


def _compute(ctx: RunContext, iteration: int, seed: int):
    prompts = read_input(ctx, iteration, "prompts")
    generator = ctx.policy.generator_for(iteration)
    rollouts, metrics = pipeline.generate_rollouts(prompts, generator, ctx.cfg, seed)
    return {"rollouts": rollouts}, metrics


@task(name="generate-rollouts", task_run_name="rollouts-iter-{iteration}", **STAGE_TASK)
def generate_rollouts(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Sample rollouts with the policy of the previous iteration's checkpoint."""
    return execute(ctx, iteration, "rollouts", _compute, force=force)
