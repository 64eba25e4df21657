"""The training flow: iterations of prompts -> rollouts -> verdicts -> replays -> batch -> train.

    train(config="configs/tiny.yaml", run_dir="runs/tiny", overrides=["iterations=3"])

Rerunning it on the same run directory resumes: every stage whose outputs the manifest
records (with matching hashes) is skipped, anything missing or altered is recomputed. The
DeepSpeed engine is built once, on the first stage that needs the policy, and lives across
iterations in this process.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from tqdm.auto import tqdm

from hir_core.config import load_config
from hir_core.rundir import STAGES, Manifest, RunDir
from tasks import (
    STAGE_TASKS,
    evaluate_iteration,
    finish_run,
    open_run,
    report_iteration,
)
from tasks.report import iteration_metrics
from tasks.run import fail_run


def default_run_dir(name: str) -> Path:
    return Path("runs") / name


def eval_due(every: int, iteration: int, iterations: int) -> bool:
    """Evaluate after every ``every`` iterations and after the last one (0: never)."""
    if every <= 0:
        return False
    return (iteration + 1) % every == 0 or iteration + 1 == iterations


@flow(name="hir-train", log_prints=True)
def train(
    config: str | None = None,
    run_dir: str | None = None,
    overrides: list[str] | None = None,
    track: bool = True,
    progress: bool = False,
) -> dict:
    """Train (or resume) the run in ``run_dir`` (default ``runs/<name>``).

    Args:
        config: YAML config file (None: every default; on resume the frozen config rules).
        run_dir: the run directory.
        overrides: dotted ``field=value`` overrides, e.g. ``["iterations=3"]``.
        track: log to MLflow (``tracking.*`` of the config).
        progress: show a progress bar over the stages.

    Returns the run summary: run directory, MLflow run id, per-iteration metrics.
    """
    cfg = load_config(config, overrides or [])
    rundir = RunDir(run_dir or default_run_dir(cfg.name))
    flow_run_id = flow_run.get_id()
    with rundir.lock(holder=f"hir-train flow run {flow_run_id}"):
        ctx = open_run(cfg, rundir, flow_run_id, track)
        try:
            computed = _run_iterations(ctx, progress)
            finish_run(ctx, computed)
        except BaseException:
            fail_run(ctx)
            raise
        finally:
            ctx.policy.close()
    return run_summary(rundir, ctx)


def _run_iterations(ctx, progress: bool) -> bool:
    """Every stage of every iteration, in order; returns whether any stage computed.

    Each task takes the results (paths and sha256) of the stages whose files it reads, so
    the flow-run graph draws the data: prompts -> rollouts -> verdicts -> replays -> batch
    -> train -> the next iteration's rollouts and batch. The run context goes in under
    ``quote``: no task input, no edge.
    """
    cfg = ctx.cfg
    run = quote(ctx)
    computed = False
    total = cfg.iterations * len(STAGES)
    # Every result stays referenced until the flow ends: Prefect links a result to its task
    # run by object identity.
    results: dict[tuple[int, str], object] = {}
    with tqdm(total=total, desc=f"train {cfg.name}", unit="stage", disable=not progress) as bar:
        for k in range(cfg.iterations):
            previous = results.get((k - 1, "train"))

            def step(stage: str, k: int = k, **inputs):
                bar.set_postfix_str(f"iter {k} {stage}")
                result = STAGE_TASKS[stage](run, k, **inputs)
                results[(k, stage)] = result
                bar.update()
                return result

            prompts = step("prompts")
            rollouts = step("rollouts", prompts=prompts, checkpoint=previous)
            verdicts = step("verdicts", prompts=prompts, rollouts=rollouts)
            replays = step("replays", prompts=prompts, rollouts=rollouts, verdicts=verdicts)
            batch = step(
                "batch",
                prompts=prompts,
                rollouts=rollouts,
                verdicts=verdicts,
                replays=replays,
                checkpoint=previous,
            )
            trained = step("train", batch=batch, checkpoint=previous)
            computed |= not all(results[(k, s)].skipped for s in STAGES)
            # Kept referenced too: a freed result's id could be reused by a later stage's
            # result, which Prefect would then draw as coming from this task.
            if eval_due(cfg.evaluation.every, k, cfg.iterations):
                results[(k, "eval")] = evaluate_iteration(run, k, wait_for=[trained])
            results[(k, "report")] = report_iteration(run, k, wait_for=[replays, trained])
    return computed


def run_summary(rundir: RunDir, ctx=None) -> dict:
    """Run directory, MLflow run id, and each finished iteration's merged metrics."""
    manifest = Manifest.load(rundir)
    done = manifest.completed_iterations()
    return {
        "run_dir": str(rundir.root),
        "mlflow_run_id": ctx.tracker.run_id if ctx is not None and ctx.tracker else None,
        "mlflow_tracking_uri": ctx.tracker.tracking_uri
        if ctx is not None and ctx.tracker
        else None,
        "completed_iterations": done,
        "iterations": [iteration_metrics(manifest, k) for k in range(done)],
    }
