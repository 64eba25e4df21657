"""What every hindsight strategy takes and returns (ARCHITECTURE.md, the hindsight stage).

A strategy is a function ``(HindsightInputs, HindsightConfig) -> (replays, stats)``: the
replays table has the REPLAYS schema, the stats dict the keys of :func:`empty_stats`.
A strategy that needs a model (HeRL's guided generation) gets it injected as the
``generator`` field of :class:`HindsightInputs` (a ``hir_core.engines.generation.Generator``),
so the package stays model-free; HeRL also scores its guided responses with the run's
``reward`` config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from hir_core.rewards import RewardConfig
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
    generator: Any = None  # a Generator (current policy), for strategies that generate
    reward: RewardConfig | None = None  # the run's reward, for strategies that re-score


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
        # HeRL (zero for strategies without it)
        "herl_groups": 0,  # groups (prompts) seen
        "herl_triggered": 0,  # groups whose best reward is below 1
        "herl_guided": 0,  # guided responses generated (one per candidate)
        "herl_guided_success": 0,  # guided responses scoring above their group's best
        "herl_used": 0,  # guided responses put into the batch (one per triggered group)
        "herl_replace_fallback": 0,  # placement=replace found no free slot: appended instead
        "herl_generation_s": 0.0,  # wall time of the guided generation pass
        "herl_verify_s": 0.0,  # wall time of verifying the guided responses
    }


def replays_frame(rows: list[dict]) -> pl.DataFrame:
    """A REPLAYS-schema DataFrame from row dicts (absent nullable fields become null)."""
    table = pa.Table.from_pylist(rows, schema=REPLAYS)
    return pl.from_arrow(conform(table, "replays", source="hindsight replays"))
