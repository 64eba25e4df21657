"""Parity with the IFEval reference scorer (eval_framework's copy of Google's code, run offline
by ``_reference_ifeval``): the 541 IFEval prompts, strict and loose, scored by both.

Responses: real SmolLM2-135M-Instruct answers (tests/fixtures/ifeval_smollm2.jsonl) and the
hand-written adversarial responses of ``_helpers_constraints``. Per-type agreement is printed
(``pytest -s``). Required: at least 99.5% of instruction verdicts agree, and every
disagreement belongs to an explained category:

- ``keywords:letter_frequency`` rows whose "letter" is not a letter: IFEval key 1122 asks for
  at least 4 "#" (hashtags), key 1129 for at least 6 "!". The reference silently replaces a
  non-letter by a random ASCII letter (``random.choice(string.ascii_letters)``; the harness
  seeds ``random``), so its verdict is about some other letter. This library counts the
  character the prompt asks for.

Measured on the committed SmolLM2 fixture: 833 of 834 verdicts agree, strict and loose
(99.9%); every type agrees fully except ``keywords:letter_frequency`` (32/33). The one
disagreement is key 1122: the response holds 3 "#" where 4 are required, so this library
says False; the reference checked a random letter instead and said True. Key 1129 (6 "!")
agrees by chance (the response has one "!", and the random letter also fell short). On the
adversarial responses every other verdict agrees.
"""

from __future__ import annotations

import collections
import json
import string

import _reference_ifeval as reference
import pytest
from _helpers_constraints import ADVERSARIAL_RESPONSES
from conftest import FIXTURES

from hir_core import constraints

SMOLLM2_RESPONSES = FIXTURES / "ifeval_smollm2.jsonl"
MIN_AGREEMENT = 0.995


def explained(constraint: dict) -> str | None:
    """Why this constraint may legitimately disagree with the reference (None: it may not)."""
    if constraint["id"] == "keywords:letter_frequency":
        letter = constraint["kwargs"]["letter"]
        if letter not in string.ascii_letters:
            return f"reference replaces the non-letter {letter!r} by a random letter"
    return None


def compare(
    scored: list[tuple[dict, str]],
) -> tuple[collections.Counter, collections.Counter, list]:
    """Score (IFEval row, response) pairs with both scorers, strict and loose.

    Returns agreements and totals per (mode, id), and the disagreements."""
    agree, total, disagreements = collections.Counter(), collections.Counter(), []
    for row, response in scored:
        pairs = reference.constraints_of(row)
        for loose in (False, True):
            mode = "loose" if loose else "strict"
            ours = constraints.verify_detailed(response, pairs, prompt=row["prompt"], loose=loose)
            assert not any(ours.errors), ours.errors
            theirs = reference.score(row["prompt"], response, pairs, loose=loose)
            for pair, mine, ref in zip(pairs, ours.verdicts, theirs, strict=True):
                total[mode, pair["id"]] += 1
                agree[mode, pair["id"]] += mine == ref
                if mine != ref:
                    disagreements.append((mode, row["key"], pair, response, mine, ref))
    return agree, total, disagreements


def report(title: str, agree, total, disagreements) -> None:
    print(f"\n{title}: per-type agreement (strict | loose)")
    for cid in constraints.ids():
        cells = [f"{agree[m, cid]}/{total[m, cid]}" for m in ("strict", "loose")]
        print(f"  {cid:46s} {cells[0]:>9s} | {cells[1]:>9s}")
    for mode, key, pair, response, mine, ref in disagreements:
        why = explained(pair) or "UNEXPLAINED"
        print(f"  {mode} key={key} {pair['id']} {pair['kwargs']} ours={mine} ref={ref}: {why}")
        print(f"    response: {response[:160]!r}")


def check(agree, total, disagreements) -> None:
    for mode in ("strict", "loose"):
        agreed = sum(n for (m, _), n in agree.items() if m == mode)
        counted = sum(n for (m, _), n in total.items() if m == mode)
        assert agreed / counted >= MIN_AGREEMENT, (mode, agreed, counted)
    unexplained = [d for d in disagreements if explained(d[2]) is None]
    assert not unexplained, unexplained[:5]


@pytest.mark.skipif(not SMOLLM2_RESPONSES.exists(), reason="fixture not generated yet")
def test_parity_on_smollm2_responses_to_all_541_prompts():
    responses = {}
    with SMOLLM2_RESPONSES.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            responses[record["key"]] = record["response"]
    rows = reference.ifeval_rows()
    assert set(responses) == {row["key"] for row in rows}
    result = compare([(row, responses[row["key"]]) for row in rows])
    report("SmolLM2-135M-Instruct on IFEval", *result)
    check(*result)


def _rows_covering_every_type(per_type: int = 2) -> list[dict]:
    """The first ``per_type`` IFEval rows holding each type (plus the letter rows with "!")."""
    chosen, seen = {}, collections.Counter()
    for row in reference.ifeval_rows():
        wanted = any(seen[cid] < per_type for cid in row["instruction_id_list"])
        odd_letter = any(explained(c) for c in reference.constraints_of(row))
        if wanted or odd_letter:
            chosen[row["key"]] = row
            seen.update(row["instruction_id_list"])
    return list(chosen.values())


def test_parity_on_adversarial_responses():
    rows = _rows_covering_every_type()
    assert {cid for row in rows for cid in row["instruction_id_list"]} == set(constraints.ids())
    scored = [(row, response) for row in rows for response in ADVERSARIAL_RESPONSES]
    scored += [(row, row["prompt"] + "\n\n" + ADVERSARIAL_RESPONSES[2]) for row in rows]
    result = compare(scored)
    report("adversarial responses", *result)
    check(*result)
