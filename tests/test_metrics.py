"""Per-iteration metrics on hand-built tables."""

import math

import polars as pl
import pytest

from hir_core.advantages import AdvantageConfig, assemble_batch
from hir_core.hindsight.base import empty_stats
from hir_core.hindsight.config import HindsightConfig
from hir_core.metrics import (
    hindsight_metrics,
    rollout_metrics,
    signal_fraction,
    signal_fraction_without_hindsight,
)
from tests._helpers_algorithms import frame, prompt_row, replay_row, rollout_row, verdict_row

C = [{"id": "c1", "kwargs": {}, "text": "one"}, {"id": "c2", "kwargs": {}, "text": "two"}]
VERDICTS = [
    ("a", [False, True]),
    ("a", [True, False]),
    ("a", [False, False]),  # all fail
    ("b", [True, True]),
    ("b", [False, True]),  # mixed
    ("c", [True, True]),
    ("c", [True, True]),  # all succeed
]


def tables(replay_sources, group="source"):
    counts = {}
    rollouts, verdicts = [], []
    for pid, vec in VERDICTS:
        idx = counts.setdefault(pid, 0)
        counts[pid] += 1
        rollouts.append(rollout_row(pid, idx))
        verdicts.append(verdict_row(pid, idx, ["c1", "c2"], vec))
    prompts = frame([prompt_row(p, C, f"{p} prompt") for p in counts], "prompts")
    replays = frame(
        [replay_row(src, src.split("/")[0], "rewritten", ["c1"], ["c2"]) for src in replay_sources],
        "replays",
    )
    rollouts, verdicts = frame(rollouts, "rollouts"), frame(verdicts, "verdicts")
    batch = assemble_batch(
        prompts,
        rollouts,
        verdicts,
        replays,
        HindsightConfig(group=group),
        AdvantageConfig(),
        lambda text: [1],
    )
    return verdicts, replays, batch


def test_rollout_metrics_hand_computed():
    verdicts, _, _ = tables([])
    metrics = rollout_metrics(verdicts)
    assert metrics["ila"] == pytest.approx(3 / 7)
    assert metrics["cla"] == pytest.approx((0.5 + 0.5 + 0 + 1 + 0.5 + 1 + 1) / 7)
    assert metrics["pass_rate/c1"] == pytest.approx(4 / 7)
    assert metrics["pass_rate/c2"] == pytest.approx(5 / 7)
    # a (all 0) and c (all 1) have one reward value; b is mixed.
    assert metrics["zero_variance_group_fraction"] == pytest.approx(2 / 3)


def test_signal_fraction_with_and_without_replays():
    _, _, batch = tables(["a/1"])
    assert signal_fraction(batch, include_replays=False) == pytest.approx(1 / 3)
    assert signal_fraction(batch, include_replays=True) == pytest.approx(2 / 3)
    # In its own group a replay (reward 1, like its group-mates) adds no signal.
    _, _, own = tables(["a/1"], group="own_group")
    assert signal_fraction(own, include_replays=True) == pytest.approx(1 / 3)


def test_signal_fraction_without_hindsight_ignores_herl_rows_and_bonus():
    verdicts, _, batch = tables([])
    # From the verdicts: only prompt b has mixed rewards.
    assert signal_fraction_without_hindsight(verdicts) == pytest.approx(1 / 3)
    # A HeRL bonus on one of a's all-zero originals and a guided sample in a's group: the
    # batch as trained has signal for a, the no-hindsight figure must not.
    a0 = batch["sample_id"] == "a/0"
    herl = batch.with_columns(
        reward=pl.when(a0).then(pl.lit(0.05)).otherwise(pl.col("reward")).cast(pl.Float32)
    )
    guided = herl.filter(a0).with_columns(
        sample_id=pl.lit("a/guided"), is_hindsight=pl.lit(True), reward=pl.lit(1.0, pl.Float32)
    )
    herl = pl.concat([herl, guided])
    assert signal_fraction(herl, include_replays=True) == pytest.approx(2 / 3)
    # Dropping the guided row alone still leaves the bonus' trace; the verdicts do not.
    assert signal_fraction(herl, include_replays=False) == pytest.approx(2 / 3)
    assert signal_fraction_without_hindsight(verdicts) == pytest.approx(1 / 3)
    no_bonus = herl.filter(~pl.col("is_hindsight")).with_columns(
        reward=pl.when(pl.col("sample_id") == "a/0").then(0.0).otherwise(pl.col("reward"))
    )
    assert signal_fraction(no_bonus, include_replays=False) == pytest.approx(1 / 3)


def test_hindsight_metrics_reports_counts_and_means():
    _, replays, batch = tables(["a/1", "b/1"])
    stats = {
        **empty_stats(),
        "n_candidates": 2,
        "k": 6,
        "n_selected": 2,
        "shortfall": 4,
        "n_replays": 2,
        "lambda_t": 2.0,
    }
    metrics = hindsight_metrics(stats, replays, batch)
    assert metrics["hindsight/candidates"] == 2
    assert metrics["hindsight/shortfall"] == 4
    assert metrics["hindsight/replays"] == 2
    assert metrics["hindsight/mean_kept"] == 1.0
    assert metrics["hindsight/mean_dropped"] == 1.0
    assert metrics["hindsight/signal_fraction_without"] == pytest.approx(1 / 3)
    assert metrics["hindsight/signal_fraction_with"] == pytest.approx(2 / 3)

    _, none_replays, none_batch = tables([])
    empty = hindsight_metrics(empty_stats(), none_replays, none_batch)
    assert empty["hindsight/replays"] == 0
    assert math.isnan(empty["hindsight/mean_kept"])
    assert empty["hindsight/signal_fraction_with"] == empty["hindsight/signal_fraction_without"]


def test_empty_tables_are_errors():
    verdicts, _, batch = tables([])
    with pytest.raises(ValueError, match="verdict table is empty"):
        rollout_metrics(verdicts.clear())
    with pytest.raises(ValueError, match="batch is empty"):
        signal_fraction(batch.clear(), include_replays=True)
