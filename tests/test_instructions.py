"""hir_core.instructions: templates, Instruction, rewrite, make_constraint."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hir_core.instructions import (
    RULES_HEADER,
    TEMPLATES,
    VERBATIM,
    Instruction,
    make_constraint,
    render,
    rewrite,
)

TASK = "Explain how tides work."
A = {"id": "punctuation:no_comma", "kwargs": {}, "text": "Do not use any commas."}
B = {"id": "change_case:english_lowercase", "kwargs": {}, "text": "Write only in lowercase."}
C = {
    "id": "length_constraints:number_words",
    "kwargs": {"num_words": 50, "relation": "less than"},
    "text": "Answer with less than 50 words.",
}

EXPECTED = {
    "sentences": "Explain how tides work. Do not use any commas. Write only in lowercase.",
    "newline": "Explain how tides work.\nDo not use any commas. Write only in lowercase.",
    "numbered": (
        "Explain how tides work.\n"
        "The output must follow the following rules:\n"
        "1. Do not use any commas.\n"
        "2. Write only in lowercase."
    ),
    "dashed": "Explain how tides work.\n- Do not use any commas.\n- Write only in lowercase.",
    "before": "Do not use any commas. Write only in lowercase.\nExplain how tides work.",
    "lines": "Explain how tides work.\nDo not use any commas.\nWrite only in lowercase.",
}


def test_six_templates_named():
    assert TEMPLATES == ("sentences", "newline", "numbered", "dashed", "before", "lines")
    assert RULES_HEADER == "The output must follow the following rules:"


@pytest.mark.parametrize("template", TEMPLATES)
def test_render_exact_strings(template):
    assert render(TASK, [A, B], template) == EXPECTED[template]


@pytest.mark.parametrize("template", TEMPLATES)
def test_render_without_constraints_is_the_task(template):
    assert render(TASK, [], template) == TASK


def test_render_numbered_counts_from_one_in_order():
    assert render(TASK, [C, A, B], "numbered").splitlines()[2:] == [
        "1. Answer with less than 50 words.",
        "2. Do not use any commas.",
        "3. Write only in lowercase.",
    ]


def test_render_verbatim_returns_task_unchanged():
    prompt = "Write a poem. Do not use commas."
    assert render(prompt, [A], VERBATIM) == prompt


def test_render_unknown_template_is_an_error():
    with pytest.raises(ValueError, match="unknown template 'bullets'"):
        render(TASK, [A], "bullets")


def test_instruction_prompt_and_ids():
    instruction = Instruction(TASK, (A, B), "dashed")
    assert instruction.prompt == EXPECTED["dashed"]
    assert instruction.constraint_ids == [A["id"], B["id"]]


def test_instruction_rejects_constraint_without_text():
    with pytest.raises(ValueError, match=r"constraint 1 lacks keys \['text'\]"):
        Instruction(TASK, (A, {"id": "x", "kwargs": {}}), "lines")


def test_rewrite_keeps_chosen_constraints_in_order_same_template():
    original = Instruction(TASK, (A, B, C), "numbered")
    kept = rewrite(original, [True, False, True])
    assert kept.constraints == (A, C)
    assert kept.task == TASK and kept.template == "numbered"
    assert kept.prompt == (
        "Explain how tides work.\n"
        "The output must follow the following rules:\n"
        "1. Do not use any commas.\n"
        "2. Answer with less than 50 words."
    )


def test_rewrite_mask_length_must_match():
    with pytest.raises(ValueError, match="keep_mask has 2 entries for 3 constraints"):
        rewrite(Instruction(TASK, (A, B, C), "lines"), [True, False])


def test_rewrite_verbatim_cannot_drop_but_can_keep_all():
    verbatim = Instruction("Write a poem. Do not use commas.", (A,), VERBATIM)
    assert not verbatim.separable
    assert rewrite(verbatim, [True]) == verbatim
    with pytest.raises(ValueError, match="verbatim"):
        rewrite(verbatim, [False])


_constraints = st.lists(
    st.builds(
        lambda i, text: {"id": f"family:c{i}", "kwargs": {"n": i}, "text": text},
        st.integers(0, 50),
        st.text(min_size=1, max_size=20),
    ),
    max_size=6,
)
_instructions = st.builds(
    Instruction,
    st.text(min_size=1, max_size=40),
    _constraints.map(tuple),
    st.sampled_from(TEMPLATES),
)


@given(_instructions)
def test_rewrite_keep_all_is_identity(instruction):
    same = rewrite(instruction, [True] * len(instruction.constraints))
    assert same == instruction
    assert same.prompt == instruction.prompt


@given(_instructions, st.data())
def test_rewrite_composes(instruction, data):
    n = len(instruction.constraints)
    first = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    once = rewrite(instruction, first)
    second = data.draw(st.lists(st.booleans(), min_size=sum(first), max_size=sum(first)))
    twice = rewrite(once, second)
    # independent reference: position i survives iff kept by the first mask and then by
    # the second mask at its rank among the first mask's survivors
    ranks = iter(second)
    combined = [keep and next(ranks) for keep in first]
    assert twice == rewrite(instruction, combined)
    assert twice.constraints == tuple(c for c, k in zip(instruction.constraints, combined) if k)
    assert twice.prompt == render(instruction.task, twice.constraints, instruction.template)


def test_make_constraint_validates_and_describes():
    from hir_core import constraints as registry

    kwargs = {"num_words": 50, "relation": "at least"}
    made = make_constraint("length_constraints:number_words", kwargs, seed=3)
    ctype = registry.get("length_constraints:number_words")
    assert made == {
        "id": "length_constraints:number_words",
        "kwargs": ctype.validate(kwargs),
        "text": ctype.describe(kwargs, seed=3),
    }
    assert "50" in made["text"]
    texts = {make_constraint("punctuation:no_comma", {}, seed=s)["text"] for s in range(10)}
    assert len(texts) > 1  # the seed picks among several phrasings
    assert make_constraint("punctuation:no_comma", None) == make_constraint(
        "punctuation:no_comma", {}
    )


def test_make_constraint_rejects_unknown_id_and_bad_kwargs():
    with pytest.raises(KeyError, match="unknown constraint id 'no:such'"):
        make_constraint("no:such", {})
    with pytest.raises(ValueError, match="num_words"):
        make_constraint(
            "length_constraints:number_words", {"num_words": "many", "relation": "at least"}
        )
