"""What every hindsight strategy takes and returns (ARCHITECTURE.md, the hindsight stage).

A strategy is a function ``(HindsightInputs, HindsightConfig) -> (replays, stats)``: the
replays table has the REPLAYS schema, the stats dict the keys of :func:`empty_stats`.
A strategy that needs a model (HeRL's guided generation) gets it as an injected callable,
added here as a field of :class:`HindsightInputs`, so the package stays model-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from hir_core.storage import conform
from schemas import REPLAYS


@dataclass(frozen=True)
class HindsightInputs:
    """The scored rollouts of one iteration (PROMPTS, ROLLOUTS and VERDICTS tables)."""

    prompts: pl.DataFrame
    rollouts: pl.DataFrame
    verdicts: pl.DataFrame
    step: int
    progress: float | None = None  # fraction of training done, for schedule="progress"


def empty_stats() -> dict:
    """The stats of an iteration that replayed nothing; strategies update what they did."""
    return {
        "n_candidates": 0,
        "n_verbatim_skipped": 0,  # partial successes on prompts that cannot be rewritten
        "k": 0,
        "n_selected": 0,
        "shortfall": 0,
        "n_reverify_failed": 0,
        "n_replays": 0,
        "lambda_t": float("nan"),
    }


def replays_frame(rows: list[dict]) -> pl.DataFrame:
    """A REPLAYS-schema DataFrame from row dicts (absent nullable fields become null)."""
    table = pa.Table.from_pylist(rows, schema=REPLAYS)
    return pl.from_arrow(conform(table, "replays", source="hindsight replays"))
