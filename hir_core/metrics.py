"""Per-iteration metrics: rollout quality on originals only, and what the hindsight stage did.

Replays have reward 1 by construction and would inflate any mixed average (METHOD.md, HiR
step 9), so rollout metrics are computed from the verdict table, which holds originals only.
Keys are flat strings, ready for MLflow.
"""

from __future__ import annotations

import polars as pl


def rollout_metrics(verdicts: pl.DataFrame) -> dict[str, float]:
    """ILA, CLA, pass rate per constraint type and the fraction of zero-variance groups.

    `verdicts` is a VERDICTS table (one row per original rollout). Pass rates are keyed
    `pass_rate/<verifier id>`: passes over occurrences of that id across all rollouts.
    """
    if verdicts.height == 0:
        raise ValueError("rollout_metrics: the verdict table is empty")
    per_constraint = (
        verdicts.select("constraint_ids", "verdicts")
        .explode(["constraint_ids", "verdicts"])
        .group_by("constraint_ids")
        .agg(pl.col("verdicts").cast(pl.Float64).mean())
        .sort("constraint_ids")
    )
    metrics = {
        "ila": float(verdicts["ila"].cast(pl.Float64).mean()),
        "cla": float(verdicts["cla"].cast(pl.Float64).mean()),
        "zero_variance_group_fraction": 1.0 - _varied_group_fraction(verdicts, "prompt_id"),
    }
    for cid, rate in per_constraint.iter_rows():
        metrics[f"pass_rate/{cid}"] = float(rate)
    return metrics


def _varied_group_fraction(table: pl.DataFrame, group: str) -> float:
    """Fraction of groups whose rewards are not all equal (the ones with a learning signal)."""
    spread = table.group_by(group).agg((pl.col("reward").n_unique() > 1).alias("varied"))
    return float(spread["varied"].mean())


def signal_fraction(batch: pl.DataFrame, include_replays: bool) -> float:
    """Fraction of prompts with at least one advantage group of non-constant reward.

    A group whose rewards are all equal has zero advantage under GRPO and no response-level
    signal at all: the sparsity HiR attacks. Groups are the batch's `group_id`s; with
    `include_replays=False` the replays are left out, i.e. the same batch without hindsight.
    """
    # Without hindsight: the generated samples only (neither HiR replays nor HeRL revisions).
    # HeRL's bonus also moves the originals' rewards: pass the verdicts to
    # signal_fraction_without_hindsight for the exact baseline figure.
    rows = (
        batch if include_replays else batch.filter(~pl.col("is_replay") & ~pl.col("is_hindsight"))
    )
    prompts = batch["prompt_id"].n_unique()
    if prompts == 0:
        raise ValueError("signal_fraction: the batch is empty")
    varied = (
        rows.group_by("group_id")
        .agg(pl.col("prompt_id").first(), (pl.col("reward").n_unique() > 1).alias("varied"))
        .filter("varied")
    )
    return varied["prompt_id"].n_unique() / prompts


def signal_fraction_without_hindsight(verdicts: pl.DataFrame) -> float:
    """Fraction of prompts whose generated samples' rewards are not all equal.

    The batch a run without any hindsight strategy would have trained on: one group per
    prompt, the verdict table's rewards (before any HeRL bonus).
    """
    if verdicts.height == 0:
        raise ValueError("signal_fraction_without_hindsight: the verdict table is empty")
    spread = verdicts.group_by("prompt_id").agg((pl.col("reward").n_unique() > 1).alias("varied"))
    return float(spread["varied"].mean())


def hindsight_metrics(stats: dict, replays: pl.DataFrame, batch: pl.DataFrame) -> dict[str, float]:
    """What the hindsight stage did: counts from its stats, mean kept/dropped, signal gain.

    mean kept / dropped constraints are NaN when nothing was replayed (a mean of nothing).
    """
    kept = replays["kept_ids"].list.len().cast(pl.Float64)
    dropped = replays["dropped_ids"].list.len().cast(pl.Float64)
    nan = float("nan")
    return {
        "hindsight/candidates": float(stats["n_candidates"]),
        "hindsight/verbatim_skipped": float(stats["n_verbatim_skipped"]),
        "hindsight/k": float(stats["k"]),
        "hindsight/replays": float(stats["n_replays"]),
        "hindsight/shortfall": float(stats["shortfall"]),
        "hindsight/reverify_failed": float(stats["n_reverify_failed"]),
        "hindsight/lambda_t": float(stats["lambda_t"]),
        "hindsight/mean_kept": float(kept.mean()) if replays.height else nan,
        "hindsight/mean_dropped": float(dropped.mean()) if replays.height else nan,
        "hindsight/signal_fraction_without": signal_fraction(batch, include_replays=False),
        "hindsight/signal_fraction_with": signal_fraction(batch, include_replays=True),
    }


def hindsight_token_fraction(batch: pl.DataFrame) -> float:
    """Response tokens of ``is_hindsight`` (HeRL guided) samples over all response tokens."""
    lengths = batch["response_token_ids"].list.len().cast(pl.Float64)
    total = float(lengths.sum())
    if total == 0:
        raise ValueError("hindsight_token_fraction: the batch has no response tokens")
    return float(lengths.filter(batch["is_hindsight"]).sum()) / total


def herl_metrics(
    stats: dict, replays: pl.DataFrame, batch: pl.DataFrame | None = None
) -> dict[str, float]:
    """What HeRL's guided pass did (METHOD.md, "HeRL"; issue 7's metrics).

    From the hindsight stage's `stats` and REPLAYS table:

    - trigger_rate: groups whose best reward was below 1, over all groups (NaN: no group);
    - guided_success_rate: guided responses scoring above their group's best, over all guided
      responses (NaN when none was generated);
    - bonus_mean, guided_reward_mean: over HeRL rows (NaN without any);
    - generation_s / verify_s: the extra wall time of the guided pass.

    With the `batch` (a later stage), also hindsight_token_fraction
    (:func:`hindsight_token_fraction`).
    """
    nan = float("nan")
    guided = replays.filter(pl.col("strategy") == "herl")
    groups, generated = stats["herl_groups"], stats["herl_guided"]
    metrics = {
        "herl/trigger_rate": stats["herl_triggered"] / groups if groups else nan,
        "herl/guided": float(generated),
        "herl/guided_success_rate": stats["herl_guided_success"] / generated if generated else nan,
        "herl/used": float(stats["herl_used"]),
        "herl/replace_fallback": float(stats["herl_replace_fallback"]),
        "herl/bonus_mean": float(guided["bonus"].cast(pl.Float64).mean()) if guided.height else nan,
        "herl/guided_reward_mean": (
            float(guided["guided_reward"].cast(pl.Float64).mean()) if guided.height else nan
        ),
        "herl/generation_s": float(stats["herl_generation_s"]),
        "herl/verify_s": float(stats["herl_verify_s"]),
    }
    if batch is not None:
        metrics["herl/hindsight_token_fraction"] = hindsight_token_fraction(batch)
    return metrics
