"""Batch assembly, log-prob gathering and GRPO / REINFORCE++ advantages, checked by hand."""

import statistics

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from hir_core.advantages import (
    AdvantageConfig,
    assemble_batch,
    compute_advantages,
    gather_logprobs,
    grpo_advantages,
    reinforce_pp_advantages,
)
from hir_core.hindsight.config import HindsightConfig
from hir_core.storage import conform
from tests._helpers_algorithms import frame, prompt_row, replay_row, rollout_row, verdict_row

EPS = 1e-6
C = [{"id": "c1", "kwargs": {}, "text": "one"}, {"id": "c2", "kwargs": {}, "text": "two"}]


def tokenize(text: str) -> list[int]:
    return [ord(ch) for ch in text]


def iteration():
    """Prompt a: every sample failed, a/1 half way; prompt b: one success. Two replays."""
    prompts = frame([prompt_row("a", C, "A prompt"), prompt_row("b", C, "B prompt")], "prompts")
    rollouts = frame(
        [rollout_row("a", i, response_ids=[10 + i, 20 + i]) for i in range(3)]
        + [rollout_row("b", i, response_ids=[30 + i, 40 + i, 50 + i]) for i in range(2)],
        "rollouts",
    )
    verdicts = frame(
        [
            verdict_row("a", 0, ["c1", "c2"], [False, False]),
            verdict_row("a", 1, ["c1", "c2"], [True, False]),
            verdict_row("a", 2, ["c1", "c2"], [False, False]),
            verdict_row("b", 0, ["c1", "c2"], [True, True]),
            verdict_row("b", 1, ["c1", "c2"], [False, True]),
        ],
        "verdicts",
    )
    replays = frame(
        [
            replay_row("a/1", "a", "A~", ["c1"], ["c2"]),
            replay_row("b/1", "b", "B~", ["c2"], ["c1"]),
        ],
        "replays",
    )
    return prompts, rollouts, verdicts, replays


def build(hindsight=None, cfg=None, with_replays=True):
    prompts, rollouts, verdicts, replays = iteration()
    if not with_replays:
        replays = replays.clear()
    return assemble_batch(
        prompts,
        rollouts,
        verdicts,
        replays,
        hindsight or HindsightConfig(),
        cfg or AdvantageConfig(),
        tokenize,
    )


def test_assemble_batch_places_replays_after_sources_in_their_groups():
    batch = build(cfg=AdvantageConfig(replay_weight=0.5))
    conform(batch, "batch")  # exactly the BATCH schema
    assert batch["sample_id"].to_list() == ["a/0", "a/1", "a/1/hir", "a/2", "b/0", "b/1", "b/1/hir"]
    assert batch["group_id"].to_list() == ["a", "a", "a", "a", "b", "b", "b"]
    assert batch["is_replay"].to_list() == [False, False, True, False, False, False, True]
    assert batch["reward"].to_list() == [0, 0, 1, 0, 1, 0, 1]
    assert batch["loss_weight"].to_list() == [1, 1, 0.5, 1, 1, 1, 0.5]
    assert batch["logprob_source"].to_list() == ["rollout"] * 2 + ["copy"] + ["rollout"] * 3 + [
        "copy"
    ]
    replay = batch.row(2, named=True)
    assert replay["prompt"] == "A~"
    assert replay["prompt_token_ids"] == tokenize("A~")
    assert replay["response_token_ids"] == [11, 21]  # the source's response, unchanged
    assert replay["source_rollout_id"] == "a/1"
    assert batch.row(0, named=True)["prompt"] == "A prompt"


def test_own_group_and_recompute_options():
    batch = build(HindsightConfig(group="own_group", replay_logprobs="recompute"))
    assert batch["group_id"].to_list() == ["a", "a", "a/replays", "a", "b", "b", "b/replays"]
    assert set(batch.filter("is_replay")["logprob_source"]) == {"recompute"}


def fake_logprobs(calls):
    """A deterministic stand-in for a model: log-prob of token i depends on the whole prompt."""

    def logprobs_fn(requests):
        calls.append(requests)
        return [-0.01 * np.arange(1, len(r) + 1) * (1 + sum(p) % 7) for p, r in requests]

    return logprobs_fn


def test_gather_logprobs_copy_reuses_source_and_recompute_scores_rewritten_prompt():
    calls = []
    copied = gather_logprobs(build(), fake_logprobs(calls))
    assert len(calls) == 1 and len(calls[0]) == 5  # originals only: one forward pass saved
    np.testing.assert_array_equal(copied[2], copied[1])
    np.testing.assert_array_equal(copied[6], copied[5])

    calls = []
    batch = build(HindsightConfig(replay_logprobs="recompute"))
    recomputed = gather_logprobs(batch, fake_logprobs(calls))
    assert len(calls[0]) == 7
    assert calls[0][2] == (tokenize("A~"), [11, 21])
    assert not np.array_equal(recomputed[2], recomputed[1])


def test_gather_logprobs_checks_result_count():
    with pytest.raises(ValueError, match="returned 1 arrays for 5 requests"):
        gather_logprobs(build(), lambda requests: [np.zeros(2)])


def grpo_reference(rewards, groups, scale_std=True):
    """Plain-python GRPO: unbiased std (statistics.stdev), singleton groups get 0."""
    out = []
    for r, g in zip(rewards, groups):
        members = [x for x, h in zip(rewards, groups) if h == g]
        if len(members) < 2:
            out.append(0.0)
            continue
        centred = r - sum(members) / len(members)
        out.append(centred / (statistics.stdev(members) + EPS) if scale_std else centred)
    return out


def test_grpo_hand_computed():
    # Group a with a replay: [0, 0, 1, 0]: mean 0.25, unbiased std 0.5.
    adv = grpo_advantages([0, 0, 1, 0], ["a"] * 4, EPS, scale_std=True)
    np.testing.assert_allclose(adv, [-0.5, -0.5, 1.5, -0.5], rtol=1e-5)
    # [1, 0, 1]: mean 2/3, unbiased std sqrt(1/3).
    adv = grpo_advantages([1, 0, 1], ["b"] * 3, EPS, scale_std=True)
    np.testing.assert_allclose(adv, [1 / 3 / 3**-0.5, -2 / 3 / 3**-0.5, 1 / 3 / 3**-0.5], rtol=1e-5)
    np.testing.assert_allclose(
        grpo_advantages([1, 0, 1], ["b"] * 3, EPS, scale_std=False), [1 / 3, -2 / 3, 1 / 3]
    )
    assert grpo_advantages([1.0], ["lonely"], EPS, scale_std=True).tolist() == [0.0]


def test_grpo_all_failed_group_has_signal_only_with_replays():
    cfg = AdvantageConfig(estimator="grpo")
    for with_replays in (False, True):
        batch = build(cfg=cfg, with_replays=with_replays)
        lp = gather_logprobs(batch, fake_logprobs([]))
        out = compute_advantages(batch, lp, lp, cfg)
        group_a = out.filter(pl.col("group_id") == "a")
        seq_adv = [adv[0] for adv in group_a["advantages"]]
        expected = grpo_reference(out["reward"].to_list(), out["group_id"].to_list())
        # One advantage per response token, the sequence value repeated.
        for row, value in zip(out.iter_rows(named=True), expected):
            assert row["advantages"] == pytest.approx(
                [value] * len(row["response_token_ids"]), rel=1e-5
            )
        if with_replays:
            assert seq_adv == pytest.approx([-0.5, -0.5, 1.5, -0.5], rel=1e-5)
        else:
            assert seq_adv == [0.0, 0.0, 0.0]


def rpp_reference(rewards, olds, refs, beta, gamma):
    """Plain-python REINFORCE++: token rewards, reverse-accumulated returns, batch whitening."""
    returns = []
    for reward, old, ref in zip(rewards, olds, refs):
        token_rewards = [-beta * (o - r) for o, r in zip(old, ref)]
        token_rewards[-1] += reward
        g, out = 0.0, []
        for x in reversed(token_rewards):
            g = x + gamma * g
            out.insert(0, g)
        returns.append(out)
    flat = [g for seq in returns for g in seq]
    mean, std = sum(flat) / len(flat), statistics.stdev(flat)
    return [[(g - mean) / (std + EPS) for g in seq] for seq in returns]


def test_reinforce_pp_hand_computed():
    olds = [np.array([-1.0, -2.0]), np.array([-0.5])]
    refs = [np.array([-1.5, -1.0]), np.array([-0.5])]
    # Token rewards: sample 1: -0.1 * 0.5 = -0.05 and -0.1 * -1 + 1 = 1.1 -> returns [1.05, 1.1];
    # sample 2: [0]. Batch of tokens [1.05, 1.1, 0]: mean 0.71667, unbiased std 0.62116.
    adv = reinforce_pp_advantages([1.0, 0.0], olds, refs, kl_beta=0.1, gamma=1.0, eps=EPS)
    mean, std = 2.15 / 3, statistics.stdev([1.05, 1.1, 0.0])
    assert std == pytest.approx(0.62116, abs=1e-5)
    np.testing.assert_allclose(adv[0], [(1.05 - mean) / (std + EPS), (1.1 - mean) / (std + EPS)])
    np.testing.assert_allclose(adv[1], [(0.0 - mean) / (std + EPS)])
    # gamma 0.5: sample 1 returns [-0.05 + 0.5 * 1.1, 1.1] = [0.5, 1.1].
    half = reinforce_pp_advantages([1.0, 0.0], olds, refs, kl_beta=0.1, gamma=0.5, eps=EPS)
    m2, s2 = 1.6 / 3, statistics.stdev([0.5, 1.1, 0.0])
    np.testing.assert_allclose(half[0], [(0.5 - m2) / (s2 + EPS), (1.1 - m2) / (s2 + EPS)])


def test_reinforce_pp_batch_matches_reference_and_all_failed_signal():
    cfg = AdvantageConfig(estimator="reinforce_pp", kl_beta=0.05)
    batch = build(cfg=cfg)
    old = gather_logprobs(batch, fake_logprobs([]))
    ref = [x * 0.9 for x in old]
    out = compute_advantages(batch, old, ref, cfg)
    expected = rpp_reference(batch["reward"].to_list(), old, ref, 0.05, 1.0)
    for got, want in zip(out["advantages"].to_list(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["old_logprobs"][0].to_list(), old[0], rtol=1e-6)
    np.testing.assert_allclose(out["ref_logprobs"][0].to_list(), ref[0], rtol=1e-6)

    # Prompt a alone, beta 0 (no KL term): every sample failed -> all tokens 0 -> zero signal;
    # with its replay the whitened advantages separate the replay from the failures.
    cfg0 = AdvantageConfig(estimator="reinforce_pp", kl_beta=0.0)
    for with_replays in (False, True):
        only_a = build(cfg=cfg0, with_replays=with_replays).filter(pl.col("prompt_id") == "a")
        lp = gather_logprobs(only_a, fake_logprobs([]))
        adv = compute_advantages(only_a, lp, lp, cfg0)["advantages"].to_list()
        flat = np.concatenate(adv)
        if with_replays:
            assert flat.std() > 0.5
            assert min(adv[2]) > 0 > max(adv[0])
        else:
            assert np.all(flat == 0.0)


def test_compute_advantages_validates_logprob_lengths():
    cfg = AdvantageConfig()
    batch = build(cfg=cfg)
    lp = gather_logprobs(batch, fake_logprobs([]))
    short = list(lp)
    short[3] = short[3][:1]
    with pytest.raises(ValueError, match="old_logprobs of sample 'a/2': 1 values for 2"):
        compute_advantages(batch, short, lp, cfg)
    with pytest.raises(ValueError, match="ref_logprobs: 6 arrays for a batch of 7"):
        compute_advantages(batch, lp, lp[:6], cfg)


def test_configs_forbid_unknown_fields():
    with pytest.raises(ValidationError, match="kl_coef"):
        AdvantageConfig(kl_coef=0.1)
    with pytest.raises(ValidationError, match="estimator"):
        AdvantageConfig(estimator="ppo")
