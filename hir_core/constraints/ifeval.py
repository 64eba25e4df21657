"""The 25 IFEval instruction types (Zhou et al. 2023), with the reference scorer's semantics.

Each rule below states the reference's decision procedure (google-research
``instruction_following_eval``, as packaged in ``eval_framework.tasks.ifeval``), re-implemented
here. Where the reference is accidental rather than intended, this module says how it differs:

- keywords, forbidden words, frequency keywords, section markers and custom postscript markers
  are matched literally; the reference compiles them as regular expressions. Identical for
  every IFEval row (plain words).
- ``keywords:letter_frequency`` counts the given character even when it is not a letter
  (IFEval has rows with ``!`` and ``#``); the reference silently replaces such a "letter" by a
  random one.
- arguments are required and checked; the reference substitutes random values for missing or
  out-of-range ones (for example an ``nth_paragraph`` above ``num_paragraphs``).

Quirks that define the measured format are kept on purpose (they are what IFEval scores): a
line of ``---`` counts as a dash bullet, ``**bold**`` counts as a highlight, a language
constraint passes when langdetect finds no features, and so on; each rule's comment says so.
"""

from __future__ import annotations

import json
import random
import re

from . import text as nlp
from .base import Arg, ConstraintType
from .vocabulary import END_PHRASES, KEYWORDS, LANGUAGE_NAMES, SAMPLED_LANGUAGES, SECTION_MARKERS

RELATIONS = ("less than", "at least")
POSTSCRIPT_MARKERS = ("P.S.", "P.P.S")
CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
TWO_RESPONSES_SEPARATOR = "******"


def _compare(count: int, relation: str, threshold: int) -> bool:
    return count < threshold if relation == "less than" else count >= threshold


def _relation_arg(name: str = "relation") -> Arg:
    return Arg(name, str, "comparison: 'less than' or 'at least'", choices=RELATIONS)


def _count_arg(name: str, description: str, minimum: int = 1) -> Arg:
    return Arg(name, int, description, minimum=minimum)


def _strip(value: str) -> str:
    return value.strip()


def _strip_lower(value: str) -> str:
    return value.strip().lower()


def _quoted(words: list[str], conjunction: str) -> str:
    """'the word "a"' or 'the words "a", "b" and "c"'."""
    quoted = [f'"{word}"' for word in words]
    if len(quoted) == 1:
        return f"the word {quoted[0]}"
    return f"the words {', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _sample_threshold(rng: random.Random, at_least: tuple[int, int], less_than: tuple[int, int]):
    relation = rng.choice(RELATIONS)
    low, high = at_least if relation == "at least" else less_than
    return relation, rng.randint(low, high)


def _literal(word: str, flags: int = re.IGNORECASE, boundaries: bool = False) -> re.Pattern:
    pattern = re.escape(word)
    return re.compile(rf"\b{pattern}\b" if boundaries else pattern, flags)


# ---------------------------------------------------------------------------------------------
# keywords


def _has_all_keywords(text: str, kw: dict) -> bool:
    # Case-insensitive substring: "river" is found in "Riverside".
    return all(_literal(word).search(text) for word in kw["keywords"])


def _keyword_frequency(text: str, kw: dict) -> bool:
    # Non-overlapping case-insensitive substring occurrences.
    count = len(_literal(kw["keyword"]).findall(text))
    return _compare(count, kw["relation"], kw["frequency"])


def _has_no_forbidden_word(text: str, kw: dict) -> bool:
    # Whole words only, case-insensitive: "dead" forbids "Dead" but not "deadline".
    return not any(_literal(w, boundaries=True).search(text) for w in kw["forbidden_words"])


def _letter_frequency(text: str, kw: dict) -> bool:
    return _compare(text.lower().count(kw["letter"]), kw["let_relation"], kw["let_frequency"])


def _single_character(kw: dict) -> tuple[str, str] | None:
    if len(kw["letter"]) != 1:
        return "letter", f"must be a single character, got {kw['letter']!r}"
    return None


def _sample_letter_frequency(rng: random.Random) -> dict:
    relation, frequency = _sample_threshold(rng, at_least=(2, 12), less_than=(5, 30))
    letter = rng.choice("abcdefghilmnoprstuwy")
    return {"letter": letter, "let_frequency": frequency, "let_relation": relation}


def _sample_keyword_frequency(rng: random.Random) -> dict:
    relation, frequency = _sample_threshold(rng, at_least=(1, 4), less_than=(2, 5))
    return {"keyword": rng.choice(KEYWORDS), "frequency": frequency, "relation": relation}


# ---------------------------------------------------------------------------------------------
# language and case


def _in_language(text: str, kw: dict) -> bool:
    # Undetectable text (no letters) passes, as in the reference.
    return nlp.detect_language(text) in (kw["language"], None)


def _all_capitals_in_english(text: str, kw: dict) -> bool:
    return text.isupper() and nlp.detect_language(text) in ("en", None)


def _all_lowercase_in_english(text: str, kw: dict) -> bool:
    return text.islower() and nlp.detect_language(text) in ("en", None)


def _capital_word_frequency(text: str, kw: dict) -> bool:
    count = nlp.count_all_capital_words(text)
    return _compare(count, kw["capital_relation"], kw["capital_frequency"])


def _sample_capital_frequency(rng: random.Random) -> dict:
    relation, frequency = _sample_threshold(rng, at_least=(2, 10), less_than=(2, 10))
    return {"capital_frequency": frequency, "capital_relation": relation}


# ---------------------------------------------------------------------------------------------
# length


def _sentence_count(text: str, kw: dict) -> bool:
    return _compare(nlp.count_sentences(text), kw["relation"], kw["num_sentences"])


def _word_count(text: str, kw: dict) -> bool:
    return _compare(nlp.count_words(text), kw["relation"], kw["num_words"])


# A `***` divider with at most one whitespace character either side.
_PARAGRAPH_DIVIDER = re.compile(r"\s?\*\*\*\s?")


def _non_blank_count(parts: list[str]) -> int | None:
    """Number of non-blank parts; None when a blank part sits between two others (an empty
    paragraph), which fails the paragraph checks. Blank first and last parts are ignored."""
    last = len(parts) - 1
    count = 0
    for index, part in enumerate(parts):
        if part.strip():
            count += 1
        elif 0 < index < last:
            return None
    return count


def _paragraph_count(text: str, kw: dict) -> bool:
    return _non_blank_count(_PARAGRAPH_DIVIDER.split(text)) == kw["num_paragraphs"]


_FIRST_WORD_END = frozenset(".,?!'\"")


def _nth_paragraph_first_word(text: str, kw: dict) -> bool:
    # Paragraphs are separated by "\n\n". Blank ones are not counted, yet the nth paragraph is
    # indexed among all of them and must not be blank (the reference's procedure).
    parts = text.split("\n\n")
    count = sum(1 for part in parts if part.strip())
    nth = kw["nth_paragraph"]
    if nth > count:
        return False
    paragraph = parts[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    first_word = []
    for char in word:
        if char in _FIRST_WORD_END:
            break
        first_word.append(char.lower())  # per character: no final-sigma rule
    return count == kw["num_paragraphs"] and "".join(first_word) == kw["first_word"]


def _nth_within_count(kw: dict) -> tuple[str, str] | None:
    if kw["nth_paragraph"] > kw["num_paragraphs"]:
        return (
            "nth_paragraph",
            f"must be <= num_paragraphs ({kw['num_paragraphs']}), got {kw['nth_paragraph']}",
        )
    return None


def _sample_nth_paragraph(rng: random.Random) -> dict:
    paragraphs = rng.randint(2, 5)
    return {
        "num_paragraphs": paragraphs,
        "nth_paragraph": rng.randint(1, paragraphs),
        "first_word": rng.choice(KEYWORDS),
    }


# ---------------------------------------------------------------------------------------------
# content and format

_PLACEHOLDER = re.compile(r"\[.*?\]")  # within one line


def _placeholder_count(text: str, kw: dict) -> bool:
    return placeholder_count(text) >= kw["num_placeholders"]


def placeholder_count(text: str) -> int:
    """``len(_PLACEHOLDER.findall(text))`` in linear time. The regex retries from every
    ``[`` that has no ``]`` later on its line, which is quadratic: 2 s on 20,000 ``[``."""
    count, start = 0, 0
    close = newline = -1  # the next "]" and "\n" at or after the position searched
    while (opening := text.find("[", start)) >= 0:
        if close <= opening:
            close = text.find("]", opening + 1)
            if close < 0:
                return count  # no "]" after this "[", nor after any later one
        if newline <= opening:
            newline = text.find("\n", opening + 1)
            if newline < 0:
                newline = len(text)
        if close < newline:
            count += 1
            start = close + 1
        else:  # every "[" before that newline closes only after it
            start = newline + 1
    return count


# Anywhere in the text (not only at a line start), case-insensitive, optional single spaces.
_POSTSCRIPT = {"P.S.": re.compile(r"p\.\s?s\."), "P.P.S": re.compile(r"p\.\s?p\.\s?s")}


def _postscript_fields(kw: dict) -> dict:
    # The sentence ends with the marker; "P.S." brings its own period, "P.P.S" (IFEval's
    # spelling, kept in the arguments) needs one: "... starts with P.P.S."
    marker = kw["postscript_marker"]
    return {"postscript_marker": marker, "end": "" if marker.endswith((".", "!", "?")) else "."}


def _has_postscript(text: str, kw: dict) -> bool:
    marker = kw["postscript_marker"]
    pattern = _POSTSCRIPT.get(marker) or _literal(marker.lower(), flags=0)
    return pattern.search(text.lower()) is not None


# A line starting with "* " (not "**") or with "-", after optional whitespace. `\s*` may cross
# blank lines and "[^*]" may be the line break, as in the reference: a lone "*" line counts and
# absorbs the next line; "---" counts.
_STAR_BULLET = re.compile(r"^\s*\*[^*].*$", re.MULTILINE)
_DASH_BULLET = re.compile(r"^\s*-.*$", re.MULTILINE)


def _bullet_count(text: str, kw: dict) -> bool:
    count = len(_STAR_BULLET.findall(text)) + len(_DASH_BULLET.findall(text))
    return count == kw["num_bullets"]


def _is_constrained_response(text: str, kw: dict) -> bool:
    return any(option in text for option in CONSTRAINED_RESPONSES)


# *text* on one line; **text** is counted again by the second pattern (the reference's count).
_ITALIC = re.compile(r"\*[^\n*]*\*")
_BOLD = re.compile(r"\*\*[^\n*]*\*\*")


def _highlight_count(text: str, kw: dict) -> bool:
    count = sum(1 for span in _ITALIC.findall(text) if span.strip("*").strip())
    count += sum(1 for span in _BOLD.findall(text) if span[2:-2].strip())
    return count >= kw["num_highlights"]


def _section_count(text: str, kw: dict) -> bool:
    # Case-sensitive marker followed by a number, e.g. "SECTION 2".
    marker = re.escape(kw["section_spliter"])
    return len(re.findall(rf"\s?{marker}\s?\d+\s?", text)) >= kw["num_sections"]


_CODE_FENCE_OPENINGS = ("```json", "```Json", "```JSON", "```")


def _is_json(text: str, kw: dict) -> bool:
    # One optional markdown fence is allowed around the JSON (removed in this order).
    body = text.strip()
    for opening in _CODE_FENCE_OPENINGS:
        body = body.removeprefix(opening)
    try:
        json.loads(body.removesuffix("```").strip())
    except ValueError:
        return False
    return True


_TITLE = re.compile(r"<<[^\n]+>>")


def _has_title(text: str, kw: dict) -> bool:
    return any(title.lstrip("<").rstrip(">").strip() for title in titles(text))


def titles(text: str) -> list[str]:
    """``_TITLE.findall(text)`` in linear time. The regex retries from every ``<<`` that has
    no ``>>`` later on its line, which is quadratic (0.2 s on 20,000 ``<``). On one line it
    matches at most once: from the first ``<<`` to the last ``>>`` at least one character
    after it (``[^\n]+`` is greedy), and nothing is left on the line after that ``>>``."""
    found = []
    for line in text.split("\n"):
        first, last = line.find("<<"), line.rfind(">>")
        if first >= 0 and last >= first + 3:
            found.append(line[first : last + 2])
    return found


def _two_different_responses(text: str, kw: dict) -> bool:
    parts = text.split(TWO_RESPONSES_SEPARATOR)
    if _non_blank_count(parts) != 2:
        return False
    first, second = (part.strip() for part in parts if part.strip())
    return first != second


def _repeats_prompt_first(text: str, kw: dict) -> bool:
    return text.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


def _ends_with_phrase(text: str, kw: dict) -> bool:
    # Case-insensitive; closing double quotes around the whole response are ignored.
    return text.strip().strip('"').lower().endswith(kw["end_phrase"].lower())


def _is_quoted(text: str, kw: dict) -> bool:
    body = text.strip()
    return len(body) > 1 and body[0] == '"' and body[-1] == '"'


def _has_no_comma(text: str, kw: dict) -> bool:
    return "," not in text  # ASCII comma only


def _sample_sections(rng: random.Random) -> dict:
    return {"section_spliter": rng.choice(SECTION_MARKERS), "num_sections": rng.randint(2, 5)}


def _sample_words(rng: random.Random, key: str) -> dict:
    return {key: rng.sample(KEYWORDS, rng.randint(1, 3))}


def _sampler(**ranges):
    """A sampler drawing each named integer argument uniformly from its (low, high) range."""

    def sample(rng: random.Random) -> dict:
        return {name: rng.randint(low, high) for name, (low, high) in ranges.items()}

    return sample


def _relation_sampler(name: str, at_least: tuple[int, int], less_than: tuple[int, int]):
    def sample(rng: random.Random) -> dict:
        relation, threshold = _sample_threshold(rng, at_least, less_than)
        return {name: threshold, "relation": relation}

    return sample


TYPES: tuple[ConstraintType, ...] = (
    ConstraintType(
        "keywords:existence",
        _has_all_keywords,
        (
            "Your response must include {words}.",
            "Make sure your answer uses {words}.",
            "Your response must mention {words}.",
        ),
        args=[Arg("keywords", list, "the words the response must contain")],
        sample=lambda rng: _sample_words(rng, "keywords"),
        fields=lambda kw: {"words": _quoted(kw["keywords"], "and")},
    ),
    ConstraintType(
        "keywords:frequency",
        _keyword_frequency,
        (
            "Make the word {keyword} appear {relation} {frequency} times in your response.",
            'Use the word "{keyword}" {relation} {frequency} times in your answer.',
            'The word "{keyword}" must occur {relation} {frequency} times in what you write.',
        ),
        args=[
            Arg("keyword", str, "the word to count", normalise=_strip),
            _count_arg("frequency", "the number of occurrences compared against"),
            _relation_arg(),
        ],
        sample=_sample_keyword_frequency,
    ),
    ConstraintType(
        "keywords:forbidden_words",
        _has_no_forbidden_word,
        (
            "Avoid {words} entirely in your response.",
            "Never use {words} in your answer.",
            "Your response must not contain {words}.",
        ),
        args=[Arg("forbidden_words", list, "the words the response must avoid")],
        sample=lambda rng: _sample_words(rng, "forbidden_words"),
        fields=lambda kw: {"words": _quoted(kw["forbidden_words"], "or")},
    ),
    ConstraintType(
        "keywords:letter_frequency",
        _letter_frequency,
        (
            "Make the letter {letter} appear {let_relation} {let_frequency} times in your response.",
            'Use the letter "{letter}" {let_relation} {let_frequency} times in your answer.',
            'The letter "{letter}" must occur {let_relation} {let_frequency} times in your response.',
        ),
        args=[
            Arg("letter", str, "the character to count (case-insensitive)", normalise=_strip_lower),
            _count_arg("let_frequency", "the number of occurrences compared against"),
            _relation_arg("let_relation"),
        ],
        sample=_sample_letter_frequency,
        cross_check=_single_character,
    ),
    ConstraintType(
        "language:response_language",
        _in_language,
        (
            "Write your ENTIRE response in {name}; using any other language is not allowed.",
            "Write your whole answer in {name} only; do not use any other language.",
            "Respond only in {name}, with no text in any other language.",
        ),
        args=[
            Arg(
                "language",
                str,
                "ISO 639-1 code of the required language",
                choices=tuple(LANGUAGE_NAMES),
                normalise=_strip_lower,
            )
        ],
        sample=lambda rng: {"language": rng.choice(SAMPLED_LANGUAGES)},
        fields=lambda kw: {"name": LANGUAGE_NAMES[kw["language"]]},
    ),
    ConstraintType(
        "length_constraints:number_sentences",
        _sentence_count,
        (
            "Your answer should have {relation} {num_sentences} sentences.",
            "Write {relation} {num_sentences} sentences.",
            "Your answer must be made of {relation} {num_sentences} sentences.",
        ),
        args=[_count_arg("num_sentences", "the sentence count compared against"), _relation_arg()],
        sample=_relation_sampler("num_sentences", at_least=(2, 15), less_than=(3, 20)),
    ),
    ConstraintType(
        "length_constraints:number_paragraphs",
        _paragraph_count,
        (
            "Your response needs {num_paragraphs} paragraphs, separated by the markdown divider: ***",
            "Write exactly {num_paragraphs} paragraphs, separated from each other by the markdown divider ***.",
            "Your response must have {num_paragraphs} paragraphs, with a *** line between consecutive paragraphs.",
        ),
        args=[_count_arg("num_paragraphs", "the exact number of paragraphs")],
        sample=_sampler(num_paragraphs=(2, 5)),
    ),
    ConstraintType(
        "length_constraints:number_words",
        _word_count,
        (
            "Respond using {relation} {num_words} words.",
            "Your response should be {relation} {num_words} words long.",
            "Use {relation} {num_words} words in your answer.",
        ),
        args=[_count_arg("num_words", "the word count compared against"), _relation_arg()],
        sample=_relation_sampler("num_words", at_least=(50, 400), less_than=(50, 300)),
    ),
    ConstraintType(
        "length_constraints:nth_paragraph_first_word",
        _nth_paragraph_first_word,
        (
            "Your response needs {num_paragraphs} paragraphs, and only paragraphs are separated from each other, by two new lines (a blank line). Paragraph {nth_paragraph} has to start with the word {first_word}.",
            "Write {num_paragraphs} paragraphs separated by blank lines (two line breaks), and begin paragraph {nth_paragraph} with the word {first_word}.",
            "Your answer must consist of {num_paragraphs} paragraphs, divided by empty lines only; the first word of paragraph {nth_paragraph} must be {first_word}.",
        ),
        args=[
            _count_arg("num_paragraphs", "the exact number of paragraphs"),
            _count_arg("nth_paragraph", "which paragraph (1-based) must start with first_word"),
            Arg(
                "first_word", str, "the word that paragraph must start with", normalise=_strip_lower
            ),
        ],
        sample=_sample_nth_paragraph,
        cross_check=_nth_within_count,
    ),
    ConstraintType(
        "detectable_content:number_placeholders",
        _placeholder_count,
        (
            "Your response needs at least {num_placeholders} placeholders written in square brackets, for example [address].",
            "Include at least {num_placeholders} placeholders in square brackets, like [name].",
            "Use at least {num_placeholders} bracketed placeholders such as [date] in your answer.",
        ),
        args=[_count_arg("num_placeholders", "the minimum number of [placeholders]")],
        sample=_sampler(num_placeholders=(1, 4)),
    ),
    ConstraintType(
        "detectable_content:postscript",
        _has_postscript,
        (
            "End your response with an explicit postscript that starts with {postscript_marker}{end}",
            "Finish with a postscript that begins with {postscript_marker}{end}",
            "Add a postscript at the end of your answer, starting with {postscript_marker}{end}",
        ),
        args=[
            Arg(
                "postscript_marker",
                str,
                "the marker starting the postscript, e.g. P.S.",
                normalise=_strip,
            )
        ],
        sample=lambda rng: {"postscript_marker": rng.choice(POSTSCRIPT_MARKERS)},
        fields=_postscript_fields,
    ),
    ConstraintType(
        "detectable_format:number_bullet_lists",
        _bullet_count,
        (
            "Your answer needs exactly {num_bullets} bullet points, written as markdown bullets like:\n* First point.\n* Second point.",
            "Give exactly {num_bullets} markdown bullet points, each on its own line starting with '* '.",
            "Format your answer as exactly {num_bullets} bullet points using markdown, for example:\n* First point\n* Second point",
        ),
        args=[_count_arg("num_bullets", "the exact number of bullet points", minimum=0)],
        sample=_sampler(num_bullets=(2, 6)),
    ),
    ConstraintType(
        "detectable_format:constrained_response",
        _is_constrained_response,
        (
            "Choose one of these options for your answer: ('My answer is yes.', 'My answer is no.', 'My answer is maybe.')",
            'Your answer must contain one of these exact sentences: "My answer is yes.", "My answer is no.", "My answer is maybe."',
            'Reply using one of the options "My answer is yes.", "My answer is no." or "My answer is maybe."',
        ),
    ),
    ConstraintType(
        "detectable_format:number_highlighted_sections",
        _highlight_count,
        (
            "Use markdown to highlight at least {num_highlights} sections of your answer, e.g. *highlighted section*.",
            "Mark at least {num_highlights} parts of your answer as highlighted with markdown, like *this part*.",
            "Use markdown to highlight at least {num_highlights} sections, for example *important note*.",
        ),
        args=[_count_arg("num_highlights", "the minimum number of *highlighted* sections")],
        sample=_sampler(num_highlights=(1, 4)),
    ),
    ConstraintType(
        "detectable_format:multiple_sections",
        _section_count,
        (
            "Split your response into {num_sections} sections and start each one with {section_spliter} X, like this:\n{section_spliter} 1\n[first section]\n{section_spliter} 2\n[second section]",
            "Divide your answer into {num_sections} sections, each starting with '{section_spliter} N' where N is the section number.",
            "Organise the response in {num_sections} parts and begin each with {section_spliter} followed by its number ({section_spliter} 1, {section_spliter} 2, ...).",
        ),
        args=[
            Arg(
                "section_spliter",
                str,
                "the word that starts each section, e.g. SECTION",
                normalise=_strip,
            ),
            _count_arg("num_sections", "the minimum number of sections"),
        ],
        sample=_sample_sections,
    ),
    ConstraintType(
        "detectable_format:json_format",
        _is_json,
        (
            "Wrap your whole output in JSON format; markdown ticks such as ``` are allowed.",
            "Format your entire answer as valid JSON; you may put it in a ``` code block.",
            "Your whole response must be a JSON document (markdown code fences are allowed).",
        ),
    ),
    ConstraintType(
        "detectable_format:title",
        _has_title,
        (
            "Include a title in your answer, wrapped in double angular brackets, for example <<song of the sea>>.",
            "Give your answer a title in double angle brackets, like <<my title>>.",
            "Include a title wrapped in double angular brackets, e.g. <<a new day>>.",
        ),
    ),
    ConstraintType(
        "combination:two_responses",
        _two_different_responses,
        (
            "Write two different responses; separate the two responses, and nothing else, with 6 asterisk symbols: ******.",
            "Write two different answers, separated by a line of six asterisks (******) and nothing else.",
            "Provide two distinct responses, divided only by six asterisks: ******.",
        ),
    ),
    ConstraintType(
        "combination:repeat_prompt",
        _repeats_prompt_first,
        (
            "Repeat the request word for word and unchanged before you answer it (1. write nothing at all before the repeated request; 2. leave this sentence out of the repetition).",
            "Begin by copying the request above exactly, word for word and with nothing before it (leave out this sentence), and then answer it.",
            "Start your reply with the request repeated verbatim (excluding this sentence), with no words before it, then give your answer.",
        ),
        args=[
            Arg(
                "prompt_to_repeat",
                str,
                "the request text the response must start with (else the checked prompt)",
                optional=True,
            )
        ],
        needs_prompt=True,
    ),
    ConstraintType(
        "startend:end_checker",
        _ends_with_phrase,
        (
            "End your response with the exact phrase {end_phrase}, and do not write anything after it.",
            'End your answer with the exact words "{end_phrase}" and write nothing after them.',
            'The last words of your response must be "{end_phrase}", with nothing following.',
        ),
        args=[Arg("end_phrase", str, "the phrase the response must end with", normalise=_strip)],
        sample=lambda rng: {"end_phrase": rng.choice(END_PHRASES)},
    ),
    ConstraintType(
        "startend:quotation",
        _is_quoted,
        (
            "Enclose your entire response in double quotation marks.",
            "Put your whole answer inside double quotes.",
            'Your entire response must start and end with a double quotation mark (").',
        ),
    ),
    ConstraintType(
        "change_case:capital_word_frequency",
        _capital_word_frequency,
        (
            "Words written in all capital letters should appear {capital_relation} {capital_frequency} times in your response.",
            "Use {capital_relation} {capital_frequency} words written entirely in capital letters.",
            "Your answer must contain {capital_relation} {capital_frequency} fully capitalised words (like THIS).",
        ),
        args=[
            _count_arg("capital_frequency", "the number of all-capital words compared against"),
            _relation_arg("capital_relation"),
        ],
        sample=_sample_capital_frequency,
    ),
    ConstraintType(
        "change_case:english_capital",
        _all_capitals_in_english,
        (
            "Write your entire response in English and in capital letters only.",
            "Write your whole answer in English using only capital letters.",
            "Respond in English, entirely in UPPERCASE letters.",
        ),
    ),
    ConstraintType(
        "change_case:english_lowercase",
        _all_lowercase_in_english,
        (
            "Write your entire response in English and in lowercase letters only; capital letters are not allowed.",
            "Write your whole answer in English using only lowercase letters; no capitals at all.",
            "Respond in English, entirely in lowercase letters, without a single capital letter.",
        ),
    ),
    ConstraintType(
        "punctuation:no_comma",
        _has_no_comma,
        (
            "Do not use a single comma anywhere in your response.",
            "Do not use any commas in your answer.",
            "Your answer must be written without any commas.",
        ),
    ),
)
