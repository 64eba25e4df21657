"""Hand-written adversarial responses for the constraint verifier tests.

Each targets a boundary of some IFEval rule: blank text, exact counts, markdown quirks, other
scripts, fences, quotes, very long input. ``test_constraints.py`` asserts exact verdicts on
them; ``test_constraints_parity.py`` scores them against IFEval rows with both this library
and the reference scorer.
"""

from __future__ import annotations

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
