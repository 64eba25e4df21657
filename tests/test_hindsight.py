"""Hindsight strategies: selection (pure), the hir select-then-rewrite stage, the registry."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hir_core import constraints
from hir_core.data import build_synthetic, constraints_from_row, instruction_row, prompts_frame
from hir_core.hindsight import HindsightConfig, get_strategy, run_hindsight
from hir_core.hindsight.selection import is_candidate, select
from hir_core.instructions import Instruction, make_constraint, render
from hir_core.storage import conform
from tests._helpers_algorithms import frame, rollout_row, verdict_row

# ---------------------------------------------------------------- selection on hand-made tables


@st.composite
def candidate_tables(draw):
    """A candidate table: up to 6 prompts with up to 5 candidates each, scores with ties."""
    rows = []
    for p in range(draw(st.integers(0, 6))):
        for i in range(draw(st.integers(1, 5))):
            score = draw(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.25]))
            rows.append({"rollout_id": f"p{p}/{i}", "prompt_id": f"p{p}", "score": score})
    schema = {"rollout_id": pl.String, "prompt_id": pl.String, "score": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


modes = st.sampled_from(["score", "random", "per_prompt"])


def rng(seed):
    return np.random.default_rng(seed)


@given(candidate_tables(), st.integers(0, 40), modes, st.integers(0, 2**16))
def test_select_respects_k_and_returns_distinct_candidates(table, k, mode, seed):
    chosen = select(table, k, mode, rng(seed))
    assert len(chosen) == min(k, table.height)
    assert len(set(chosen)) == len(chosen)
    assert set(chosen) <= set(table["rollout_id"])


@given(candidate_tables(), st.integers(0, 40), modes, st.integers(0, 2**16), st.randoms())
def test_select_is_deterministic_and_ignores_row_order(table, k, mode, seed, shuffler):
    first = select(table, k, mode, rng(seed))
    order = list(range(table.height))
    shuffler.shuffle(order)
    shuffled = table[order] if order else table
    assert sorted(select(shuffled, k, mode, rng(seed))) == sorted(first)
    assert select(table, k, mode, rng(seed)) == first


@given(candidate_tables(), st.integers(0, 40))
def test_score_selection_is_global_top_k(table, k):
    chosen = set(select(table, k, "score", rng(0)))
    scores = dict(zip(table["rollout_id"], table["score"]))
    rejected = set(scores) - chosen
    if chosen and rejected:
        assert min(scores[c] for c in chosen) >= max(scores[r] for r in rejected)


@given(candidate_tables(), st.integers(0, 40))
def test_per_prompt_selection_is_balanced(table, k):
    chosen = select(table, k, "per_prompt", rng(0))
    available = table.group_by("prompt_id").len().rows()
    got = {p: sum(1 for c in chosen if c.startswith(p + "/")) for p, _ in available}
    for p, n in available:
        if got[p] < n:  # p was not exhausted: nobody got more than one extra over it
            assert all(count <= got[p] + 1 for count in got.values())
    # Within a prompt, the best candidates go first.
    scores = dict(zip(table["rollout_id"], table["score"]))
    for p, _ in available:
        mine = [scores[r] for r in table.filter(pl.col("prompt_id") == p)["rollout_id"]]
        taken = sorted((scores[c] for c in chosen if c.startswith(p + "/")), reverse=True)
        assert taken == sorted(mine, reverse=True)[: len(taken)]


def test_select_hand_case():
    table = pl.DataFrame(
        {
            "rollout_id": ["a/0", "a/1", "a/2", "b/0", "b/1", "c/0"],
            "prompt_id": ["a", "a", "a", "b", "b", "c"],
            "score": [3.0, 2.0, 1.0, 0.5, 0.4, 0.1],
        }
    )
    assert select(table, 3, "score", rng(0)) == ["a/0", "a/1", "a/2"]
    assert select(table, 4, "per_prompt", rng(0)) == ["a/0", "b/0", "c/0", "a/1"]
    with pytest.raises(ValueError, match="unknown selection mode 'best'"):
        select(table, 1, "best", rng(0))


@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_candidates_are_partial_successes(verdicts):
    assert is_candidate(verdicts) == (0 < sum(verdicts) < len(verdicts))


# ---------------------------------------------------------------- config


def test_lambda_schedules_and_budget():
    cfg = HindsightConfig()
    assert cfg.lambda_t(0) == 2.0
    assert cfg.lambda_t(10) == pytest.approx(2.0 * 1.05**10)
    progress = HindsightConfig(schedule="progress", progress_horizon=40)
    assert progress.lambda_t(step=999, progress=0.5) == pytest.approx(2.0 * 1.05**20)
    with pytest.raises(ValueError, match="progress in \\[0, 1\\]"):
        progress.lambda_t(step=3)
    assert cfg.replay_budget(64) == 128  # the paper: (8 - 6) * 64
    assert HindsightConfig(k=5).replay_budget(64) == 5


def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match="lamda0"):
        HindsightConfig(lamda0=1.0)
    with pytest.raises(ValidationError, match="n_total \\(4\\) must be >= n_gen \\(6\\)"):
        HindsightConfig(n_total=4)
    with pytest.raises(KeyError, match="unknown hindsight strategy 'grpo'"):
        get_strategy("grpo")


# ---------------------------------------------------------------- the hir strategy on real prompts


@cache
def synthetic_prompts() -> pl.DataFrame:
    """Ten synthetic prompts with 1 to 6 real constraints each, all six templates possible."""
    return build_synthetic(10, 0, seed=7)


@st.composite
def scored_iterations(draw):
    """Synthetic prompts, 1-6 rollouts each with drawn verdict vectors and entropies."""
    prompts = synthetic_prompts()
    rollouts, verdicts = [], []
    for row in prompts.iter_rows(named=True):
        ids = [c["id"] for c in row["constraints"]]
        for i in range(draw(st.integers(1, 6))):
            vector = draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
            entropy = draw(st.sampled_from([0.0, 0.3, 0.7, 1.2]))
            rollouts.append(rollout_row(row["prompt_id"], i, f"answer {i}", entropy))
            verdicts.append(verdict_row(row["prompt_id"], i, ids, vector))
    return prompts, frame(rollouts, "rollouts"), frame(verdicts, "verdicts")


hir_configs = st.builds(
    HindsightConfig,
    selection=modes,
    k=st.one_of(st.none(), st.integers(0, 30)),
    seed=st.integers(0, 3),
)


@settings(max_examples=40, deadline=None)
@given(scored_iterations(), hir_configs, st.integers(0, 30))
def test_hir_replays_only_partial_successes_within_budget(iteration, cfg, step):
    prompts, rollouts, verdicts = iteration
    replays, stats = run_hindsight(prompts, rollouts, verdicts, cfg, step=step)
    conform(replays, "replays")
    vectors = dict(zip(verdicts["rollout_id"], verdicts["verdicts"].to_list()))
    candidates = [r for r, v in vectors.items() if 0 < sum(v) < len(v)]
    k = cfg.k if cfg.k is not None else 2 * prompts.height
    assert stats["n_candidates"] == len(candidates)
    assert stats["k"] == k
    assert replays.height == stats["n_replays"] == min(k, len(candidates))
    assert stats["shortfall"] == max(0, k - len(candidates))
    # Never a full success (nothing to relabel) nor a total failure (nothing satisfied).
    assert set(replays["source_rollout_id"]) <= set(candidates)
    assert replays["source_rollout_id"].n_unique() == replays.height
    # Provenance: the score and its parts.
    lambda_t = 2.0 * 1.05**step
    for row in replays.iter_rows(named=True):
        vector = vectors[row["source_rollout_id"]]
        assert row["score_cla"] == pytest.approx(sum(vector) / len(vector), rel=1e-6)
        assert row["lambda_t"] == pytest.approx(lambda_t, rel=1e-6)
        assert row["score"] == pytest.approx(
            lambda_t * row["score_cla"] + row["score_entropy"], rel=1e-5
        )
        assert row["reverified"] is None
    # Deterministic under the seed.
    again, _ = run_hindsight(prompts, rollouts, verdicts, cfg, step=step)
    assert again.equals(replays)


@settings(max_examples=40, deadline=None)
@given(scored_iterations())
def test_hir_rewrite_keeps_exactly_the_satisfied_constraints_in_order(iteration):
    prompts, rollouts, verdicts = iteration
    replays, _ = run_hindsight(prompts, rollouts, verdicts, HindsightConfig(k=100), step=0)
    vectors = dict(zip(verdicts["rollout_id"], verdicts["verdicts"].to_list()))
    prompt_rows = {row["prompt_id"]: row for row in prompts.iter_rows(named=True)}
    for replay in replays.iter_rows(named=True):
        source = prompt_rows[replay["prompt_id"]]
        original = constraints_from_row(source)
        vector = vectors[replay["source_rollout_id"]]
        kept = [c for c, passed in zip(original, vector) if passed]
        assert replay["keep_mask"] == vector
        assert replay["kept_ids"] == [c["id"] for c in kept]
        assert replay["dropped_ids"] == [c["id"] for c, p in zip(original, vector) if not p]
        assert constraints_from_row({"constraints": replay["rewritten_constraints"]}) == kept
        # Same task, same template, constraints in their original order.
        assert replay["rewritten_prompt"] == render(source["task"], kept, source["template"])
        assert replay["original_prompt"] == source["prompt"]
        assert (
            replay["response"]
            == rollouts.filter(pl.col("rollout_id") == replay["source_rollout_id"])[
                "response"
            ].item()
        )


# Constraints a drawn response passes or fails independently of each other.
CONTROLLED = [
    ("punctuation:no_comma", {}),
    ("change_case:english_lowercase", {}),
    ("keywords:existence", {"keywords": ["apple"]}),
    ("startend:end_checker", {"end_phrase": "that is all."}),
    ("length_constraints:number_words", {"num_words": 8, "relation": "at least"}),
]
WORDS = ["apple", "pear", "Zebra", "quiet", "river", "stone,", "Light", "moon"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.sampled_from(["sentences", "newline", "numbered", "dashed", "before", "lines"]),
)
def test_replayed_response_passes_its_rewritten_instruction(bodies, endings, template):
    instruction = Instruction(
        task="Describe a walk by the river.",
        constraints=tuple(make_constraint(cid, kwargs) for cid, kwargs in CONTROLLED),
        template=template,
    )
    prompts = prompts_frame(
        [instruction_row(instruction, prompt_id="p", base_task_id="b", split="train")]
    )
    responses = [
        " ".join(body) + (" that is all." if end else "") for body, end in zip(bodies, endings)
    ]
    ids = instruction.constraint_ids
    rollouts, verdicts = [], []
    for i, response in enumerate(responses):
        passed = constraints.verify(
            response, list(instruction.constraints), prompt=instruction.prompt
        )
        rollouts.append(rollout_row("p", i, response))
        verdicts.append(verdict_row("p", i, ids, passed))
    cfg = HindsightConfig(k=10, reverify=True)
    replays, stats = run_hindsight(
        prompts, frame(rollouts, "rollouts"), frame(verdicts, "verdicts"), cfg, step=0
    )
    assert stats["n_reverify_failed"] == 0
    for replay in replays.iter_rows(named=True):
        kept = constraints_from_row({"constraints": replay["rewritten_constraints"]})
        assert len(kept) == sum(replay["keep_mask"]) >= 1
        assert all(constraints.verify(replay["response"], kept, prompt=replay["rewritten_prompt"]))
        assert replay["reverified"] is True


def test_reverify_drops_a_replay_that_fails_under_the_rewritten_prompt():
    # repeat_prompt without its text in the kwargs checks against the prompt it is shown with:
    # a response that repeated the ORIGINAL prompt does not repeat the rewritten one (with the
    # dropped constraint first, the rewritten prompt is not a prefix of the original).
    instruction = Instruction(
        task="Name a colour.",
        constraints=(
            make_constraint("change_case:english_capital", {}),
            make_constraint("combination:repeat_prompt", {}),
        ),
        template="lines",
    )
    prompts = prompts_frame(
        [instruction_row(instruction, prompt_id="p", base_task_id="b", split="train")]
    )
    response = instruction.prompt + " Blue."
    passed = constraints.verify(response, list(instruction.constraints), prompt=instruction.prompt)
    assert passed == [False, True]
    rollouts = frame([rollout_row("p", 0, response)], "rollouts")
    verdicts = frame([verdict_row("p", 0, instruction.constraint_ids, passed)], "verdicts")

    kept, stats = run_hindsight(prompts, rollouts, verdicts, HindsightConfig(k=1), step=0)
    assert kept.height == 1 and stats["n_reverify_failed"] == 0
    dropped, stats = run_hindsight(
        prompts, rollouts, verdicts, HindsightConfig(k=1, reverify=True), step=0
    )
    assert dropped.height == 0
    assert stats["n_selected"] == 1 and stats["n_reverify_failed"] == 1 and stats["n_replays"] == 0


def iteration_with(vectors, template="lines"):
    """One prompt with three constraints and one rollout per verdict vector."""
    instruction = Instruction(
        task="Write.",
        constraints=tuple(make_constraint(cid, kw) for cid, kw in CONTROLLED[:3]),
        template=template,
    )
    prompts = prompts_frame(
        [instruction_row(instruction, prompt_id="p", base_task_id="b", split="train")]
    )
    rollouts = frame(
        [rollout_row("p", i, entropy=0.1 * i) for i in range(len(vectors))], "rollouts"
    )
    verdicts = frame(
        [verdict_row("p", i, instruction.constraint_ids, v) for i, v in enumerate(vectors)],
        "verdicts",
    )
    return prompts, rollouts, verdicts


def test_shortfall_and_score_order_hand_case():
    vectors = [
        [True, False, False],
        [True, True, False],
        [False, False, False],
        [True, True, True],
        [False, True, True],
    ]
    prompts, rollouts, verdicts = iteration_with(vectors)
    # K = (8 - 6) * 1 prompt = 2: scores 2*1/3+0, 2*2/3+0.1, 2*2/3+0.4 -> p/4 and p/1.
    replays, stats = run_hindsight(prompts, rollouts, verdicts, HindsightConfig(), step=0)
    assert replays["source_rollout_id"].to_list() == ["p/1", "p/4"]  # rollout order
    assert stats["shortfall"] == 0 and stats["n_candidates"] == 3
    # K = 5 with 3 candidates: all replayed, shortfall 2.
    replays, stats = run_hindsight(prompts, rollouts, verdicts, HindsightConfig(k=5), step=0)
    assert replays.height == 3 and stats["shortfall"] == 2
    # With a large lambda CLA dominates; at lambda 0 the entropy alone decides.
    flat = HindsightConfig(k=1, lambda0=0.0)
    assert run_hindsight(prompts, rollouts, verdicts, flat, step=0)[0][
        "source_rollout_id"
    ].to_list() == ["p/4"]
    # p/0: CLA 2/3, entropy 0; p/4: CLA 1/3, entropy 0.4.
    curriculum = iteration_with([[True, True, False]] + [[True, False, False]] * 4)
    picked = run_hindsight(*curriculum, HindsightConfig(k=1, lambda0=0.1), step=0)[0]
    assert picked["source_rollout_id"].to_list() == ["p/4"]  # early: diversity wins
    picked = run_hindsight(*curriculum, HindsightConfig(k=1, lambda0=0.1), step=100)[0]
    assert picked["source_rollout_id"].to_list() == ["p/0"]  # lambda grew: closeness wins


def test_verbatim_prompts_are_not_rewritten():
    prompts, rollouts, verdicts = iteration_with(
        [[True, False, False], [False, True, True]], "ifeval"
    )
    replays, stats = run_hindsight(prompts, rollouts, verdicts, HindsightConfig(), step=0)
    assert replays.height == 0
    assert stats["n_candidates"] == 0 and stats["n_verbatim_skipped"] == 2


def test_none_strategy_replays_nothing():
    prompts, rollouts, verdicts = iteration_with([[True, False, False]])
    replays, stats = run_hindsight(
        prompts, rollouts, verdicts, HindsightConfig(strategy="none"), step=3
    )
    conform(replays, "replays")
    assert replays.height == 0 and stats["n_replays"] == 0 and stats["k"] == 0
    assert math.isnan(stats["lambda_t"])


def test_malformed_inputs_name_the_row():
    prompts, rollouts, verdicts = iteration_with([[True, False, False], [False, True, True]])
    with pytest.raises(ValueError, match=r"verdicts rows without a match.*\['p/1'\]"):
        run_hindsight(prompts, rollouts.head(1), verdicts, HindsightConfig(), step=0)
    shifted = verdicts.with_columns(pl.Series("verdicts", [[True, False], [False, True, True]]))
    with pytest.raises(ValueError, match="verdict row 'p/0': 2 verdicts"):
        run_hindsight(prompts, rollouts, shifted, HindsightConfig(), step=0)
    with pytest.raises(ValueError, match="prompt 'p' is not in the prompts table"):
        run_hindsight(prompts.clear(), rollouts, verdicts, HindsightConfig(), step=0)
    nan = rollouts.with_columns(pl.Series("mean_entropy", [float("nan"), 0.1], dtype=pl.Float32))
    with pytest.raises(ValueError, match="rollout 'p/0': mean_entropy is nan"):
        run_hindsight(prompts, nan, verdicts, HindsightConfig(), step=0)
