"""MulDimIF's Length_Words, Length_Sentences, Length_Paragraphs, Content_Keywords,
Content_Punctuation and Content_Others checkers: unit tests, and parity with the reference.

:func:`adversarial_items` builds, for every constraint of these classes in the 1,200 test
items, responses on both sides of its bounds (numbers and quoted keywords read from the
requirement; lists, tables and JSON for "each" requirements; every ending for punctuation)
plus empty and odd ones. The parity test runs them through the reference and wants >= 99.5%
agreement per class, every disagreement being one of :data:`KNOWN_DISAGREEMENTS`.

Measured when written: 27,270 of 27,270 adversarial verdicts agree (Length_Words 4,921,
Length_Sentences 5,984, Length_Paragraphs 381, Content_Keywords 11,652, Content_Punctuation
4,296, Content_Others 36), and 2,273 of 2,273 on the SmolLM2 fixture. MulDimIF has no loose
mode, so loose verdicts are the strict ones. The checkers differ from the reference only
where it raises (documented in their docstrings; unit-tested here, absent from both sets).
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from _reference_runners import muldimif_items, muldimif_reference, require_reference

from hir_core.constraints import registry
from hir_core.constraints.muldimif import CLASS_OF_KEY, REQUIREMENT_SAMPLERS, content, length
from hir_core.constraints.muldimif._regex import RegexTimeout

words = length.check_length_words
sentences = length.check_length_sentences
paragraphs = length.check_length_paragraphs
keywords = content.check_content_keywords
punctuation = content.check_content_punctuation
others = content.check_content_others

CLASSES = (
    "Length_Words",
    "Length_Sentences",
    "Length_Paragraphs",
    "Content_Keywords",
    "Content_Punctuation",
    "Content_Others",
)
CHECK = {**length.CHECKERS, **content.CHECKERS}
MIN_AGREEMENT = 0.995


def w(n: int) -> str:
    """``n`` words, no sentence punctuation."""
    return " ".join(["word"] * n)


def s(n: int, mark: str = ".") -> str:
    """``n`` short sentences."""
    return " ".join(f"This is sentence {i}{mark}" for i in range(n))


# ---------------------------------------------------------------------------------------------
# Length_Words
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The answer must be at most 100 words.", w(100), True),
        ("The answer must be at most 100 words.", w(101), False),
        ("must contain no more than 10 words", w(10), True),
        ("must contain no more than 10 words", w(11), False),
        ("The answer must be at least 300 words long", w(299), False),
        ("The answer must be at least 300 words long", w(300), True),
        ("The response should be between 150 and 300 words", w(149), False),
        ("The response should be between 150 and 300 words", w(150), True),
        ("The response should be between 150 and 300 words", w(300), True),
        ("The response should be between 150 and 300 words", w(301), False),
        ("The answer should be between 10 to 20 words", w(21), False),
        ("Between 100 and 50 words", w(75), True),  # bounds swapped
        ("Range: fifty-five to sixty-five words", w(60), True),
        ("Range: fifty-five to sixty-five words", w(70), False),
        ("between twenty five and forty", w(30), True),
        ("concise, with a maximum of 50 words", w(50), True),
        ("should not exceed 150 words in total", w(151), False),
        ("The essay must contain at least 2,500 words.", w(2499), False),
        ("The essay must contain at least 2,500 words.", w(2500), True),
        ("Exactly 3 words", "word is happy.", True),
        ("The answer must be a single word.", "word", True),
        ("The answer must be a single word.", "two words", False),
        # "exactly N" decides alone, even when N counts sentences.
        ("The answer must contain exactly 3 sentences", "a b c", True),
        # A 100-word limit and a 10-sentence limit (runs of .!? count).
        ("at least 150 words but must not exceed 10 sentences", w(160) + " a." * 10, True),
        ("at least 150 words but must not exceed 10 sentences", w(160) + " a." * 11, False),
        ("at least 150 words but must not exceed 10 sentences", w(160) + " a..." * 10, True),
        # Quoted text must appear as a whole word, case-insensitively.
        ("include the keyword 'solution' and be at least 3 words long", "The Solution is", True),
        ("include the keyword 'solution' and be at least 3 words long", "solutions are it", False),
        # Unparsable: no bound, True. Empty response: 0 words.
        ("Blah blah flibber", "anything", True),
        ("The answer must be at most 100 words.", "", True),
        ("The answer must be at least 1 words.", "", False),
        # CJK text counts characters (CJK punctuation and full-width forms included).
        ("The answer must be at most 5 words.", "这是一个测试", False),
        ("The answer must be at most 6 words.", "这是一个测试 and many English words", True),
        ("The answer must be at most 7 words.", "这是一个测试。", True),
    ],
)
def test_length_words(requirement, response, expected):
    assert words(requirement, response) is expected


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("Each slide must contain at most 5 words", "one two three\nfour five six seven", True),
        ("Each slide must contain at most 3 words", "one two three\nfour five six seven", False),
        # Heading lines ending with ":" are not elements; "#" is stripped.
        ("Each name must be at most 2 words long", "Names of things:\n# Ann Lee\nBob", True),
        # Bullets and numbered items: the text after the marker (numbered: after ":" and ".").
        ("Each item must contain at most 2 words", "- one two\n- three four", True),
        ("Each item must contain at most 2 words", "- one two\n- three four five", False),
        ("Each definition must be at most 2 words", "1. Term: a b\n2. Other: c d", True),
        ("Each definition must be at most 2 words", "1. Term: a b c\n2. Other: c d", False),
        # Tables: the column named after "each" (rows repeating the header skipped) ...
        ("Each name must be at most 3 words long.", "| Name |\n|---|\n| A B C |\n| D |", True),
        ("Each name must be at most 3 words long.", "| Name |\n|---|\n| A B C D |", False),
        # ... or, with no such column, every cell (the separator marker counts as one word).
        ("Each cell must contain at most 1 words", "| Aa | Bb |\n|---|---|\n| c | d |", True),
        ("Each cell must contain at most 1 words", "| Aa | Bb |\n|---|---|\n| c | d e |", False),
        # JSON: the values for "entry", else the key named by the target's last word.
        ("Each entry must contain between 2 and 4 words", '{"a": "John Doe", "b": "x y z"}', True),
        ("Each entry must contain between 2 and 4 words", '{"a": "John", "b": "x y z"}', False),
        ("Each entry must contain between 2 and 4 words", "[1, 2]", False),  # a list: none
        ("Each entry must contain between 2 and 4 words", '{"a": ', False),  # malformed
        # Number words become digits ("five" .. "ten").
        ("Each cell must contain between five and ten words", w(7), True),
        ("Each cell must contain between five and ten words", w(11), False),
        # No recognised bound phrase ("no longer than" is not one): False; no elements: False.
        ("Each explanation must be no longer than 20 words", w(3), False),
        ("Each slide must contain at most 50 words", "", False),
        ("Each slide must contain at most 50 words", "Heading:", False),
    ],
)
def test_length_words_each(requirement, response, expected):
    assert words(requirement, response) is expected


def test_length_words_each_word_characters():
    rule = "Each word must be at most 5 characters long"
    assert words(rule, "short words only") is True
    assert words(rule, "contains toolong") is False
    assert words("Each word must be at least 3 characters", "cat dog") is True
    # A double space makes an empty "word" (the reference splits on single spaces).
    assert words("Each word must be at least 3 characters", "cat  dog") is False
    # Number words (ValueError in the reference) are read as numbers.
    assert words("Each word must be at most five characters", "tiny words") is True
    assert words("Each word must be at most five characters", "enormous") is False
    # No character bound (AttributeError in the reference): decided False.
    assert words("Each word must be capitalized", "Every Word") is False
    # "At most" in another case falls through to the word bounds, as in the reference.
    assert words("Each word must be At most 5 characters", "enormous words") is False


# ---------------------------------------------------------------------------------------------
# Length_Sentences, Length_Paragraphs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The response must contain at most 5 sentences", s(5), True),
        ("The response must contain at most 5 sentences", s(6), False),
        ("it must contain at least 5 sentences to ensure", s(4), False),
        ("it must contain at least 5 sentences to ensure", s(5, "!"), True),
        ("At least: 5 sentences", s(5, "?"), True),
        (
            "ensure that the response is concise, limited to a maximum of three sentences",
            s(3),
            True,
        ),
        (
            "ensure that the response is concise, limited to a maximum of three sentences",
            s(4),
            False,
        ),
        ("The answer must be between five and ten sentences.", s(7), True),
        ("Range: 10-15 sentences", s(9), False),
        # "must contain N" is exact; a single sentence is 1..1.
        ("The summary should contain 3 sentences", s(3), True),
        ("The summary should contain 3 sentences", s(2), False),
        ("The answer must be a single sentence.", "Hi.", True),
        ("The answer must be a single sentence.", "Hi. Hello.", False),
        # Every ".", "!" and "?" counts: an ellipsis is three, a decimal point one.
        ("The response must contain at most 2 sentences", "Well... yes", False),
        ("The response must contain at most 2 sentences", "It is 3.5 m.", True),
        ("The response must contain at least 1 sentence", "no terminator at all", False),
        # Unparsable requirement, or a number word it does not know ("fourteen"): True.
        ("Blah blah flibber", "", True),
        ("at most fourteen sentences", s(20), True),
        ("包含至少5個句子", s(4), False),
        ("描述应由3到5个句子组成", s(4), True),
    ],
)
def test_length_sentences(requirement, response, expected):
    assert sentences(requirement, response) is expected


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The answer must contain at least 3 paragraphs.", "a\n\nb\n\nc", True),
        ("The answer must contain at least 3 paragraphs.", "a\n\nb\nc", False),
        ("The answer should contain at most two paragraphs", "a\n\nb", True),
        ("The answer should contain at most two paragraphs", "a\n\nb\n\nc", False),
        ("The content must be organized into 5 to 7 paragraphs", "\n\n".join("p" * 5), True),
        ("The content must be organized into 5 to 7 paragraphs", "\n\n".join("p" * 8), False),
        ("The response must be a single paragraph", "one line\nanother line", True),
        ("The response must be a single paragraph", "one\n\ntwo", False),
        ("Please provide your answer in exactly 2 paragraphs", "a\n\n\n\nb", True),
        ("not exceeding three paragraphs", "a\n\n \n\nb", True),  # blank pieces do not count
        # Unparsable requirement: False (unlike Length_Sentences).
        ("Blah blah flibber", "a", False),
        ("The table must have at most five rows", "a", False),
        ("最多分为2个段落", "P1\n\nP2\n\nP3", False),
        ("The answer must be at least 2 paragraphs.", "", False),
    ],
)
def test_length_paragraphs(requirement, response, expected):
    assert paragraphs(requirement, response) is expected


# ---------------------------------------------------------------------------------------------
# Content_Keywords
# ---------------------------------------------------------------------------------------------

CAPITALIZED = (
    "The answer must use capitalized letters for each word and must include the keyword 'beasts'."
)
FRIEND = (
    "ensure that the word 'Friend' is included, and the translation does not exceed three words"
)
DISCUSSING = (
    "If discussing Iranian culture, the summary must include the keyword 'tradition'. If "
    "discussing California housing/property laws, the summary must include the keyword "
    "'regulation'."
)


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The answer must include the keyword 'Mulan'.", "hihi MULAN", True),
        ("The answer must include the keyword 'Mulan'.", "hihi Mulans", False),
        ("Must include the keywords 'trophy', 'achievement', and 'Dead Island 2'",
         "Dead Island 2 has a trophy and an achievement.", True),
        ("Must include the keywords 'trophy', 'achievement', and 'Dead Island 2'",
         "Dead Island 2 has an achievement.", False),
        ("Must include 'C++' at least three times", "C++ C++ C++", True),
        ("Must include 'C++' at least three times", "C++ C++", False),
        ("The answer must include the keyword 'Cleopatra' at least twice.", "Cleopatra", False),
        ('The names "LSU" and "Zach Wilson" must appear multiple times in the text',
         "LSU and Zach Wilson; LSU and Zach Wilson", True),
        # "or" anywhere makes one keyword enough.
        ("The name must include a nature-related word such as 'Leaf' or 'River'.", "River", True),
        ("The name must include a nature-related word such as 'Leaf' or 'River'.", "Rock", False),
        # Exclusion: the first quoted keyword must not occur.
        ("the keyword 'explosive' must be avoided in the answer", "an explosive device", False),
        ("the keyword 'explosive' must be avoided in the answer", "explosives", True),
        # Include-and-avoid: case-sensitive substrings.
        ("Ensure the statement includes the keyword 'Natwest' and avoids the keyword 'dormant'.",
         "Natwest is here", True),
        ("Ensure the statement includes the keyword 'Natwest' and avoids the keyword 'dormant'.",
         "Natwest is dormantly here", False),
        # Capitalization, final period, word bounds.
        (CAPITALIZED, "Beasts Are Great", True),
        (CAPITALIZED, "Beasts are great", False),
        (FRIEND, "Friend is family", True),
        (FRIEND, "Friend is my family", False),
        # A word bound it cannot read (TypeError in the reference): decided False.
        ("include the keyword 'x' and contain at least fifteen words", "x " * 20, False),
        # CJK keywords: anywhere, case-sensitive.
        ("必须包含'小明'", "今天小明上学了", True),
        ("必须包含'小明'", "今天上学了", False),
        # No keyword: True, unless "or" asks for any one of no keywords.
        ("ensure that the response avoids the mention of illegal or pirated content", "", False),
        ("ensure that the response avoids the mention of illegal and pirated content", "", True),
        ("Blah blah flibber", "", True),
        # "If discussing" topics (case-sensitive substrings).
        (DISCUSSING, "California property laws and tradition", False),
        (DISCUSSING, "Iranian culture and tradition", True),
    ],
)  # fmt: skip
def test_content_keywords(requirement, response, expected):
    assert keywords(requirement, response) is expected


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("Each question must include the keyword 'spin'", "- Why spin?\n- What is spin?", True),
        ("Each question must include the keyword 'spin'", "- Why spin?\n- What is it?", False),
        ("each example must include the keyword 'clause'", "1. A clause.\n2. Two clauses.", False),
        ("every item must include the keyword 'heel pain' and must end with a period",
         "Heel pain is common.\n---\nHeel pain hurts.", True),
        ("every item must include the keyword 'heel pain' and must end with a period",
         "Heel pain is common.\n---\nHeel pain hurts", False),
        # Tables: the column whose header shares most words with the target.
        ("Each description must include the keyword 'x'",
         "| Name | Description |\n|---|---|\n| a | has x |\n| b | x too |", True),
        ("Each description must include the keyword 'x'",
         "| Name | Description |\n|---|---|\n| a | has x |\n| b | none |", False),
        # No header matches: the column with most words per cell.
        ("Each entry must include the keyword 'x'",
         "| A | B |\n|---|---|\n| q | has x here |\n| r | x and more |", True),
        # JSON values.
        ("Each sector must include the keyword 'Argentina'.",
         '{"a": "Argentina one", "b": "Argentina two"}', True),
        ("Each sector must include the keyword 'Argentina'.", '{"a": "Argentina", "b": "no"}', False),
        ("Each sector must include the keyword 'Argentina'.", "3", False),  # no elements
        # No "each X must ..." clause: False.
        ("Must include the keyword 'data' in each sentence", "data data", False),
        # "for each word" is not an "each" requirement.
        (CAPITALIZED.replace("beasts", "botnet"), "A Botnet", True),
    ],
)  # fmt: skip
def test_content_keywords_each(requirement, response, expected):
    assert keywords(requirement, response) is expected


# ---------------------------------------------------------------------------------------------
# Content_Punctuation, Content_Others
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The answer must end with a period", "Hi.   ", True),
        ("The answer must end with a period", "Hi", False),
        ("The answer must end with a period", "", False),
        ("ensure the response ends with a question mark", "Why?", True),
        ("conclude with an exclamation mark", "Wow!", True),
        ("conclude with an exclamation mark", "Wow.", False),
        ("Ending punctuation must be a period or a question mark", "Why?", True),
        ("Ending punctuation must be a period or a question mark", "No!", False),
        ("Ending punctuation must be a period followed by a `~`", "End.~", True),
        ("Ending punctuation must be a period followed by a `~`", "End.", False),
        ("The improved title must not end with a period.", "Hello", True),
        ("The improved title must not end with a period.", "Hello.", False),
        ("Names must not end with punctuation marks", "Anna,", False),
        ("Names must not end with punctuation marks", "", True),
        # "each"/"any"/"all" (substrings): every Punkt sentence.
        ("each sentence should conclude with a period", "One. Two. Three.", True),
        ("each sentence should conclude with a period", "One. Two! Three.", False),
        ("Finally, the response must end with a period", "One! Two.", False),  # "all" in it
        # "paragraph"/"section": every non-blank line.
        ("Each paragraph must end with a period", "One! Two.\n\nThree.", True),
        ("Each paragraph must end with a period", "One.\nTwo", False),
        # Tables: cells from the third line on, "-" only cells skipped.
        ("Each entry in the table must end with a period",
         "| H | I |\n|---|---|\n| a. | b. |\n|---|---|\n| c. | d. |", True),
        ("Each entry in the table must end with a period",
         "| H | I |\n|---|---|\n| a. | b |", False),
        # Bullet points: each sentence of each bullet line.
        ("Each bullet point ends with a period", "- A. B.\n- C.", True),
        ("Each bullet point ends with a period", "- A. B!\n- C.", False),
        ("Each bullet point must end with punctuation", "- A!\n- B?", True),
        ("Each bullet point ends with a period", "no bullets here", True),
        # Unparsable: False (nothing allowed).
        ("Blah blah flibber", "Anything.", False),
    ],
)  # fmt: skip
def test_content_punctuation(requirement, response, expected):
    assert punctuation(requirement, response) is expected


@pytest.mark.parametrize(
    ("requirement", "response", "expected"),
    [
        ("The answer must start with the identifier 'List of Models:'",
         "## List Of Models: Chat GPT", True),
        ("The answer must start with the identifier 'List of Models:'", "Models:", False),
        ("Start identifier must be 'Absolutely! Here's'", "Absolutely! Here's it", True),
        ("Start identifier: Each example must start with the word 'Example:'", "x Example: y", True),
        ("Start identifier: Each example must start with the word 'Example:'", "nope", False),
        # No start identifier (AttributeError in the reference): decided False.
        ("Each example must start with 'Example:'", "Example: a", False),
        ("The name of the showroom must start with the letter 'P'.", "Visit Pristine", True),
        ("The name of the showroom must start with the letter 'P'.", "Visit aPristine", False),
        ("Keep it a paragraph long", "One line", True),
        ("Keep it a paragraph long", "One\nline", False),
        ("Response must be written as a short blurb", "a" * 200, True),
        ("Response must be written as a short blurb", "a" * 201, False),
        ("Must mention old steam trains and the famous DNA model",
         "old steam trains and the famous DNA model", True),
        ("Must provide sources that are cited", "Cite [1]. Sources: [1] ref", True),
        ("Must provide sources that are cited", "Cite. Sources: ref", False),
        ("It must include in-text citations", "As (Smith, 2020) says", True),
        ("Each sentence must include at least three emojis.", "A 😀 b 😀 c 😀. D 😀😀😀.", False),
        ("Each sentence must include at least three emojis.", "A 😀 b 😀 c 😀.", True),
        ("Answers should be in full sentences", "", True),
        ("Blah blah flibber", "anything", False),
    ],
)  # fmt: skip
def test_content_others(requirement, response, expected):
    assert others(requirement, response) is expected


# ---------------------------------------------------------------------------------------------
# Edge cases: empty, huge, unicode, pathological input; registration; samplers
# ---------------------------------------------------------------------------------------------

ODD_RESPONSES = (
    "",
    " \n\t ",
    "\x1c\x1d",
    "Ünïcödé tëxt — “quoted.” 😀 ¿Qué? ١٢٣.",
    "这是一个测试。这是第二句！",
    "|" * 5000,
    "- " * 5000,
    "\n" * 20000,
    "1. " + "9" * 5000,
    "[" * 100000,  # too deep for json.loads
    "{" + '"a": ' * 3 + "1" * 5000 + "}",
)


def _all_requirements() -> list[tuple[str, str]]:
    pairs = []
    for item in muldimif_items():
        for category, subcategory, requirement in item["constraints"]:
            name = CLASS_OF_KEY.get(f"{category}_{subcategory}")
            if name in CLASSES:
                pairs.append((name, requirement))
    return sorted(set(pairs))


@pytest.fixture(scope="module")
def requirements() -> list[tuple[str, str]]:
    require_reference()
    return _all_requirements()


def test_odd_responses_never_raise(requirements):
    for response in ODD_RESPONSES:
        for name, requirement in requirements:
            assert CHECK[name](requirement, response) in (True, False)


def test_pathological_responses_finish_fast(requirements):
    huge = " ".join(["word", "|", "- x", "Sources:", "\n", "1.", "'", "#"] * 40000)
    bad = [huge, "Sources:" + " \n" * 50000, "\n" + "- \n" * 60000]
    for response in bad:
        start = time.perf_counter()
        for name, requirement in requirements[::7]:
            try:
                CHECK[name](requirement, response)
            except RegexTimeout:
                pass
        assert time.perf_counter() - start < 10


def test_registered_types():
    verdicts = registry.verify(
        "word " * 10,
        [
            {"id": "muldimif:Length_Words", "kwargs": {"requirement": "at most 10 words"}},
            {"id": "muldimif:Words_At most", "kwargs": {"requirement": "at most 9 words"}},
            {"id": "muldimif:Content_Punctuation", "kwargs": {"requirement": "end with a period"}},
            {"id": "muldimif:Paragraphs_At most", "kwargs": {"requirement": "at most 1 paragraph"}},
        ],
    )
    assert list(verdicts) == [True, False, False, True]
    assert {"muldimif:Length_Words", "muldimif:Content_Mention"} <= set(registry.ids("muldimif"))


SAMPLE_SEEDS = range(300)


def test_words_sampler_means_its_bounds():
    for seed in SAMPLE_SEEDS:
        requirement, (low, high) = length.sample_words_requirement(random.Random(seed))
        for n in {low, high} - {None}:
            assert words(requirement, w(n)), requirement
        if low is not None:
            assert not words(requirement, w(low - 1)), requirement
        if high is not None:
            assert not words(requirement, w(high + 1)), requirement


def test_sentences_sampler_means_its_bounds():
    for seed in SAMPLE_SEEDS:
        requirement, (low, high) = length.sample_sentences_requirement(random.Random(seed))
        for n in {low, high} - {None}:
            assert sentences(requirement, s(n)), requirement
        if low is not None:
            assert not sentences(requirement, s(low - 1)), requirement
        if high is not None:
            assert not sentences(requirement, s(high + 1)), requirement


def test_paragraphs_sampler_means_its_bounds():
    for seed in SAMPLE_SEEDS:
        requirement, (low, high) = length.sample_paragraphs_requirement(random.Random(seed))

        def text(n: int) -> str:
            return "\n\n".join(f"Paragraph {i}.\nStill paragraph {i}." for i in range(n))

        for n in {low, high} - {None}:
            assert paragraphs(requirement, text(n)), requirement
        if low is not None:
            assert not paragraphs(requirement, text(low - 1)), requirement
        if high is not None:
            assert not paragraphs(requirement, text(high + 1)), requirement


def test_keywords_sampler_means_its_keywords():
    for seed in SAMPLE_SEEDS:
        requirement, wanted, times = content.sample_keywords_requirement(random.Random(seed))
        full = " and ".join(f"the {kw.upper()}" for kw in wanted for _ in range(times)) + "."
        assert keywords(requirement, full), requirement
        short = " and ".join(f"the {kw}" for kw in wanted[:-1] for _ in range(times))
        short += f" {wanted[-1]}s" * times + f" {wanted[-1]}" * (times - 1)
        assert not keywords(requirement, short), requirement


def test_punctuation_sampler_means_its_mark():
    marks = ".?!;"
    for seed in SAMPLE_SEEDS:
        requirement, mark, parts = content.sample_punctuation_requirement(random.Random(seed))
        other = next(m for m in marks if m != mark)
        assert punctuation(requirement, f"First part{mark}\nSecond part{mark}"), requirement
        assert not punctuation(requirement, f"First part{mark}\nSecond part{other}"), requirement
        # Empty: no line or sentence to fail; the whole (empty) text has no final mark.
        assert punctuation(requirement, "") is (parts != "whole"), requirement
        mixed = f"First part{other}\nSecond part{mark}"
        assert punctuation(requirement, mixed) is (parts == "whole"), requirement


def test_others_sampler_means_its_phrase():
    for seed in SAMPLE_SEEDS:
        requirement, phrase = content.sample_others_requirement(random.Random(seed))
        assert others(requirement, f"{phrase} the rest of it."), requirement
        assert others(requirement, f"## {phrase.lower()} the rest."), requirement
        assert not others(requirement, f"The rest, then {phrase}"), requirement


def test_samplers_registered():
    for name in CLASSES:
        requirement = REQUIREMENT_SAMPLERS[name](random.Random(1))
        assert isinstance(requirement, str) and requirement


def test_speed():
    """The family's budget is 20,000 strict checks per second per core; these six classes on
    realistic responses and the test set's requirements (parsed once, as in training)."""
    items = muldimif_items()
    pairs = [
        (CLASS_OF_KEY[f"{c}_{sc}"], r)
        for item in items
        for c, sc, r in item["constraints"]
        if CLASS_OF_KEY.get(f"{c}_{sc}") in CLASSES
    ]
    rng = random.Random(0)
    body = [
        s(6) + "\n\n" + "- The keyword innovation appears here.\n- Another point.",
        "| Name | Description |\n|---|---|\n| A | Some words here. |\n| B | More words. |",
        " ".join(rng.choice(["alpha", "beta", "gamma.", "delta!"]) for _ in range(250)),
    ]
    for name, requirement in pairs:  # parse once
        CHECK[name](requirement, body[0])
    start = time.perf_counter()
    n = 0
    for response in body:
        for name, requirement in pairs:
            CHECK[name](requirement, response)
            n += 1
    rate = n / (time.perf_counter() - start)
    assert rate > 20000, rate


# ---------------------------------------------------------------------------------------------
# Parity with the reference
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "single": 1,
}  # fmt: skip
_FILLER = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "river", "bank")


def _numbers(requirement: str) -> list[int]:
    found = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", requirement)]
    found += [
        v for k, v in _NUMBER_WORDS.items() if re.search(rf"\b{k}\b", requirement, re.IGNORECASE)
    ]
    return sorted({n for n in found if n <= 3000})[:3] or [1]


def _quoted(requirement: str) -> list[str]:
    return [a or b for a, b in re.findall(r"'([^']+)'|\"([^\"]+)\"", requirement)]


def _text_words(n: int, prefix: str = "", period_every: int = 9) -> str:
    out = prefix.split()
    i = 0
    while len(out) < n:
        word = _FILLER[i % len(_FILLER)]
        i += 1
        out.append(word + ("." if i % period_every == 0 else ""))
    return " ".join(out[: max(n, 0)]) if n >= len(prefix.split()) else " ".join(out)


def _elements(cells: list[str]) -> list[str]:
    """The same items as bullets, a numbered list, a table, JSON and plain lines."""
    table = "| Item | Description |\n|---|---|\n" + "".join(
        f"| {i} | {cell} |\n" for i, cell in enumerate(cells)
    )
    return [
        "\n".join(f"- {cell}" for cell in cells),
        "\n".join(f"{i + 1}. {cell}" for i, cell in enumerate(cells)),
        table,
        json.dumps({f"entry {i}": cell for i, cell in enumerate(cells)}),
        "\n".join(cells),
        "\n---\n".join(cells),
    ]


def _length_words_responses(requirement: str) -> list[str]:
    kws = " ".join(_quoted(requirement))
    out = []
    for n in _numbers(requirement):
        for k in (n - 1, n, n + 1):
            if k < 0:
                continue
            out.append(_text_words(k, kws))
            if "each" in requirement.lower() and n < 200:
                out += _elements([_text_words(k, kws, 100)] * 2 + [_text_words(max(n - 2, 1))])
    return out


def _length_sentences_responses(requirement: str) -> list[str]:
    out = []
    for n in _numbers(requirement)[:2]:
        for k in (n - 1, n, n + 1):
            if k >= 0:
                out += [s(k), s(k, "!") + " trailing words", s(k, "?")]
        out.append(s(max(n - 1, 0)) + " Well...")
    return out


def _length_paragraphs_responses(requirement: str) -> list[str]:
    out = []
    for n in _numbers(requirement)[:2]:
        for k in (n - 1, n, n + 1):
            if k >= 0:
                paras = [f"Paragraph {i} text.\nSecond line {i}." for i in range(k)]
                out += ["\n\n".join(paras), "\n\n\n".join(paras) + "\n\n  \n\n"]
        out.append("\n".join(f"Line {i}." for i in range(n + 1)))
    return out


def _content_keywords_responses(requirement: str) -> list[str]:
    kws = _quoted(requirement) or ["keyword"]
    all_once = "Intro: " + ", ".join(kws) + " end."
    out = [
        all_once,
        " ".join(kws * 2) + " again.",
        " ".join(kws * 3),
        "Nothing relevant here.",
        " ".join(kws[:-1]) + " nothing",
        all_once.upper(),
        " ".join(f"x{kw}s" for kw in kws),
        " ".join(word.capitalize() for word in (" ".join(kws) + " More Words Here").split()) + ".",
        ("word " * 30) + " ".join(kws) + ".",
        " ".join(kws),
    ]
    if re.search(r"\b(each|every)\b", requirement, re.IGNORECASE):
        out += _elements([f"{' '.join(kws)} item {i}." for i in range(3)])
        out += _elements([f"{' '.join(kws)} item.", "missing item."])
    return out


def _content_punctuation_responses(requirement: str) -> list[str]:
    out = [f"This is the answer{mark}" for mark in (".", "?", "!", ";", "", "~", ".~", ",")]
    out += [
        "First one. Second one! Third one?",
        "One. Two. Three.",
        "Line one.\nLine two.\n\nLine three.",
        "Line one.\nLine two",
        "| H1 | H2 |\n|---|---|\n| a. | b. |\n| c. | d. |",
        "| H1 | H2 |\n|---|---|\n| a. | b |",
        "- Point one.\n- Point two.",
        "- Point one.\n- Point two!",
        "He said “Hello there.” Then left.",
        "Wait… what.",
        "Mr. Smith went home. He slept.",
    ]
    return out


def _content_others_responses(requirement: str) -> list[str]:
    quoted = _quoted(requirement) or ["x"]
    return [
        quoted[0] + " and the rest.",
        "## " + quoted[0].lower() + " and more",
        "Preamble. " + quoted[0],
        "Visit Pristine Showroom",
        "Best showroom",
        "One line only",
        "Two\nlines",
    ]


_RESPONSES = {
    "Length_Words": _length_words_responses,
    "Length_Sentences": _length_sentences_responses,
    "Length_Paragraphs": _length_paragraphs_responses,
    "Content_Keywords": _content_keywords_responses,
    "Content_Punctuation": _content_punctuation_responses,
    "Content_Others": _content_others_responses,
}
_ODD_PARITY = ("", "  \n ", "这是一个测试。", "Ünïcödé — “ok.” 😀", "1. " + "9" * 50)


def adversarial_items() -> list[dict]:
    """``{"id", "constraints", "response"}`` items: each constraint of these classes in the
    1,200 test items (deduplicated by key and requirement), alone, with responses built to
    sit on both sides of its bounds, plus empty and odd ones."""
    seen = set()
    items = []
    for item in muldimif_items():
        for index, triple in enumerate(item["constraints"]):
            name = CLASS_OF_KEY.get(f"{triple[0]}_{triple[1]}")
            if name not in CLASSES or (name, triple[2]) in seen:
                continue
            seen.add((name, triple[2]))
            responses = list(dict.fromkeys(_RESPONSES[name](triple[2]) + list(_ODD_PARITY)))
            for variant, response in enumerate(responses):
                items.append(
                    {
                        "id": f"{item['id']}:{index}:{variant}",
                        "constraints": [list(triple)],
                        "response": response,
                    }
                )
    return items


# Every deliberate difference from the reference is on an input where the reference raises
# (its verdict is then None: see the checkers' docstrings). None of them occurs in the
# adversarial set, which agrees verdict for verdict; the list stays the gate for new ones.
KNOWN_DISAGREEMENTS: dict[str, str] = {
    "reference raised": "decided here instead of crashing (see the checker's docstring)",
}


def _explain(name: str, requirement: str, response: str, ref) -> str | None:
    if ref is None:
        return KNOWN_DISAGREEMENTS["reference raised"]
    return None


def test_parity_with_reference():
    require_reference()
    items = adversarial_items()
    results = muldimif_reference(items)
    agree: dict[str, int] = {}
    total: dict[str, int] = {}
    unexplained = []
    for item, result in zip(items, results):
        (triple,) = item["constraints"]
        name = CLASS_OF_KEY[f"{triple[0]}_{triple[1]}"]
        ours = CHECK[name](triple[2], item["response"])
        ref = result["verdicts"][0]
        total[name] = total.get(name, 0) + 1
        if ours == ref:
            agree[name] = agree.get(name, 0) + 1
        elif _explain(name, triple[2], item["response"], ref) is None:
            unexplained.append((name, triple[2], item["response"][:200], ours, ref))
    for name in CLASSES:
        print(f"{name}: {agree.get(name, 0)}/{total.get(name, 0)}")
        assert agree.get(name, 0) / total[name] >= MIN_AGREEMENT, name
    assert not unexplained, unexplained[:10]


SMOLLM2 = Path(__file__).parent / "fixtures" / "muldimif_smollm2.jsonl"


def test_parity_on_smollm2_responses():
    """The reference and these checkers on SmolLM2-135M-Instruct's answers to the 1,200
    prompts (when the fixture is there): every verdict of these classes agrees (2,273 of
    2,273 when written)."""
    require_reference()
    if not SMOLLM2.exists():
        pytest.skip(f"{SMOLLM2} not generated")
    answers = {}
    for line in SMOLLM2.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        answers[str(row["id"])] = row["response"]
    items = []
    for item in muldimif_items():
        mine = [t for t in item["constraints"] if CLASS_OF_KEY.get(f"{t[0]}_{t[1]}") in CLASSES]
        if mine and str(item["id"]) in answers:
            items.append(
                {"id": item["id"], "constraints": mine, "response": answers[str(item["id"])]}
            )
    disagreements = []
    for item, result in zip(items, muldimif_reference(items)):
        for triple, ref in zip(item["constraints"], result["verdicts"]):
            name = CLASS_OF_KEY[f"{triple[0]}_{triple[1]}"]
            if CHECK[name](triple[2], item["response"]) != ref and ref is not None:
                disagreements.append((item["id"], name, triple[2]))
    assert not disagreements, disagreements[:10]
