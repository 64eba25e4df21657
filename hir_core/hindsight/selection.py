"""HiR's selection step (METHOD.md, "HiR", step 3): which failed rollouts get replayed.

Pure functions over a candidate table with the columns `rollout_id`, `prompt_id` and
`score`. Every ordering breaks ties by `rollout_id`, so a selection depends only on the
table's contents (not its row order) and, for `random`, on the generator's seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def is_candidate(verdicts: Sequence[bool]) -> bool:
    """0 < CLA < 1: something satisfied (a rewrite exists) and something failed (else no need)."""
    return any(verdicts) and not all(verdicts)


def selection_score(cla: float, mean_entropy: float, lambda_t: float) -> float:
    """The paper's score lambda_t * CLA + H(y): diversity early, closeness to success later."""
    return lambda_t * cla + mean_entropy


def select(candidates: pl.DataFrame, k: int, mode: str, rng: np.random.Generator) -> list[str]:
    """The rollout ids of at most `k` candidates, chosen by `mode` ("score"|"random"|"per_prompt").

    With fewer than `k` candidates every candidate is returned (the caller logs the shortfall).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    ranked = candidates.sort(["score", "rollout_id"], descending=[True, False])
    if mode == "score":
        return ranked["rollout_id"].head(k).to_list()
    if mode == "random":
        ids = sorted(candidates["rollout_id"].to_list())
        picked = rng.choice(len(ids), size=min(k, len(ids)), replace=False)
        return [ids[i] for i in sorted(picked)]
    if mode == "per_prompt":
        return _balanced(ranked, k)
    raise ValueError(f"unknown selection mode {mode!r}; expected score, random or per_prompt")


def _balanced(ranked: pl.DataFrame, k: int) -> list[str]:
    # Round-robin over prompts: every prompt's best candidate comes before any prompt's second
    # best, and so on; within one round the higher score goes first. Taking the first k of that
    # order gives each prompt floor(k / P) or one more replay, as far as its candidates allow.
    in_prompt_rank = pl.int_range(pl.len()).over("prompt_id")  # frame order = best first
    rounds = ranked.with_columns(in_prompt_rank.alias("_round"))
    order = rounds.sort(["_round", "score", "rollout_id"], descending=[False, True, False])
    return order["rollout_id"].head(k).to_list()
