"""Evaluation: real generation (tiny-random), real scoring, checked against the IFEval reference
scorer run on the raw IFEval rows, and IFEval's metric definitions computed by hand; IFBench and
MulDimIF metrics against their reference scorers (MulDimIF's get_score()) and by hand."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
from collections import Counter

import polars as pl
import pytest
import torch
from _reference_ifeval import constraints_of, ifeval_rows, score
from _reference_runners import (
    REFERENCE,
    REFERENCE_PYTHON,
    ifbench_reference,
    ifbench_rows,
    muldimif_items,
    require_reference,
)
from _tiny_model import build_tiny
from conftest import FIXTURES, ROOT

from hir_core.constraints import verify
from hir_core.constraints.muldimif import CLASS_OF_KEY
from hir_core.data import DataError, muldimif_data_path
from hir_core.engines.generation import TransformersGenerator, chat_prompt_ids
from hir_core.evaluation import (
    ACCURACY_KEYS,
    BREAKDOWNS,
    MULDIMIF_CATEGORY_OF_KEY,
    Response,
    benchmark_metrics,
    breakdown_rows,
    check_benchmark,
    eval_frame,
    eval_generation_config,
    eval_metrics,
    evaluate,
    ifbench_prompts,
    ifeval_prompts,
    load_benchmark,
    muldimif_metrics,
    score_response,
    score_responses,
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


# ------------------------------------------------------------------------------ IFBench, MulDimIF


def _eval_rows(records) -> pl.DataFrame:
    return eval_frame(
        [
            {
                "prompt_id": p,
                "benchmark": "muldimif",
                "prompt": "",
                "response": "",
                "constraint_ids": ids,
                "strict": s,
                "loose": s,
            }
            for p, ids, s in records
        ]
    )


def test_shipped_ifbench_and_muldimif_load_offline():
    ifbench = ifbench_prompts()
    assert ifbench.height == ifbench["prompt_id"].n_unique() == 300
    assert ifbench["prompt_id"][0] == "ifbench-0"
    # IFBench_test.jsonl: 300 rows, 344 instructions of 58 ids (shared/reference README).
    assert ifbench["constraints"].list.len().sum() == 344
    assert ifbench["constraints"].explode().struct.field("id").n_unique() == 58
    prompts, info = load_benchmark("muldimif")
    assert prompts.height == prompts["prompt_id"].n_unique() == 1200
    # 4,180 constraints (README); 300 items per level, 400 per pattern.
    assert prompts["constraints"].list.len().sum() == 4180
    assert set(info) == set(prompts["prompt_id"])
    assert Counter(v["difficulty"] for v in info.values()) == {
        f"Level {k}": 300 for k in (1, 2, 3, 4)
    }
    patterns = Counter(v["constraint_pattern"] for v in info.values())
    assert patterns == {"Listing": 400, "Incorporation": 400, "Example": 400}
    assert load_benchmark("ifbench")[1] is None


def test_unknown_benchmark_and_misplaced_prompts_file_are_clear_errors():
    with pytest.raises(
        ValueError, match=r"unknown benchmark 'ifevl'; known: heldout, ifeval, ifbench"
    ):
        load_benchmark("ifevl")
    with pytest.raises(ValueError, match="'heldout' takes no prompts file"):
        check_benchmark("heldout", "mine.jsonl")
    check_benchmark("muldimif", "mine.json")  # fine


def _reference_constraint_mapping() -> dict[str, str]:
    """The reference's ``constraint_mapping`` literal, read from its source (not imported)."""
    path = REFERENCE / "muldimif" / "Code" / "evaluation" / "evaluation.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == (
            "constraint_mapping"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("constraint_mapping not found")


def test_muldimif_category_mapping_is_the_references():
    require_reference()
    reference = _reference_constraint_mapping()
    assert MULDIMIF_CATEGORY_OF_KEY == reference
    assert set(MULDIMIF_CATEGORY_OF_KEY) == set(CLASS_OF_KEY)
    assert len(set(reference.values())) == 12
    assert {v.partition("_")[0] for v in reference.values()} == {
        "Content",
        "Format",
        "Language",
        "Length",
    }


def test_muldimif_metrics_by_hand():
    m = "muldimif:"
    table = _eval_rows(
        [
            # a: Level 1, Listing: Length_Words passes, Format_Table fails
            ("a", [m + "Length_Words", m + "Format_Table"], [True, False]),
            # b: Level 1, Example: all three pass (Words_At most -> Length_Words)
            (
                "b",
                [m + "Content_Keywords", m + "Words_At most", m + "Language_English"],
                [True, True, True],
            ),
            # c: Level 2, Listing: Content_Mention -> Content_Keywords, Format_XML
            (
                "c",
                [
                    m + "Length_Sentences",
                    m + "Format_Json",
                    m + "Content_Mention",
                    m + "Format_XML",
                ],
                [False, True, False, True],
            ),
        ]
    )
    info = {
        "a": {"difficulty": "Level 1", "constraint_pattern": "Listing"},
        "b": {"difficulty": "Level 1", "constraint_pattern": "Example"},
        "c": {"difficulty": "Level 2", "constraint_pattern": "Listing"},
    }
    got = benchmark_metrics(table, "muldimif", info)
    expected = {
        # all items: b only passes all; per-item fractions 1/2, 1, 1/2; 6 of 9 constraints
        "": (1 / 3, 2 / 3, 6 / 9),
        "level/Level 1/": (1 / 2, 3 / 4, 4 / 5),
        "level/Level 2/": (0, 1 / 2, 2 / 4),
        "pattern/Listing/": (0, 1 / 2, 3 / 6),
        "pattern/Example/": (1, 1, 1),
        # Length: a (Words, pass), b (Words_At most, pass), c (Sentences, fail)
        "category/Length/": (2 / 3, 2 / 3, 2 / 3),
        "category/Length_Words/": (1, 1, 1),
        "category/Length_Sentences/": (0, 0, 0),
        # Format: a (Table fail) | c (Json pass, XML pass)
        "category/Format/": (1 / 2, 1 / 2, 2 / 3),
        "category/Format_Table/": (0, 0, 0),
        "category/Format_Json/": (1, 1, 1),
        "category/Format_XML/": (1, 1, 1),
        # Content: b (Keywords pass) | c (Mention fail), both Content_Keywords
        "category/Content/": (1 / 2, 1 / 2, 1 / 2),
        "category/Content_Keywords/": (1 / 2, 1 / 2, 1 / 2),
        "category/Language/": (1, 1, 1),
        "category/Language_English/": (1, 1, 1),
    }
    for group, scores in expected.items():
        assert tuple(got[group + k] for k in ("overall", "macro", "micro")) == pytest.approx(
            scores
        ), group
    assert (got["level/Level 1/n_items"], got["level/Level 1/n_constraints"]) == (2, 5)
    assert (got["category/Format/n_items"], got["category/Format/n_constraints"]) == (2, 3)
    groups = {k.rsplit("/", 1)[0] + "/" for k in got if k.split("/")[0] in BREAKDOWNS}
    assert groups == set(expected) - {""}
    # The family-agnostic accuracies agree: prompt level = overall, instruction level = micro.
    assert got["prompt_level_strict_acc"] == got["prompt_level_loose_acc"] == got["overall"]
    assert got["inst_level_strict_acc"] == got["inst_level_loose_acc"] == got["micro"]
    assert list(got)[:7] == [*ACCURACY_KEYS, "overall", "macro", "micro"]
    rows = breakdown_rows(got)
    assert [r[0] for r in rows][:4] == [
        "level/Level 1",
        "level/Level 2",
        "pattern/Example",
        "pattern/Listing",
    ]
    assert [r[0] for r in rows][4:7] == [
        "category/Content",
        "category/Content_Keywords",
        "category/Format",
    ]
    assert rows[0] == ("level/Level 1", 2, 5, 0.5, 0.75, 0.8)
    # Without item info: no level or pattern groups, the rest unchanged.
    bare = muldimif_metrics(table)
    assert not any(k.startswith(("level/", "pattern/")) for k in bare)
    assert bare["category/Format/micro"] == got["category/Format/micro"]
    assert (bare["overall"], bare["macro"]) == (got["overall"], got["macro"])


def test_muldimif_metrics_refuse_another_familys_id():
    table = _eval_rows([("a", ["muldimif:Length_Words", "punctuation:no_comma"], [True, True])])
    with pytest.raises(ValueError, match="'punctuation:no_comma' is not a MulDimIF constraint id"):
        muldimif_metrics(table)
    assert "overall" not in benchmark_metrics(table, "ifeval")


# get_score() of the reference, run in the reference venv from the reference's own source: the
# assignments and functions it needs are taken out of evaluation.py with ast (the file imports
# modules that are not shipped) and executed there; nothing of it runs in this process.
_GET_SCORE = """
import ast, json, sys
from collections import defaultdict
path = sys.argv[1]
tree = ast.parse(open(path, encoding="utf-8").read())
wanted = {"constraint_mapping", "map_constraint", "get_score"}
body = [
    node for node in tree.body
    if (isinstance(node, ast.FunctionDef) and node.name in wanted)
    or (isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in wanted)
]
namespace = {"defaultdict": defaultdict}
exec(compile(ast.Module(body, []), path, "exec"), namespace)
json.dump(namespace["get_score"](json.load(sys.stdin)), sys.stdout)
"""


def _reference_get_score(items: list[dict]) -> dict:
    path = REFERENCE / "muldimif" / "Code" / "evaluation" / "evaluation.py"
    done = subprocess.run(
        [str(REFERENCE_PYTHON), "-c", _GET_SCORE, str(path)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def _fraction(text: str) -> float:
    """The value of a reference score string ``"passed/total=value"``."""
    return float(text.rpartition("=")[2])


def _recorded(name: str, field: str) -> dict[str, dict]:
    rows = map(json.loads, (FIXTURES / f"{name}_smollm2.jsonl").read_text().splitlines())
    return {f"{name}-{r[field]}": r for r in rows if r.get("mode", "greedy") == "greedy"}


def test_muldimif_metrics_agree_with_reference_get_score():
    """All 1,200 items, with this project's verdicts of the recorded SmolLM2 answers: every
    number the reference's get_score() reports equals ours."""
    require_reference()
    prompts, info = load_benchmark("muldimif")
    recorded = _recorded("muldimif", "id")
    responses = [[Response(recorded[p]["response"], 1, "stop")] for p in prompts["prompt_id"]]
    table, metrics = score_responses(prompts, responses, "muldimif", info)
    raw = {f"muldimif-{item['id']}": item for item in muldimif_items()}
    items = [
        {
            "constraints": raw[row["prompt_id"]]["constraints"],
            "judges": [int(v) for v in row["strict"]],
            "constraint_pattern": raw[row["prompt_id"]]["constraint_pattern"],
            "difficulty": raw[row["prompt_id"]]["difficulty"],
        }
        for row in table.iter_rows(named=True)
    ]
    score = _reference_get_score(items)
    assert metrics["overall"] == pytest.approx(_fraction(score["Overall"]))
    reported = [
        ("constraint_pattern_list", "pattern/{}/overall"),
        ("constraint_difficulty_list", "level/{}/overall"),
        ("constraint_category_list", "category/{}/overall"),
        ("constraint_category_second_list", "category/{}/micro"),
    ]
    for field, key in reported:
        assert len(score[field]) > 2, field
        for name, value in score[field].items():
            assert metrics[key.format(name)] == pytest.approx(_fraction(value)), (field, name)
    # the counts behind them too: "passed/total"
    for name, value in score["constraint_category_second_list"].items():
        total = int(value.partition("=")[0].rpartition("/")[2])
        assert metrics[f"category/{name}/n_constraints"] == total
    assert 0 < metrics["overall"] < metrics["macro"] < 1  # not degenerate


IFBENCH_KEYS = ["0", "6", "42", "126", "130", "190", "200", "299"]


def test_ifbench_metrics_of_recorded_answers_match_reference():
    """Eight recorded SmolLM2 answers (some pass, some differ strict/loose): verdicts equal the
    reference scorer's, metrics follow IFEval's definitions on those verdicts."""
    require_reference()
    ids = [f"ifbench-{k}" for k in IFBENCH_KEYS]
    prompts = ifbench_prompts().filter(pl.col("prompt_id").is_in(ids))
    recorded = _recorded("ifbench", "key")
    responses = [[Response(recorded[p]["response"], 5, "length")] for p in prompts["prompt_id"]]
    table, metrics = score_responses(prompts, responses, "ifbench")
    rows = {str(r["key"]): r for r in ifbench_rows()}
    reference = ifbench_reference(
        [rows[p.removeprefix("ifbench-")] for p in prompts["prompt_id"]],
        [g[0].text for g in responses],
    )
    strict = [r["strict"] for r in reference]
    loose = [r["loose"] for r in reference]
    assert table["strict"].to_list() == strict
    assert table["loose"].to_list() == loose
    assert table["constraint_ids"].to_list() == [r["ids"] for r in reference]
    flat_s = [v for verdicts in strict for v in verdicts]
    flat_l = [v for verdicts in loose for v in verdicts]
    assert metrics["prompt_level_strict_acc"] == pytest.approx(sum(map(all, strict)) / 8)
    assert metrics["prompt_level_loose_acc"] == pytest.approx(sum(map(all, loose)) / 8)
    assert metrics["inst_level_strict_acc"] == pytest.approx(sum(flat_s) / len(flat_s))
    assert metrics["inst_level_loose_acc"] == pytest.approx(sum(flat_l) / len(flat_l))
    per_type: dict[str, list[bool]] = {}
    for r in reference:
        for cid, verdict in zip(r["ids"], r["loose"]):
            per_type.setdefault(cid, []).append(verdict)
    for cid, verdicts in per_type.items():
        assert metrics[f"type/{cid}/loose"] == pytest.approx(sum(verdicts) / len(verdicts))
        assert metrics[f"count/{cid}"] == len(verdicts)
    assert metrics["prompt_level_strict_acc"] < metrics["prompt_level_loose_acc"]
    assert (metrics["length_limit_fraction"], metrics["mean_response_tokens"]) == (1.0, 5.0)
    assert not any(k in metrics for k in ("overall", "macro", "micro"))


def test_ifbench_metrics_small_table_by_hand():
    table = eval_frame(
        [
            {
                "prompt_id": p,
                "benchmark": "ifbench",
                "prompt": "",
                "response": "",
                "constraint_ids": ids,
                "strict": s,
                "loose": loose,
            }
            for p, ids, s, loose in [
                ("k1", ["count:numbers", "format:emoji"], [True, False], [True, True]),
                ("k2", ["format:emoji"], [False], [False]),
                ("k3", ["count:numbers", "words:vowel"], [True, True], [True, True]),
            ]
        ]
    )
    m = benchmark_metrics(table, "ifbench")
    # prompt level: k3 strictly; k1, k3 loosely. Instruction level: 3/5 and 4/5.
    assert [m[k] for k in ACCURACY_KEYS] == pytest.approx([1 / 3, 3 / 5, 2 / 3, 4 / 5])
    assert (m["type/format:emoji/strict"], m["type/format:emoji/loose"]) == (0.0, 0.5)
    assert (m["count/format:emoji"], m["count/count:numbers"], m["count/words:vowel"]) == (2, 2, 1)


def test_muldimif_end_to_end_on_the_tiny_model(tiny):
    model, tok = tiny
    prompts, info = load_benchmark("muldimif")
    prompts = prompts.head(4)
    cfg = eval_generation_config(max_new_tokens=8, batch_size=4)
    table, metrics = evaluate(TransformersGenerator(model, tok, cfg), prompts, "muldimif", info)
    assert table["prompt_id"].to_list() == prompts["prompt_id"].to_list()
    assert (table["benchmark"] == "muldimif").all()
    assert table["loose"].to_list() == table["strict"].to_list()  # no loose mode
    for row, prompt in zip(table.iter_rows(named=True), prompts.iter_rows(named=True)):
        constraints = [
            {"id": c["id"], "kwargs": json.loads(c["kwargs_json"])} for c in prompt["constraints"]
        ]
        assert row["strict"] == verify(row["response"], constraints)
    assert metrics["overall"] == metrics["prompt_level_strict_acc"]
    levels = Counter(info[p]["difficulty"] for p in prompts["prompt_id"])
    assert {lv: metrics[f"level/{lv}/n_items"] for lv in levels} == levels
    assert (metrics["length_limit_fraction"], metrics["checker_errors"]) == (1.0, 0.0)


def test_user_files_for_ifbench_and_muldimif(tmp_path):
    good = {
        "key": 7,
        "prompt": "Use between 1 and 5 words.",
        "instruction_id_list": ["count:word_count_range"],
        "kwargs": [{"min_words": 1, "max_words": 5}],
    }
    bad = {**good, "key": 8, "instruction_id_list": ["format:emoji"], "kwargs": [{"bogus": 1}]}
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(good) + "\n")
    prompts, info = load_benchmark("ifbench", path)
    assert (prompts["prompt_id"].to_list(), info) == (["ifbench-7"], None)
    assert score_response(prompts.row(0, named=True), "Just three words", "ifbench")[0][
        "strict"
    ] == [True]
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"mine\.jsonl: line 2: .*format:emoji.*'bogus'"):
        load_benchmark("ifbench", path)

    items = json.loads(muldimif_data_path().read_text(encoding="utf-8"))[:2]
    del items[1]["difficulty"]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(items))
    prompts, info = load_benchmark("muldimif", path)
    assert prompts["prompt_id"].to_list() == [f"muldimif-{it['id']}" for it in items]
    assert info[prompts["prompt_id"][1]] == {"difficulty": "", "constraint_pattern": "Listing"}
    items[1]["constraints"][0] = ["Length", "Words"]
    path.write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"mine\.json: item 1: constraint 0: .*\[category"):
        load_benchmark("muldimif", path)


def _family_baselines():
    spec = importlib.util.spec_from_file_location(
        "family_baselines", ROOT / "benchmarks" / "family_baselines.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_family_baselines_score_the_recorded_answers(tmp_path):
    reports = _family_baselines().main(["--limit", "6", "--out", str(tmp_path)])
    for benchmark, field in (("ifbench", "key"), ("muldimif", "id")):
        table = read_table(tmp_path / f"{benchmark}_smollm2-135m-instruct.parquet", "eval")
        prompts, info = load_benchmark(benchmark)
        prompts = prompts.head(6)
        recorded = _recorded(benchmark, field)
        assert table["response"].to_list() == [
            recorded[p]["response"] for p in prompts["prompt_id"]
        ]
        # Same verdicts and metrics as hir eval's scoring of those responses.
        rows = [
            score_response(r, recorded[r["prompt_id"]]["response"], benchmark)[0]
            for r in prompts.iter_rows(named=True)
        ]
        assert table["strict"].to_list() == [r["strict"] for r in rows]
        report = json.loads((tmp_path / f"{benchmark}_smollm2-135m-instruct.json").read_text())
        expected = benchmark_metrics(eval_frame(rows), benchmark, info)
        assert {k: report["metrics"][k] for k in expected} == pytest.approx(expected)
        at_limit = sum(recorded[p]["finish_reason"] == "length" for p in prompts["prompt_id"])
        assert report["metrics"]["length_limit_fraction"] == pytest.approx(at_limit / 6)
        assert (
            report["settings"]["max_new_tokens"] == 512 and "H200" in report["settings"]["machine"]
        )
        assert reports[benchmark]["metrics"] == report["metrics"]
        md = (tmp_path / f"{benchmark}_smollm2-135m-instruct.md").read_text()
        assert "hit the 512-token limit" in md
    headline = (tmp_path / "baselines_smollm2-135m-instruct.md").read_text()
    assert [line.split("|")[1].strip() for line in headline.splitlines()[2:]] == [
        "ifeval",
        "ifbench",
        "muldimif",
    ]


def test_family_baselines_generate_on_the_tiny_model(tmp_path):
    args = ["--generate", "--model", "tiny-random", "--limit", "4", "--max-new-tokens", "8"]
    args += ["--device", "cpu", "--no-bf16", "--batch-size", "4", "--out", str(tmp_path)]
    reports = _family_baselines().main(args)
    for benchmark in ("ifbench", "muldimif"):
        table = read_table(tmp_path / f"{benchmark}_tiny-random.parquet", "eval")
        assert table.height == 4 and (table["benchmark"] == benchmark).all()
        m = reports[benchmark]["metrics"]
        assert (m["length_limit_fraction"], m["mean_response_tokens"]) == (1.0, 8.0)
        assert reports[benchmark]["settings"]["generator"].startswith("hir_core")
        assert reports[benchmark]["generation_seconds"] > 0
    assert "macro" in reports["muldimif"]["metrics"]
