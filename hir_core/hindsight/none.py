"""The baseline: nothing is replayed (METHOD.md, "Baseline")."""

from __future__ import annotations

import polars as pl

from hir_core.hindsight.base import HindsightInputs, empty_stats, replays_frame
from hir_core.hindsight.config import HindsightConfig


def run(inputs: HindsightInputs, cfg: HindsightConfig) -> tuple[pl.DataFrame, dict]:
    """An empty replays table and all-zero stats."""
    return replays_frame([]), empty_stats()
