"""Start and finish a run: frozen config, MLflow run, final policy (an MLflow logged model)."""

from __future__ import annotations

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE

from hir_core.config import PipelineConfig
from hir_core.rundir import Manifest, RunDir
from hir_core.termination import install_handler
from tasks.context import RunContext, retry_transient
from tasks.tracking import Tracker


@task(
    name="open-run",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_transient,
)
def open_run(
    cfg: PipelineConfig, rundir: RunDir, flow_run_id: str | None, track: bool = True
) -> RunContext:
    """Freeze (or check against) the run's config and open its MLflow run.

    The caller holds the run lock. A resumed run gets its frozen config back, with a grown
    ``iterations`` (the only field besides ``tracking`` that may change).
    """
    # Prefect's flow engine made SIGTERM raise wherever the code is; under ``hir`` it is a
    # request to stop after the current stage again (hir_core/termination.py).
    install_handler()
    cfg = rundir.init(cfg)
    tracker = Tracker.open(cfg, rundir, flow_run_id) if track else None
    if tracker is not None:
        tracker.log_artifact(rundir.config_path)
    return RunContext(cfg, rundir, tracker)


@task(name="finish-run", cache_policy=NO_CACHE, persist_result=False)
def finish_run(ctx: RunContext, computed: bool) -> None:
    """Log the final policy (the Hugging Face folder, without the optimizer state) as an
    MLflow logged model of the run, and close the run. A rerun that computed nothing logs
    no new model unless the last logged one is of an earlier iteration."""
    tracker = ctx.tracker
    if tracker is None:
        return
    done = Manifest.load(ctx.rundir).completed_iterations()
    if done:
        logged = tracker.logged_tag("hir.policy_iteration")  # None: absent, or store down
        if computed or logged != str(done - 1):
            final = ctx.rundir.checkpoint_dir(done - 1)
            tracker.log_policy(final, f"{ctx.cfg.name}-policy", done - 1)
            tracker.set_tags({"hir.final_checkpoint": str(final.resolve())})
    tracker.finish("FINISHED")


def fail_run(ctx: RunContext | None) -> None:
    """Mark the MLflow run failed (called by the flow on an exception; not a task, so it
    runs even while Prefect is unwinding)."""
    if ctx is not None and ctx.tracker is not None:
        try:
            ctx.tracker.finish("FAILED")
        except Exception as err:  # noqa: BLE001 - never mask the original error
            logging.getLogger(__name__).warning("could not mark the MLflow run failed: %s", err)
