"""What holds for every verifier family alike: the registry, sampling, descriptions, blank
responses, loose mode, conflicts, and the data loaders' handling of each family's rows.

Each family's own checks are tested in its module's test file (``test_constraints.py`` for
IFEval, ``test_ifbench_*.py``, ``test_muldimif_*.py``); parity on real model output is in
``test_family_parity.py``.
"""

from __future__ import annotations

import ast
import json
import random
import re
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hir_core import constraints
from hir_core.constraints import UnknownConstraintError
from hir_core.data import (
    DataError,
    load_ifeval_jsonl,
    load_muldimif_json,
    load_verl_parquet,
    muldimif_data_path,
    synthetic_constraint_ids,
)
from tests._reference_runners import IFBENCH_DATA, REFERENCE, reference_available

ALL = constraints.ids()
SAMPLABLE = [
    cid for family in constraints.FAMILIES for cid in synthetic_constraint_ids(family=family)
]


def test_the_registry_holds_the_three_families():
    counts = {family: len(constraints.ids(family)) for family in constraints.FAMILIES}
    assert counts == {"ifeval": 25, "ifbench": 58, "muldimif": 55}
    assert len(ALL) == 25 + 58 + 55  # no id in two families
    for cid in ALL:
        assert constraints.family_of(cid) == constraints.get(cid).family
    with pytest.raises(ValueError, match="unknown verifier family 'nope'"):
        constraints.ids("nope")


@pytest.mark.skipif(reference_available() is not None, reason=str(reference_available()))
def test_family_ids_are_exactly_the_references_registries():
    # Read as data: the ids the IFBench registry declares and the keys of MulDimIF's dispatch.
    registry = (REFERENCE / "ifbench" / "instructions_registry.py").read_text()
    ifbench_ids = set(re.findall(r'^\s*"([a-z]+:[\w-]+)"\s*:', registry, re.MULTILINE))
    assert ifbench_ids == set(constraints.ids("ifbench"))
    tree = ast.parse((REFERENCE / "muldimif" / "Code" / "evaluation" / "evaluation.py").read_text())
    mapping = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "class_mapping"
    )
    keys = {key.value for key in mapping.keys}
    assert {f"muldimif:{key}" for key in keys} == set(constraints.ids("muldimif"))
    classes = {key.value: value.func.id for key, value in zip(mapping.keys, mapping.values)}
    from hir_core.constraints.muldimif import CLASS_OF_KEY

    assert CLASS_OF_KEY == classes


def test_every_ifbench_test_row_loads():
    table = load_ifeval_jsonl(
        IFBENCH_DATA if IFBENCH_DATA.exists() else _packaged_ifbench(), "ifbench"
    )
    assert table.height == 300 and table["prompt_id"][0] == "ifbench-0"
    assert set(table["split"]) == {"ifbench"}
    ids = {c["id"] for row in table["constraints"] for c in row}
    assert len(ids) == 58


def _packaged_ifbench():
    from hir_core.data import ifbench_data_path

    return ifbench_data_path()


def test_every_muldimif_test_item_loads():
    table = load_muldimif_json(muldimif_data_path())
    assert table.height == 1200 and set(table["split"]) == {"muldimif"}
    items = json.loads(muldimif_data_path().read_text())
    first = table.row(0, named=True)
    assert first["prompt_id"] == f"muldimif-{items[0]['id']}"
    assert first["prompt"] == items[0]["conversations"][-1]["content"]
    # The triples, in order, as the constraints' texts (a triple's text is its requirement).
    assert [c["text"] for c in first["constraints"]] == [t[2] for t in items[0]["constraints"]]
    used = {c["id"] for row in table["constraints"] for c in row}
    assert len(used) == 36  # the test set uses 36 of the 55 keys


@pytest.mark.parametrize("cid", SAMPLABLE)
def test_sampled_kwargs_validate_reproduce_and_describe(cid):
    ctype = constraints.get(cid)
    for seed in range(10):
        kwargs = ctype.sample_kwargs(random.Random(seed))
        assert ctype.validate(kwargs) == kwargs
        assert ctype.sample_kwargs(random.Random(seed)) == kwargs
        text = ctype.describe(kwargs, seed=seed)
        assert text.strip() and text == ctype.describe(kwargs, seed=seed)
        prompt = "Write about the sea."
        # Every sampled constraint can be decided on a real response and on a blank one.
        assert isinstance(ctype.check("The sea is wide and blue.", kwargs, prompt=prompt), bool)
        assert isinstance(ctype.check_loose("", kwargs, prompt=prompt), bool)


def test_synthetic_pools_per_family():
    pools = {f: synthetic_constraint_ids(family=f) for f in constraints.FAMILIES}
    assert len(pools["ifeval"]) == 25
    # MulDimIF samples one key per checker class: 12 classes.
    from hir_core.constraints.muldimif import CLASS_OF_KEY, SAMPLED_KEY

    assert pools["muldimif"] == sorted(f"muldimif:{key}" for key in SAMPLED_KEY.values())
    assert sorted(CLASS_OF_KEY[key] for key in SAMPLED_KEY.values()) == sorted(
        set(CLASS_OF_KEY.values())
    )
    # IFBench: every type but those whose kwargs or task come from the prompt.
    assert "ratio:overlap" not in pools["ifbench"] and "repeat:repeat_span" not in pools["ifbench"]
    assert "count:word_count_range" in pools["ifbench"]


@pytest.mark.parametrize("family", ["ifeval", "ifbench"])
def test_blank_responses_fail_ifeval_and_ifbench_types(family):
    for cid in synthetic_constraint_ids(family=family):
        ctype = constraints.get(cid)
        kwargs = ctype.sample_kwargs(random.Random(1))
        for blank in ("", "  \n\t"):
            assert not ctype.check(blank, kwargs, prompt="Write a poem.")
            assert not ctype.check_loose(blank, kwargs, prompt="Write a poem.")


def test_muldimif_scores_blank_responses_and_has_no_loose_mode():
    at_most = [
        {
            "id": "muldimif:Length_Words",
            "kwargs": {"requirement": "The response must contain no more than 150 words"},
        }
    ]
    # No blank-response rule: an empty response meets an upper bound (as the reference says).
    assert constraints.verify("", at_most) == [True]
    at_least = [
        {
            "id": "muldimif:Length_Words",
            "kwargs": {"requirement": "The response must contain at least 3 words"},
        }
    ]
    assert constraints.verify("", at_least) == [False]
    # Loose = strict: the first line is not dropped (IFEval's loose would pass this).
    keyword = [
        {
            "id": "muldimif:Content_Keywords",
            "kwargs": {"requirement": "The response must include the keyword 'ocean'"},
        }
    ]
    response = "Sure! Here is my answer about the ocean.\nThe sea is calm."
    without = "Sure! Here it is.\nThe sea is calm, no keyword."
    assert (
        constraints.verify(response, keyword, loose=True)
        == constraints.verify(response, keyword)
        == [True]
    )
    assert constraints.verify(without, keyword, loose=True) == [False]


def test_conflicts_are_symmetric_reflexive_and_never_cross_families():
    sample = ALL[::3] + ["muldimif:Length_Words", "muldimif:Words_At most", "format:emoji"]
    for a in sample:
        assert constraints.conflicts(a, a)
        for b in sample:
            assert constraints.conflicts(a, b) == constraints.conflicts(b, a)
            if constraints.family_of(a) != constraints.family_of(b):
                assert constraints.conflicts(a, b)
    # Two keys of one MulDimIF checker class, and English with Chinese, never share a prompt.
    assert constraints.conflicts("muldimif:Length_Words", "muldimif:Words_At most")
    assert constraints.conflicts("muldimif:Language_English", "muldimif:Language_Chinese")
    assert not constraints.conflicts("muldimif:Length_Words", "muldimif:Content_Keywords")
    assert not constraints.conflicts("count:numbers", "format:emoji")


def test_unknown_muldimif_key_names_it():
    with pytest.raises(UnknownConstraintError, match="muldimif:Length_Bogus"):
        constraints.get("muldimif:Length_Bogus")


def test_a_pathological_response_does_not_stall_a_muldimif_verify():
    specs = [
        {"id": f"muldimif:{key}", "kwargs": {"requirement": requirement}}
        for key, requirement in (
            ("Format_Table", "The table must have no more than 3 rows"),
            ("Format_Markdown", "Use at least two heading levels"),
            ("Format_XML", "Each XML element must have no more than three attributes"),
            ("Content_Punctuation", "Each sentence must end with a period"),
        )
    ]
    for response in ("|" * 50_000, " " * 50_000 + "!", "<a " + "b=1 " * 20_000, "#" * 50_000):
        start = time.perf_counter()
        result = constraints.verify_detailed(response, specs)
        assert time.perf_counter() - start < 5.0
        assert len(result.verdicts) == len(specs)


# ------------------------------------------------------------------------ loaders, bad rows


def _verl(tmp_path, rows, name="rows.parquet"):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _row(ground_truth, data_source="muldimif", extra=None):
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": "Explain tides."}],
        "reward_model": {"style": "rule", "ground_truth": json.dumps(ground_truth)},
        "extra_info": extra or {"question": None},
    }


TRIPLE = ["Length", "Words", "The response must contain no more than 50 words"]


def test_verl_muldimif_rows_as_json_or_struct(tmp_path):
    as_json = load_verl_parquet(_verl(tmp_path, [_row({"instruction_id_list": [TRIPLE]})]))
    struct_row = {
        **_row({}),
        "reward_model": {"style": "rule", "ground_truth": {"instruction_id_list": [TRIPLE]}},
    }
    as_struct = load_verl_parquet(_verl(tmp_path, [struct_row], "s.parquet"))
    for table in (as_json, as_struct):
        (constraint,) = table.row(0, named=True)["constraints"]
        assert constraint["id"] == "muldimif:Length_Words"
        assert json.loads(constraint["kwargs_json"]) == {"requirement": TRIPLE[2]}
    # HiR's own spelling, read off extra_info.q_type when data_source names a dataset.
    via_q_type = load_verl_parquet(
        _verl(
            tmp_path,
            [_row({"instruction_id_list": [TRIPLE]}, "hir16k", {"q_type": "type3"})],
            "q.parquet",
        )
    )
    assert via_q_type.height == 1


@pytest.mark.parametrize(
    ("ground_truth", "data_source", "message"),
    [
        (
            {"instruction_id_list": [["Length", "Words"]]},
            "muldimif",
            r"row 0: reward_model\.ground_truth: constraint 0: .*\[category, subcategory, requirement\]",
        ),
        (
            {"instruction_id_list": [["Length", "Bogus", "x"]]},
            "type3",
            r"row 0: .*unknown constraint id 'muldimif:Length_Bogus'",
        ),
        (
            {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
            "muldimif",
            r"row 0: .*must hold MulDimIF",
        ),
        (
            {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
            "ifbench",
            r"row 0: constraint 0 \('punctuation:no_comma'\) is an ifeval type, but data_source is 'ifbench'",
        ),
        (
            {
                "instruction_id_list": ["count:word_count_range"],
                "kwargs": [{"min_words": 1.5, "max_words": 9}],
            },
            "type2",
            r"row 0: constraint 0 .*min_words.*integer",
        ),
    ],
)
def test_malformed_family_rows_name_file_row_and_field(
    tmp_path, ground_truth, data_source, message
):
    path = _verl(tmp_path, [_row(ground_truth, data_source)])
    with pytest.raises(DataError, match=rf"rows\.parquet: {message}"):
        load_verl_parquet(path)


def test_malformed_muldimif_file_names_item(tmp_path):
    path = tmp_path / "md.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "7",
                    "conversations": [{"role": "user", "content": "Hi"}],
                    "constraints": [["Length", "Words"]],
                }
            ]
        )
    )
    with pytest.raises(DataError, match=r"md\.json: item 0: constraint 0"):
        load_muldimif_json(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"md\.json: not valid JSON"):
        load_muldimif_json(path)
