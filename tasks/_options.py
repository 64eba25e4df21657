"""Prefect options shared by the stage tasks."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from tasks.context import retry_transient

# Stage outputs are cached by the run directory's manifest (hash-verified), not by Prefect:
# Prefect's input-hash cache would try to hash engines and frames and bypass that check.
# Retries only on transient I/O (retry_transient); a bad input or config fails at once.
# Every stage is idempotent (a pure function of its input files, written atomically), and
# the train stage is too in process: a step interrupted half-way marks the engine, which
# then restores the previous checkpoint before the retry (TrainingEngine.interrupted_step).
STAGE_TASK = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_transient,
    "persist_result": False,
}
# The train stage with actors (distributed.backend: ray) is retried by the next flow run, not
# by Prefect: a failed actor call leaves the group's state unknown, and the next run rebuilds
# the group from the last recorded checkpoint (retry_transient refuses ActorFailure).
TRAIN_TASK = STAGE_TASK
