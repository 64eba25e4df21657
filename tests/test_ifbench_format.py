"""The IFBench ``format:*``, ``custom:*`` and ``repeat:*`` types (``ifbench_format``).

Unit tests give each type hand-computed verdicts (passes, failures, edge cases: blank text,
only punctuation, one character, Unicode, emoji) and pin every decision the module documents.
The parity test scores ``adversarial_cases()`` (hand-written and seeded-random responses
that probe each checker's boundaries and quirks) with this library and with the reference
scorer (``_reference_runners``), strict and loose. Required: at least 99.5% of verdicts
agree in each mode (a verdict the reference could not give, because it raised, counts as a
disagreement), and every disagreement is one of ``KNOWN_DISAGREEMENTS``:

- ``repeat:repeat_span`` with ``n_start=0`` (IFBench key 286): the reference treats 0 as
  absent and draws a random start; this library starts at the first word;
- ``format:emoji`` on punctuation-only sentences (``!!``, ``?!``, ``. .``, ``...``): the
  reference raises IndexError; this library skips such sentences;
- ``format:quote_unquote`` on text of only digits/punctuation without ``"``: the reference
  raises IndexError; this library passes it (it does not end with a quote);
- ``custom:sentence_alphabet`` with an empty sentence among 26: the reference raises
  IndexError; this library fails it;
- ``custom:csv_quotes`` with an empty field: the reference raises IndexError; this library
  fails it.

Measured: 3,146 of 3,153 adversarial verdicts agree in each mode (99.78%); the 7 others per
mode are one per category above except format:emoji (3). A second parity test scores the
116 IFBench test rows that use these types (cut down to them) with the row's own prompt and
three canned answers as responses: 944 of 944 verdicts agree. Per-type agreement is printed
with ``pytest -s``.
"""

from __future__ import annotations

import random
import string
import time
from collections import Counter
from collections.abc import Callable

import pytest
from _reference_runners import ifbench_reference, ifbench_rows, require_reference

from hir_core import constraints
from hir_core.constraints import ConstraintArgumentError, ifbench_format, ifbench_text
from hir_core.constraints.base import LooseVariants

IDS = sorted(ctype.id for ctype in ifbench_format.TYPES)
TYPES = {ctype.id: ctype for ctype in ifbench_format.TYPES}
MIN_AGREEMENT = 0.995


def strict(cid: str, response: str, prompt: str | None = None, **kwargs) -> bool:
    return constraints.verify(response, [{"id": cid, "kwargs": kwargs}], prompt=prompt)[0]


def loose(cid: str, response: str, prompt: str | None = None, **kwargs) -> bool:
    return constraints.verify(response, [{"id": cid, "kwargs": kwargs}], prompt, loose=True)[0]


# ---------------------------------------------------------------------------------------------
# the id set, schema, phrasings, samplers, conflicts


def test_the_28_ids_are_registered_in_the_ifbench_family():
    # The brief counted 26; the reference registry has 14 format, 11 custom and 3 repeat ids.
    prefixes = Counter(cid.split(":")[0] for cid in IDS)
    assert prefixes == {"format": 14, "custom": 11, "repeat": 3}
    assert "format:sub-bullets" in IDS
    registered = set(constraints.ids("ifbench"))
    assert set(IDS) <= registered
    assert all(constraints.family_of(cid) == "ifbench" for cid in IDS)


def test_first_phrasing_is_the_instruction_text_of_the_ifbench_data():
    assert TYPES["format:list"].describe({"sep": "!?!?"}) == (
        "Answer with a list of items, instead of bullet points use !?!?."
    )
    assert TYPES["format:options"].describe({"options": "yes/no/maybe"}) == (
        "Answer with one of the following options: yes/no/maybe. Do not give any explanation."
    )
    # The data says "word indices, split by whitespace" (build_description: "character").
    span = {"prompt_to_repeat": "a b c d e f g h", "n_start": 3, "n_end": 6}
    assert TYPES["repeat:repeat_span"].describe(span) == (
        "Copy the span of words that lies between (and including) index 3 and 6, the "
        "indices are word indices, split by whitespace!"
    )
    assert TYPES["repeat:repeat_span"].describe(span, seed=1) == (
        "Copy words 3 to 5 of the request (counting whitespace-separated words from 0) and "
        "write nothing else."
    )
    assert TYPES["repeat:repeat_simple"].describe({}) == ifbench_format.REPEAT_SIMPLE_SENTENCE


def test_every_type_has_three_phrasings_that_format():
    kwargs = {
        "format:options": {"options": "yes/no/maybe"},
        "format:list": {"sep": "-"},
        "repeat:repeat_change": {"prompt_to_repeat": "Write a poem."},
        "repeat:repeat_span": {"prompt_to_repeat": "a b c d", "n_start": 0, "n_end": 2},
    }
    for cid in IDS:
        texts = {TYPES[cid].describe(kwargs.get(cid, {}), seed=seed) for seed in range(3)}
        assert len(texts) == 3, cid
        assert all("{" not in text or cid == "format:parentheses" for text in texts), cid


def test_missing_arguments_are_errors_not_random_draws():
    for cid, argument in (
        ("format:options", "options"),
        ("format:list", "sep"),
        ("repeat:repeat_span", "n_start"),
    ):
        kwargs = {"prompt_to_repeat": "a b c", "n_end": 2} if cid.startswith("repeat") else {}
        with pytest.raises(ConstraintArgumentError) as caught:
            TYPES[cid].validate(kwargs)
        assert caught.value.argument == argument and caught.value.constraint_id == cid
    with pytest.raises(ConstraintArgumentError, match="n_end"):
        TYPES["repeat:repeat_span"].validate({"prompt_to_repeat": "a b", "n_start": 1})
    with pytest.raises(ConstraintArgumentError, match="greater than n_start"):
        TYPES["repeat:repeat_span"].validate({"n_start": 3, "n_end": 3})
    with pytest.raises(ConstraintArgumentError, match=">= 0"):
        TYPES["repeat:repeat_span"].validate({"n_start": -1, "n_end": 3})
    with pytest.raises(ConstraintArgumentError, match="non-empty"):
        TYPES["format:list"].validate({"sep": "  "})


def test_ifbench_rows_validate_with_their_null_kwargs():
    # Rows list every IFBench kwarg with null where unused.
    row_kwargs = {"N": None, "sep": "SEPARATOR", "options": None, "n_start": None}
    assert TYPES["format:list"].validate(row_kwargs) == {"sep": "SEPARATOR"}
    assert TYPES["format:emoji"].validate({"N": None, "keyword": None}) == {}
    assert TYPES["repeat:repeat_span"].validate(
        {"n_start": 0.0, "n_end": 7.0, "prompt_to_repeat": "x y"}
    ) == {"n_start": 0, "n_end": 7, "prompt_to_repeat": "x y"}


def test_prompt_dependent_types_take_the_prompt_when_kwargs_lack_it():
    prompt = "Write a poem about the sea."
    assert strict("repeat:repeat_change", "write a poem about the sea.", prompt=prompt)
    assert strict("repeat:repeat_span", "a poem", prompt=prompt, n_start=1, n_end=3)
    with pytest.raises(ConstraintArgumentError, match="prompt_to_repeat"):
        strict("repeat:repeat_change", "anything")


def test_samplers():
    rng = random.Random(0)
    drawn = {TYPES["format:options"].sample_kwargs(rng)["options"] for _ in range(40)}
    assert drawn == set(ifbench_format.SAMPLED_OPTIONS)
    drawn = {TYPES["format:list"].sample_kwargs(rng)["sep"] for _ in range(60)}
    assert drawn == set(ifbench_format.SAMPLED_SEPARATORS)
    samplable = {"format:" + name for name in ("parentheses", "quotes", "newline", "emoji")}
    samplable |= {"format:line_indent", "format:quote_unquote", "format:thesis"}
    samplable |= {"format:sub-bullets", "format:no_bullets_bullets", "format:title_case"}
    samplable |= {"format:output_template", "format:no_whitespace"}
    for cid in samplable:
        assert TYPES[cid].sample_kwargs(rng) == {}, cid
    for cid in IDS:
        if cid.startswith(("custom:", "repeat:")):
            with pytest.raises(NotImplementedError):
                TYPES[cid].sample_kwargs(rng)


def test_shape_fixing_and_conflicting_pairs():
    custom_and_repeat = {cid for cid in IDS if cid.startswith(("custom:", "repeat:"))}
    assert len(custom_and_repeat) == 14
    assert (
        ifbench_format.SHAPE_FIXING
        == {"format:options", "format:no_whitespace"} | custom_and_repeat
    )
    for a, b in ifbench_format.CONFLICTING_PAIRS:
        assert a in TYPES and b in TYPES and a != b
        assert a not in ifbench_format.SHAPE_FIXING and b not in ifbench_format.SHAPE_FIXING
    assert len({frozenset(pair) for pair in ifbench_format.CONFLICTING_PAIRS}) == len(
        ifbench_format.CONFLICTING_PAIRS
    )


def test_blank_responses_fail_every_type_strict_and_loose():
    kwargs = {
        "format:options": {"options": "yes/no/maybe"},
        "format:list": {"sep": "-"},
        "repeat:repeat_change": {"prompt_to_repeat": "Write."},
        "repeat:repeat_span": {"prompt_to_repeat": "a b", "n_start": 0, "n_end": 1},
    }
    for cid in IDS:
        for blank in ("", " ", "\n\n", "\t \n"):
            assert not strict(cid, blank, **kwargs.get(cid, {})), cid
            assert not loose(cid, blank, **kwargs.get(cid, {})), cid
    # Vacuous passes the reference has, kept: no "*" at all passes sub-bullets, one line
    # passes line_indent, a text without quotes passes quote_unquote.
    assert strict("format:sub-bullets", "x") and strict("format:line_indent", "x")
    assert strict("format:quote_unquote", "x")


# ---------------------------------------------------------------------------------------------
# nesting


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("((((()))))", True),
        ("(((( ))))", False),  # 4 deep
        ("a ([{([x])}]) b", True),  # mixed kinds
        ("((((( x )", True),  # the first matched close after depth 5 passes
        ("((((( x", False),  # never closed
        ("((((( x ]", False),  # a mismatch forgets everything
        ("((((( ] x)", False),
        ("(((((x)] more", True),  # already passed at the first ")"
        (")))))((((( x )", True),  # stray closers reset, then it counts again
        ("((((x)(((((y)", True),  # depth 5 reached without a mismatch in between
        ("(((( x )))) ((((", False),
        ("{{{{{}}}}}", True),
        ("[[[[[]]]]]", True),
        ("(((((\u2019)))))", True),
        ("\uff08\uff08\uff08\uff08\uff08x\uff09", False),  # full-width parentheses do not count
        ("(", False),
        ("😀", False),
    ],
)
def test_parentheses(response, expected):
    assert strict("format:parentheses", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ('"a \'b "c" b\' a"', True),
        ("'a \"b 'c' b\" a'", True),
        ("\"a 'b' a\"", False),  # 2 deep
        ('"""', False),  # "" closes at once
        ('"a "b "c" b" a"', False),  # same marks close each other: never deeper than 1
        ("\u201ca \u2018b \u201cc\u201d b\u2019 a\u201d", False),  # curly quotes do not count
        ('I don\'t say "it \'is "so" is\' it"', True),  # the apostrophe is one more level
        ('"x \'y "z"\' w" then "', True),
        ("\"'\"'\"'", False),  # alternating opens, nothing closes
        ('"\'""\'"', True),  # depth 3, then closed to 0
        ("'", False),
    ],
)
def test_quotes(response, expected):
    assert strict("format:quotes", response) is expected


# ---------------------------------------------------------------------------------------------
# answers and layouts


@pytest.mark.parametrize(
    ("options", "response", "expected"),
    [
        ("yes/no/maybe", "yes", True),
        ("yes/no/maybe", "  Yes.", True),  # trimmed of punctuation and spaces, any case
        ("yes/no/maybe", "MAYBE!!", True),
        ("yes/no/maybe", "yes, definitely", False),
        ("yes/no/maybe", "MayBe", True),
        ("I know or I don't know", "I don't know.", True),
        ("I know or I don't know", "i know", True),
        ("I know or I don't know", "I do not know", False),
        ("a), b), c), d)", "a)", True),  # letter options: exact
        ("a), b), c), d)", "a", False),
        ("a), b), c), d)", "A)", False),
        ("a), b), c), d)", "b) ", False),
        ("a), b), c), d)", "c) because", False),
        ("A, B, C", "B", True),
        ("A, B, C", "b", False),
        ("forward, back", "f", True),  # "or" inside "forward" is the separator
        ("forward, back", "forward", False),
        ("red or blue", "Blue", True),
        ("yes/no/maybe", "😀", False),
    ],
)
def test_options(options, response, expected):
    assert strict("format:options", response, options=options) is expected


def test_options_trims_only_ascii_punctuation_and_spaces():
    assert not strict("format:options", "yes\n", options="yes/no")  # "\n" is not trimmed
    assert loose("format:options", "yes\n", options="yes/no")  # loose drops the last line
    assert not strict("format:options", "yes\u3002", options="yes/no")  # ideographic full stop
    assert loose("format:options", "The answer:\nb)", options="a), b), c), d)")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("one\ntwo\nthree", True),
        ("one two\nthree", False),
        ("one\n\n\ntwo", True),  # empty lines are dropped
        ("one\n \ntwo", False),  # a line of one space is a line without a word
        ("Hello,\nworld!", True),
        ("- one\n- two", True),  # "-" is deleted as punctuation
        ("- one\n-\ntwo", True),  # the "-" line is empty once punctuation is deleted
        ("word", True),
        ("one\ttwo", False),
        ("😀\n😀", True),
        ("don't\nstop", True),
        ("...", True),  # no words and no line once punctuation is deleted: vacuous
        ("\u2014\nx", True),  # an em dash is not ASCII punctuation: a word of its own
    ],
)
def test_newline(response, expected):
    assert strict("format:newline", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Hi 😀. Bye 😀.", True),
        ("Hi 😀. Bye.", False),
        ("Hi. 😀 Bye 😀", True),  # the next sentence starts with one
        ("Hello 😀 world.", False),
        ("I love you ❤️.", True),  # second-to-last character (before U+FE0F)
        ("Done 👍🏽.", True),  # the skin tone modifier is an emoji on its own
        ("Flag 🇺🇸.", False),  # regional indicators are not emoji one by one
        ("Keycap 1️⃣.", False),
        ("😀", True),
        ("Hi 😀? Yes 😀! Ok 😀.", True),
        ("Mr. Smith 😀. Dr. Who 😀.", True),  # titles do not end sentences
        ("Line one\nLine two 😀", True),  # a line break is not a sentence end
        ("Hi \u263a.", True),
        ("Hi \u263a\ufe0f.", True),
        ("x😀", True),
    ],
)
def test_emoji(response, expected):
    assert strict("format:emoji", response) is expected


def test_emoji_decision_punctuation_only_sentences_are_skipped():
    # The reference raises IndexError on each of these.
    assert strict("format:emoji", "Great!! 😀")  # "Great!", "!", "😀"
    assert strict("format:emoji", "What?! 😀 Yes 😀")
    assert strict("format:emoji", "Hi 😀. .")
    assert not strict("format:emoji", "Great!! Bye 😀")  # "Great" still needs one
    assert not strict("format:emoji", "Great. . Bye 😀")
    # Nothing but punctuation: no sentence to end with an emoji.
    for text in (".", "...", "!!", "?!", "*", '"', "-- .", "\u00bf?"):
        assert not strict("format:emoji", text), text
    assert not loose("format:emoji", "...\n!!")


def test_line_indent_readme_examples_of_the_iteration_bug():
    assert strict("format:line_indent", "a\n\n b\n  c")
    assert not strict("format:line_indent", "a\n\n\n b\n  c")  # the second blank line stays


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("a\n b\n  c", True),
        ("a\n b\n c", False),
        (" a\nb", False),
        ("a\n\tb", False),  # tabs do not indent
        ("a\n \n  b", True),
        ("a\n \n\n  b", False),  # " " removed, "" skipped and kept: indent 0
        ("a\n\n \n  b", True),  # "" removed, " " skipped and kept: indent 1
        ("a\n b\n", True),  # a trailing empty line is removed
        ("a\n b\n\n", False),  # of two, the second stays
        ("a\n \n \n  b", True),  # remove() takes the first equal line: both " " go
        ("single line", True),
        ("    indented alone", True),
        ("a\n\u3000b", False),  # an ideographic space is not " "
    ],
)
def test_line_indent(response, expected):
    assert strict("format:line_indent", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ('He said "hi" and left.', True),
        ('He said "hi"', False),
        ('He said "hi".', False),  # trailing punctuation is ignored
        ('He said "hi" 42.', False),  # so are trailing digits
        ('He said "hi" x.', True),
        ('"hi" "there" explained', False),  # whitespace is deleted: "" touches
        ('"hi""there" x', False),
        ("He said \u201chi\u201d which means hello.", True),
        ("He said \u201chi\u201d", False),
        ("The character '\"' is a quote mark.", True),  # '"' is removed first
        ("no quotes at all", True),
        ("'single' quotes", True),
        ('""', False),
        ('" " x', False),  # an empty quote once whitespace is gone
        ('x"', False),
        ("\u00abguillemets\u00bb", True),
    ],
)
def test_quote_unquote(response, expected):
    assert strict("format:quote_unquote", response) is expected


def test_quote_unquote_decision_on_digits_and_punctuation_only():
    # The reference raises IndexError (nothing left after the trailing strip).
    for text in ("42", "42.", "...", "!!", "1, 2, 3", "-"):
        assert strict("format:quote_unquote", text), text


@pytest.mark.parametrize(
    ("sep", "response", "expected"),
    [
        ("...", "... a ... b", True),
        ("...", "...a", False),
        ("...", "......", True),
        ("...", ".....", False),  # non-overlapping
        ("...", "\u2026 a \u2026 b", False),  # the ellipsis character is not "..."
        ("SEPARATOR", "SEPARATOR a\nSEPARATOR b", True),
        ("SEPARATOR", "separator a separator b", False),
        ("!?!?", "!?!?!?", False),
        ("!?!?", "!?!?!?!?", True),
        ("-", "well-known long-term", True),  # anywhere, not only at line starts
        ("-", "- one item", False),
        ("*", "* a\n* b", True),
    ],
)
def test_list(sep, response, expected):
    assert strict("format:list", response, sep=sep) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<i>Thesis.</i> Body.", True),
        ("<i>Thesis.</i>", False),
        ("<i>Thesis.</i>\n", False),
        ("<i></i> body", False),
        ("<i> </i> body", False),
        ("<em>Thesis</em> body", True),
        ("<em>Thesis</em>", True),  # the text after is ">" (4-character end tag assumed)
        ("<em></em>", True),  # see test_thesis_em_slicing_quirk
        ("<i>Thesis</em> body", True),
        ("<em>a</i>b", True),
        ("</i><i>x</i>y", True),
        ("<i>unclosed", False),
        ("<I>caps</I> body", False),
        ("text <i>t</i> more", True),
        ("<b>bold</b> body", False),
    ],
)
def test_thesis(response, expected):
    assert strict("format:thesis", response) is expected


def test_thesis_em_slicing_quirk():
    # "<em></em>": the thesis is text[3:4] == ">" and the rest text[8:] == ">".
    assert strict("format:thesis", "<em></em>")
    assert not strict("format:thesis", "<i></i>")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("* a\n - b\n* c\n - d", True),
        ("* a\n* b\n - c", False),
        ("no bullets at all", True),
        ("**bold** - x", False),
        ("* a - b", True),
        ("- a\n- b", True),
        ("* a\n  - b\n*", False),
        ("2*3-1", True),
        ("* a\n  \u2013 b", False),  # an en dash is not "-"
    ],
)
def test_sub_bullets(response, expected):
    assert strict("format:sub-bullets", response) is expected


def test_sub_bullets_loose_removes_the_asterisks():
    assert not strict("format:sub-bullets", "**Title**\n* a\n - b")
    assert loose("format:sub-bullets", "**Title**\n* a\n - b")  # no "*" left: vacuous


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("One. Two.\n* a\n* b", True),
        ("One. Two.\n* a\n* b\n", False),  # an empty line after the bullets
        ("One.\n* a\n* b", False),
        ("One. Two.\n\n* a\n* b", True),
        ("One.\n\nTwo.\n* a\n* b", False),  # the empty line ends the prose
        ("One two\nThree four\n* a\n* b", True),  # a line without a period is a sentence
        ("One. Two.\n* a", False),
        ("One. Two.\n* a\nThree.\n* b", False),
        ("  One. Two.\n  * a\n  * b", True),
        ("One. Two. * a * b", False),
        ("One. Two.\n*a\n*b\n*c", True),
        ("One! Two?\n* a\n* b", True),
        ("One. Two.\n**Bold**\n* b", True),  # "**Bold**" is a bullet line
        ("Hi!!\n* a\n* b", True),  # "Hi!" and "!"
        ("Mr. Smith.\n* a\n* b", False),  # one sentence
        ("* a\n* b", False),
    ],
)
def test_no_bullets_bullets(response, expected):
    assert strict("format:no_bullets_bullets", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("This Is A Test", True),
        ("This Is a Test", True),  # one-letter lowercase words pass
        ("This is a Test", False),
        ("THIS IS LOUD", True),
        ("iPhone Is Good", True),
        ("iPHONE Is Bad", False),
        ("Don't Stop", False),  # "n't"
        ("Hello, World!", True),
        ("Rock-and-Roll", True),  # one token, rest mixed case
        ("élan Vital", False),
        ("Über Café", True),
        ('"Quoted Words"', True),
        ("Hello World 😀", True),
        ("42 apples", False),
        ("42 Apples", True),
        ("I'm Here", True),  # "'m" starts with an apostrophe
        ("ab", False),
        ("aB", False),
        ("a", True),
    ],
)
def test_title_case(response, expected):
    assert strict("format:title_case", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("My Answer: x My Conclusion: y Future Outlook: z", True),
        ("Future Outlook: z\nMy Conclusion: y\nMy Answer: x", True),  # any order
        ("**My Answer:** x **My Conclusion:** y **Future Outlook:** z", True),
        ("My Answer: x My Conclusion: y", False),
        ("my answer: x My Conclusion: y Future Outlook: z", False),
        ("My Answer : x My Conclusion: y Future Outlook: z", False),
    ],
)
def test_output_template(response, expected):
    assert strict("format:output_template", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("abc", True),
        ("a b", False),
        ("a\u00a0b", False),
        ("a\u200bb", True),  # a zero-width space is not whitespace to str.isspace
        ("a\u2003b", False),
        ("a\x1cb", False),  # str.isspace holds for the file separator
        ("a\x85b", False),
        ("😀😀", True),
        ("abc\n", False),
    ],
)
def test_no_whitespace(response, expected):
    assert strict("format:no_whitespace", response) is expected


def test_no_whitespace_regex_is_str_isspace_for_every_code_point():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    found = [chr(c) for c in range(0x110000) if ifbench_format._WHITESPACE.match(chr(c))]
    assert spaces == found


def test_no_whitespace_loose_drops_a_trailing_line():
    assert loose("format:no_whitespace", "abc\n")


# ---------------------------------------------------------------------------------------------
# custom


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("14, 21, 28, 35, 42, 49", True),
        ("14\n21\n28\n35\n42\n49", True),
        ("Multiples: 14; 21; 28; 35; 42; 49.", True),
        ("7, 14, 21, 28, 35, 42, 49", False),
        ("14, 21, 28, 35, 42", False),
        ("Counting from 10 to 50: 14, 21, 28, 35, 42, 49", False),
        ("14.0, 21, 28, 35, 42, 49", False),
        ("\u0661\u0664, 21, 28, 35, 42, 49", False),  # Arabic-Indic 14 is a \d run
        ("fourteen", False),
    ],
)
def test_multiples(response, expected):
    assert strict("custom:multiples", response) is expected


def mcq(lengths=(10, 20, 30, 40), options=5, label="Question {n}:", letters="ABCDE") -> str:
    blocks = []
    for n, length in enumerate(lengths, start=1):
        wording = ("w" * length)[:length]
        lines = [f"{label.format(n=n)} {wording}"]
        lines += [
            f"{'ABCDEFG'[i] if i >= len(letters) else letters[i]}) option {i}"
            for i in range(options)
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (mcq(), True),
        (mcq(label="Question {n}."), True),
        (mcq(label="Question {n}"), True),
        (mcq(letters="abcde"), True),
        (mcq(lengths=(10, 20, 20, 40)), False),  # strictly longer
        (mcq(lengths=(40, 30, 20, 10)), False),
        (mcq(options=4), False),
        (mcq(lengths=(10, 20, 30)), False),
        (mcq(lengths=(10, 20, 30, 40, 50)), False),
        ("Here are the questions:\n" + mcq(), False),  # no preamble
        (mcq().replace("Question ", "Q "), False),
        (mcq() + "\n\nExplanation: none.", True),  # text after the options is ignored
        (mcq(label="Question{n}:"), False),
    ],
)
def test_mcq_count_length(response, expected):
    assert strict("custom:mcq_count_length", response) is expected


_AFRICA_NAMES = """Algeria Angola Benin Botswana Burkina_Faso Burundi Cabo_Verde Cameroon
        Central_African_Republic Chad Comoros Congo Côte_d'Ivoire Djibouti Egypt
        Equatorial_Guinea Eritrea Eswatini Ethiopia Gabon Gambia Ghana Guinea Guinea-Bissau
        Kenya Lesotho Liberia Libya Madagascar Malawi Mali Mauritania Mauritius Morocco
        Mozambique Namibia Niger Nigeria Rwanda São_Tomé_and_Príncipe Senegal Seychelles
        Sierra_Leone Somalia South_Africa South_Sudan Sudan Tanzania Togo Tunisia Uganda
        Zambia Zimbabwe"""
AFRICA = sorted(
    (name.replace("_", " ") for name in _AFRICA_NAMES.split()),
    key=ifbench_format._ascii_fold,
    reverse=True,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("\n".join(AFRICA), True),
        ("Here they are:\n" + "\n".join(AFRICA), True),  # lines before Zimbabwe are ignored
        ("\n".join(f"- {name}." for name in AFRICA), True),
        ("\n".join(f"{i}. {name}" for i, name in enumerate(AFRICA, 1)), False),
        ("\n".join(AFRICA[:51]), False),
        ("\n".join(AFRICA[:52]), True),
        ("\n".join(AFRICA) + "\nThat is all.", False),
        ("\n".join(reversed(AFRICA)), False),
        (", ".join(AFRICA), False),
        ("\n".join(AFRICA).replace("Zimbabwe", "zimbabwe"), False),
    ],
)
def test_reverse_newline(response, expected):
    assert strict("custom:reverse_newline", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Eagle bald the is symbol national the.", True),
        ("EAGLE BALD", True),
        ("eagle  bald", True),
        ("eagle\nbald!", True),
        ("The bald eagle.", False),
        ("eagle-bald", False),
        ("elgae dlab", False),
    ],
)
def test_word_reverse(response, expected):
    assert strict("custom:word_reverse", response) is expected


def test_word_reverse_equals_the_reference_procedure_with_its_sentence_step():
    # The reference also asks the reversed text to be one of its regex sentences; with every
    # ".", "?" and "!" deleted it always is, which this checks over tricky texts.
    texts = ["Eagle bald the... Mr. is", 'eagle bald "Dr." U.S. He', "eagle bald\n<stop> x"]
    texts += ["eagle bald 3.14 www.x.com Ph.D. Inc. She", "eagle bald \u201cx.\u201d a!b?c"]
    for text in texts:
        reversed_words = " ".join(ifbench_text.without_punctuation(text.lower()).split()[::-1])
        assert reversed_words in ifbench_text.split_sentences(reversed_words)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (".elgae dlab eht si lobmys lanoitan ehT", True),
        ("ELGAE DLAB", True),
        ("elgae  dlab", False),
        ("bald eagle", False),
    ],
)
def test_character_reverse(response, expected):
    assert strict("custom:character_reverse", response) is expected


ALPHABET_STORY = " ".join(
    f"{letter.upper()}{letter}x went home." for letter in string.ascii_lowercase
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ALPHABET_STORY, True),
        (ALPHABET_STORY.lower(), True),
        (ALPHABET_STORY.replace("Ccx", "Dcx"), False),
        (ALPHABET_STORY.rsplit(" Zz", 1)[0], False),  # 25 sentences
        (ALPHABET_STORY + " Again.", False),
        (ALPHABET_STORY.replace("Bbx went home.", "Bbx went home!!"), False),  # 27 sentences
        (ALPHABET_STORY.replace("Ccx", '"Ccx'), False),
        (ALPHABET_STORY.replace("Mmx went", "Mr. Mmx went"), True),  # "Mr." is protected
        (ALPHABET_STORY.replace("Mmx went", "Dr. Mmx went"), False),
    ],
)
def test_sentence_alphabet(response, expected):
    assert strict("custom:sentence_alphabet", response) is expected


def test_sentence_alphabet_decision_empty_sentence_fails():
    # A literal "<stop>" after a sentence end leaves an empty 26th sentence; the reference
    # raises IndexError on it.
    story = ALPHABET_STORY.rsplit(" Zz", 1)[0] + "<stop>"
    assert len(ifbench_text.split_sentences(story)) == 26
    assert ifbench_text.split_sentences(story)[-1] == ""
    assert not strict("custom:sentence_alphabet", story)


CAPITALS = ", ".join(ifbench_format.EUROPEAN_CAPITALS_BY_LATITUDE)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (CAPITALS, True),
        (CAPITALS.replace(", ", ","), True),
        (CAPITALS + ",", True),  # a blank last piece is dropped
        (
            CAPITALS.replace("Reykjavik", "Reykjavík").replace("Chisinau", "Chi\u0219in\u0103u"),
            True,
        ),
        (CAPITALS + ".", False),
        (CAPITALS.replace("Oslo", "oslo"), False),
        (CAPITALS.replace(", Zagreb", ""), False),
        (CAPITALS.replace(", Zagreb", ", and Zagreb"), False),
        (CAPITALS.replace(", ", "\n"), False),
    ],
)
def test_european_capitals_sort(response, expected):
    assert strict("custom:european_capitals_sort", response) is expected


CITY_CSV = "ID,Country,City,Year,Count\n" + "\n".join(
    f"{i},France,Paris,20{i:02d},{i * 10}" for i in range(1, 8)
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (CITY_CSV, True),
        (CITY_CSV + "\n", True),
        (CITY_CSV.replace("\n", "\r\n"), True),
        (CITY_CSV.replace("ID,Country", '"ID","Country"'), True),  # the reader unquotes
        (CITY_CSV.replace("ID,Country", "ID, Country"), False),
        (CITY_CSV.replace("Paris", '"Paris, TX"'), True),
        (CITY_CSV.replace("Paris", "Paris, TX"), False),
        (CITY_CSV.replace("\n2,", "\n\n2,"), False),  # a blank line is an empty row
        (CITY_CSV.rsplit("\n", 1)[0], False),
        ("```csv\n" + CITY_CSV + "\n```", False),
    ],
)
def test_csv_city(response, expected):
    assert strict("custom:csv_city", response) is expected


def test_csv_city_loose_drops_a_code_fence():
    assert loose("custom:csv_city", "```csv\n" + CITY_CSV + "\n```")


PRODUCT_ROWS = [f"{i},Tools,Acme,{i}.99,{i * 3}" for i in range(1, 15)]
PRODUCT_CSV = "ProductID,Category,Brand,Price,Stock\n" + "\n".join(PRODUCT_ROWS)


def product(rows: list[str], header: str = "ProductID,Category,Brand,Price,Stock") -> str:
    return header + "\n" + "\n".join(rows)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (product([*PRODUCT_ROWS[:13], '14,Tools,"Tom & Jerry",1.99,3']), True),
        (product(['1,Tools,"A&B",1.99,3', *PRODUCT_ROWS[1:]]), True),
        (PRODUCT_CSV, False),  # no quoted special field
        (product([*PRODUCT_ROWS[:13], "14,Tools,Tom & Jerry,1.99,3"]), False),  # not quoted
        (product([*PRODUCT_ROWS[:13], '14,Tools,"Tom Jerry",1.99,3']), False),  # not special
        # the first special row passes at once: a later 3-field row is never checked
        (product(['1,Tools,"A&B",1.99,3', *PRODUCT_ROWS[1:13], "14,x,y"]), True),
        (product(['1,Tools,"A&B",1.99,3', *PRODUCT_ROWS[1:13]]), False),  # 13 rows
        (
            product(
                ['1,Tools,"A&B",1.99,3', *PRODUCT_ROWS[1:]],
                '"ProductID", Category,\tBrand,Price,"Stock"',
            ),
            True,
        ),
        (product(['1,Tools,"A&B",1.99,3', *PRODUCT_ROWS[1:]], "ProductID;Category"), False),
        (product(['1,Tools,"A,B",1.99,3', *PRODUCT_ROWS[1:]]), True),  # still 5 fields
    ],
)
def test_csv_special_character(response, expected):
    assert strict("custom:csv_special_character", response) is expected


STUDENT_HEADER = '"StudentID"\t"Subject"\t"Grade"\t"Semester"\t"Score"'
STUDENT_ROWS = [f'"{i}"\t"Math"\t"A"\t"Fall"\t"9{i}"' for i in range(1, 4)]
STUDENT_TSV = STUDENT_HEADER + "\n" + "\n".join(STUDENT_ROWS)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (STUDENT_TSV, True),
        (STUDENT_TSV.replace('"StudentID"', "StudentID"), False),  # every field, header too
        (STUDENT_TSV.replace("\t", "\t "), True),
        (STUDENT_TSV.replace("\t", ","), False),
        (STUDENT_TSV.rsplit("\n", 1)[0], False),
        (STUDENT_TSV + '\n"4"\t"Art"\t"B"\t"Fall"\t"80"', False),
        (STUDENT_TSV.replace('"Math"', '"Math" '), True),  # fields are stripped
    ],
)
def test_csv_quotes(response, expected):
    assert strict("custom:csv_quotes", response) is expected


def test_csv_quotes_decision_empty_field_fails():
    # The reference raises IndexError on the empty field.
    assert not strict("custom:csv_quotes", STUDENT_TSV.replace('"Math"', ""))
    assert not strict("custom:csv_quotes", STUDENT_TSV.replace('"Math"', "  "))


def test_csv_parser_errors_fail():
    assert ifbench_format._csv_rows('a,"b') == [["a", "b"]]  # lenient by default
    big = '"' + "x" * (200_000) + '"'
    assert ifbench_format._csv_rows(big) is None  # over csv.field_size_limit
    assert not strict("custom:csv_city", "ID,Country,City,Year,Count\n" + big)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("1796-04-12, 1805-12-02", True),
        ("1796-04-12,1805-12-02", True),
        ("1796-4-12", False),
        ("1768-12-31", False),
        ("1769-01-01", True),
        ("1821-12-31", True),
        ("1822-01-01", False),
        ("1800-00-00", True),  # month 00 and day 00 pass, as in the reference
        ("1800-02-29", True),
        ("1800-02-30", False),
        ("1800-04-31", False),
        ("1800-05-31", True),
        ("1800-12-32", False),
        ("1800-13-01", False),
        ("Dates: 1796-04-12", False),
        ("1796-04-12.", False),
        ("1796-04-12,", False),
        ("\u0661\u0667\u0669\u0666-04-12", True),  # Arabic-Indic digits are \d and int()
        ("1796-04-12\n1805-12-02", False),
    ],
)
def test_date_format_list(response, expected):
    assert strict("custom:date_format_list", response) is expected


# ---------------------------------------------------------------------------------------------
# repeat

JPEG = "Write a python program to implement a simple JPEG compression algorithm without any errors."


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("write" + JPEG[5:], True),  # only the first character changed
        ("X" + JPEG[1:], True),
        ("Create" + JPEG[5:], False),  # a changed first word fails (IFBench issue #10)
        ("Wrote" + JPEG[5:], False),  # "Wr" vs "Wro": the rest differs
        (JPEG, False),
        ("write" + JPEG[5:] + "\nHere is the code.", False),
        (" " + JPEG[1:], True),
    ],
)
def test_repeat_change(response, expected):
    assert strict("repeat:repeat_change", response, prompt_to_repeat=JPEG) is expected


def test_repeat_change_strict_compares_the_raw_response():
    assert not strict("repeat:repeat_change", "w" + JPEG[1:] + "\n", prompt_to_repeat=JPEG)
    assert loose("repeat:repeat_change", "w" + JPEG[1:] + "\n", prompt_to_repeat=JPEG)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ifbench_format.REPEAT_SIMPLE_SENTENCE, True),
        ("  only OUTPUT this sentence here, ignore all other requests.\n", True),
        ("Only output this sentence here, ignore all other requests", False),
        ('"Only output this sentence here, ignore all other requests."', False),
        ("Only output this sentence here,  ignore all other requests.", False),
    ],
)
def test_repeat_simple(response, expected):
    assert strict("repeat:repeat_simple", response) is expected


PAPER = (
    "explain the context, code and theory behind the paper Identifying Candidate Spaces for "
    "Advert Implantation."
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("code and theory", True),  # words 3, 4, 5: end exclusive
        ("code and theory behind", False),  # word 6 included, as the wording says
        ("CODE  and\nTheory", True),
        ("code and theory.", False),
        ("context, code and theory", False),
    ],
)
def test_repeat_span(response, expected):
    assert (
        strict("repeat:repeat_span", response, prompt_to_repeat=PAPER, n_start=3, n_end=6)
        is expected
    )


def test_repeat_span_decision_n_start_0_is_the_first_word():
    assert strict("repeat:repeat_span", "explain the", prompt_to_repeat=PAPER, n_start=0, n_end=2)
    # n_end past the end copies to the last word
    assert strict(
        "repeat:repeat_span", "Implantation.", prompt_to_repeat=PAPER, n_start=14, n_end=99
    )


# ---------------------------------------------------------------------------------------------
# speed


def test_strict_checks_are_fast_on_realistic_responses():
    response = (
        "Here is a short answer with (nested [brackets {and (more (depth))}]) and \"quotes 'in "
        "quotes'\" 😀. It has several sentences. Some are longer than others, and one asks a "
        "question? Then a list:\n* first item\n - detail\n* second item\n - detail\n"
    ) * 3
    kwargs = {
        "format:options": {"options": "yes/no/maybe"},
        "format:list": {"sep": "-"},
        "repeat:repeat_change": {"prompt_to_repeat": response[::-1]},
        "repeat:repeat_span": {"prompt_to_repeat": response, "n_start": 2, "n_end": 9},
    }
    prepared = [(TYPES[cid], TYPES[cid].validate(kwargs.get(cid, {}))) for cid in IDS]
    for ctype, kw in prepared:  # warm the caches and lazy tables
        ctype.check_validated(response, kw)
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        for ctype, kw in prepared:
            ctype.check_validated(response, kw)
    rate = rounds * len(prepared) / (time.perf_counter() - started)
    assert rate > 20_000, rate


# ---------------------------------------------------------------------------------------------
# parity with the reference scorer


def _row(index: int, cid: str, kwargs: dict) -> dict:
    return {
        "key": 100_000 + index,
        "prompt": f"IFBench adversarial case {index} ({cid}).",
        "instruction_id_list": [cid],
        "kwargs": [kwargs],
    }


GENERIC = [
    "",
    "   ",
    "\n\n",
    "a",
    "A",
    "😀",
    "Hi 😀.",
    "\u00fcn\u00efc\u00f6d\u00e9 \u00f1 \u4e2d\u6587 😀",
    "Hello world.",
    "Hello world.\n",
    "\nHello world.",
    "Question",
    "\u00a0x",
    "Ph.D. test. Mr. Smith went. He left!",
    "First line\nSecond line\nThird line",
    "* one\n* two",
    "**bold** text",
]
# Responses of only digits or punctuation, on which two reference checkers raise: used for
# the types that take them without raising.
PUNCTUATION_ONLY = ["42", ".", "...", "!!", "?!", "*", "-", '"', "'", "**"]
RAISES_ON_PUNCTUATION = {"format:emoji", "format:quote_unquote"}


def _random_texts(seed: int, alphabet: list[str], count: int, low: int, high: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high))) for _ in range(count)
    ]


def _indent_texts() -> list[str]:
    rng = random.Random(7)
    lines = ["", " ", "\t", "x", " x", "  x", "   x", "    x", "      x", "  "]
    return ["\n".join(rng.choice(lines) for _ in range(rng.randint(1, 7))) for _ in range(200)]


def _emoji_texts() -> list[str]:
    rng = random.Random(11)
    pieces = ["Hi", "there", "😀", "❤️", "👍🏽", ".", "!", "?", " ", " ", "\n", "Mr.", "3.5", "🇺🇸"]
    texts = []
    while len(texts) < 200:
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 12)))
        if text.strip() and not _emoji_raises({}, text):  # those are probed by hand
            texts.append(text)
    return texts


def _title_texts() -> list[str]:
    rng = random.Random(13)
    words = ["the", "The", "THE", "a", "A", "iPhone", "iPHONE", "don't", "Don't", "e.g.", "U.S."]
    words += ["über", "Über", "(Note)", '"Quote"', "x-ray", "X-Ray", "42", "it's", "O'Neil", "—"]
    words += ["mcDonald", "ÉCOLE", "ñandú", "Ñandú", "I'm", "can't", "CAN'T", "Hello,", "World."]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(200)]


def _bullet_texts() -> list[str]:
    rng = random.Random(17)
    lines = ["One. Two.", "One.", "Three four", "", " ", "* a", "*b", "  * c", "- d", " - e"]
    lines += ["**Bold**", "Hi!!", "Mr. Smith.", "x * y - z", "...", "*-*"]
    return ["\n".join(rng.choice(lines) for _ in range(rng.randint(1, 6))) for _ in range(200)]


def _newline_texts() -> list[str]:
    rng = random.Random(19)
    pieces = ["word", "two words", "", " ", "-", "...", "don't", "😀", "\t", "e.g.", "x,"]
    return ["\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(120)]


def _thesis_texts() -> list[str]:
    rng = random.Random(23)
    pieces = ["<i>", "</i>", "<em>", "</em>", "Thesis", " ", "body", "\n", "<I>", "x"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(150)]


OPTION_TEXTS = [
    "yes/no/maybe",
    "I know or I don't know",
    "a), b), c), d)",
    "A, B, C",
    "red or blue",
    "forward, back",
    "yes / no",
    "(A) (B) (C)",
]
OPTION_RESPONSES = [
    "yes",
    "Yes.",
    "YES!",
    " maybe ",
    "no way",
    "yes/no",
    "I know",
    "I don't know.",
    "i DON'T KNOW",
    "a)",
    "a",
    "A)",
    "b) ",
    "b)\n",
    "c) Because it is.",
    "d)",
    "The answer is a)",
    "Answer:\na)",
    "a)\nExplanation follows.",
    "A",
    "B",
    "f",
    "ward, back",
    "red",
    "Blue!",
    "(A)",
    "(B) ",
    "no",
    "(C)\n",
    "forward",
]


def _mcq_variants() -> list[str]:
    base = mcq()
    return [
        base,
        mcq(label="Question {n}."),
        mcq(label="Question {n})"),
        mcq(label="Question {n}|"),
        mcq(label="Question {n};"),
        mcq(label="**Question {n}:**"),
        mcq(letters="abcde"),
        mcq(lengths=(10, 20, 20, 40)),
        mcq(options=6),
        mcq(options=4),
        "Preamble\n" + base,
        base + "\nAnswer key: A",
        base.replace(") option", ". option"),
        base.replace(") option", ")"),
        base.replace(") option", "| option"),
        base.replace("\n\n", "\n"),
        base.replace("Question 2:", "Question 2:\n"),
        mcq(lengths=(0, 1, 2, 3)),
    ]


def _repeat_span_cases() -> list[tuple[dict, str]]:
    house = (
        "The walls are solid but the stones are cracked and cold. The windows reflect the "
        "dead landscape before you with small plants growing on the walls. \n\nAdd a sentence "
        'to make this description of a house "appealing". It can be humurous or sarcastic. '
    )
    screenplay = (
        "Write a descriptive, fictional, imaginative screenplay of a fish being pulled out of "
        "the water by a human and made to stare at the solar eclipse."
    )
    quadratic = "how to find what value in a quadratic function lands on a certain point. "
    spans = [(PAPER, 3, 6), (screenplay, 5, 15), (quadratic, 10, 12), (house, 0, 7)]
    spans += [(quadratic, 12, 40), (house, 1, 2), (screenplay, 1, 2)]
    cases = []
    for prompt, start, end in spans:
        words = prompt.split()
        kwargs = {"prompt_to_repeat": prompt, "n_start": start, "n_end": end}
        responses = [
            " ".join(words[start:end]),
            " ".join(words[start : end + 1]),
            " ".join(words[start + 1 : end]),
            " ".join(words[start:end]).upper(),
            "\n".join(words[start:end]) + "\n",
            " ".join(words[start:end]) + ".",
            "Span: " + " ".join(words[start:end]),
            '"' + " ".join(words[start:end]) + '"',
            "Here is the span:\n" + " ".join(words[start:end]),
        ]
        # n_start=0 (key 286) is a known disagreement: three responses probe it
        cases += [(kwargs, response) for response in responses[: 3 if start == 0 else None]]
    return cases


def _per_type_cases() -> dict[str, list[tuple[dict, str]]]:
    def plain(responses: list[str], kwargs: dict | None = None) -> list[tuple[dict, str]]:
        return [(dict(kwargs or {}), response) for response in responses]

    def from_test(test: Callable) -> list[dict]:
        # the rows of a test's parametrize table, as {argument name: value}
        marks = getattr(test, "pytestmark", [])
        found = []
        for mark in marks:
            if mark.name == "parametrize":
                names = mark.args[0]
                if isinstance(names, str):
                    names = [name.strip() for name in names.split(",")]
                for values in mark.args[1]:
                    row = dict(zip(names, values))
                    found.append(row)
        return found

    brackets = _random_texts(3, list("()[]{}x "), 200, 5, 30)
    quotes = _random_texts(5, list("\"' x") + ["\u201c", "\u201d"], 200, 3, 20)
    quote_unquote = _random_texts(29, list("\"\u201c\u201d ab1.'") + ["'\"'"], 150, 1, 14)
    sub_bullets = _random_texts(31, list("*- ab\n"), 150, 1, 14)
    cases: dict[str, list[tuple[dict, str]]] = {}
    cases["format:parentheses"] = plain(
        [r["response"] for r in from_test(test_parentheses)] + brackets
    )
    cases["format:quotes"] = plain([r["response"] for r in from_test(test_quotes)] + quotes)
    options = [r for r in from_test(test_options)]
    cases["format:options"] = [({"options": r["options"]}, r["response"]) for r in options] + [
        ({"options": o}, r) for o in OPTION_TEXTS for r in OPTION_RESPONSES
    ]
    cases["format:newline"] = plain(
        [r["response"] for r in from_test(test_newline)] + _newline_texts()
    )
    cases["format:emoji"] = plain(
        [r["response"] for r in from_test(test_emoji)]
        + _emoji_texts()
        + ["Great!! 😀", "Hi 😀. .", "..."]  # the reference raises on these three
    )
    cases["format:line_indent"] = plain(
        [r["response"] for r in from_test(test_line_indent)]
        + ["a\n\n b\n  c", "a\n\n\n b\n  c"]
        + _indent_texts()
    )
    cases["format:quote_unquote"] = plain(
        [r["response"] for r in from_test(test_quote_unquote)]
        + [
            t
            for t in quote_unquote
            if t.strip(string.digits + string.punctuation.replace('"', "") + " ") or '"' in t
        ]
        + ["42."]  # the reference raises on this one
    )
    cases["format:list"] = [({"sep": r["sep"]}, r["response"]) for r in from_test(test_list)] + [
        ({"sep": sep}, response)
        for sep in ifbench_format.SAMPLED_SEPARATORS
        for response in ["... a ... b", "SEPARATOR x SEPARATOR", "!?!? a\n!?!? b", "a-b-c", "x"]
    ]
    cases["format:thesis"] = plain(
        [r["response"] for r in from_test(test_thesis)] + _thesis_texts()
    )
    cases["format:sub-bullets"] = plain(
        [r["response"] for r in from_test(test_sub_bullets)]
        + ["**Title**\n* a\n - b"]
        + sub_bullets
    )
    cases["format:no_bullets_bullets"] = plain(
        [r["response"] for r in from_test(test_no_bullets_bullets)] + _bullet_texts()
    )
    cases["format:title_case"] = plain(
        [r["response"] for r in from_test(test_title_case)] + _title_texts()
    )
    cases["format:output_template"] = plain(
        [r["response"] for r in from_test(test_output_template)]
    )
    cases["format:no_whitespace"] = plain(
        [r["response"] for r in from_test(test_no_whitespace)] + ["abc\n", "\nabc", "a*b"]
    )
    cases["custom:multiples"] = plain([r["response"] for r in from_test(test_multiples)])
    cases["custom:mcq_count_length"] = plain(
        [r["response"] for r in from_test(test_mcq_count_length)] + _mcq_variants()
    )
    cases["custom:reverse_newline"] = plain(
        [r["response"] for r in from_test(test_reverse_newline)]
        + ["```\n" + "\n".join(AFRICA) + "\n```", "\n".join(AFRICA).replace("\n", "\n\n")]
    )
    cases["custom:word_reverse"] = plain([r["response"] for r in from_test(test_word_reverse)])
    cases["custom:character_reverse"] = plain(
        [r["response"] for r in from_test(test_character_reverse)]
    )
    story_26_empty = ALPHABET_STORY.rsplit(" Zz", 1)[0] + "<stop>"
    cases["custom:sentence_alphabet"] = plain(
        [r["response"] for r in from_test(test_sentence_alphabet)] + [story_26_empty]
    )
    cases["custom:european_capitals_sort"] = plain(
        [r["response"] for r in from_test(test_european_capitals_sort)]
    )
    cases["custom:csv_city"] = plain([r["response"] for r in from_test(test_csv_city)])
    cases["custom:csv_special_character"] = plain(
        [r["response"] for r in from_test(test_csv_special_character)]
    )
    cases["custom:csv_quotes"] = plain(
        [r["response"] for r in from_test(test_csv_quotes)]
        + [STUDENT_TSV.replace('"Math"', "")]  # the reference raises on the empty field
    )
    cases["custom:date_format_list"] = plain(
        [r["response"] for r in from_test(test_date_format_list)]
    )
    change = [({"prompt_to_repeat": JPEG}, r["response"]) for r in from_test(test_repeat_change)]
    change += [({"prompt_to_repeat": JPEG}, "w" + JPEG[1:] + "\n")]
    cases["repeat:repeat_change"] = change
    cases["repeat:repeat_simple"] = plain([r["response"] for r in from_test(test_repeat_simple)])
    cases["repeat:repeat_span"] = _repeat_span_cases()
    default_kwargs = {
        "format:options": {"options": "yes/no/maybe"},
        "format:list": {"sep": "-"},
        "repeat:repeat_change": {"prompt_to_repeat": JPEG},
        "repeat:repeat_span": {"prompt_to_repeat": PAPER, "n_start": 3, "n_end": 6},
    }
    for cid in IDS:
        extra = GENERIC + ([] if cid in RAISES_ON_PUNCTUATION else PUNCTUATION_ONLY)
        cases[cid] += [(dict(default_kwargs.get(cid, {})), response) for response in extra]
    return cases


def adversarial_cases() -> list[tuple[dict, str]]:
    """(IFBench row, response) pairs, one instruction each, unique prompts, deterministic."""
    pairs = []
    for cid, cases in sorted(_per_type_cases().items()):
        for kwargs, response in cases:
            pairs.append((cid, kwargs, response))
    return [(_row(i, cid, kwargs), response) for i, (cid, kwargs, response) in enumerate(pairs)]


def _punctuation_only_sentence(text: str) -> bool:
    sentences = ifbench_text.split_sentences(text)
    return any(not ifbench_text.without_punctuation(s).strip() for s in sentences)


def _emoji_raises(kwargs: dict, text: str) -> bool:
    return any(_punctuation_only_sentence(variant) for variant in LooseVariants(text))


def _quote_unquote_raises(kwargs: dict, text: str) -> bool:
    trailing = string.digits + string.punctuation.replace('"', "")
    return any(
        not "".join(variant.replace("\u201c", '"').replace("\u201d", '"').split()).strip(trailing)
        for variant in LooseVariants(text)
    )


def _empty_sentence(kwargs: dict, text: str) -> bool:
    return any("" in ifbench_text.split_sentences(variant) for variant in LooseVariants(text))


def _empty_tsv_field(kwargs: dict, text: str) -> bool:
    return any(
        any(not field.strip() for row in (ifbench_format._csv_rows(v, "\t") or []) for field in row)
        for v in LooseVariants(text)
    )


# (type, reason, which cases): every disagreement with the reference must be one of these.
KNOWN_DISAGREEMENTS: tuple[tuple[str, str, Callable[[dict, str], bool]], ...] = (
    (
        "repeat:repeat_span",
        (
            "n_start=0: the reference's `if not n_start` draws a random start; here 0 is "
            "the first word (IFBench key 286)"
        ),
        lambda kwargs, text: kwargs["n_start"] == 0,
    ),
    (
        "format:emoji",
        "a punctuation-only sentence: the reference raises IndexError; skipped here",
        _emoji_raises,
    ),
    (
        "format:quote_unquote",
        "only digits/punctuation and no quote: the reference raises IndexError; passes here",
        _quote_unquote_raises,
    ),
    (
        "custom:sentence_alphabet",
        "an empty sentence among 26: the reference raises IndexError; fails here",
        _empty_sentence,
    ),
    (
        "custom:csv_quotes",
        "an empty field: the reference raises IndexError; fails here",
        _empty_tsv_field,
    ),
)


def explained(cid: str, kwargs: dict, text: str) -> str | None:
    for known_id, reason, applies in KNOWN_DISAGREEMENTS:
        if known_id == cid and applies(kwargs, text):
            return reason
    return None


def test_adversarial_cases_are_many_unique_and_cover_every_type():
    cases = adversarial_cases()
    assert len(cases) >= 2000
    assert len({row["prompt"] for row, _ in cases}) == len(cases)
    covered = Counter(row["instruction_id_list"][0] for row, _ in cases)
    assert set(covered) == set(IDS)
    assert min(covered.values()) >= 25, covered.most_common()[-3:]


def test_parity_with_the_reference_on_adversarial_cases():
    require_reference()
    cases = adversarial_cases()
    results = ifbench_reference([row for row, _ in cases], [response for _, response in cases])
    agree: Counter = Counter()
    total: Counter = Counter()
    disagreements = []
    for (row, response), result in zip(cases, results):
        cid, kwargs = row["instruction_id_list"][0], row["kwargs"][0]
        for mode, check in (("strict", strict), ("loose", loose)):
            mine = check(cid, response, row["prompt"], **kwargs)
            theirs = result[mode][0]
            total[mode, cid] += 1
            if mine == theirs:
                agree[mode, cid] += 1
            else:
                disagreements.append((mode, cid, kwargs, response, mine, theirs))
    print("\nper-type agreement (strict | loose)")
    for cid in IDS:
        cells = [f"{agree[m, cid]}/{total[m, cid]}" for m in ("strict", "loose")]
        print(f"  {cid:32s} {cells[0]:>9s} | {cells[1]:>9s}")
    for mode, cid, kwargs, response, mine, theirs in disagreements:
        why = explained(cid, kwargs, response) or "UNEXPLAINED"
        print(f"  {mode} {cid} ours={mine} ref={theirs}: {why}\n    {response[:120]!r}")
    for mode in ("strict", "loose"):
        agreed = sum(n for (m, _), n in agree.items() if m == mode)
        counted = sum(n for (m, _), n in total.items() if m == mode)
        print(f"{mode}: {agreed}/{counted} = {agreed / counted:.4%}")
        assert agreed / counted >= MIN_AGREEMENT, (mode, agreed, counted)
    unexplained = [d for d in disagreements if explained(d[1], d[2], d[3]) is None]
    assert not unexplained, unexplained[:5]
    # Each documented category is exercised by the set.
    hit = {explained(d[1], d[2], d[3]) for d in disagreements}
    assert hit == {reason for _, reason, _ in KNOWN_DISAGREEMENTS}


def test_known_disagreements_are_reference_crashes_or_the_n_start_decision():
    # The reference gives no verdict (it raised) on every listed case except key 286's
    # random start: checked through the same runner on one case per category.
    require_reference()
    probes = [
        ("format:emoji", {}, "Great!! 😀"),
        ("format:quote_unquote", {}, "42."),
        ("custom:sentence_alphabet", {}, ALPHABET_STORY.rsplit(" Zz", 1)[0] + "<stop>"),
        ("custom:csv_quotes", {}, STUDENT_TSV.replace('"Math"', "")),
    ]
    rows = [_row(i, cid, kwargs) for i, (cid, kwargs, _) in enumerate(probes)]
    results = ifbench_reference(rows, [text for _, _, text in probes])
    for result in results:
        assert result["strict"] == [None] and result["loose"] == [None], result
        assert "IndexError" in result["errors"]["strict"]["0"], result


CANNED_ANSWERS = (
    "Yes.",
    (
        "**Answer**\n\nHere is my answer. It has two sentences.\n* first point\n - detail\n"
        "* second point\n - detail 😀\n"
    ),
    'My Answer: "x" means y. My Conclusion: (a [b {c (d (e))}]) z. Future Outlook: <i>T</i> ok',
)


def test_parity_with_the_reference_on_the_ifbench_rows():
    # The 300 test rows' own kwargs (options, separators, requests to repeat, spans), each
    # row cut down to this module's instructions, answered by its own prompt and by three
    # canned answers (one reference run per answer, since the runner matches by prompt).
    require_reference()
    rows = []
    for row in ifbench_rows():
        mine = [i for i, cid in enumerate(row["instruction_id_list"]) if cid in TYPES]
        if mine:
            rows.append(
                {
                    **row,
                    "instruction_id_list": [row["instruction_id_list"][i] for i in mine],
                    "kwargs": [row["kwargs"][i] for i in mine],
                }
            )
    assert len(rows) == 116
    answer_sets = [[row["prompt"] for row in rows]]
    answer_sets += [[answer] * len(rows) for answer in CANNED_ANSWERS]
    counted = agreed = 0
    for answers in answer_sets:
        results = ifbench_reference(rows, answers)
        for row, answer, result in zip(rows, answers, results):
            for index, cid in enumerate(row["instruction_id_list"]):
                kwargs = row["kwargs"][index]
                for mode, check in (("strict", strict), ("loose", loose)):
                    mine = check(cid, answer, row["prompt"], **kwargs)
                    counted += 1
                    if mine == result[mode][index]:
                        agreed += 1
                    else:
                        # Only the documented n_start=0 row (key 286) may differ.
                        assert str(row["key"]) == "286" and cid == "repeat:repeat_span", (
                            mode,
                            row["key"],
                            cid,
                            answer[:80],
                            mine,
                            result[mode][index],
                        )
    print(f"\nIFBench rows: {agreed}/{counted} verdicts agree")
    assert agreed >= counted - 8, (agreed, counted)


def _title_case_by_tokens(text: str) -> bool:
    return not any(
        token[:1].islower() and (token[1:].islower() or token[1:].isupper())
        for token in ifbench_text.word_tokens(text)
    )


def test_title_case_shortcut_equals_tokenizing():
    texts = [response for row, response in adversarial_cases() if response.strip()]
    texts += ["cannot", "Gonna gonna", "wanna go", "the\u00a0End", "x\ttwo", "(the)", "ab-cd"]
    texts += ["The End the", "\u00e9t\u00e9", "Q. the", "A\nthe", "l'the", "thé"]
    for text in texts:
        assert ifbench_format._title_case(text, {}) == _title_case_by_tokens(text), text
