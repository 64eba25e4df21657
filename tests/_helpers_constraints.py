"""Hand-written adversarial responses for the constraint verifier tests.

Each targets a boundary of some IFEval rule: blank text, exact counts, markdown quirks, other
scripts, fences, quotes, very long input. ``test_constraints.py`` asserts exact verdicts on
them; ``test_constraints_parity.py`` scores them against IFEval rows with both this library
and the reference scorer, with the comparison helpers below (also used by
``benchmarks/verifier_parity.py``).
"""

from __future__ import annotations

import collections
import json
import string
from dataclasses import dataclass, field
from pathlib import Path

LONG_TEXT = ("The quick brown fox jumps over the lazy dog. " * 4000).strip()

ADVERSARIAL_RESPONSES: tuple[str, ...] = (
    "",
    " \n\t ",
    "Dr. Smith went home. He was tired... Then? OK!\n\n* item one.\n* item two\n- dash\n---\nP.S. bye",
    "SECTION 1\nThe river flows. It is calm.\n\nSECTION 2\nThe bridge is old, and nice.\nP.P.S done",
    '```json\n{"name": "river", "items": [1, 2, 3]}\n```',
    'Here is the JSON:\n{"a": 1}',
    '"A quoted response without any commas at all."',
    '**Answer**\n"Quoted after a bold first line"',
    "THIS IS AN ENTIRELY UPPERCASE ENGLISH RESPONSE ABOUT THE WEATHER TODAY. IT IS SUNNY.",
    "this is an entirely lowercase english response about the weather today. it is sunny.",
    "Das ist eine Antwort auf Deutsch. Sie ist nicht sehr lang, aber sie reicht aus.",
    "Это ответ на русском языке. Он не очень длинный, но достаточный.",
    "यह हिंदी में एक उत्तर है। यह बहुत लंबा नहीं है।",
    "これは日本語の回答です。あまり長くありません。",
    "<<A Title>>\n\nFirst part with *one* and **two**.\n\nSecond [name] [address] [date].\n\nThird. Peace!",
    "Paragraph one.\n***\nParagraph two.\n***\nParagraph three.",
    "Answer one here.\n******\nAnswer two here.",
    "My answer is yes.",
    "12345 67890 !!!",
    "I LIKE THE U.S.A. A LOT. DON'T YOU? NASA AND FBI ARE AGENCIES. OK.",
    "*\nlone star line\n  * indented bullet\n**not a bullet**",
    "P. S. spaced marker. p.p. s also.",
    "Day 1: arrive. Day 2: leave. Audience 1 Audience 2 PARAGRAPH 1 PARAGRAPH 2",
    "Hello\n\n\n\nWorld\n\n",
    "Emoji 🎉 and café naïve — “curly quotes”, fullwidth，comma.",
    LONG_TEXT,
)


# --- parity with the reference scorer -----------------------------------------------------------
# Shared by tests/test_constraints_parity.py and benchmarks/verifier_parity.py.

SMOLLM2_RESPONSES = Path(__file__).parent / "fixtures" / "ifeval_smollm2.jsonl"
MIN_AGREEMENT = 0.995


def explained(constraint: dict) -> str | None:
    """Why this constraint may legitimately disagree with the reference (None: it may not)."""
    if constraint["id"] == "keywords:letter_frequency":
        letter = constraint["kwargs"]["letter"]
        if letter not in string.ascii_letters:
            return (
                f"the reference replaces the non-letter {letter!r} by a random ASCII letter "
                "(random.choice(string.ascii_letters)) and counts that; this library counts "
                f"{letter!r}, the character the prompt asks for"
            )
    return None


@dataclass
class Comparison:
    """Agreements and totals per (mode, id), and every disagreement
    (mode, key, constraint, response, ours, reference)."""

    agree: collections.Counter = field(default_factory=collections.Counter)
    total: collections.Counter = field(default_factory=collections.Counter)
    disagreements: list = field(default_factory=list)


def compare(scored: list[tuple[dict, str]]) -> Comparison:
    """Score (IFEval row, response) pairs with both scorers, strict and loose."""
    import _reference_ifeval as reference

    from hir_core import constraints

    result = Comparison()
    for row, response in scored:
        pairs = reference.constraints_of(row)
        for loose in (False, True):
            mode = "loose" if loose else "strict"
            ours = constraints.verify_detailed(response, pairs, prompt=row["prompt"], loose=loose)
            assert not any(ours.errors), ours.errors
            theirs = reference.score(row["prompt"], response, pairs, loose=loose)
            for pair, mine, ref in zip(pairs, ours.verdicts, theirs, strict=True):
                result.total[mode, pair["id"]] += 1
                result.agree[mode, pair["id"]] += mine == ref
                if mine != ref:
                    result.disagreements.append((mode, row["key"], pair, response, mine, ref))
    return result


def smollm2_pairs() -> list[tuple[dict, str]]:
    """The 541 IFEval rows with the committed SmolLM2-135M-Instruct responses."""
    import _reference_ifeval as reference

    responses = {}
    with SMOLLM2_RESPONSES.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            responses[record["key"]] = record["response"]
    rows = reference.ifeval_rows()
    if set(responses) != {row["key"] for row in rows}:
        raise ValueError(f"{SMOLLM2_RESPONSES}: keys differ from the 541 IFEval rows")
    return [(row, responses[row["key"]]) for row in rows]


def rows_covering_every_type(per_type: int = 2) -> list[dict]:
    """The first ``per_type`` IFEval rows holding each type (plus the letter rows with "!")."""
    import _reference_ifeval as reference

    chosen, seen = {}, collections.Counter()
    for row in reference.ifeval_rows():
        wanted = any(seen[cid] < per_type for cid in row["instruction_id_list"])
        odd_letter = any(explained(c) for c in reference.constraints_of(row))
        if wanted or odd_letter:
            chosen[row["key"]] = row
            seen.update(row["instruction_id_list"])
    return list(chosen.values())


def adversarial_pairs() -> list[tuple[dict, str]]:
    """Each adversarial response against rows covering every type, plus each row's prompt
    repeated before a response (for combination:repeat_prompt)."""
    rows = rows_covering_every_type()
    pairs = [(row, response) for row in rows for response in ADVERSARIAL_RESPONSES]
    return pairs + [(row, row["prompt"] + "\n\n" + ADVERSARIAL_RESPONSES[2]) for row in rows]
