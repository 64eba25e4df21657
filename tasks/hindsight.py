"""Stage ``replays``: the configured hindsight strategy (none, hir, herl) -> ``replays.parquet``."""

from __future__ import annotations

from prefect import task

from hir_core import pipeline
from hir_core.hindsight import NEEDS_GENERATOR
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed  # pipeline.hindsight derives its own (generating strategies only)
    prompts = read_input(ctx, iteration, "prompts")
    rollouts = read_input(ctx, iteration, "rollouts")
    verdicts = read_input(ctx, iteration, "verdicts")
    # HiR needs no model; HeRL generates guided revisions with the current policy.
    generator = (
        ctx.policy.generator_for(iteration)
        if ctx.cfg.hindsight.strategy in NEEDS_GENERATOR
        else None
    )
    replays, metrics = pipeline.hindsight(
        prompts, rollouts, verdicts, ctx.cfg, iteration, generator=generator
    )
    return {"replays": replays}, metrics


@task(name="hindsight", task_run_name="replays-iter-{iteration}", **STAGE_TASK)
def hindsight(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Select and rewrite (HiR) or revise (HeRL) the iteration's failed rollouts."""
    return execute(ctx, iteration, "replays", _compute, force=force)
