"""Rerun one stage of one iteration of an existing run, from that iteration's stored inputs.

    run_stage("runs/tiny", 1, "rollouts")              # no-op when up to date
    run_stage("runs/tiny", 1, "rollouts", force=True)  # recompute, later stages go stale

Without ``force`` a stage whose outputs are recorded and intact is left alone (the flow
reports it skipped); a missing or altered output is recomputed. With ``force`` it is
recomputed and written over, and the later stages of that iteration are marked stale, so the
next ``train`` on the run recomputes them (later iterations follow through their input
hashes, which include this iteration's checkpoint).
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from hir_core.rundir import STAGES, Manifest, RunDir
from tasks import STAGE_TASKS, evaluate_iteration, open_run, report_iteration
from tasks.run import fail_run
from tasks.stage import later_stages

# Stages one can rerun: the six of an iteration, plus evaluation and the Prefect report.
RERUNNABLE = {**STAGE_TASKS, "eval": evaluate_iteration, "report": report_iteration}


@flow(name="hir-stage", log_prints=True)
def run_stage(
    run_dir: str, iteration: int, stage: str, force: bool = False, track: bool = True
) -> dict:
    """Rerun ``stage`` of ``iteration`` in ``run_dir``; returns what happened.

    The run's frozen config is used; the run lock is held for the duration.
    """
    if stage not in RERUNNABLE:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(RERUNNABLE)}")
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    rundir = RunDir(run_dir)
    cfg = rundir.load_config()
    flow_run_id = flow_run.get_id()
    with rundir.lock(holder=f"hir-stage flow run {flow_run_id}"):
        ctx = open_run(cfg, rundir, flow_run_id, track)
        try:
            result = RERUNNABLE[stage](quote(ctx), iteration, force=force)
            stale = later_stages(stage) if force and stage in STAGES else []
            if stale:
                Manifest.load(rundir).mark_stale(iteration, stale)
            if ctx.tracker is not None:
                ctx.tracker.finish("FINISHED")
        except BaseException:
            fail_run(ctx)
            raise
        finally:
            ctx.policy.close()
    return {
        "iteration": iteration,
        "stage": stage,
        "skipped": result.skipped,
        "stale": stale,
        "duration_s": result.duration_s,
        "metrics": result.metrics,
        "outputs": result.outputs,
    }
