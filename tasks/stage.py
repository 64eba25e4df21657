"""The part every stage task shares: skip if done, compute, write, record, log.

A stage task only says what its stage reads and which ``hir_core.pipeline`` function it
calls; :func:`execute` does the rest, the same way for every stage:

1. hash the stage's inputs (``RunDir.stage_inputs``: upstream tables, previous checkpoint)
   with the config and iteration; a missing input is a :class:`MissingInputError`;
2. skip when the manifest records the stage done with that input hash and every output
   still has its recorded sha256 (``Manifest.is_done``): a truncated or hand-edited output is
   recomputed, never trusted;
3. compute with the stage seed ``stage_seed(run seed, iteration, stage)``;
4. write tables atomically through their schema (``hir_core.storage.write_table``);
5. record outputs, input hash, timings and metrics in the manifest;
6. log the metrics (step = iteration) and the output files to MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hir_core.rundir import STAGES, Manifest, input_hash, stage_seed
from hir_core.storage import read_table, write_table
from tasks.context import MissingInputError, RunContext, fault_hook

# compute(ctx, iteration, seed) -> (tables to write: table name -> frame, metrics)
Compute = Callable[[RunContext, int, int], tuple[dict[str, pl.DataFrame], dict[str, float]]]


@dataclass
class StageResult:
    """What a stage task returns to its flow."""

    iteration: int
    stage: str
    skipped: bool
    metrics: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)


def read_input(ctx: RunContext, iteration: int, table: str) -> pl.DataFrame:
    """An upstream table of this iteration, schema-checked."""
    path = ctx.rundir.table_path(iteration, table)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run stage {table!r} of iteration {iteration}")
    return read_table(path, table)


def stage_input_hash(
    ctx: RunContext, iteration: int, stage: str, inputs: list[Path] | None = None
) -> str:
    inputs = ctx.rundir.stage_inputs(iteration, stage) if inputs is None else inputs
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise MissingInputError(
            f"stage {stage!r} of iteration {iteration} needs {', '.join(map(str, missing))}: "
            "run the earlier stages first"
        )
    return input_hash(ctx.cfg, iteration, stage, inputs)


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
    """Run one stage of one iteration under the stage contract (module docstring).

    ``inputs`` / ``outputs`` default to the run directory's layout for ``stage``; stages
    outside the training loop (evaluation) pass their own.
    """
    digest = stage_input_hash(ctx, iteration, stage, inputs)
    manifest = Manifest.load(ctx.rundir)
    if not force and manifest.is_done(iteration, stage, digest):
        entry = manifest.stage(iteration, stage) or {}
        return StageResult(
            iteration,
            stage,
            skipped=True,
            metrics=dict(entry.get("metrics", {})),
            duration_s=float(entry.get("duration_s", 0.0)),
            outputs={k: v["path"] for k, v in entry.get("outputs", {}).items()},
        )

    started = time.time()
    tables, metrics = compute(ctx, iteration, stage_seed(ctx.cfg.seed, iteration, stage))
    if outputs is None:
        outputs = ctx.rundir.stage_outputs(iteration, stage)
    for table, frame in tables.items():
        write_table(frame, outputs[table], table)
    finished = time.time()
    metrics = {**metrics, f"time/{stage}_s": finished - started}
    manifest.record(
        iteration,
        stage,
        outputs=outputs,
        input_hash=digest,
        started=started,
        finished=finished,
        metrics=metrics,
    )
    if ctx.tracker is not None:
        # hir_core.pipeline namespaces its keys already (rollout/..., hindsight/..., train/...).
        ctx.tracker.log_metrics(metrics, step=iteration)
        for path in outputs.values():
            if Path(path).is_file():  # tables and train.json; checkpoints go at the end
                ctx.tracker.log_artifact(path, f"iter-{iteration:04d}")
    fault_hook(iteration, stage)
    return StageResult(
        iteration,
        stage,
        skipped=False,
        metrics=metrics,
        duration_s=finished - started,
        outputs={k: str(v) for k, v in outputs.items()},
    )


def later_stages(stage: str) -> list[str]:
    """The stages of an iteration after ``stage``."""
    return list(STAGES[STAGES.index(stage) + 1 :])
