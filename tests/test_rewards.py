"""Rewards from verdict vectors: ILA, CLA, weighted fraction, and the verdict-table scorer."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hir_core.rewards import RewardConfig, cla, ila, reward, score_verdicts, weighted_fraction

IDS = ["punctuation:no_comma", "length:max_words", "case:lowercase"]
verdict_vectors = st.lists(st.booleans(), min_size=1, max_size=8)


def test_hand_computed_rewards():
    verdicts = [True, False, True]
    assert ila(verdicts) == 0.0
    assert ila([True, True]) == 1.0
    assert cla(verdicts) == pytest.approx(2 / 3)
    cfg = RewardConfig(kind="weighted", weights={"length:max_words": 2.0, "case:lowercase": 3.0})
    # weights 1, 2, 3; passed: 1 and 3 -> 4 / 6
    assert weighted_fraction(verdicts, IDS, cfg) == pytest.approx(4 / 6)
    assert reward(verdicts, IDS, RewardConfig(kind="ila")) == 0.0
    assert reward(verdicts, IDS, RewardConfig(kind="cla")) == pytest.approx(2 / 3)
    assert reward(verdicts, IDS, cfg) == pytest.approx(4 / 6)


@given(verdict_vectors)
def test_reward_kinds_agree_with_plain_definitions(verdicts):
    ids = [f"c{i % 3}" for i in range(len(verdicts))]
    passed = sum(1 for v in verdicts if v)
    assert ila(verdicts) == (1.0 if passed == len(verdicts) else 0.0)
    assert cla(verdicts) == pytest.approx(passed / len(verdicts))
    # Without weights the weighted fraction is CLA.
    assert weighted_fraction(verdicts, ids, RewardConfig(kind="weighted")) == pytest.approx(
        cla(verdicts)
    )
    weights = {"c0": 0.5, "c1": 4.0}
    cfg = RewardConfig(kind="weighted", weights=weights, default_weight=2.0)
    w = [weights.get(cid, 2.0) for cid in ids]
    expected = sum(wi for wi, v in zip(w, verdicts) if v) / sum(w)
    assert weighted_fraction(verdicts, ids, cfg) == pytest.approx(expected)


def test_empty_or_misaligned_vectors_are_errors():
    with pytest.raises(ValueError, match="empty verdict vector"):
        ila([])
    with pytest.raises(ValueError, match="empty verdict vector"):
        cla([])
    with pytest.raises(ValueError, match="2 verdicts for 3 constraint ids"):
        weighted_fraction([True, False], IDS, RewardConfig(kind="weighted"))


def test_config_rejects_typos_and_bad_weights():
    with pytest.raises(ValidationError, match="wieghts"):
        RewardConfig(wieghts={})
    with pytest.raises(ValidationError, match="kind"):
        RewardConfig(kind="binary")
    with pytest.raises(ValidationError, match="must be > 0"):
        RewardConfig(kind="weighted", weights={"a": 0.0})


def test_score_verdicts_fills_columns_and_names_bad_row():
    table = pl.DataFrame(
        {
            "rollout_id": ["p/0", "p/1", "p/2"],
            "constraint_ids": [IDS, IDS, IDS],
            "verdicts": [[True, True, True], [True, False, False], [False, False, False]],
        }
    )
    scored = score_verdicts(table, RewardConfig(kind="cla"))
    assert scored["ila"].to_list() == [1.0, 0.0, 0.0]
    assert scored["cla"].to_list() == pytest.approx([1.0, 1 / 3, 0.0])
    assert scored["reward"].to_list() == pytest.approx([1.0, 1 / 3, 0.0])
    assert scored["reward"].dtype == pl.Float32

    bad = table.with_columns(pl.Series("verdicts", [[True, True, True], [], [False] * 3]))
    with pytest.raises(ValueError, match="'p/1'.*empty verdict vector"):
        score_verdicts(bad, RewardConfig())
