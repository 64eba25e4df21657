"""Evaluation: real generation (tiny-random), real scoring, checked against the IFEval reference
scorer run on the raw IFEval rows, and IFEval's metric definitions computed by hand."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from _reference_ifeval import constraints_of, ifeval_rows, score
from _tiny_model import build_tiny
from conftest import FIXTURES

from hir_core.data import DataError
from hir_core.engines.generation import TransformersGenerator, chat_prompt_ids
from hir_core.evaluation import (
    eval_frame,
    eval_generation_config,
    eval_metrics,
    evaluate,
    ifeval_prompts,
    score_response,
)
from hir_core.storage import read_table, write_table

# A handful of IFEval prompts with varied types, repeat_prompt (prompt-dependent) included.
KEYS = [1000, 1001, 1005, 1012, 1019, 1040, 1069, 1072]
# Recorded SmolLM2 answers (tests/fixtures) where strict and loose verdicts differ.
LOOSE_KEYS = [1094, 1174, 1601, 2284, 3345]
MAX_NEW = 16


@pytest.fixture(scope="module")
def raw_rows() -> dict[int, dict]:
    return {row["key"]: row for row in ifeval_rows()}


@pytest.fixture(scope="module")
def prompts() -> pl.DataFrame:
    table = ifeval_prompts()
    ids = [f"ifeval-{k}" for k in KEYS]
    # Not in length order, so evaluate's batching by length must restore the order.
    return table.filter(pl.col("prompt_id").is_in(ids)).sort("prompt_id", descending=True)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


@pytest.fixture(scope="module")
def greedy_run(tiny, prompts):
    model, tok = tiny
    cfg = eval_generation_config(max_new_tokens=MAX_NEW, batch_size=3)
    return evaluate(TransformersGenerator(model, tok, cfg), prompts, "ifeval")


def _greedy(model, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy decoding the slow way: one unpadded, cacheless forward pass per token."""
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt_ids) :]


def test_all_541_ifeval_prompts_load():
    table = ifeval_prompts()
    assert table.height == 541
    assert table["prompt_id"].n_unique() == 541
    assert table["constraints"].list.len().sum() == sum(
        len(r["instruction_id_list"]) for r in ifeval_rows()
    )


def test_greedy_responses_in_prompt_order(tiny, prompts, greedy_run):
    model, tok = tiny
    table, _ = greedy_run
    assert table["prompt_id"].to_list() == prompts["prompt_id"].to_list()
    assert (table["benchmark"] == "ifeval").all()
    for prompt, response in zip(prompts["prompt"], table["response"]):
        ids = chat_prompt_ids(tok, [[{"role": "user", "content": prompt}]])[0]
        assert response == tok.decode(_greedy(model, ids, MAX_NEW), skip_special_tokens=True)


def test_verdicts_match_reference_scorer(raw_rows, greedy_run):
    table, metrics = greedy_run
    for row in table.iter_rows(named=True):
        raw = raw_rows[int(row["prompt_id"].removeprefix("ifeval-"))]
        constraints = constraints_of(raw)
        assert row["constraint_ids"] == raw["instruction_id_list"]
        assert row["strict"] == score(raw["prompt"], row["response"], constraints)
        assert row["loose"] == score(raw["prompt"], row["response"], constraints, loose=True)
    assert metrics["checker_errors"] == 0
    # max_new_tokens=16: the random model never emits its end token that early.
    assert metrics["length_limit_fraction"] == 1.0
    assert metrics["mean_response_tokens"] == MAX_NEW


def test_loose_scoring_of_recorded_answers_matches_reference(raw_rows):
    """Real SmolLM2 answers where strict and loose differ (random text never exercises it)."""
    prompts = ifeval_prompts().filter(
        pl.col("prompt_id").is_in([f"ifeval-{k}" for k in LOOSE_KEYS])
    )
    answers = {
        r["key"]: r["response"]
        for r in map(json.loads, (FIXTURES / "ifeval_smollm2.jsonl").read_text().splitlines())
    }
    differ = 0
    for row in prompts.iter_rows(named=True):
        key = int(row["prompt_id"].removeprefix("ifeval-"))
        record, errors = score_response(row, answers[key], "ifeval")
        raw = raw_rows[key]
        strict = score(raw["prompt"], answers[key], constraints_of(raw))
        loose = score(raw["prompt"], answers[key], constraints_of(raw), loose=True)
        assert (record["strict"], record["loose"], errors) == (strict, loose, 0)
        differ += strict != loose
    assert differ == len(LOOSE_KEYS)


def test_metrics_of_real_run_follow_ifeval_definitions(greedy_run):
    table, metrics = greedy_run
    rows = table.to_dicts()
    for kind in ("strict", "loose"):
        verdicts = [v for r in rows for v in r[kind]]
        assert metrics[f"prompt_level_{kind}_acc"] == pytest.approx(
            sum(all(r[kind]) for r in rows) / len(rows)
        )
        assert metrics[f"inst_level_{kind}_acc"] == pytest.approx(sum(verdicts) / len(verdicts))
    # The run is not degenerate: some constraints pass and some fail.
    assert 0 < metrics["inst_level_strict_acc"] < 1


def test_metric_arithmetic_by_hand():
    records = [
        # prompt a: 2 constraints, both pass strictly
        ("a", ["x:one", "y:two"], [True, True], [True, True]),
        # prompt b: 3 constraints, 1 strict pass, all pass loosely
        ("b", ["x:one", "y:two", "z:three"], [False, True, False], [True, True, True]),
        # prompt c: 1 constraint, fails both ways
        ("c", ["x:one"], [False], [False]),
    ]
    table = eval_frame(
        [
            {
                "prompt_id": p,
                "benchmark": "hand",
                "prompt": "",
                "response": "",
                "constraint_ids": ids,
                "strict": s,
                "loose": loose,
            }
            for p, ids, s, loose in records
        ]
    )
    m = eval_metrics(table)
    # prompt level: a passes strictly; a and b loosely. instruction level: 3/6 and 5/6.
    assert m["prompt_level_strict_acc"] == pytest.approx(1 / 3)
    assert m["prompt_level_loose_acc"] == pytest.approx(2 / 3)
    assert m["inst_level_strict_acc"] == pytest.approx(3 / 6)
    assert m["inst_level_loose_acc"] == pytest.approx(5 / 6)
    # x:one occurs in a (pass), b (strict fail, loose pass), c (fail).
    assert m["type/x:one/strict"] == pytest.approx(1 / 3)
    assert m["type/x:one/loose"] == pytest.approx(2 / 3)
    assert m["type/y:two/strict"] == m["type/y:two/loose"] == 1.0
    assert (m["type/z:three/strict"], m["type/z:three/loose"]) == (0.0, 1.0)
    assert (m["count/x:one"], m["count/y:two"], m["count/z:three"]) == (3, 2, 1)
    assert (m["n_responses"], m["n_instructions"]) == (3, 6)


def test_metrics_refuse_a_dropped_verdict():
    table = eval_frame(
        [
            {
                "prompt_id": "p7",
                "benchmark": "b",
                "prompt": "",
                "response": "",
                "constraint_ids": ["x:one", "y:two"],
                "strict": [True],
                "loose": [True, True],
            }
        ]
    )
    with pytest.raises(ValueError, match="'p7' has 2 constraint ids, 1 strict"):
        eval_metrics(table)


def test_eval_table_round_trips_through_storage(tmp_path, greedy_run):
    table, metrics = greedy_run
    path = tmp_path / "eval.parquet"
    write_table(table, path, "eval")
    assert eval_metrics(read_table(path, "eval")) == {
        k: v
        for k, v in metrics.items()
        if k not in ("length_limit_fraction", "mean_response_tokens", "checker_errors")
    }


def test_samples_give_one_row_each_in_sample_order(tiny, prompts):
    model, tok = tiny
    cfg = eval_generation_config(temperature=1.0, samples=2, max_new_tokens=8, batch_size=4)
    table, metrics = evaluate(TransformersGenerator(model, tok, cfg), prompts.head(3), "ifeval")
    assert table["prompt_id"].to_list() == [p for p in prompts["prompt_id"][:3] for _ in (0, 1)]
    assert metrics["n_responses"] == 6
    # Sampling at temperature 1 from a random model: the two samples differ.
    responses = table["response"].to_list()
    assert any(responses[i] != responses[i + 1] for i in range(0, 6, 2))


def test_eval_generation_config_keeps_base_settings():
    from hir_core.engines.generation import GenerationConfig

    base = GenerationConfig(n=6, temperature=1.0, batch_size=7, seed=3, stop=["END"])
    cfg = eval_generation_config(base, max_new_tokens=64)
    assert (cfg.n, cfg.temperature, cfg.max_new_tokens) == (1, 0.0, 64)
    assert (cfg.batch_size, cfg.seed, cfg.stop) == (7, 3, ["END"])
    assert eval_generation_config().max_new_tokens == 1024


LOWER_SHORT = "this is a short answer written in plain english words. "


def test_user_jsonl_in_ifeval_format(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {
            "key": 1,
            "prompt": "Say hi without commas.",
            "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}],
        },
        {
            "key": 2,
            "prompt": "Answer in lowercase, in fewer than 12 words.",
            "instruction_id_list": [
                "change_case:english_lowercase",
                "length_constraints:number_words",
            ],
            "kwargs": [{}, {"num_words": 12, "relation": "less than"}],
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    table = ifeval_prompts(path)
    assert table["prompt_id"].to_list() == ["ifeval-1", "ifeval-2"]
    record, _ = score_response(table.row(1, named=True), LOWER_SHORT, "mine")
    assert record["strict"] == [True, True]
    record, _ = score_response(table.row(1, named=True), LOWER_SHORT.title() * 2, "mine")
    assert record["strict"] == [False, False]

    rows[1]["instruction_id_list"][1] = "length_constraints:no_such_type"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"mine.jsonl: line 2: .*no_such_type"):
        ifeval_prompts(path)


def test_evaluate_refuses_a_table_without_prompts(tiny):
    model, tok = tiny
    gen = TransformersGenerator(model, tok, eval_generation_config(max_new_tokens=4))
    with pytest.raises(ValueError, match=r"lack columns \['constraints'\]"):
        evaluate(gen, pl.DataFrame({"prompt_id": ["a"], "prompt": ["hi"]}), "x")
