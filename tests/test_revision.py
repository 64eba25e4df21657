"""Revision prompts and the test-time self-revision loop (hir_core.revision)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from _tiny_model import build_tiny

from hir_core import constraints
from hir_core.data import build_synthetic, constraints_from_row, instruction_row, prompts_frame
from hir_core.engines.generation import GenerationConfig, Sample, chat, make_generator
from hir_core.instructions import Instruction, make_constraint
from hir_core.revision import (
    NONE_LINE,
    revise,
    revision_prompt,
    with_sampling,
)

TEXTS = ["Do not use commas.", "Mention tea.", "Use two lines:\nline one\nline two"]


def test_revision_prompt_lists_met_and_unmet_constraints_in_order():
    prompt = revision_prompt(
        "Write about tea. Do not use commas.", "My, draft", TEXTS, [False, True, False]
    )
    lines = prompt.splitlines()
    instruction = lines.index("### Instruction")
    draft = lines.index("### Your previous response")
    met = lines.index("### Requirements it met")
    unmet = lines.index("### Requirements it did NOT meet")
    assert instruction < draft < met < unmet
    assert lines[instruction + 1] == "Write about tea. Do not use commas."
    assert lines[draft + 1] == "My, draft"
    assert lines[met + 1 : met + 2] == ["- Mention tea."]
    # Unmet in the instruction's order; a multi-line description stays inside its bullet.
    assert lines[unmet + 1 : unmet + 5] == [
        "- Do not use commas.",
        "- Use two lines:",
        "  line one",
        "  line two",
    ]
    assert "Reply with the new response only." in lines[-1]
    assert chat(prompt) == [{"role": "user", "content": prompt}]


def test_revision_prompt_marks_empty_sides_and_checks_alignment():
    all_met = revision_prompt("I", "d", TEXTS[:2], [True, True]).splitlines()
    assert all_met[all_met.index("### Requirements it did NOT meet") + 1] == NONE_LINE
    none_met = revision_prompt("I", "d", TEXTS[:2], [False, False]).splitlines()
    assert none_met[none_met.index("### Requirements it met") + 1] == NONE_LINE
    with pytest.raises(ValueError, match="2 verdicts for 3 constraints"):
        revision_prompt("I", "d", TEXTS, [True, False])


def test_with_sampling_copies_and_validates():
    model, tok = build_tiny()
    gen = make_generator(GenerationConfig(n=3, temperature=0.5), model=model, tokenizer=tok)
    clone = with_sampling(gen, n=1, temperature=0.0, max_new_tokens=5)
    assert (clone.cfg.n, clone.cfg.temperature, clone.cfg.max_new_tokens) == (1, 0.0, 5)
    assert (gen.cfg.n, gen.cfg.temperature) == (3, 0.5)  # the original is untouched
    assert clone.model is gen.model  # shares the weights
    with pytest.raises(ValueError, match="temperature"):
        with_sampling(gen, temperature=-1.0)


# ---------------------------------------------------------------- the loop, scripted stub


NO_COMMA = make_constraint("punctuation:no_comma")
TEA = make_constraint("keywords:existence", {"keywords": ["tea"]})


def two_prompts():
    rows = [
        instruction_row(
            Instruction("Write.", (NO_COMMA, TEA), "lines"),
            prompt_id=p,
            base_task_id=p,
            split="eval",
        )
        for p in ("p", "q")
    ]
    return prompts_frame(rows)


class ScriptedStubGenerator:
    """Deterministic STUB (not a model): revises a draft read from the prompt per a script."""

    def __init__(self, script):
        self.script = script
        self.cfg = GenerationConfig(n=2)
        self.seen: list[list[str]] = []

    def generate(self, prompts):
        assert self.cfg.n == 1  # revise asks for one response per prompt
        self.seen.append([messages[-1]["content"] for messages in prompts])
        out = []
        for i, messages in enumerate(prompts):
            text = messages[-1]["content"]
            draft = text.split("### Your previous response\n", 1)[1].split("\n\n### ", 1)[0]
            out.append([Sample(i, 0, self.script[draft], [1], [2], [-1.0], 0.0, "stop")])
        return out


def test_revise_rounds_with_a_scripted_stub():
    # p: "a, b" (0/2) -> "a tea, b" (1/2) -> "tea" (2/2). q: "tea" already passes: kept.
    # Verdicts by hand: [no comma, has "tea"].
    stub = ScriptedStubGenerator({"a, b": "a tea, b", "a tea, b": "tea"})
    result = revise(stub, two_prompts(), ["a, b", "tea"], rounds=3)
    table = result.table
    assert table.height == 2 * 4
    p = table.filter(pl.col("prompt_id") == "p").sort("round")
    assert p["response"].to_list() == ["a, b", "a tea, b", "tea", "tea"]
    assert p["verdicts"].to_list() == [[False, False], [False, True], [True, True], [True, True]]
    assert p["revised"].to_list() == [False, True, True, False]
    q = table.filter(pl.col("prompt_id") == "q")
    assert q["response"].to_list() == ["tea"] * 4 and not q["revised"].any()
    # Only failing responses go to the model, each with its latest draft and the ORIGINAL
    # instruction; round 3 has nothing to revise.
    assert [len(batch) for batch in stub.seen] == [1, 1]
    assert "### Your previous response\na tea, b\n" in stub.seen[1][0]
    assert p["prompt"][1] == stub.seen[0][0] and p["prompt"][0] == two_prompts()["prompt"][0]
    assert [a["ila"] for a in result.accuracy] == [0.5, 0.5, 1.0, 1.0]
    assert [a["cla"] for a in result.accuracy] == [0.5, 0.75, 1.0, 1.0]
    assert [a["revised"] for a in result.accuracy] == [0, 1, 1, 0]


def test_revise_checks_its_arguments():
    stub = ScriptedStubGenerator({})
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        revise(stub, two_prompts(), ["a", "b"], rounds=-1)
    with pytest.raises(ValueError, match="1 responses for 2 prompts"):
        revise(stub, two_prompts(), ["a"], rounds=1)
    result = revise(stub, two_prompts().clear(), [], rounds=1)
    assert result.table.height == 0 and math.isnan(result.accuracy[1]["ila"])


# ---------------------------------------------------------------- the loop, real generator


def test_revise_with_the_tiny_model():
    model, tok = build_tiny()
    prompts = build_synthetic(2, 0, seed=4)
    generator = make_generator(
        GenerationConfig(n=2, temperature=1.0, max_new_tokens=8, seed=1), model=model, tokenizer=tok
    )
    drafts = [
        s[0].response
        for s in generator.generate([[{"role": "user", "content": p}] for p in prompts["prompt"]])
    ]
    result = revise(generator, prompts, drafts, rounds=2)
    table = result.table
    assert table.height == 2 * 3
    rows = {r["prompt_id"]: r for r in prompts.iter_rows(named=True)}
    for row in table.iter_rows(named=True):
        source = rows[row["prompt_id"]]
        cons = constraints_from_row(source)
        expected = constraints.verify(row["response"], cons, prompt=source["prompt"])
        assert row["verdicts"] == expected
        assert row["ila"] == float(all(expected))
    # Accuracy per round = the mean over that round's rows (computed independently).
    means = table.group_by("round").agg(pl.col("ila").mean(), pl.col("cla").mean()).sort("round")
    assert [a["ila"] for a in result.accuracy] == pytest.approx(means["ila"].to_list())
    assert [a["cla"] for a in result.accuracy] == pytest.approx(means["cla"].to_list())
    # A revised row answers its revision prompt, which quotes the previous round's response.
    for k in (1, 2):
        for row in table.filter((pl.col("round") == k) & pl.col("revised")).iter_rows(named=True):
            before = table.filter(
                (pl.col("round") == k - 1) & (pl.col("prompt_id") == row["prompt_id"])
            )
            assert f"### Your previous response\n{before['response'][0]}\n" in row["prompt"]
    assert generator.cfg.n == 2  # revise used a copy with n = 1
