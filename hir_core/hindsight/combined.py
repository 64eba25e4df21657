"""hir+herl: HiR replays and HeRL guided revisions in the same iteration (ours).

HiR relabels the partial successes (0 < CLA < 1) of every group, within its budget K;
HeRL revises the best responses of every group with no full success. A group without a
success can get both: replays of its partial successes and one guided response. Neither
paper combines them; the batch then holds the generated responses, the HiR replays and one
guided sample per group without a success (placement "append").
"""

from __future__ import annotations

import polars as pl

from hir_core.hindsight import herl, hir
from hir_core.hindsight.base import HindsightInputs
from hir_core.hindsight.config import HindsightConfig

STRATEGY = "hir+herl"


def run(inputs: HindsightInputs, cfg: HindsightConfig) -> tuple[pl.DataFrame, dict]:
    """HiR's replays followed by HeRL's guided rows; stats of both (HiR's counts, HeRL's keys)."""
    replays, stats = hir.run(inputs, cfg)
    # A HiR replay copies its source's log-probs: HeRL must not overwrite that source.
    protected = set(replays["source_rollout_id"])
    guided, guided_stats = herl.guided_revisions(inputs, cfg, protected=protected)
    for key, value in guided_stats.items():
        if key.startswith("herl_"):
            stats[key] = value
    stats["n_replays"] = replays.height + guided.height
    return pl.concat([replays, guided], how="vertical"), stats
