"""The part every stage task shares: run the stage through ``hir_core.stages``, then log.

A stage task only says which stage it runs; :func:`run_pipeline_stage` calls
:func:`hir_core.stages.run_stage` (hash the inputs, skip when done, compute, write
atomically, record in the manifest; see that module) with the run's engines, then logs the
metrics (step = iteration) and the output files to MLflow and runs the fault-injection hook.
:func:`execute` does the same around any computation (evaluation and the report stage).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from hir_core.rundir import STAGES
from hir_core.stages import StageOutcome, run_recorded, run_stage
from hir_core.stages import read_input as _read_input
from hir_core.termination import stop_if_requested
from tasks.context import RunContext, fault_hook

# What a stage task returns to its flow: where the outputs are, their sha256, the metrics.
# The next stages' tasks take it as their inputs (the flow-run graph's edges).
StageResult = StageOutcome

# compute(ctx, iteration, seed) -> (tables to write: table name -> frame, metrics)
Compute = Callable[[RunContext, int, int], tuple[dict[str, pl.DataFrame], dict[str, float]]]


def read_input(ctx: RunContext, iteration: int, table: str) -> pl.DataFrame:
    """An upstream table of this iteration, schema-checked."""
    return _read_input(ctx.rundir, iteration, table)


def _log(ctx: RunContext, result: StageResult) -> StageResult:
    if not result.skipped and ctx.tracker is not None:
        # hir_core.pipeline namespaces its keys already (rollout/..., hindsight/..., train/...).
        ctx.tracker.log_metrics(result.metrics, step=result.iteration)
        for path in result.outputs.values():
            if Path(path).is_file():  # tables and train.json; checkpoints go at the end
                ctx.tracker.log_artifact(path, f"iter-{result.iteration:04d}")
    if not result.skipped:
        fault_hook(result.iteration, result.stage)
    stop_if_requested()  # a SIGTERM waits for this point: the stage is recorded
    return result


def run_pipeline_stage(
    ctx: RunContext, iteration: int, stage: str, *, force: bool = False
) -> StageResult:
    """Stage ``stage`` of ``iteration`` with the run's engines, logged to MLflow."""
    engines = ctx.policy.engines if stage in ("rollouts", "replays", "batch", "train") else None
    return _log(ctx, run_stage(ctx.rundir, ctx.cfg, iteration, stage, engines, force=force))


def execute(
    ctx: RunContext,
    iteration: int,
    stage: str,
    compute: Compute,
    *,
    force: bool = False,
    inputs: list[Path] | None = None,
    outputs: dict[str, Path] | None = None,
) -> StageResult:
    """``compute`` under the stage contract (``hir_core.stages.run_recorded``), logged.

    ``inputs`` / ``outputs`` default to the run directory's layout for ``stage``; stages
    outside the training loop (evaluation) pass their own.
    """
    result = run_recorded(
        ctx.rundir,
        ctx.cfg,
        iteration,
        stage,
        lambda seed: compute(ctx, iteration, seed),
        force=force,
        inputs=inputs,
        outputs=outputs,
    )
    return _log(ctx, result)


def later_stages(stage: str) -> list[str]:
    """The stages of an iteration after ``stage``."""
    return list(STAGES[STAGES.index(stage) + 1 :])
