"""Parity with the IFEval reference scorer (eval_framework's copy of Google's code, run offline
by ``_reference_ifeval``): the 541 IFEval prompts, strict and loose, scored by both.

Responses: real SmolLM2-135M-Instruct answers (tests/fixtures/ifeval_smollm2.jsonl) and the
hand-written adversarial responses of ``_helpers_constraints`` (which also holds the
comparison, shared with ``benchmarks/verifier_parity.py``, the per-type report). Per-type
agreement is printed (``pytest -s``). Required: at least 99.5% of instruction verdicts agree,
and every disagreement belongs to an explained category:

- ``keywords:letter_frequency`` rows whose "letter" is not a letter: IFEval key 1122 asks for
  at least 4 "#" (hashtags), key 1129 for at least 6 "!". The reference silently replaces a
  non-letter by a random ASCII letter (``random.choice(string.ascii_letters)``; the harness
  seeds ``random``), so its verdict is about some other letter. This library counts the
  character the prompt asks for.

Measured on the committed SmolLM2 fixture: 833 of 834 verdicts agree, strict and loose
(99.88%); every type agrees fully except ``keywords:letter_frequency`` (32/33). The one
disagreement is key 1122: the response holds 3 "#" where 4 are required, so this library
says False; the reference checked a random letter instead and said True. Key 1129 (6 "!")
agrees by chance (the response has one "!", and the random letter also fell short). On the
adversarial responses (1,728 verdicts per mode) the only disagreements are the same two
rows' letter checks (3 per mode); every other verdict agrees.
"""

from __future__ import annotations

import pytest
from _helpers_constraints import (
    MIN_AGREEMENT,
    SMOLLM2_RESPONSES,
    Comparison,
    adversarial_pairs,
    compare,
    explained,
    rows_covering_every_type,
    smollm2_pairs,
)

from hir_core import constraints


def report(title: str, result: Comparison) -> None:
    print(f"\n{title}: per-type agreement (strict | loose)")
    for cid in constraints.ids("ifeval"):
        cells = [f"{result.agree[m, cid]}/{result.total[m, cid]}" for m in ("strict", "loose")]
        print(f"  {cid:46s} {cells[0]:>9s} | {cells[1]:>9s}")
    for mode, key, pair, response, mine, ref in result.disagreements:
        why = explained(pair) or "UNEXPLAINED"
        print(f"  {mode} key={key} {pair['id']} {pair['kwargs']} ours={mine} ref={ref}: {why}")
        print(f"    response: {response[:160]!r}")


def check(result: Comparison) -> None:
    for mode in ("strict", "loose"):
        agreed = sum(n for (m, _), n in result.agree.items() if m == mode)
        counted = sum(n for (m, _), n in result.total.items() if m == mode)
        assert agreed / counted >= MIN_AGREEMENT, (mode, agreed, counted)
    unexplained = [d for d in result.disagreements if explained(d[2]) is None]
    assert not unexplained, unexplained[:5]


@pytest.mark.skipif(not SMOLLM2_RESPONSES.exists(), reason="fixture not generated yet")
def test_parity_on_smollm2_responses_to_all_541_prompts():
    result = compare(smollm2_pairs())
    report("SmolLM2-135M-Instruct on IFEval", result)
    check(result)
    # The one documented disagreement (key 1122: 3 "#" where 4 are asked), strict and loose.
    assert [(d[0], d[1]) for d in result.disagreements] == [("strict", 1122), ("loose", 1122)]


def test_parity_on_adversarial_responses():
    rows = rows_covering_every_type()
    assert {cid for row in rows for cid in row["instruction_id_list"]} == set(
        constraints.ids("ifeval")
    )
    result = compare(adversarial_pairs())
    report("adversarial responses", result)
    check(result)
