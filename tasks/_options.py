"""Prefect options shared by the stage tasks."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from tasks.context import retry_transient

# Stage outputs are cached by the run directory's manifest (hash-verified), not by Prefect:
# Prefect's input-hash cache would try to hash engines and frames and bypass that check.
# Retries only on transient I/O (retry_transient); a bad input or config fails at once.
STAGE_TASK = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_transient,
    "persist_result": False,
}
