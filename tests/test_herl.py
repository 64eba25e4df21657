"""HeRL (guided re-generation) and hir+herl: candidates, bonus, placement, batch, metrics.

Exact-arithmetic tests use ``ScriptedStubGenerator``, a deterministic stand-in that answers each
revision prompt with a scripted text (it is not a model); the verdicts of every text are
written by hand below and serve as the reference. The end-to-end tests at the bottom run the
real transformers generator on the tiny-random model.
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
import torch
from _tiny_model import build_tiny

from hir_core import constraints
from hir_core.advantages import (
    AdvantageConfig,
    assemble_batch,
    compute_advantages,
    gather_logprobs,
    grpo_advantages,
)
from hir_core.data import instruction_row, prompts_frame
from hir_core.engines.generation import GenerationConfig, Sample, chat_prompt_ids, make_generator
from hir_core.engines.logprobs import compute_logprobs
from hir_core.hindsight import HindsightConfig, run_hindsight
from hir_core.instructions import Instruction, make_constraint
from hir_core.metrics import herl_metrics
from hir_core.revision import revision_prompt
from hir_core.rewards import RewardConfig
from hir_core.storage import conform
from tests._helpers_algorithms import frame, rollout_row

CONSTRAINTS = (
    make_constraint("punctuation:no_comma"),
    make_constraint("startend:quotation"),
    make_constraint("keywords:existence", {"keywords": ["tea"]}),
)
IDS = [c["id"] for c in CONSTRAINTS]
TEXTS = [c["text"] for c in CONSTRAINTS]
INSTRUCTION = Instruction("Write about tea.", CONSTRAINTS, "lines")

# Hand-written verdicts [no comma, wrapped in double quotes, contains "tea"] of every text used.
VERDICTS = {
    "hello": [True, False, False],
    "tea time": [True, False, True],
    "more tea": [True, False, True],
    "a, b": [False, False, False],
    '"tea"': [True, True, True],
    "x, y": [False, False, False],
    "p, q": [False, False, False],
    "m, n": [False, False, False],
    "k, l": [False, False, False],
    "tea, x": [False, False, True],
    "tea, y": [False, False, True],
    "tea": [True, False, True],
    '"tea time"': [True, True, True],
    "more, tea": [False, False, True],
    '"hi"': [True, True, False],
}
# Drafts per prompt, in sample order. a: best 2/3 (a/1, a/2 tied); b: has a full success;
# c, d: every draft scores 0 (all tied); e: every draft is a partial success at 1/3.
DRAFTS = {
    "a": ["hello", "tea time", "more tea", "a, b"],
    "b": ['"tea"', "hello"],
    "c": ["x, y", "p, q"],
    "d": ["m, n", "k, l"],
    "e": ["tea, x", "tea, y"],
}
# What the stub "revises" each draft into.
SCRIPT = {
    "tea time": '"tea time"',  # 2/3 -> 1: a guided success
    "more tea": "more, tea",  # 2/3 -> 1/3: worse, negative bonus
    "x, y": "x, y",  # 0 -> 0
    "p, q": "tea",  # 0 -> 2/3
    "m, n": "tea",  # d: both guided responses tie at 2/3
    "k, l": "tea",
    "tea, x": '"hi"',  # 1/3 -> 2/3
    "tea, y": "tea, y",  # 1/3 -> 1/3
}


def cla(text: str) -> float:
    return sum(VERDICTS[text]) / 3


def token_ids(text: str) -> list[int]:
    """The stub's response tokens: one id per character (distinct per text)."""
    return [ord(ch) for ch in text]


def tokenize(text: str) -> list[int]:
    return [len(text) % 1000, 1, 2]


class ScriptedStubGenerator:
    """Deterministic STUB (not a model) for exact-arithmetic tests.

    Answers a revision prompt with ``SCRIPT[draft]``, the draft read back from the prompt, so
    a test can check that the prompt carried it. Records every call with its sampling config.
    """

    def __init__(self, cfg: GenerationConfig | None = None):
        self.cfg = cfg or GenerationConfig(n=4, temperature=0.7, max_new_tokens=64, seed=11)
        self.calls: list[tuple[GenerationConfig, list]] = []

    def generate(self, prompts):
        # with_sampling gives a shallow copy: record into the original's list.
        self.calls.append((self.cfg, [list(p) for p in prompts]))
        out = []
        for i, chat in enumerate(prompts):
            text = chat[-1]["content"]
            draft = text.split("### Your previous response\n", 1)[1].split("\n\n### ", 1)[0]
            response = SCRIPT[draft]
            ids = token_ids(response)
            out.append(
                [Sample(i, s, response, [1], ids, [-0.5] * len(ids), 0.1, "stop") for s in range(1)]
            )
        return out


def iteration(drafts=DRAFTS, reward_cfg=None):
    """PROMPTS, ROLLOUTS and VERDICTS tables for `drafts`; reward = CLA (or `reward_cfg`)."""
    prompt = INSTRUCTION.prompt
    prompts = prompts_frame(
        [
            instruction_row(INSTRUCTION, prompt_id=pid, base_task_id="tea", split="train")
            for pid in drafts
        ]
    )
    rollouts, verdicts = [], []
    for pid, texts in drafts.items():
        for i, text in enumerate(texts):
            rollouts.append(rollout_row(pid, i, text, response_ids=[50 + i, 60 + i]))
            v = VERDICTS[text]
            r = weighted(v, reward_cfg) if reward_cfg else sum(v) / 3
            verdicts.append(
                {
                    "rollout_id": f"{pid}/{i}",
                    "prompt_id": pid,
                    "sample_idx": i,
                    "constraint_ids": IDS,
                    "verdicts": v,
                    "errors": [""] * 3,
                    "ila": float(all(v)),
                    "cla": sum(v) / 3,
                    "reward": r,
                }
            )
    assert prompts["prompt"].to_list() == [prompt] * len(drafts)
    return prompts, frame(rollouts, "rollouts"), frame(verdicts, "verdicts")


def weighted(verdicts, cfg):
    weights = [cfg.weights.get(cid, cfg.default_weight) for cid in IDS]
    return sum(w for w, v in zip(weights, verdicts) if v) / sum(weights)


CLA = RewardConfig(kind="cla")


def run_herl(cfg=None, drafts=DRAFTS, generator=None, reward=CLA, step=0):
    prompts, rollouts, verdicts = iteration(drafts, reward if reward.kind == "weighted" else None)
    generator = generator or ScriptedStubGenerator()
    replays, stats = run_hindsight(
        prompts,
        rollouts,
        verdicts,
        cfg or HindsightConfig(strategy="herl"),
        step=step,
        generator=generator,
        reward=reward,
    )
    return (prompts, rollouts, verdicts), replays, stats, generator


# ---------------------------------------------------------------- candidates and the prompt


def test_candidates_are_the_best_responses_of_groups_without_a_success():
    _, replays, stats, stub = run_herl()
    conform(replays, "replays")
    # a: the two tied at 2/3; b untouched (a full success); c, d, e: everyone (all tied).
    expected = ["a/1", "a/2", "c/0", "c/1", "d/0", "d/1", "e/0", "e/1"]
    assert replays["source_rollout_id"].to_list() == expected
    assert set(replays["strategy"]) == {"herl"}
    assert stats["herl_groups"] == 5 and stats["herl_triggered"] == 4
    assert stats["herl_guided"] == stats["n_replays"] == 8
    # One generation pass, one chat per candidate, each quoting its own draft.
    assert len(stub.calls) == 1
    chats = stub.calls[0][1]
    drafts = {f"{p}/{i}": t for p, texts in DRAFTS.items() for i, t in enumerate(texts)}
    for chat, source, row in zip(chats, expected, replays.iter_rows(named=True)):
        assert chat == [{"role": "user", "content": row["guidance_prompt"]}]
        assert row["guidance_prompt"] == revision_prompt(
            INSTRUCTION.prompt, drafts[source], TEXTS, VERDICTS[drafts[source]]
        )
        assert row["response"] == drafts[source]
        assert row["original_prompt"] == row["rewritten_prompt"] == INSTRUCTION.prompt
        assert row["keep_mask"] == VERDICTS[drafts[source]]
        assert row["kept_ids"] == [c for c, v in zip(IDS, VERDICTS[drafts[source]]) if v]
        assert row["dropped_ids"] == [c for c, v in zip(IDS, VERDICTS[drafts[source]]) if not v]


def test_no_group_below_one_means_no_generation():
    _, replays, stats, stub = run_herl(drafts={"b": ['"tea"', "hello"]})
    assert replays.height == 0 and stub.calls == []
    assert stats["herl_groups"] == 1 and stats["herl_triggered"] == 0


def test_guided_responses_are_verified_against_the_original_constraints_and_bonus():
    _, replays, stats, _ = run_herl()
    drafts = {f"{p}/{i}": t for p, texts in DRAFTS.items() for i, t in enumerate(texts)}
    for row in replays.iter_rows(named=True):
        draft = drafts[row["source_rollout_id"]]
        guided = SCRIPT[draft]
        assert row["guided_response"] == guided
        assert row["guided_verdicts"] == VERDICTS[guided]
        assert row["guided_reward"] == pytest.approx(cla(guided))
        assert row["score"] == pytest.approx(cla(guided))
        assert row["bonus"] == pytest.approx(0.05 * (cla(guided) - cla(draft)), abs=1e-7)
        assert row["guided_response_token_ids"] == token_ids(guided)
    # Above the group's best: a/1 (1 > 2/3), c/1 (2/3 > 0), d/0, d/1, e/0 (2/3 > 1/3).
    assert stats["herl_guided_success"] == 5


def test_bonus_with_a_weighted_reward_and_another_alpha():
    reward = RewardConfig(kind="weighted", weights={"keywords:existence": 2.0})
    cfg = HindsightConfig(strategy="herl", herl={"alpha": 0.5})
    _, replays, _, _ = run_herl(cfg, reward=reward)
    row = replays.filter(pl.col("source_rollout_id") == "a/2").row(0, named=True)
    # "more tea": comma-free + tea = (1 + 2) / 4; "more, tea": tea only = 2 / 4.
    assert row["guided_reward"] == pytest.approx(0.5)
    assert row["bonus"] == pytest.approx(0.5 * (2 / 4 - 3 / 4))


def test_the_best_guided_response_of_each_group_is_used():
    _, replays, stats, _ = run_herl()
    used = replays.filter("used")["source_rollout_id"].to_list()
    # a: a/1 (1 > 1/3); c: c/1 (2/3 > 0); d: tie at 2/3 -> the earlier d/0; e: e/0.
    assert used == ["a/1", "c/1", "d/0", "e/0"]
    assert stats["herl_used"] == 4
    assert replays["replaces_rollout_id"].null_count() == replays.height  # append


def test_guided_pass_has_its_own_sampling_settings_and_seed():
    cfg = HindsightConfig(strategy="herl", herl={"temperature": 0.3, "max_new_tokens": 17})
    _, _, _, stub = run_herl(cfg, step=4)
    guided_cfg = stub.calls[0][0]
    assert (guided_cfg.n, guided_cfg.temperature, guided_cfg.max_new_tokens) == (1, 0.3, 17)
    # The rollout generator itself is untouched; its other settings carry over.
    assert (stub.cfg.n, stub.cfg.temperature, stub.cfg.max_new_tokens) == (4, 0.7, 64)
    assert guided_cfg.top_p == stub.cfg.top_p
    seeds = {}
    for step in (4, 4, 5):
        stub = ScriptedStubGenerator()
        run_herl(cfg, generator=stub, step=step)
        seeds.setdefault(step, set()).add(stub.calls[0][0].seed)
    assert len(seeds[4]) == 1 and seeds[4] != seeds[5]
    with pytest.raises(Exception, match="max_new_tokens"):
        HindsightConfig(strategy="herl", herl={"max_new_tokens": 0})


def test_herl_needs_a_generator_a_reward_and_matching_rewards():
    prompts, rollouts, verdicts = iteration()
    cfg = HindsightConfig(strategy="herl")
    with pytest.raises(ValueError, match="pass generator= to run_hindsight"):
        run_hindsight(prompts, rollouts, verdicts, cfg, step=0, reward=CLA)
    with pytest.raises(ValueError, match="pass generator= and reward="):
        run_hindsight(prompts, rollouts, verdicts, HindsightConfig(strategy="hir+herl"), step=0)
    # Verdict rewards scored as ILA, but HeRL told the reward is CLA: the bonus would mix them.
    ila = verdicts.with_columns(pl.col("ila").alias("reward"))
    with pytest.raises(ValueError, match=r"verdict row 'a/0': reward 0.0 but .*kind='cla'"):
        run_hindsight(
            prompts, rollouts, ila, cfg, step=0, generator=ScriptedStubGenerator(), reward=CLA
        )

    class NoConfig:
        def generate(self, prompts):
            raise AssertionError("not reached")

    with pytest.raises(TypeError, match="NoConfig has no GenerationConfig"):
        run_hindsight(prompts, rollouts, verdicts, cfg, step=0, generator=NoConfig(), reward=CLA)


# ---------------------------------------------------------------- batch: placement and groups


def batch_of(cfg, replays, tables, adv=None):
    prompts, rollouts, verdicts = tables
    return assemble_batch(
        prompts, rollouts, verdicts, replays, cfg, adv or AdvantageConfig(), tokenize
    )


def test_append_puts_the_guided_sample_at_the_end_of_its_group_with_bonus_rewards():
    cfg = HindsightConfig(strategy="herl")
    tables, replays, _, _ = run_herl(cfg)
    batch = batch_of(cfg, replays, tables)
    conform(batch, "batch")
    assert batch["sample_id"].to_list() == [
        "a/0", "a/1", "a/2", "a/3", "a/1/herl",
        "b/0", "b/1",
        "c/0", "c/1", "c/1/herl",
        "d/0", "d/1", "d/0/herl",
        "e/0", "e/1", "e/0/herl",
    ]  # fmt: skip
    assert batch["group_id"].to_list() == [s.split("/")[0] for s in batch["sample_id"]]
    assert batch["is_hindsight"].to_list() == [s.endswith("/herl") for s in batch["sample_id"]]
    assert not batch["is_replay"].any()
    # Sources get r + alpha (r_guided - r); others keep r; guided samples get r_guided.
    drafts = {f"{p}/{i}": t for p, texts in DRAFTS.items() for i, t in enumerate(texts)}
    for row in batch.iter_rows(named=True):
        sid = row["sample_id"]
        if row["is_hindsight"]:
            draft = drafts[row["source_rollout_id"]]
            guided = SCRIPT[draft]
            assert row["reward"] == pytest.approx(cla(guided))
            assert row["prompt"] == revision_prompt(
                INSTRUCTION.prompt, draft, TEXTS, VERDICTS[draft]
            )
            assert row["prompt_token_ids"] == tokenize(row["prompt"])
            assert row["response_token_ids"] == token_ids(guided)
            assert row["logprob_source"] == "rollout" and row["loss_weight"] == 1.0
        else:
            r = cla(drafts[sid])
            expected = r + 0.05 * (cla(SCRIPT[drafts[sid]]) - r) if sid in SOURCES else r
            assert row["reward"] == pytest.approx(expected, abs=1e-6)
            assert row["prompt"] == INSTRUCTION.prompt


SOURCES = {"a/1", "a/2", "c/0", "c/1", "d/0", "d/1", "e/0", "e/1"}


def test_guided_sample_shares_its_group_baseline():
    cfg = HindsightConfig(strategy="herl", group="own_group")  # HiR-only option: ignored here
    tables, replays, _, _ = run_herl(cfg)
    batch = batch_of(cfg, replays, tables)
    group_a = batch.filter(pl.col("group_id") == "a")
    assert group_a["sample_id"].to_list() == ["a/0", "a/1", "a/2", "a/3", "a/1/herl"]
    # GRPO over the batch equals a hand-built group of the five rewards.
    adv = AdvantageConfig(estimator="grpo")
    lengths = batch["response_token_ids"].list.len().to_list()
    zeros = [np.zeros(n) for n in lengths]
    scored = compute_advantages(batch, zeros, zeros, adv)
    rewards_a = [1 / 3, 2 / 3 + 0.05 * (1 - 2 / 3), 2 / 3 + 0.05 * (1 / 3 - 2 / 3), 0.0, 1.0]
    mean, std = np.mean(rewards_a), np.std(rewards_a, ddof=1)
    got = [a[0] for a in scored.filter(pl.col("group_id") == "a")["advantages"].to_list()]
    np.testing.assert_allclose(got, [(r - mean) / (std + 1e-6) for r in rewards_a], rtol=1e-5)
    # The all-zero group c: the bonus and the guided sample (2/3) give it a learning signal.
    c = batch.filter(pl.col("group_id") == "c")
    np.testing.assert_allclose(c["reward"].to_list(), [0.0, 0.05 * 2 / 3, 2 / 3], rtol=1e-6)
    got_c = [a[0] for a in scored.filter(pl.col("group_id") == "c")["advantages"].to_list()]
    np.testing.assert_allclose(
        got_c, grpo_advantages(c["reward"].to_list(), ["c"] * 3, 1e-6, True), rtol=1e-5
    )
    assert got_c[2] > 0 > got_c[0]


def test_replace_overwrites_a_random_original_of_the_group():
    chosen = set()
    for seed in range(12):
        cfg = HindsightConfig(strategy="herl", seed=seed, herl={"placement": "replace"})
        tables, replays, _, _ = run_herl(cfg)
        used = replays.filter("used")
        assert replays.filter(~pl.col("used"))["replaces_rollout_id"].null_count() == 4
        batch = batch_of(cfg, replays, tables)
        assert batch.height == tables[1].height  # same number of slots as generated
        for row in used.iter_rows(named=True):
            target = row["replaces_rollout_id"]
            assert target.split("/")[0] == row["prompt_id"]  # a slot of its own group
            assert target not in batch["sample_id"].to_list()
            position = tables[1]["rollout_id"].to_list().index(target)
            assert batch["sample_id"][position] == row["replay_id"]
        chosen.add(used.filter(pl.col("prompt_id") == "a")["replaces_rollout_id"].item())
        assert run_herl(cfg)[1].equals(replays)  # deterministic under the seed
    assert len(chosen) > 1 and chosen <= {"a/0", "a/1", "a/2", "a/3"}


def test_batch_rejects_inconsistent_guided_rows():
    cfg = HindsightConfig(strategy="herl")
    tables, replays, _, _ = run_herl(cfg)
    twice = replays.with_columns(pl.lit(True).alias("used"))
    with pytest.raises(ValueError, match="a second used guided sample for 'a'"):
        batch_of(cfg, twice, tables)
    empty = pl.lit([], dtype=pl.List(pl.Int32))
    tokens = pl.col("guided_response_token_ids")
    no_tokens = replays.with_columns(
        pl.when("used").then(empty).otherwise(tokens).alias("guided_response_token_ids")
    )
    with pytest.raises(ValueError, match="guided row 'a/1/herl' is used but lacks"):
        batch_of(cfg, no_tokens, tables)


# ---------------------------------------------------------------- hir+herl


def test_combined_replays_partial_successes_and_revises_groups_without_success():
    cfg = HindsightConfig(strategy="hir+herl", k=100, herl={"placement": "replace"})
    tables, replays, stats, _ = run_herl(cfg)
    conform(replays, "replays")
    hir = replays.filter(pl.col("strategy") == "hir")
    herl = replays.filter(pl.col("strategy") == "herl")
    # HiR: every 0 < CLA < 1 response, also in group b (which has a success).
    assert hir["source_rollout_id"].to_list() == ["a/0", "a/1", "a/2", "b/1", "e/0", "e/1"]
    assert herl["source_rollout_id"].to_list() == sorted(SOURCES)
    assert stats["n_replays"] == 6 + 8 and stats["n_candidates"] == 6
    assert stats["herl_triggered"] == 4
    # No HiR source is overwritten; in e every original is one, so its sample is appended.
    targets = herl.filter("used")["replaces_rollout_id"].to_list()
    assert all(t not in set(hir["source_rollout_id"]) for t in targets if t is not None)
    assert targets[0] == "a/3" and targets[-1] is None
    assert stats["herl_replace_fallback"] == 1
    batch = batch_of(cfg, replays, tables)
    assert batch["sample_id"].to_list()[:6] == [
        "a/0",
        "a/0/hir",
        "a/1",
        "a/1/hir",
        "a/2",
        "a/2/hir",
    ]
    assert batch["sample_id"].to_list()[6] == "a/1/herl"  # in a/3's slot
    assert batch["sample_id"].to_list()[-1] == "e/0/herl"  # appended
    assert batch.filter("is_replay")["reward"].to_list() == [1.0] * 6
    calls = []
    gather_logprobs(batch, lambda req: calls.extend(req) or [np.zeros(len(r)) for _, r in req])
    assert len(calls) == batch.height - 6  # copy replays still find their sources


# ---------------------------------------------------------------- metrics


def test_herl_metrics_hand_computed():
    cfg = HindsightConfig(strategy="herl")
    tables, replays, stats, _ = run_herl(cfg)
    batch = batch_of(cfg, replays, tables)
    metrics = herl_metrics(stats, replays, batch)
    assert metrics["herl/trigger_rate"] == pytest.approx(4 / 5)
    assert metrics["herl/guided_success_rate"] == pytest.approx(5 / 8)
    assert metrics["herl/used"] == 4
    bonuses = [0.05 * (cla(SCRIPT[d]) - cla(d)) for d in SCRIPT]
    assert metrics["herl/bonus_mean"] == pytest.approx(np.mean(bonuses), abs=1e-7)
    guided_tokens = sum(len(SCRIPT[d]) for d in ["tea time", "p, q", "m, n", "tea, x"])
    total = 2 * sum(len(t) for t in DRAFTS.values()) + guided_tokens  # originals: 2 tokens each
    assert metrics["herl/hindsight_token_fraction"] == pytest.approx(guided_tokens / total)
    assert metrics["herl/generation_s"] >= 0.0
    empty = herl_metrics(stats | {"herl_groups": 0, "herl_guided": 0}, replays.clear())
    assert math.isnan(empty["herl/trigger_rate"]) and math.isnan(empty["herl/bonus_mean"])
    assert "herl/hindsight_token_fraction" not in empty  # needs the batch


# ---------------------------------------------------------------- end to end, real generator


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def real_iteration(tiny, n_prompts=2):
    """Rollouts of the tiny-random model (8 new tokens) on synthetic prompts, verified."""
    from hir_core.data import build_synthetic, constraints_from_row

    model, tok = tiny
    prompts = build_synthetic(n_prompts, 0, seed=3)
    generator = make_generator(
        GenerationConfig(n=2, max_new_tokens=8, seed=5), model=model, tokenizer=tok
    )
    chats = [[{"role": "user", "content": p}] for p in prompts["prompt"]]
    rollouts, verdicts = [], []
    for row, samples in zip(prompts.iter_rows(named=True), generator.generate(chats)):
        cons = constraints_from_row(row)
        for s in samples:
            rid = f"{row['prompt_id']}/{s.sample_idx}"
            rollouts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": s.sample_idx,
                    "response": s.response,
                    "prompt_token_ids": s.prompt_token_ids,
                    "response_token_ids": s.response_token_ids,
                    "logprobs": s.logprobs,
                    "mean_entropy": s.mean_entropy,
                    "finish_reason": s.finish_reason,
                }
            )
            v = constraints.verify(s.response, cons, prompt=row["prompt"])
            verdicts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": s.sample_idx,
                    "constraint_ids": [c["id"] for c in cons],
                    "verdicts": v,
                    "errors": [""] * len(v),
                    "ila": float(all(v)),
                    "cla": sum(v) / len(v),
                    "reward": sum(v) / len(v),
                }
            )
    return prompts, frame(rollouts, "rollouts"), frame(verdicts, "verdicts"), generator


def test_end_to_end_herl_with_the_tiny_model_greedy_guided_pass(tiny):
    model, tok = tiny
    prompts, rollouts, verdicts, generator = real_iteration(tiny)
    cfg = HindsightConfig(strategy="herl", herl={"temperature": 0.0, "max_new_tokens": 6})
    replays, stats = run_hindsight(
        prompts, rollouts, verdicts, cfg, step=1, generator=generator, reward=CLA
    )
    conform(replays, "replays")
    best = verdicts.group_by("prompt_id").agg(pl.col("reward").max())
    assert stats["herl_triggered"] == best.filter(pl.col("reward") < 1).height > 0
    instructions = {r["prompt_id"]: r for r in prompts.iter_rows(named=True)}
    for row in replays.iter_rows(named=True):
        # Greedy (temperature 0) with its own length: the reference greedy decode of the
        # guidance prompt under the chat template, at most 6 tokens.
        prompt_ids = chat_prompt_ids(tok, [[{"role": "user", "content": row["guidance_prompt"]}]])[
            0
        ]
        out = model.generate(
            input_ids=torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=6,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )[0, len(prompt_ids) :].tolist()
        ids = row["guided_response_token_ids"]
        assert ids == out[: len(ids)] and len(ids) <= 6
        # Verified against the ORIGINAL instruction's constraints.
        source = instructions[row["prompt_id"]]
        cons = [
            {"id": c["id"], "kwargs": json.loads(c["kwargs_json"])} for c in source["constraints"]
        ]
        expected = constraints.verify(row["guided_response"], cons, prompt=source["prompt"])
        assert row["guided_verdicts"] == expected
        assert row["guided_reward"] == pytest.approx(sum(expected) / len(expected))

    # Through batch assembly, log-probs (real teacher forcing) and advantages: trainable.
    def tokenize_chat(text):
        return chat_prompt_ids(tok, [[{"role": "user", "content": text}]])[0]

    batch = assemble_batch(
        prompts, rollouts, verdicts, replays, cfg, AdvantageConfig(), tokenize_chat
    )
    guided = batch.filter("is_hindsight")
    assert guided.height == stats["herl_used"] == stats["herl_triggered"]

    def logprobs_fn(requests):
        return compute_logprobs(model, [p for p, _ in requests], [r for _, r in requests], 8)

    logprobs = gather_logprobs(batch, logprobs_fn)
    scored = compute_advantages(batch, logprobs, logprobs, AdvantageConfig())
    for i in np.flatnonzero(batch["is_hindsight"].to_numpy()).tolist():
        lp = logprobs[i]
        assert len(lp) == len(batch["response_token_ids"][i])
        assert np.all(np.isfinite(lp))
    assert (
        scored["advantages"].list.len().to_list()
        == batch["response_token_ids"].list.len().to_list()
    )


def test_end_to_end_combined_is_reproducible_with_the_tiny_model(tiny):
    prompts, rollouts, verdicts, generator = real_iteration(tiny, n_prompts=3)
    cfg = HindsightConfig(strategy="hir+herl", herl={"max_new_tokens": 8})

    def run():
        return run_hindsight(
            prompts, rollouts, verdicts, cfg, step=2, generator=generator, reward=CLA
        )

    first, stats = run()
    second, _ = run()
    assert first.equals(second)  # sampled at temperature 1, seeded per (seed, step)
    assert set(first["strategy"]) <= {"hir", "herl"}
    herl = first.filter(pl.col("strategy") == "herl")
    assert herl.height == stats["herl_guided"] and stats["herl_triggered"] > 0
    assert herl["guided_response_token_ids"].list.len().max() <= 8
    batch = assemble_batch(prompts, rollouts, verdicts, first, cfg, AdvantageConfig(), tokenize)
    conform(batch, "batch")
    assert batch.filter("is_hindsight").height == stats["herl_used"]
    assert batch.filter("is_replay").height == first.filter(pl.col("strategy") == "hir").height
