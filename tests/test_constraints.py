"""The constraint verifier library: exact verdicts on adversarial responses (checked against
the IFEval reference scorer too), argument validation, descriptions, sampling, conflicts and
the verify contract."""

from __future__ import annotations

import random

import _reference_ifeval as reference
import pytest
from _helpers_constraints import ADVERSARIAL_RESPONSES, LONG_TEXT

from hir_core import constraints
from hir_core.constraints import ConstraintArgumentError, UnknownConstraintError, text
from hir_core.constraints.vocabulary import KEYWORDS

LT, AL = "less than", "at least"
DEEP_JSON = "[" * 100_000 + "]" * 100_000  # valid JSON that json.loads cannot recurse into

# (id, kwargs, response, strict verdict, loose verdict)
CASES = [
    # keywords: case-insensitive substrings; forbidden words are whole words
    ("keywords:existence", {"keywords": ["river"]}, "Riverside walk", True, True),
    ("keywords:existence", {"keywords": ["river", "bridge"]}, "RIVER, Bridge", True, True),
    ("keywords:existence", {"keywords": ["river", "bridge"]}, "river only", False, False),
    ("keywords:existence", {"keywords": ["café"]}, "Un CAFÉ noir", True, True),
    ("keywords:existence", {"keywords": ["river"]}, "", False, False),
    ("keywords:existence", {"keywords": ["river"]}, " \n ", False, False),
    (
        "keywords:frequency",
        {"keyword": "the", "frequency": 3, "relation": AL},
        "the theme the",
        True,
        True,
    ),
    (
        "keywords:frequency",
        {"keyword": "the", "frequency": 3, "relation": LT},
        "the theme the",
        False,
        False,
    ),
    (
        "keywords:frequency",
        {"keyword": "the", "frequency": 3, "relation": LT},
        "The the",
        True,
        True,
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["dead"]}, "A deadline.", True, True),
    ("keywords:forbidden_words", {"forbidden_words": ["dead", "x"]}, "Dead end.", False, False),
    (
        "keywords:letter_frequency",
        {"letter": "a", "let_frequency": 4, "let_relation": AL},
        "Aaa a",
        True,
        True,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "A", "let_frequency": 4, "let_relation": LT},
        "Aaa a",
        False,
        False,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 1, "let_relation": LT},
        "no such letter",
        True,
        True,
    ),
    # language: langdetect; undetectable text passes (the reference's rule)
    (
        "language:response_language",
        {"language": "de"},
        "Das ist eine Antwort auf Deutsch. Sie ist kurz.",
        True,
        True,
    ),
    (
        "language:response_language",
        {"language": "de"},
        "This is an answer in English. It is short.",
        False,
        False,
    ),
    ("language:response_language", {"language": "ru"}, "12345 !!!", True, True),
    ("language:response_language", {"language": "ru"}, "", False, False),
    # sentences: Punkt (abbreviations do not end sentences)
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": AL},
        "Dr. Smith went home. He was tired.",
        True,
        True,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": LT},
        "Dr. Smith went home. He was tired.",
        False,
        False,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 4001, "relation": LT},
        LONG_TEXT,
        True,
        True,
    ),
    # paragraphs separated by ***; a blank paragraph in the middle fails
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 3},
        "A\n***\nB\n***\nC",
        True,
        True,
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "***\nA\n***\nB\n***",
        True,
        True,
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "A\n***\n\n***\nB",
        False,
        False,
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "A\n***\nB\n***\nC",
        False,
        True,
    ),
    # words: runs of \w ("don't" is two words)
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": AL},
        "one two three",
        True,
        True,
    ),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": LT},
        "one two three",
        False,
        False,
    ),
    ("length_constraints:number_words", {"num_words": 3, "relation": AL}, "don't stop", True, True),
    (
        "length_constraints:number_words",
        {"num_words": 36_000, "relation": AL},
        LONG_TEXT,
        True,
        True,
    ),
    (
        "length_constraints:number_words",
        {"num_words": 36_001, "relation": AL},
        LONG_TEXT,
        False,
        False,
    ),
    # nth paragraph: blank lines separate; quotes before the first word are ignored
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "President"},
        'Intro.\n\n"President, hello.\n\nEnd.',
        True,
        True,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "b"},
        "A\n\n\n\nB",
        False,
        False,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "a"},
        "A\n\nB\n\nC",
        False,
        True,
    ),
    # placeholders in square brackets, within a line
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[a] [b]\n[c", True, True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[a\nb] [c]", False, False),
    # postscript markers anywhere, case-insensitive, optional spaces
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Text.\np. s. later",
        True,
        True,
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Text.\nPS later",
        False,
        False,
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.P.S"},
        "Text.\nP.P.S more",
        True,
        True,
    ),
    # bullets: "* x" or "-" lines; "---" counts, "**bold**" does not
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b", True, True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n---", True, True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "**bold**\n* a", True, True),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "Intro:\n* a\n* b\n* c",
        False,
        True,
    ),
    ("detectable_format:constrained_response", {}, "Well. My answer is yes.", True, True),
    ("detectable_format:constrained_response", {}, "my answer is yes.", False, False),
    # highlights: *x* and **x** (the bold one is counted by both patterns' rules)
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*a* and **b**",
        True,
        True,
    ),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 1},
        "* * and ** **",
        False,
        False,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1 a\nSECTION 2 b",
        True,
        True,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 1},
        "Section 1 a",
        False,
        False,
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True, True),
    ("detectable_format:json_format", {}, "{'a': 1}", False, False),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": 1}', False, True),
    ("detectable_format:title", {}, "<<Title>>\nBody", True, True),
    ("detectable_format:title", {}, "<< >> and <<a\nb>>", False, False),
    ("combination:two_responses", {}, "A\n******\nB", True, True),
    ("combination:two_responses", {}, "A\n******\n A ", False, False),
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False, False),
    ("combination:two_responses", {}, "******\nA\n******\nB\n******", True, True),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "  write a POEM. Here it is.",
        True,
        True,
    ),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "Sure!\nWrite a poem. Roses.",
        False,
        True,
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any questions?"},
        'Bye. "Any QUESTIONS?"\n',
        True,
        True,
    ),
    ("startend:end_checker", {"end_phrase": "Any questions?"}, "Any questions? Bye.", False, False),
    ("startend:quotation", {}, '"', False, False),
    ("startend:quotation", {}, ' "hi" ', True, True),
    ("startend:quotation", {}, '**Answer**\n"Quoted"', False, True),
    # all-capital words: Treebank tokens ("DON'T" is DO + N'T)
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": AL},
        "I DON'T know",
        True,
        True,
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 3, "capital_relation": LT},
        "NASA, FBI and the U.S.A. agencies.",
        False,
        False,
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 1, "capital_relation": LT},
        "all lowercase here",
        True,
        True,
    ),
    (
        "change_case:english_capital",
        {},
        "THIS IS AN ANSWER WRITTEN IN ENGLISH. IT IS LOUD.",
        True,
        True,
    ),
    (
        "change_case:english_capital",
        {},
        "CECI EST UNE RÉPONSE ÉCRITE EN FRANÇAIS, PAS EN ANGLAIS.",
        False,
        False,
    ),
    ("change_case:english_capital", {}, "THIS IS MOSTLY LOUD but not all.", False, False),
    (
        "change_case:english_lowercase",
        {},
        "this is an answer written in english. it is quiet.",
        True,
        True,
    ),
    (
        "change_case:english_lowercase",
        {},
        "Title\nthis is an answer written in english. it is quiet.",
        False,
        True,
    ),
    ("punctuation:no_comma", {}, "Fullwidth，comma is not ASCII", True, True),
    ("punctuation:no_comma", {}, "a, b", False, False),
    ("punctuation:no_comma", {}, "Sure, here:\nNo commas below\nat all", False, True),
]


def _case_id(case) -> str:
    return f"{case[0]}|{case[2][:30]!r}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_exact_verdicts_match_expectation_and_reference(case):
    cid, kwargs, response, strict, loose = case
    ctype = constraints.get(cid)
    assert ctype.check(response, kwargs) is strict
    assert ctype.check_loose(response, kwargs) is loose
    prompt = kwargs.get("prompt_to_repeat", "Any prompt.")
    pair = [{"id": cid, "kwargs": kwargs}]
    assert reference.score(prompt, response, pair) == [strict]
    assert reference.score(prompt, response, pair, loose=True) == [loose]


def test_every_type_has_adversarial_cases():
    assert {case[0] for case in CASES} == set(constraints.ids("ifeval"))


def test_the_ifeval_family_holds_exactly_the_ifeval_types():
    assert constraints.ids("ifeval") == reference.instruction_ids()
    assert len(constraints.ids("ifeval")) == 25


def test_non_letter_letter_counts_that_character():
    # IFEval rows ask for "!" and "#"; the reference replaces them by a random letter.
    kwargs = {"letter": "!", "let_frequency": 3, "let_relation": "at least"}
    assert constraints.get("keywords:letter_frequency").check("Wow!! Yes!", kwargs)
    assert not constraints.get("keywords:letter_frequency").check("Wow! Yes!", kwargs)


@pytest.mark.parametrize("cid", constraints.ids("ifeval"))
@pytest.mark.parametrize("response", ["", "   ", "\n\n\t"])
def test_blank_response_fails_every_type_strict_and_loose(cid, response):
    ctype = constraints.get(cid)
    kwargs = ctype.sample_kwargs(random.Random(0))
    assert ctype.check(response, kwargs, prompt="Write a poem.") is False
    assert ctype.check_loose(response, kwargs, prompt="Write a poem.") is False


# --- validation -------------------------------------------------------------------------------


def test_all_ifeval_rows_validate():
    for row in reference.ifeval_rows():
        for constraint in reference.constraints_of(row):
            constraints.get(constraint["id"]).validate(constraint["kwargs"])


def test_none_valued_unused_arguments_are_accepted():
    kwargs = {"num_words": 100, "relation": "at least", "keywords": None, "language": None}
    assert constraints.get("length_constraints:number_words").validate(kwargs) == {
        "num_words": 100,
        "relation": "at least",
    }


def test_validation_normalises():
    assert constraints.get("keywords:letter_frequency").validate(
        {"letter": " Q ", "let_frequency": 3.0, "let_relation": "at least"}
    ) == {"letter": "q", "let_frequency": 3, "let_relation": "at least"}
    assert constraints.get("startend:end_checker").validate({"end_phrase": " Bye. "}) == {
        "end_phrase": "Bye."
    }


@pytest.mark.parametrize(
    "cid, kwargs, argument, fragment",
    [
        ("length_constraints:number_words", {"relation": "at least"}, "num_words", "is missing"),
        (
            "length_constraints:number_words",
            {"num_words": "ten", "relation": "at least"},
            "num_words",
            "integer",
        ),
        (
            "length_constraints:number_words",
            {"num_words": True, "relation": "at least"},
            "num_words",
            "integer",
        ),
        (
            "length_constraints:number_words",
            {"num_words": 2.5, "relation": "at least"},
            "num_words",
            "integer",
        ),
        (
            "length_constraints:number_words",
            {"num_words": 10, "relation": "at most"},
            "relation",
            "one of",
        ),
        (
            "length_constraints:number_words",
            {"num_words": 0, "relation": "at least"},
            "num_words",
            ">= 1",
        ),
        ("punctuation:no_comma", {"comma": 1}, "comma", "not an argument"),
        ("keywords:existence", {"keywords": "river"}, "keywords", "list of strings"),
        ("keywords:existence", {"keywords": []}, "keywords", "list of strings"),
        ("keywords:existence", {"keywords": ["river", " "]}, "keywords", "non-empty strings"),
        (
            "keywords:letter_frequency",
            {"letter": "ab", "let_frequency": 1, "let_relation": "at least"},
            "letter",
            "single character",
        ),
        ("language:response_language", {"language": "xx"}, "language", "one of"),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"},
            "nth_paragraph",
            "<= num_paragraphs",
        ),
        ("startend:end_checker", {"end_phrase": "   "}, "end_phrase", "non-empty"),
        ("startend:end_checker", ["Bye."], "kwargs", "mapping"),
    ],
)
def test_bad_arguments_name_the_id_and_the_argument(cid, kwargs, argument, fragment):
    with pytest.raises(ConstraintArgumentError) as raised:
        constraints.get(cid).validate(kwargs)
    assert raised.value.constraint_id == cid and raised.value.argument == argument
    assert cid in str(raised.value) and repr(argument) in str(raised.value)
    assert fragment in str(raised.value)


def test_unknown_id_is_a_keyerror_and_a_valueerror_naming_the_id():
    with pytest.raises(UnknownConstraintError) as raised:
        constraints.get("keywords:nonexistent")
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, ValueError)
    assert "'keywords:nonexistent'" in str(raised.value)
    with pytest.raises(UnknownConstraintError):
        constraints.get(["unhashable"])


# --- describe and sample ------------------------------------------------------------------------


@pytest.mark.parametrize("cid", constraints.ids("ifeval"))
def test_describe_is_deterministic_by_seed_and_shows_the_arguments(cid):
    ctype = constraints.get(cid)
    kwargs = ctype.sample_kwargs(random.Random(7))
    texts = [ctype.describe(kwargs, seed=seed) for seed in range(3)]
    assert texts == [ctype.describe(kwargs, seed=seed) for seed in range(3)]
    assert len(set(texts)) == 3  # three distinct phrasings
    assert ctype.describe(kwargs) == texts[0]
    for value in kwargs.values():
        shown = value if isinstance(value, list) else [value]
        for item in shown:
            if cid != "language:response_language":  # the language shows by name
                assert all(str(item) in text_ for text_ in texts), (item, texts)


def test_describe_validates():
    with pytest.raises(ConstraintArgumentError):
        constraints.get("length_constraints:number_words").describe({"num_words": 3})


@pytest.mark.parametrize("cid", constraints.ids("ifeval"))
def test_descriptions_end_their_sentence(cid):
    # Templates join descriptions as running sentences; each must close its own. The open
    # endings allowed are layout shown as is: a markdown bullet, a bracketed section, the
    # *** divider (a period after it would read as part of it).
    ctype = constraints.get(cid)
    for sample_seed in range(12):
        kwargs = ctype.sample_kwargs(random.Random(sample_seed))
        for seed in range(3):
            last_line = ctype.describe(kwargs, seed=seed).splitlines()[-1]
            if not last_line.startswith(("* ", "[")):
                assert last_line.endswith((".", ")", '."', "***")), (cid, kwargs, last_line)


@pytest.mark.parametrize(("marker", "ending"), [("P.P.S", "P.P.S."), ("P.S.", "P.S.")])
def test_postscript_description_closes_the_sentence_once(marker, ending):
    ctype = constraints.get("detectable_content:postscript")
    for seed in range(3):
        assert ctype.describe({"postscript_marker": marker}, seed=seed).endswith(f" {ending}")
    # The marker as described satisfies the check.
    assert ctype.check(f"Answer.\n{ending} More to say.", {"postscript_marker": marker})


def test_language_names_cover_exactly_what_langdetect_can_answer():
    import os

    from langdetect.detector_factory import PROFILES_DIRECTORY

    from hir_core.constraints.vocabulary import LANGUAGE_NAMES, SAMPLED_LANGUAGES

    assert set(LANGUAGE_NAMES) == set(os.listdir(PROFILES_DIRECTORY))
    assert set(SAMPLED_LANGUAGES) <= set(LANGUAGE_NAMES)


def test_describe_shows_language_names():
    ctype = constraints.get("language:response_language")
    assert "Hindi" in ctype.describe({"language": "hi"}, seed=2)


@pytest.mark.parametrize("cid", constraints.ids("ifeval"))
def test_sample_kwargs_validate_and_are_reproducible(cid):
    ctype = constraints.get(cid)
    for seed in range(30):
        kwargs = ctype.sample_kwargs(random.Random(seed))
        assert ctype.validate(kwargs) == kwargs
        assert ctype.sample_kwargs(random.Random(seed)) == kwargs
        for key in ("keywords", "forbidden_words", "keyword", "first_word"):
            words = kwargs.get(key, [])
            assert set([words] if isinstance(words, str) else words) <= set(KEYWORDS)


def test_sampled_repeat_prompt_takes_the_prompt_at_check_time():
    ctype = constraints.get("combination:repeat_prompt")
    kwargs = ctype.sample_kwargs(random.Random(0))
    assert ctype.needs_prompt and kwargs == {}
    assert ctype.check("Write a poem. Roses are red.", kwargs, prompt="Write a poem.")
    assert not ctype.check("Roses are red.", kwargs, prompt="Write a poem.")
    # kwargs win over the prompt (IFEval rows carry the request without the repeat sentence)
    assert ctype.check("Hi. Answer.", {"prompt_to_repeat": "Hi."}, prompt="Hi. Repeat me.")
    with pytest.raises(ConstraintArgumentError, match="prompt_to_repeat"):
        ctype.check("Write a poem.", kwargs)
    assert [c.id for c in map(constraints.get, constraints.ids("ifeval")) if c.needs_prompt] == [
        "combination:repeat_prompt"
    ]


# --- conflicts ----------------------------------------------------------------------------------


def test_conflicts_are_symmetric_reflexive_and_match_the_reference_table():
    table = reference.conflict_table()
    for a in constraints.ids("ifeval"):
        assert constraints.conflicts(a, a)
        for b in constraints.ids("ifeval"):
            assert constraints.conflicts(a, b) == constraints.conflicts(b, a)
            assert constraints.conflicts(a, b) == (b in table[a]), (a, b)


def test_conflicts_examples_and_unknown_ids():
    assert constraints.conflicts("detectable_format:constrained_response", "punctuation:no_comma")
    assert not constraints.conflicts("detectable_format:json_format", "keywords:existence")
    assert not constraints.conflicts("punctuation:no_comma", "keywords:existence")
    with pytest.raises(UnknownConstraintError):
        constraints.conflicts("punctuation:no_comma", "nope")


# --- verify -------------------------------------------------------------------------------------

NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}, "text": "Do not use commas."}
JSON = {"id": "detectable_format:json_format", "kwargs": {}}


def test_verify_returns_one_verdict_per_constraint_in_order():
    words = {
        "id": "length_constraints:number_words",
        "kwargs": {"num_words": 2, "relation": "at least"},
    }
    assert constraints.verify("one, two", [NO_COMMA, words, JSON]) == [False, True, False]
    assert constraints.verify("Intro\n[1]", [NO_COMMA, JSON], loose=True) == [True, True]
    assert constraints.verify("anything", []) == []


def test_a_raising_checker_gives_false_and_its_error_at_its_own_index():
    result = constraints.verify_detailed(DEEP_JSON, [NO_COMMA, JSON, NO_COMMA])
    assert result.verdicts == [True, False, True]
    assert result.errors[0] == result.errors[2] == ""
    assert result.errors[1].startswith("detectable_format:json_format: RecursionError")
    loose = constraints.verify_detailed(DEEP_JSON, [JSON, NO_COMMA], loose=True)
    assert loose.verdicts == [False, True] and loose.errors[0] and not loose.errors[1]


def test_unknown_id_or_bad_kwargs_raise_before_any_check(monkeypatch):
    checked = []
    monkeypatch.setattr(
        constraints.ConstraintType, "check_validated", lambda self, *a: checked.append(self.id)
    )
    with pytest.raises(UnknownConstraintError, match="'made:up'") as raised:
        constraints.verify("text", [NO_COMMA, {"id": "made:up", "kwargs": {}}])
    assert "in constraint 1 of 2" in raised.value.__notes__[0]
    bad = {"id": "length_constraints:number_words", "kwargs": {"num_words": 5}}
    with pytest.raises(ConstraintArgumentError, match="relation"):
        constraints.verify("text", [NO_COMMA, bad])
    with pytest.raises(ConstraintArgumentError, match="prompt_to_repeat"):
        constraints.verify("text", [NO_COMMA, {"id": "combination:repeat_prompt", "kwargs": {}}])
    with pytest.raises(ValueError, match="constraint 1"):
        constraints.verify("text", [NO_COMMA, {"kwargs": {}}])
    assert checked == []


def test_lazy_loose_variants_are_the_loose_variants():
    from hir_core.constraints.base import LooseVariants, loose_variants

    samples = [*ADVERSARIAL_RESPONSES, "*a*\nb\n*c*", "x", "**\nmid\n**", "a\n\n", "\n*\n"]
    for response in samples:
        assert list(LooseVariants(response)) == list(loose_variants(response))
    lazy = LooseVariants("first\nsecond\nthird")
    assert next(iter(lazy)) == "first\nsecond\nthird"
    assert lazy._others is None  # the other variants are made only when asked for


def test_verify_rejects_a_non_string_response():
    with pytest.raises(TypeError, match="response"):
        constraints.verify(None, [NO_COMMA])


def test_language_detection_ignores_the_global_langdetect_seed(monkeypatch):
    from langdetect.detector_factory import DetectorFactory

    sample = "Ceci est une réponse en français. Elle est courte mais suffisante."
    text.detect_language.cache_clear()
    first = text.detect_language(sample)
    monkeypatch.setattr(DetectorFactory, "seed", 12345)
    text.detect_language.cache_clear()
    assert text.detect_language(sample) == first == "fr"
    assert text._language_detector_factory().create().seed == text.LANGDETECT_SEED


def test_stdlib_treebank_tokenizer_gives_nltks_tokens():
    from _helpers_constraints import ADVERSARIAL_RESPONSES
    from nltk.tokenize.destructive import NLTKWordTokenizer

    corpus = list(ADVERSARIAL_RESPONSES[:-1]) + [row["prompt"] for row in reference.ifeval_rows()]
    corpus.append(
        "He said \"hi\" (and) [left] -- ok... can't won't I'm «q» ‘s’ “d” 3,000 $5.00 a:b a, b; "
        "c@d #tag %50 & GIMME a break, wanna gonna 'tis 'twas NASA's U.S.A."
    )
    nltk_tokenizer = NLTKWordTokenizer()
    ours = text._treebank_tokenizer()
    assert [ours.tokenize(s) for s in corpus] == [nltk_tokenizer.tokenize(s) for s in corpus]
