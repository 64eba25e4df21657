"""MulDimIF's length checkers: Length_Words, Length_Sentences, Length_Paragraphs.

Each checker parses its requirement text the way the reference (Junjie-Ye/MulDimIF at
``efd0c02``, ``Code/evaluation/scripts/Length_*.py``) does, with the same phrase lists and
number words, and counts the response the same way, bugs included:

- words are whitespace-delimited chunks (``str.split``), except that a response holding any
  CJK character (or CJK punctuation, full-width form, ideographic space) counts those
  characters instead;
- sentences, for Length_Sentences, are the ``.``/``!``/``?`` characters of the response (the
  reference counts the pieces ``[^.!?]*[.!?]``, one per such character, so ``"Wait..."``
  is three sentences and a text without them has none); Length_Words' sentence bounds count
  runs of them instead;
- paragraphs are the non-blank pieces between ``"\\n\\n"``.

Requirement text is parsed with the stdlib ``re`` (the reference's own engine: the same
matches, and the requirement is trusted data), once per distinct requirement (cached). Every
pattern applied to the response runs through ``._regex`` (time-limited ``regex`` engine),
with ``\\w``/``\\s`` spelled as Python 3.11's ``re`` understands them (``_WORD``,
``_SPACE``: the same characters on every character Unicode 14 assigns); the line-structure
tests (table, bullet, numbered-list detection) are restated with string methods, which give
the same answers in linear time.

An unparsable requirement gives the reference's verdict: True for Length_Words and
Length_Sentences (no bound, nothing to violate), False for Length_Paragraphs. The
reference's crashes are decided here (see ``check_length_words``).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import _regex

# Python 3.11's `re` meaning of \w and \s, for the `regex` engine (whose own \w adds marks
# and connector punctuation, and whose \s lacks U+001C..U+001F).
_WORD = r"[\p{L}\p{N}_]"
_SPACE = r"[\s\x1c-\x1f]"

# ---------------------------------------------------------------------------------------------
# Length_Words
# ---------------------------------------------------------------------------------------------

# The reference's number words for word counts (compound forms are summed: "twenty five").
_WORD_NUMBERS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}  # fmt: skip

# CJK ideographs, CJK symbols and punctuation, full-width forms: a response holding any of
# them has its words counted as these characters (the reference's test for Chinese text).
_CJK = _regex.compile("[\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\u3000-\u303f\uff00-\uffef]")
_TERMINATOR_RUN = _regex.compile(r"[.!?]+")

_EXACT = re.compile(r"exactly\s+([a-z0-9-, ]+?)\s+(\S+)")
# Tried in order; the first that yields two numbers wins. A match whose numbers do not both
# parse leaves its (partial) values behind for the next step, as in the reference.
_RANGES = tuple(
    re.compile(p)
    for p in (
        r"between\s+([a-z0-9-– ]+?)\s+to\s+([a-z0-9-– ]+?)(?=\s*word|$|\b)",
        r"between\s+([a-z0-9-– ]+?)\s+and\s+([a-z0-9-– ]+?)(?=\s*word|$|\b)",
        r"range:?\s*([a-z0-9-– ]+?)\s+to\s+([a-z0-9-– ]+?)(?=\s*word|$|\b)",
        r"range:?\s*([a-z0-9-– ]+?)\s*[-–]\s*([a-z0-9-– ]+?)(?=\s*word|$|\b)",
        r"(\b[a-z0-9-–]+\b)\s+to\s+(\b[a-z0-9-–]+\b)(?=\s*word|$|\b)",
        r"(\b[a-z0-9-–]+\b)\s*[-–]\s*(\b[a-z0-9-–]+\b)(?=\s*word|$|\b)",
        r"([0-9]+)\s*到\s*([0-9]+)(?=\s*个|字)",
    )
)
_MIN_WORDS = re.compile(
    r"(?:at\s+least|minimum\s+of|minimum\s+length\s+of|no\s+less\s+than)\s+(\S+)\s+word"
)
_MAX_WORDS = re.compile(
    r"(?:not\s+exceed|not\s+exceeding|not\s+surpass|at\s+most|no\s+more\s+than|maximum\s+of"
    r"|maximum\s+length\s+of|no\s+longer\s+than|limit\s+of|within|within\s+a)\s+(\S+)\s+word"
)
_MAX_WORDS_ZH = (
    re.compile(r"(?:最多)([0-9]+)(?:个|字)"),
    re.compile(r"(?:在)([0-9]+)\s*(?:个单词以内|个字以内|字以内|单词以内|词以内|字)"),
)
_MIN_SENTENCES = re.compile(r"(?:at\s+least|minimum\s+of)\s+(\S+)\s+sentence")
_MAX_SENTENCES = re.compile(
    r"(?:not\s+exceed|at\s+most|no\s+more\s+than|maximum\s+of|maximum\s+length\s+of"
    r"|no\s+longer\s+than)\s+(\S+)\s+sentence"
)
# Quoted text in the (lower-cased, rewritten) requirement: each must occur in the response.
_QUOTED = re.compile(r"[\"']([^\']*)[\"']")


def _words_number(text: str) -> int | None:
    """A count written in digits (commas allowed) or in number words ("twenty-five",
    "one hundred"), as the reference reads it; None when it is neither.

    A string of digits that ``int`` cannot read (superscripts: ``str.isdigit`` holds for
    them) makes the reference raise ValueError; here it is not a number."""
    text = text.strip().replace(",", "")
    if text.isdigit():
        return int(text) if text.isdecimal() else None
    total = current = 0
    for part in re.split(r"[\s-]+", text.lower()):
        value = _WORD_NUMBERS.get(part)
        if value is None:
            return None
        if value >= 100:
            total += max(current, 1) * value
            current = 0
        else:
            current += value
    return total + current


def _has_cjk_keyword(keyword: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in keyword)


@functools.lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> object:
    """The reference's keyword match: case-insensitive, not inside a longer word; a keyword
    with a CJK ideograph is matched case-sensitively anywhere."""
    if _has_cjk_keyword(keyword):
        return _regex.compile(_regex.escape(keyword))
    return _regex.compile(rf"(?<!{_WORD}){_regex.escape(keyword)}(?!{_WORD})", _regex.IGNORECASE)


def _has_keyword(keyword: str, text: str) -> bool:
    return _regex.search(_keyword_pattern(keyword), text) is not None


@dataclass(frozen=True)
class _WordBounds:
    """A plain (not "each ...") Length_Words requirement, parsed."""

    exact: int | None
    min_words: int | None
    max_words: int | None
    min_sentences: int | None
    max_sentences: int | None
    keywords: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def _parse_word_bounds(requirement: str) -> _WordBounds:
    text = requirement.lower().strip('"').strip()
    text = re.sub(r"\s+", " ", text)
    text = text.replace("-word", " word").replace("a total of ", "").replace("words", "word")
    text = text.replace("a single", "exactly one").strip()

    exact = None
    if match := _EXACT.search(text):
        exact = _words_number(match.group(1).strip())
        if exact is not None:
            return _WordBounds(exact, None, None, None, None, ())

    low = high = None
    for pattern in _RANGES:
        if match := pattern.search(text):
            low, high = _words_number(match.group(1)), _words_number(match.group(2))
            if low is not None and high is not None:
                low, high = min(low, high), max(low, high)
                break
    if low is None and (match := _MIN_WORDS.search(text)):
        low = _words_number(match.group(1))
    if high is None:
        if match := _MAX_WORDS.search(text):
            high = _words_number(match.group(1))
        for pattern in _MAX_WORDS_ZH:
            if high is None and (match := pattern.search(text)):
                high = _words_number(match.group(1))
    min_sentences = max_sentences = None
    if match := _MIN_SENTENCES.search(text):
        min_sentences = _words_number(match.group(1))
    if match := _MAX_SENTENCES.search(text):
        max_sentences = _words_number(match.group(1))
    keywords = tuple(match.group(1) for match in _QUOTED.finditer(text))
    return _WordBounds(None, low, high, min_sentences, max_sentences, keywords)


def _count_words(text: str) -> int:
    if not text.isascii() and _regex.search(_CJK, text) is not None:
        return len(_regex.findall(_CJK, text))
    return len(text.split())


def _check_plain_words(bounds: _WordBounds, response: str) -> bool:
    words = _count_words(response)
    if bounds.exact is not None:
        return words == bounds.exact
    if not all(_has_keyword(keyword, response) for keyword in bounds.keywords):
        return False
    if bounds.min_words is not None and words < bounds.min_words:
        return False
    if bounds.max_words is not None and words > bounds.max_words:
        return False
    if bounds.min_sentences is not None or bounds.max_sentences is not None:
        sentences = len(_regex.findall(_TERMINATOR_RUN, response))
        if bounds.min_sentences is not None and sentences < bounds.min_sentences:
            return False
        if bounds.max_sentences is not None and sentences > bounds.max_sentences:
            return False
    return True


# --- "each ..." requirements: a bound on every element (table cell, list item, line) -------

_EACH = re.compile(r"\beach\b", re.IGNORECASE)
_EACH_WORD_MUST_BE = re.compile(r"each word must be", re.IGNORECASE)
_CHARACTER_BOUND = re.compile(
    r"(?i)must be (at most|at least) "
    r"(\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b) characters"
)
_SMALL_NUMBERS = dict(
    zip(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
        range(1, 11),
    )
)
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)
_EACH_TARGET = re.compile(
    r"(?:each entry in the|Each entry in the|Each|each|The|the)\s+(.+?)\s+"
    r"(?:is|in the table|column|must|consists of|contains?|should|have)",
    re.IGNORECASE,
)
# (pattern, kind) in the reference's order; the first match decides.
_EACH_BOUNDS = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"between (\d+) and (\d+) words", "range"),
        (r"range: (\d+)-(\d+) words", "range"),
        (r"at least (\d+) words", "min"),
        (r"a minimum of (\d+) words", "min"),
        (r"a minimum length of (\d+) words", "min"),
        (r"at most (\d+) words", "max"),
        (r"exactly (\d+) words", "exact"),
        (r"no more than (\d+) words", "max"),
        (r"not exceed (\d+) words", "max"),
        (r"a maximum of (\d+) words", "max"),
        (r"a maximum length of (\d+) words", "max"),
        (r"limit of (\d+) words", "max"),
        (r"not exceeding (\d+) words", "max"),
        (r"less than (\d+) words", "max"),
    )
)
_NUMBERED_ITEM = _regex.compile(rf"^{_SPACE}*\d+\.{_SPACE}+")
_BULLET_ITEM = _regex.compile(rf"^{_SPACE}*[-*] ")
_TABLE_SEPARATOR_CHARS = frozenset("|*-")
_TITLE_SPLIT = "<TitleSplit>"  # the reference's marker for a table's header separator row


@dataclass(frozen=True)
class _EachBounds:
    """An "each ..." Length_Words requirement, parsed: the element kind named after "each"
    (None if none) and the word bounds every element must meet."""

    target: str | None
    min_words: int | None
    max_words: int | None


@functools.lru_cache(maxsize=4096)
def _parse_each_bounds(requirement: str) -> _EachBounds | None:
    text = _NUMBER_WORD.sub(lambda m: str(_WORD_NUMBERS[m.group().lower()]), requirement)
    target = None
    if match := _EACH_TARGET.search(text):
        target = match.group(1).lower().replace('"', "").replace("'", "")
    for pattern, kind in _EACH_BOUNDS:
        if match := pattern.search(text):
            if kind == "range":
                return _EachBounds(target, int(match[1]), int(match[2]))
            value = int(match[1])
            if kind == "min":
                return _EachBounds(target, value, None)
            if kind == "max":
                return _EachBounds(target, None, value)
            return _EachBounds(target, value, value)
    return None


@functools.lru_cache(maxsize=4096)
def _parse_character_bound(requirement: str) -> tuple[str, int] | None:
    """("at most"/"at least"/other spelling, n) of an "each word must be ... characters"
    requirement, or None when it has no such bound."""
    match = _CHARACTER_BOUND.search(requirement)
    if match is None:
        return None
    number = match.group(2)
    value = int(number) if number.isdecimal() else _SMALL_NUMBERS.get(number.lower(), 0)
    return match.group(1), value


def _starts_table_line(text: str) -> bool:
    """``re.search(r'^\\s*\\|.+\\|', text, re.M)``: some line, after its leading whitespace,
    starts with ``|`` and has another ``|`` at least two characters on."""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("|") and "|" in stripped[2:]:
            return True
    return False


def _starts_with_list_item(text: str) -> str | None:
    """The reference's format detection at the start of the text (its patterns have no
    MULTILINE flag): 'json', 'table' (anywhere), 'numbered', 'bullet' or None (plain)."""
    head = text.lstrip()
    if head[:1] in ("{", "["):
        return "json"
    if _starts_table_line(text):
        return "table"
    if _regex.match(_NUMBERED_ITEM, text) is not None:
        return "numbered"
    if head[:2] in ("- ", "* "):
        return "bullet"
    return None


def _table_elements(text: str, target: str) -> list[str]:
    """The reference's table reading: cells of the lines starting with ``|`` (the separator
    row becomes a marker), grouped into rows under the header cells; the cells of the columns
    whose header contains ``target`` (rows whose cell repeats its header skipped), or every
    cell (markers included) when no column matches."""
    cells: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line.startswith("|"):
            continue
        if all(char.isspace() or char in _TABLE_SEPARATOR_CHARS for char in line):
            cells.append(_TITLE_SPLIT)
        else:
            cells.extend(cell.strip() for cell in line[1:-1].split("|") if cell.strip())
    if _TITLE_SPLIT in cells:
        split = cells.index(_TITLE_SPLIT)
        headers = cells[:split]
        data = [cell for cell in cells[split + 1 :] if cell != _TITLE_SPLIT]
    else:
        headers, data = cells, []
    width = len(headers)
    if width == 0:
        return []
    wanted = target.lower()
    found: list[str] = []
    matched = False
    for start in range(0, len(data) - width + 1, width):
        row = dict(zip(headers, data[start : start + width]))  # repeated headers collapse
        for key, value in row.items():
            if key.lower() == value.lower():
                continue
            if wanted in key.lower():
                found.append(value)
                matched = True
    return found if matched else cells


def _json_elements(text: str, target: str | None) -> list[str]:
    # The reference wraps this in a bare `except`: anything going wrong means no elements
    # (malformed or too deep JSON, no target, a list or a scalar, a blank target).
    try:
        data = json.loads(text)
        if "entry" in target:
            return [str(value) for value in data.values()]
        return [str(data.get(target.split()[-1], ""))]
    except (ValueError, RecursionError, TypeError, AttributeError, IndexError):
        return []


def _each_elements(text: str, target: str | None) -> list[str]:
    kind = _starts_with_list_item(text)
    if kind == "table":
        return _table_elements(text, "cells" if target is None else target)
    if kind == "json":
        return _json_elements(text, target)
    lines = text.split("\n")
    if kind == "numbered":
        return [
            line.split(":", 1)[-1].split(".", 1)[-1].strip()
            for line in lines
            if _regex.match(_NUMBERED_ITEM, line) is not None
        ]
    if kind == "bullet":
        return [
            line.split(" ", 1)[1].strip()
            for line in lines
            if _regex.match(_BULLET_ITEM, line) is not None
        ]
    elements = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.strip("*#'\"").endswith(":"):
            continue
        if len(stripped) >= 2 and stripped[0] == "|" and stripped[-1] == "|":
            continue
        elements.append(stripped.lstrip("#").strip())
    return elements


def _check_each_words(requirement: str, response: str) -> bool:
    if _EACH_WORD_MUST_BE.search(requirement):
        bound = _parse_character_bound(requirement)
        if bound is None:
            return False  # the reference raises AttributeError: see check_length_words
        relation, limit = bound
        words = response.split(" ")
        if relation == "at most":
            return all(len(word) <= limit for word in words)
        if relation == "at least":
            return all(len(word) >= limit for word in words)
        # Another spelling ("At most") falls through to the word bounds, as in the reference.
    bounds = _parse_each_bounds(requirement)
    if bounds is None:
        return False
    elements = _each_elements(response, bounds.target)
    if not elements:
        return False
    low, high = bounds.min_words, bounds.max_words
    for element in elements:
        count = len(element.split())
        if (low is not None and count < low) or (high is not None and count > high):
            return False
    return True


def check_length_words(requirement: str, response: str) -> bool:
    """MulDimIF's Length_Words: the response's word count within the requirement's bounds.

    A requirement with the word "each" bounds every element of the response instead: the
    cells of a table (those of the column named after "each", if one is), the items of a
    numbered or bulleted list or the values of a JSON object when the response starts with
    one, else every non-blank line that is not a heading ending in ``:``; any bound phrase
    ("at most 10 words", "a maximum of 20 words", ...) must be found, else False, and there
    must be at least one element. "each word must be at most/at least N characters" bounds
    the length of every space-separated word.

    Otherwise (the reference's order): "exactly N ..." decides alone (even when N counts
    sentences); then a range ("between 50 and 100", "range: 5-10", "10 to 20"), a minimum
    ("at least", "minimum of", ...), a maximum ("at most", "no more than", "not exceed",
    "within", ...), sentence bounds ("at least 3 sentences": runs of ``.!?``), and every
    quoted text of the requirement must appear in the response as a whole word. No bound
    found: True.

    Differences from the reference, all on inputs where it raises: "each word must be"
    without "must be at most/at least N characters" is False (AttributeError there); a
    character bound in words ("at most five characters") is read as the number (ValueError
    there); a digit string ``int`` cannot read (``"²"``) is no number (ValueError there).
    """
    if _EACH.search(requirement):
        return _check_each_words(requirement, response)
    return _check_plain_words(_parse_word_bounds(requirement), response)


# ---------------------------------------------------------------------------------------------
# Length_Sentences
# ---------------------------------------------------------------------------------------------

_SENTENCE_NUMBERS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "fifty": 50, "hundred": 100, "thousand": 1000,
    "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
    "两": 2,
}  # fmt: skip
_N = r"(\d+|" + "|".join(_SENTENCE_NUMBERS) + r")"
_ZH_SENTENCES = r"(?:个句子|句话|句|個句子)"

# (pattern, kind) in the reference's order, searched in the lower-cased requirement; the
# first match decides: "exact" (N..N), "single" (1..1), "min", "max", "range".
_SENTENCE_BOUNDS = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (rf"exactly(?:[:])? {_N} (?:topic )?sentences?", "exact"),
        (rf"(?:should|must) contain {_N} sentences?", "exact"),
        (rf"must be exactly {_N} sentences?", "exact"),
        (r"(?:must|should)? be a single sentence", "single"),
        (r"consisting of (?:only )?one sentence", "single"),
        (r"(?:the response|the text|the answer) must be a single sentence", "single"),
        (r"in a single sentence", "single"),
        (rf"at least(?:[:])? {_N} sentences?", "min"),
        (rf"a minimum of {_N} sentences?", "min"),
        (rf"no fewer than {_N} sentences?", "min"),
        (rf"(?:包含)?(?:至少|最少)(?:包含)?{_N}{_ZH_SENTENCES}", "min"),
        (rf"(?:must )?contain at most {_N} sentences?", "max"),
        (rf"at most(?:[:])? {_N} sentences?", "max"),
        (rf"not exceeding {_N} sentences?", "max"),
        (rf"no (?:more|longer) than {_N} sentences?", "max"),
        (rf"limited to {_N} sentences?", "max"),
        (rf"(?:must|should)? not exceed {_N} sentences?", "max"),
        (rf"a maximum (?:length )?of {_N} sentences?", "max"),
        (rf"not to exceed {_N} sentences?", "max"),
        (rf"not surpass(?: a total of)? {_N} sentences?", "max"),
        (rf"(?:至多|最多)(?:包含)?{_N}{_ZH_SENTENCES}", "max"),
        (rf"range(?:[:])? {_N}-{_N} sentences?", "range"),
        (rf"between {_N} and {_N} sentences?", "range"),
        (rf"between {_N} to {_N} sentences?", "range"),
        (rf"into {_N} to {_N} sentences?", "range"),
        (rf"a range of {_N} to {_N} sentences?", "range"),
        (rf"be composed of {_N} to {_N} sentences?", "range"),
        (rf"consists? of {_N} to {_N} sentences?", "range"),
        (rf"consisting of {_N} to {_N} sentences?", "range"),
        (rf"{_N}到{_N}{_ZH_SENTENCES}", "range"),
        (rf"organized into at least {_N} sentences?", "min"),
        (rf"structured into at most {_N} sentences?", "max"),
    )
)


def _bound_number(text: str, words: dict[str, int]) -> int:
    """Digits, or a listed number word; anything else counts as 0 (as in the reference)."""
    if text.isdigit():
        return int(text)
    return words.get(text.lower(), 0)


def _bounds_of(match: re.Match, kind: str, words: dict[str, int]) -> tuple[int | None, ...]:
    if kind == "single":
        return 1, 1
    value = _bound_number(match.group(1), words)
    if kind == "exact":
        return value, value
    if kind == "min":
        return value, None
    if kind == "max":
        return None, value
    return value, _bound_number(match.group(2), words)


@functools.lru_cache(maxsize=4096)
def _parse_sentence_bounds(requirement: str) -> tuple[int | None, int | None]:
    text = requirement.lower().strip()
    for pattern, kind in _SENTENCE_BOUNDS:
        if match := pattern.search(text):
            return _bounds_of(match, kind, _SENTENCE_NUMBERS)
    return None, None


def check_length_sentences(requirement: str, response: str) -> bool:
    """MulDimIF's Length_Sentences: the number of ``.``, ``!`` and ``?`` characters in the
    response within the requirement's bounds.

    The reference counts the pieces ``[^.!?]*[.!?]``, which is one per such character: an
    ellipsis is three sentences, a decimal point one, a text without them none. The first
    of the reference's phrases that matches the lower-cased requirement decides (in its
    order, so "must contain 5 sentences" is exactly 5 and "must contain at most 5" is a
    maximum); number words are one..twelve, fifteen, twenty, thirty, fifty, hundred,
    thousand (others do not match). No bound found: True.
    """
    low, high = _parse_sentence_bounds(requirement)
    if low is None and high is None:
        return True
    count = response.count(".") + response.count("!") + response.count("?")
    return (low is None or count >= low) and (high is None or count <= high)


# ---------------------------------------------------------------------------------------------
# Length_Paragraphs
# ---------------------------------------------------------------------------------------------

_PARAGRAPH_NUMBERS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10,
    "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
    "两": 2,
}  # fmt: skip
_P = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
_PARAGRAPH_BOUNDS = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (rf"exactly {_P} paragraphs?", "exact"),
        (rf"must be exactly {_P} paragraphs?", "exact"),
        (rf"(?:should|must) contain {_P} paragraphs?", "exact"),
        (r"(?:must|should)? be a single paragraph", "single"),
        (r"(?:the response|the text|the answer) must be a single paragraph", "single"),
        (rf"at least {_P} paragraphs?", "min"),
        (rf"least: {_P} paragraphs?", "min"),
        (rf"a minimum of {_P}(?: distinct)? paragraphs?", "min"),
        (rf"at most {_P} paragraphs?", "max"),
        (rf"not exceeding {_P} paragraphs?", "max"),
        (rf"no more than {_P} paragraphs?", "max"),
        (r"最多(?:分为)?(\d+|一|两|二|三|四|五|六|七|八|九|十)个段落", "max"),
        (r"range (\d+)-(\d+) paragraphs?", "range"),
        (r"range: (\d+)-(\d+)", "range"),
        (r"between (\d+) and (\d+) paragraphs?", "range"),
        (r"between (\d+) to (\d+) paragraphs?", "range"),
        (r"(\d+) to (\d+) paragraphs?", "range"),
        (r"(?:divided)? into (\d+) to (\d+) paragraphs?", "range"),
        (r"a range of (\d+) to (\d+) paragraphs?", "range"),
        (rf"organized into at least {_P} paragraphs?", "min"),
        (rf"structured into at most {_P} paragraphs?", "max"),
    )
)


@functools.lru_cache(maxsize=4096)
def _parse_paragraph_bounds(requirement: str) -> tuple[int | None, int | None]:
    text = requirement.lower()
    for pattern, kind in _PARAGRAPH_BOUNDS:
        if match := pattern.search(text):
            return _bounds_of(match, kind, _PARAGRAPH_NUMBERS)
    return None, None


def check_length_paragraphs(requirement: str, response: str) -> bool:
    """MulDimIF's Length_Paragraphs: the number of non-blank pieces of the response between
    ``"\\n\\n"`` within the requirement's bounds (a single line break does not separate
    paragraphs; three in a row do, leaving a piece that starts with a line break).

    The first of the reference's phrases that matches decides ("exactly N", "a single
    paragraph", "at least N", "at most N", "not exceeding N", "N to M", "between N and M",
    ...); number words one..ten (ranges take digits only). No bound found: False, as in the
    reference.
    """
    low, high = _parse_paragraph_bounds(requirement)
    if low is None and high is None:
        return False
    count = sum(1 for piece in response.split("\n\n") if piece.strip())
    return (low is None or count >= low) and (high is None or count <= high)


# ---------------------------------------------------------------------------------------------
# Synthetic requirement texts
# ---------------------------------------------------------------------------------------------

# Templates in the style of the test set's requirements, each with the bounds it means:
# (template, kind) where kind is "max", "min" or "range" ({n}, or {low} and {high}).
_WORD_TEMPLATES = (
    ("The answer must be at most {n} words.", "max"),
    ("The response should contain at most {n} words", "max"),
    ("The answer must contain no more than {n} words.", "max"),
    ("ensure that the response does not exceed {n} words", "max"),
    ("The answer should be concise, limited to a maximum of {n} words", "max"),
    ("the response should be succinct, not exceeding {n} words in total", "max"),
    ("The answer must be at least {n} words long", "min"),
    ("The response must contain at least {n} words", "min"),
    ("The response should be detailed, consisting of at least {n} words", "min"),
    ("ensuring that the response contains a minimum of {n} words", "min"),
    ("The response should be between {low} and {high} words", "range"),
    ("The answer should be between {low} to {high} words", "range"),
    ("Please provide an answer that is between {low} and {high} words long", "range"),
)
_SENTENCE_TEMPLATES = (
    ("The response must contain at most {n} sentences", "max"),
    ("The response should not exceed {n} sentences", "max"),
    ("ensure that the response is concise, limited to a maximum of {n} sentences", "max"),
    ("the response should be structured to contain no more than {n} sentences", "max"),
    ("The explanation must include at least {n} sentences", "min"),
    ("The summary must contain at least {n} sentences", "min"),
    ("the answer should be structured to include at least {n} sentences", "min"),
    ("The response should consist of between {low} and {high} sentences", "range"),
)
_PARAGRAPH_TEMPLATES = (
    ("The answer must contain at least {n} paragraphs.", "min"),
    ("The answer must be organized into at least {n} paragraphs", "min"),
    ("The answer should contain at most {n} paragraphs", "max"),
    ("the entire response should be concise, not exceeding {n} paragraphs in total", "max"),
    ("The content must be organized into {low} to {high} paragraphs", "range"),
    ("composed of between {low} and {high} paragraphs to maintain a clear structure", "range"),
    ("Please provide your answer in exactly {n} paragraphs", "exact"),
)


def _fill(rng: random.Random, templates, numbers: tuple[int, ...]):
    """(requirement, (low, high)) from a random template and random bounds."""
    template, kind = rng.choice(templates)
    if kind == "range":
        low, high = sorted(rng.sample(numbers, 2))
        return template.format(low=low, high=high), (low, high)
    n = rng.choice(numbers)
    bounds = {"max": (None, n), "min": (n, None), "exact": (n, n)}[kind]
    return template.format(n=n), bounds


def sample_words_requirement(rng: random.Random) -> tuple[str, tuple[int | None, int | None]]:
    return _fill(rng, _WORD_TEMPLATES, (20, 30, 50, 80, 100, 120, 150, 200, 250, 300))


def sample_sentences_requirement(
    rng: random.Random,
) -> tuple[str, tuple[int | None, int | None]]:
    return _fill(rng, _SENTENCE_TEMPLATES, (2, 3, 4, 5, 6, 8, 10))


def sample_paragraphs_requirement(
    rng: random.Random,
) -> tuple[str, tuple[int | None, int | None]]:
    return _fill(rng, _PARAGRAPH_TEMPLATES, (2, 3, 4, 5, 6))


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "Length_Words": check_length_words,
    "Length_Sentences": check_length_sentences,
    "Length_Paragraphs": check_length_paragraphs,
}
REQUIREMENT_SAMPLERS: dict[str, Callable[[random.Random], str]] = {
    "Length_Words": lambda rng: sample_words_requirement(rng)[0],
    "Length_Sentences": lambda rng: sample_sentences_requirement(rng)[0],
    "Length_Paragraphs": lambda rng: sample_paragraphs_requirement(rng)[0],
}
