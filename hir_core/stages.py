"""Run stage S of iteration K of a run directory, under the stage contract (Prefect-free).

    engines = InProcessEngines(cfg, rundir)          # or the ray backend, or a worker's
    outcome = run_stage(rundir, cfg, 1, "rollouts", engines)

:func:`run_stage` is the one place that does, for every stage of the training loop:

1. hash the stage's inputs (``RunDir.stage_inputs``: upstream tables, previous checkpoint)
   with the config and iteration; a missing input is a :class:`MissingInputError`;
2. skip when the manifest records the stage done with that input hash and every output
   still has its recorded sha256 (``Manifest.is_done``): a truncated or hand-edited output
   is recomputed, never trusted;
3. compute with the stage seed ``stage_seed(run seed, iteration, stage)``, reading the
   input tables through their schemas and asking ``engines`` for the policy;
4. write tables atomically through their schema (``hir_core.storage.write_table``); the
   train stage saves its checkpoint atomically (``pipeline.save_checkpoint``);
5. record outputs, input hash, timings, metrics and the engine (backend, world size) in the
   manifest.

The Prefect tasks (``tasks/``), the rank-aware worker (``hir worker``), the benchmarks and
the tests all call it. :func:`run_recorded` is steps 1, 2, 4 and 5 around any computation
(the evaluation stage uses it with its own inputs and outputs).

Under a launcher (``hir worker`` with several ranks), every rank calls :func:`run_stage`
with ``writer=`` (rank 0) and ``barrier=``: the batch and train stages compute on every rank
(their engines are one torch.distributed group); the other stages compute on rank 0 alone;
rank 0 alone writes tables, train.json and the manifest, after a barrier.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hir_core.rundir import STAGES, Manifest, RunDir, input_hash, stage_seed
from hir_core.storage import atomic_write, read_table, write_table

if TYPE_CHECKING:
    import polars as pl

    from hir_core.config import PipelineConfig
    from hir_core.engines.api import EngineInfo, Engines

__all__ = [
    "ALL_RANK_STAGES",
    "MissingInputError",
    "StageOutcome",
    "read_input",
    "run_recorded",
    "run_stage",
    "stage_input_hash",
]

# Stages whose engines span every rank of a launched group (log-probs and the step).
ALL_RANK_STAGES = frozenset({"batch", "train"})

# compute(seed) -> (tables to write: table name -> frame, metrics)
Compute = Callable[[int], "tuple[dict[str, pl.DataFrame], dict[str, float]]"]


class MissingInputError(FileNotFoundError):
    """A stage's input is absent from the run directory (run the earlier stages first)."""


@dataclass
class StageOutcome:
    """What running (or skipping) one stage gave: where its outputs are and their hashes.

    ``outputs``: output name -> path; ``hashes``: output name -> sha256 as recorded in the
    manifest (files or folders); ``input_hash``: the hash the stage was recorded under.
    """

    iteration: int
    stage: str
    skipped: bool
    metrics: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    input_hash: str = ""
    engine: dict | None = None


def read_input(rundir: RunDir, iteration: int, table: str) -> pl.DataFrame:
    """An upstream table of ``iteration``, schema-checked."""
    path = rundir.table_path(iteration, table)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run stage {table!r} of iteration {iteration}")
    return read_table(path, table)


def stage_input_hash(
    rundir: RunDir,
    cfg: PipelineConfig,
    iteration: int,
    stage: str,
    inputs: list[Path] | None = None,
) -> str:
    """The input hash of (iteration, stage); MissingInputError naming any absent input."""
    inputs = rundir.stage_inputs(iteration, stage) if inputs is None else inputs
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise MissingInputError(
            f"stage {stage!r} of iteration {iteration} needs {', '.join(map(str, missing))}: "
            "run the earlier stages first"
        )
    return input_hash(cfg, iteration, stage, inputs)


def _outcome_from_manifest(
    manifest: Manifest, iteration: int, stage: str, skipped: bool
) -> StageOutcome:
    entry = manifest.stage(iteration, stage) or {}
    outputs = entry.get("outputs", {})
    return StageOutcome(
        iteration,
        stage,
        skipped=skipped,
        metrics=dict(entry.get("metrics", {})),
        duration_s=float(entry.get("duration_s", 0.0)),
        outputs={k: str(manifest.rundir.root / v["path"]) for k, v in outputs.items()},
        hashes={k: v["sha256"] for k, v in outputs.items()},
        input_hash=entry.get("input_hash", ""),
        engine=entry.get("engine"),
    )


def run_recorded(
    rundir: RunDir,
    cfg: PipelineConfig,
    iteration: int,
    stage: str,
    compute: Compute,
    *,
    force: bool = False,
    inputs: list[Path] | None = None,
    outputs: dict[str, Path] | None = None,
    engine: Callable[[], EngineInfo | None] | None = None,
    writer: bool = True,
    barrier: Callable[[], None] | None = None,
    compute_here: bool = True,
) -> StageOutcome:
    """``compute`` under the stage contract (module docstring, steps 1, 2, 4, 5).

    ``inputs`` / ``outputs`` default to the run directory's layout for ``stage``; stages
    outside the training loop (evaluation, the report) pass their own. ``engine`` says
    (after computing) where the stage ran. ``writer`` / ``barrier`` / ``compute_here``:
    the ranks of a launched worker (module docstring); one process leaves them as they are.
    """
    digest = stage_input_hash(rundir, cfg, iteration, stage, inputs)
    manifest = Manifest.load(rundir)
    done = not force and manifest.is_done(iteration, stage, digest)
    if barrier is not None:
        barrier()  # every rank has decided before rank 0 writes anything
    if done:
        return _outcome_from_manifest(manifest, iteration, stage, skipped=True)

    started = time.time()
    tables, metrics = compute(stage_seed(cfg.seed, iteration, stage)) if compute_here else ({}, {})
    if outputs is None:
        outputs = rundir.stage_outputs(iteration, stage)
    if writer:
        for table, frame in tables.items():
            write_table(frame, outputs[table], table)
    finished = time.time()
    if barrier is not None:
        barrier()  # every rank's part of the outputs (the checkpoint) is written
    metrics = {**metrics, f"time/{stage}_s": finished - started}
    info = engine() if engine is not None else None
    if not writer:
        return StageOutcome(iteration, stage, skipped=False, metrics=metrics, input_hash=digest)
    manifest.record(
        iteration,
        stage,
        outputs=outputs,
        input_hash=digest,
        started=started,
        finished=finished,
        metrics=metrics,
        engine=info.as_dict() if info is not None else None,
    )
    outcome = _outcome_from_manifest(manifest.refresh(), iteration, stage, skipped=False)
    outcome.metrics = metrics
    outcome.duration_s = finished - started
    outcome.outputs = {k: str(v) for k, v in outputs.items()}
    return outcome


# ------------------------------------------------------------------------------ the stages


def _needs_generator(cfg: PipelineConfig) -> bool:
    from hir_core.hindsight import NEEDS_GENERATOR

    return cfg.hindsight.strategy in NEEDS_GENERATOR


def _compute(
    rundir: RunDir,
    cfg: PipelineConfig,
    iteration: int,
    stage: str,
    engines: Engines | None,
    writer: bool,
) -> Compute:
    """The computation of one stage: reads exactly the tables it uses, calls
    ``hir_core.pipeline`` with only what that stage needs."""
    from hir_core import pipeline

    k = iteration

    def need_engines() -> Engines:
        if engines is None:
            raise ValueError(f"stage {stage!r} runs the policy: pass engines")
        return engines

    def read(*tables: str) -> list[pl.DataFrame]:
        return [read_input(rundir, k, t) for t in tables]

    def prompts(seed: int):
        table, metrics = pipeline.sample_prompts(cfg, k, seed)
        return {"prompts": table}, metrics

    def rollouts(seed: int):
        (table,) = read("prompts")
        out, metrics = need_engines().rollout_engine(k).generate(table, cfg, seed)
        return {"rollouts": out}, metrics

    def verdicts(seed: int):
        del seed  # verification is deterministic
        out, metrics = pipeline.verify_rollouts(*read("prompts", "rollouts"), cfg)
        return {"verdicts": out}, metrics

    def replays(seed: int):
        del seed  # pipeline.hindsight derives its own (generating strategies only)
        tables = read("prompts", "rollouts", "verdicts")
        # HiR needs no model; HeRL generates guided revisions with the current policy.
        generator = need_engines().rollout_engine(k).generator() if _needs_generator(cfg) else None
        out, metrics = pipeline.hindsight(*tables, cfg, k, generator=generator)
        return {"replays": out}, metrics

    def batch(seed: int):
        del seed  # deterministic given the policy
        tables = read("prompts", "rollouts", "verdicts", "replays")
        out, metrics = pipeline.build_batch(*tables, cfg, need_engines().train_engine(k))
        return {"batch": out}, metrics

    def train(seed: int):
        del seed  # the update is deterministic given batch and engine state
        (table,) = read("batch")
        engine = need_engines().train_engine(k)
        # A step that fails half-way marks the engine (TrainingEngine.interrupted_step); the
        # next train_engine(k) then reloads the previous checkpoint instead of stepping a
        # half-updated policy.
        metrics = pipeline.train_step(table, engine, cfg)
        pipeline.save_checkpoint(engine, rundir.checkpoint_dir(k))
        if writer:
            with atomic_write(rundir.train_json_path(k)) as handle:
                handle.write(json.dumps(metrics, indent=1, sort_keys=True).encode())
        return {}, metrics

    return {
        "prompts": prompts,
        "rollouts": rollouts,
        "verdicts": verdicts,
        "replays": replays,
        "batch": batch,
        "train": train,
    }[stage]


def run_stage(
    rundir: RunDir,
    cfg: PipelineConfig,
    iteration: int,
    stage: str,
    engines: Engines | None = None,
    *,
    force: bool = False,
    writer: bool = True,
    barrier: Callable[[], None] | None = None,
) -> StageOutcome:
    """Stage ``stage`` of ``iteration`` under the stage contract (module docstring).

    ``engines`` (the run's backend) is needed by the stages that run the policy: rollouts,
    batch, train, and replays with a generating strategy (HeRL).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    compute_here = writer or stage in ALL_RANK_STAGES
    uses_engines = stage in ("rollouts", "batch", "train") or (
        stage == "replays" and _needs_generator(cfg)
    )
    return run_recorded(
        rundir,
        cfg,
        iteration,
        stage,
        _compute(rundir, cfg, iteration, stage, engines, writer),
        force=force,
        engine=(lambda: engines.info(stage)) if uses_engines and engines is not None else None,
        writer=writer,
        barrier=barrier,
        compute_here=compute_here,
    )
