"""Prefect tasks: one per stage of an iteration, thin adapters over ``hir_core.pipeline``.

Each reads its inputs from the run directory, calls ``hir_core``, writes its outputs
atomically, records them in the manifest and logs to MLflow (``tasks.stage.execute``).
"""

from tasks.batch import build_batch
from tasks.context import RunContext
from tasks.evaluate import evaluate_checkpoint, evaluate_iteration
from tasks.hindsight import hindsight
from tasks.prompts import sample_prompts
from tasks.report import report_iteration
from tasks.rollouts import generate_rollouts
from tasks.run import finish_run, open_run
from tasks.stage import StageResult
from tasks.train import train_step
from tasks.verify import verify

# Stage name (as in hir_core.rundir.STAGES) -> its task, in pipeline order.
STAGE_TASKS = {
    "prompts": sample_prompts,
    "rollouts": generate_rollouts,
    "verdicts": verify,
    "replays": hindsight,
    "batch": build_batch,
    "train": train_step,
}

__all__ = [
    "STAGE_TASKS",
    "RunContext",
    "StageResult",
    "build_batch",
    "evaluate_checkpoint",
    "evaluate_iteration",
    "finish_run",
    "generate_rollouts",
    "hindsight",
    "open_run",
    "report_iteration",
    "sample_prompts",
    "train_step",
    "verify",
]
