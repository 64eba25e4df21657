"""Rewards from a verdict vector: ILA (binary), CLA (fraction) and a weighted fraction.

A verdict vector has one boolean per constraint of the instruction, in order (METHOD.md,
"Shared vocabulary"). The reward kind is chosen in the config; HiR and the baseline use ILA,
HeRL uses the (weighted) fraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator


class RewardConfig(BaseModel):
    """Which scalar reward a verdict vector becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ila", "cla", "weighted"] = Field(
        default="ila",
        description=(
            "ila: 1 iff every constraint passes (HiR paper and the GRPO baseline: the default); "
            "cla: fraction of constraints passed; weighted: per-constraint-weighted fraction "
            "(HeRL's reward)."
        ),
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "kind=weighted only: weight per verifier id (e.g. {'punctuation:no_comma': 2.0}); "
            "ids not listed weigh `default_weight`. Empty by default (= plain CLA)."
        ),
    )
    default_weight: float = Field(
        default=1.0, gt=0.0, description="Weight of a constraint whose id is not in `weights`."
    )

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = {cid: w for cid, w in weights.items() if not w > 0.0}
        if bad:
            raise ValueError(f"constraint weights must be > 0, got {bad}")
        return weights


def _check_nonempty(verdicts: Sequence[bool]) -> None:
    # An instruction always has at least one constraint; an empty vector means a dropped
    # verdict upstream, which must not be scored as a silent pass or fail.
    if len(verdicts) == 0:
        raise ValueError("empty verdict vector: an instruction has at least one constraint")


def ila(verdicts: Sequence[bool]) -> float:
    """Instruction-level accuracy: 1.0 iff every constraint passed."""
    _check_nonempty(verdicts)
    return 1.0 if all(verdicts) else 0.0


def cla(verdicts: Sequence[bool]) -> float:
    """Constraint-level accuracy: the fraction of constraints passed."""
    _check_nonempty(verdicts)
    return sum(bool(v) for v in verdicts) / len(verdicts)


def weighted_fraction(
    verdicts: Sequence[bool], constraint_ids: Sequence[str], cfg: RewardConfig
) -> float:
    """sum(w_i * v_i) / sum(w_i), with w_i looked up by verifier id in `cfg.weights`."""
    _check_nonempty(verdicts)
    if len(verdicts) != len(constraint_ids):
        raise ValueError(
            f"{len(verdicts)} verdicts for {len(constraint_ids)} constraint ids "
            f"{list(constraint_ids)}"
        )
    weights = [cfg.weights.get(cid, cfg.default_weight) for cid in constraint_ids]
    return sum(w for w, v in zip(weights, verdicts) if v) / sum(weights)


def reward(verdicts: Sequence[bool], constraint_ids: Sequence[str], cfg: RewardConfig) -> float:
    """The configured scalar reward of one verdict vector."""
    if cfg.kind == "ila":
        return ila(verdicts)
    if cfg.kind == "cla":
        return cla(verdicts)
    return weighted_fraction(verdicts, constraint_ids, cfg)


def score_verdicts(verdicts: pl.DataFrame, cfg: RewardConfig) -> pl.DataFrame:
    """Fill the `ila`, `cla` and `reward` columns of a verdict table from its vectors.

    Needs the columns `rollout_id`, `constraint_ids` and `verdicts`; other columns pass through.
    """
    ilas, clas, rewards = [], [], []
    for row in verdicts.select("rollout_id", "constraint_ids", "verdicts").iter_rows(named=True):
        try:
            ilas.append(ila(row["verdicts"]))
            clas.append(cla(row["verdicts"]))
            rewards.append(reward(row["verdicts"], row["constraint_ids"], cfg))
        except ValueError as err:
            raise ValueError(f"verdict row {row['rollout_id']!r}: {err}") from err
    return verdicts.with_columns(
        pl.Series("ila", ilas, dtype=pl.Float32),
        pl.Series("cla", clas, dtype=pl.Float32),
        pl.Series("reward", rewards, dtype=pl.Float32),
    )
