"""Evaluation: greedy decoding on the held-out split (or IFEval, IFBench, MulDimIF) -> EVAL.

Two tasks: :func:`evaluate_iteration` scores the policy after iteration K of a training run
(recorded in the manifest as stage ``eval``, output ``iter-K/eval.parquet``), and
:func:`evaluate_checkpoint` scores any checkpoint folder (``hir eval``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
from prefect import task

from hir_core import pipeline
from hir_core.config import PipelineConfig
from hir_core.rundir import RunDir
from hir_core.storage import write_table
from tasks._options import STAGE_TASK
from tasks.context import MissingInputError, RunContext
from tasks.stage import StageResult, execute
from tasks.tracking import STATE_FILE, Tracker

EVAL_STAGE = "eval"


def eval_path(ctx: RunContext, iteration: int) -> Path:
    return ctx.rundir.iteration_dir(iteration) / f"{EVAL_STAGE}.parquet"


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed  # pipeline.eval_generation_config sets the evaluation seed
    # The policy after iteration K is the one iteration K + 1 starts from.
    generator = ctx.policy.generator_for(iteration + 1)
    table, metrics = pipeline.evaluate_heldout(ctx.cfg, generator)
    return {"eval": table}, metrics


@task(name="evaluate", task_run_name="eval-iter-{iteration}", **STAGE_TASK)
def evaluate_iteration(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Score the checkpoint of ``iteration`` on the first ``evaluation.heldout_prompts``
    held-out prompts; metrics ``eval/<benchmark>/...`` go to the manifest and MLflow."""
    return execute(
        ctx,
        iteration,
        EVAL_STAGE,
        _compute,
        force=force,
        inputs=[ctx.rundir.checkpoint_dir(iteration)],
        outputs={"eval": eval_path(ctx, iteration)},
    )


def benchmark_data(
    cfg: PipelineConfig, benchmark: str, path: str | None = None, limit: int | None = None
) -> tuple[pl.DataFrame, dict[str, dict[str, str]] | None]:
    """The prompts of ``benchmark`` (its first ``limit``), and for ``muldimif`` the items'
    difficulty and constraint pattern (else None).

    ``heldout``: the config's held-out split; ``ifeval``, ``ifbench``, ``muldimif``: the
    shipped benchmark files (541, 300 and 1,200 prompts), or a file in the same format at
    ``path`` (see ``hir_core.evaluation.load_benchmark``).
    """
    from hir_core.evaluation import check_benchmark, load_benchmark

    check_benchmark(benchmark, path)
    if benchmark == "heldout":
        prompts, info = pipeline.heldout_prompts(cfg), None
    else:
        prompts, info = load_benchmark(benchmark, path)
    return (prompts.head(limit) if limit else prompts), info


def benchmark_prompts(
    cfg: PipelineConfig, benchmark: str, path: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """The prompts of :func:`benchmark_data`."""
    return benchmark_data(cfg, benchmark, path, limit)[0]


@task(name="evaluate-checkpoint", cache_policy=STAGE_TASK["cache_policy"], persist_result=False)
def evaluate_checkpoint(
    cfg: PipelineConfig,
    checkpoint: Path | None,
    benchmark: str,
    out: Path,
    prompts_path: str | None = None,
    limit: int | None = None,
    revise_rounds: int = 0,
) -> dict[str, float]:
    """Score ``checkpoint`` (a Hugging Face folder; None: the config's base model) on
    ``benchmark`` (see :func:`benchmark_data`); write the EVAL table to ``out`` and return the
    metrics, keys ``eval/<benchmark>/...`` (``hir_core.evaluation``: IFEval's accuracies for
    every benchmark, MulDimIF's ``overall``/``macro``/``micro`` and breakdowns for
    ``muldimif``).

    With ``revise_rounds`` N > 0 the model then revises its greedy answers with the
    verifier's feedback for N rounds (``hir_core.revision.revise``, same generator):
    ``eval/<benchmark>/revise/round_<k>/{ila,cla,revised}`` for k = 0..N (strict)."""
    from hir_core.evaluation import evaluate

    if checkpoint is not None and not Path(checkpoint).is_dir():
        raise MissingInputError(f"{checkpoint}: no such checkpoint folder")
    prompts, item_info = benchmark_data(cfg, benchmark, prompts_path, limit)
    start = time.perf_counter()
    generator = pipeline.make_generator(
        cfg, checkpoint, generation=pipeline.eval_generation_config(cfg)
    )
    table, metrics = evaluate(generator, prompts, benchmark, item_info)
    write_table(table, out, "eval")
    metrics = {f"eval/{benchmark}/{k}": float(v) for k, v in metrics.items()}
    if revise_rounds > 0:
        metrics.update(_revision_metrics(generator, prompts, table, benchmark, revise_rounds))
    metrics["time/eval_s"] = time.perf_counter() - start
    return metrics


def _revision_metrics(
    generator, prompts: pl.DataFrame, table: pl.DataFrame, benchmark: str, rounds: int
) -> dict[str, float]:
    from hir_core.revision import revise

    # The EVAL table holds one row per prompt and sample: round 0 is each prompt's first.
    first = dict(
        zip(
            *table.unique("prompt_id", keep="first", maintain_order=True)
            .select("prompt_id", "response")
            .get_columns()
        )
    )
    responses = [first[pid] for pid in prompts["prompt_id"]]
    result = revise(generator, prompts, responses, rounds)
    return {
        f"eval/{benchmark}/revise/round_{int(acc['round'])}/{name}": float(acc[name])
        for acc in result.accuracy
        for name in ("ila", "cla", "revised")
    }


@task(name="log-evaluation", cache_policy=STAGE_TASK["cache_policy"], persist_result=False)
def log_evaluation(
    cfg: PipelineConfig, run: RunDir, metrics: dict[str, float], table: Path, step: int
) -> None:
    """Add an evaluation of a run's checkpoint to the run's MLflow run (metrics at ``step``,
    the EVAL table as an artifact); nothing when the run was never tracked."""
    state_path = run.root / STATE_FILE
    if not state_path.is_file():
        return
    uri = json.loads(state_path.read_text())["tracking_uri"]
    tracking = cfg.tracking.model_copy(update={"mlflow_tracking_uri": uri})
    tracker = Tracker.open(cfg.model_copy(update={"tracking": tracking}), run, None)
    tracker.log_metrics(metrics, step=step)
    tracker.log_artifact(table, "eval")
    tracker.finish("FINISHED")
