"""MulDimIF's format checkers: Format_Json, Format_Markdown, Format_Table, Format_Others.

Each checker restates the reference's behaviour (Junjie-Ye/MulDimIF at ``efd0c02``,
``Code/evaluation/scripts/<Class>.py``): the English phrases it recognises in the requirement,
the number words it understands, and the test it then applies to the response, quirks
included. The requirement is parsed once per distinct text (``functools.lru_cache``); the
response is scanned with plain string operations where they are exactly equivalent to the
reference's regular expression (linear time, no backtracking), and otherwise through
:mod:`._regex` (time-limited).

Deliberate differences from the reference, all on inputs where the reference crashes:

- Format_Json: a JSON document Python's ``json`` cannot load for reasons other than syntax
  (nesting deeper than the interpreter's recursion limit, an integer literal over 4,300
  digits) counts as no JSON (False); the reference raises. The nesting depth is computed
  iteratively, so a document that loads is never too deep to measure (the reference's
  recursive depth raises RecursionError from about 490 levels).
- Format_Markdown: a block-quote requirement saying "at least" without "<N> block quotes"
  asks for at least one quoted line (the reference raises AttributeError).
- Format_Others: "Must include 'two'" (a quoted number word, which the reference turns into
  the int 2 and then raises TypeError on) looks for "2".

Patterns applied to a response spell out ``re``'s ``\\s`` (``str.isspace``). The ``regex``
package's ``\\w`` (Unicode word property) differs from ``re``'s (``isalnum`` or ``_``) on
combining marks and some number characters (superscript digits), and its ``\\d`` on about 110
digits newer than Python 3.11's Unicode tables: the XML attribute count, the APA, references
and phrase checks of Format_Others apply them to a response, and requirement parsing to the
requirement.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _regex as rx

# ---------------------------------------------------------------------------------------------
# shared helpers

_WORDS_TO_TEN = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_VALUE_TO_TEN = {word: i for i, word in enumerate(_WORDS_TO_TEN, start=1)}


def _lines(text: str) -> list[str]:
    # The reference's ``^``/``$`` (MULTILINE) and ``.`` only know "\n" as a line break.
    return text.split("\n")


def _first_pattern(patterns, text: str):
    """(tag, match) of the first pattern, in list order, that matches ``text``."""
    for tag, pattern in patterns:
        found = rx.search(pattern, text)
        if found:
            return tag, found
    return None, None


# ---------------------------------------------------------------------------------------------
# Format_Json

_JSON_NUMBER = r"(\d+|two|three)"  # the reference knows only these two number words
_JSON_WORDS = {"two": 2, "three": 3}


def _json_patterns(templates: tuple[str, ...]) -> tuple:
    return tuple(rx.compile(t.replace("N", _JSON_NUMBER)) for t in templates)


# Applied, in order, to the lowercased requirement stripped of punctuation; the first match
# fixes the exact depth.
_JSON_EXACT = _json_patterns(
    (
        r"exactly N levels? of nesting",
        r"structured as a json object with a nesting level of N",
        r"json example with exactly N levels?",
        r"object nesting levels must be N",
        r"nesting level of N",
        r"be limited to N levels of nesting",
    )
)
# Every match of every pattern counts; the strictest bound wins.
_JSON_MAX = _json_patterns(
    (
        r"must not exceed N levels? of nesting",
        r"no more than N levels?",
        r"maximum of N nesting levels",
        r"maximum of N object nesting levels",
        r"maximum of N levels",
        r"not exceed N levels",
        r"levels not exceeding N",
        r"with the structure not exceeding N levels",
        r"object nesting levels must not exceed N levels",
        r"object nesting levels must not exceed N",
        r"json must have a maximum of N nesting levels",
        r"response must not exceed N levels? of nesting",
        r"and at most N",
    )
)
_JSON_MIN = _json_patterns(
    (
        r"at least N levels? of nesting",
        r"at least N levels? deep",
        r"must include a json object with at least N levels?",
        r"and at least N",
    )
)
_NOT_WORD_OR_SPACE = rx.compile(r"[^\w\s]")


def _json_number(token: str) -> int | None:
    if token in _JSON_WORDS:
        return _JSON_WORDS[token]
    return int(token) if token.isdigit() else None


@functools.lru_cache(maxsize=4096)
def _json_bounds(requirement: str) -> tuple[int | None, int | None, int | None]:
    """(exact, at most, at least) nesting depth named by the requirement."""
    # (join of split: _regex.sub's wrapper passes the text where ``repl`` belongs)
    text = "".join(rx.split(_NOT_WORD_OR_SPACE, requirement.lower()))
    for pattern in _JSON_EXACT:
        found = rx.search(pattern, text)
        if found and (value := _json_number(found.group(1))) is not None:
            return value, None, None
    highs = [
        v for p in _JSON_MAX for t in rx.findall(p, text) if (v := _json_number(t)) is not None
    ]
    lows = [v for p in _JSON_MIN for t in rx.findall(p, text) if (v := _json_number(t)) is not None]
    return None, min(highs, default=None), max(lows, default=None)


_FENCE_OPEN = "```json"


def _json_document(response: str):
    """The response's JSON: the first ```json fenced block if there is one, else the whole
    text; None when it does not load (or loads to ``null``, as in the reference)."""
    start = response.find(_FENCE_OPEN)
    if start >= 0:
        # Same as the reference's lazy ```json(.*?)``` search: the first fence that closes.
        end = response.find("```", start + len(_FENCE_OPEN))
        if end >= 0:
            response = response[start + len(_FENCE_OPEN) : end].strip()
    try:
        return json.loads(response)
    except (ValueError, RecursionError):  # JSONDecodeError, 4300-digit ints, deep nesting
        return None


def _nesting_depth(document) -> int:
    """Depth of the deepest leaf (a scalar or an empty container); the top level is 0."""
    deepest = 0
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)) and children:
            stack.extend((child, depth + 1) for child in children)
        elif depth > deepest:
            deepest = depth
    return deepest


def check_format_json(requirement: str, response: str) -> bool:
    """The response's JSON (first ```json block, else the whole response) has the nesting
    depth the requirement names: "exactly N levels of nesting", "nesting level of N", "not
    exceed N levels", "at least N levels of nesting", ... (numbers as digits or "two",
    "three"). Depth counts containers down to the deepest leaf: ``{"a": 1}`` is 1,
    ``{"a": {"b": 1}}`` is 2, ``{}`` and scalars are 0. No JSON, ``null``, or no bound found
    in the requirement: False.

    Unlike the reference, a document ``json`` refuses other than for its syntax (nesting past
    the recursion limit, integers over 4,300 digits) is no JSON instead of a crash.
    """
    exact, most, least = _json_bounds(requirement)
    document = _json_document(response)
    if document is None:
        return False
    depth = _nesting_depth(document)
    if exact is not None:
        return depth == exact
    if most is None and least is None:
        return False
    return (most is None or depth <= most) and (least is None or depth >= least)


# ---------------------------------------------------------------------------------------------
# Format_Markdown

_MD_NUM = r"(\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b)"
_MD_COUNTED = r"(?:a|at least one|two|three|four|five|six|seven|eight|nine|ten|\d+)"
_MD_VERBS = rx.compile(
    r"include|includes|included|including|use|using|used|uses|formatted|presented|organized"
    r"|structured|feature|should be|incorporate",
    rx.IGNORECASE,
)


def _md(pattern: str):
    return rx.compile(pattern.replace("NUM", _MD_NUM), rx.IGNORECASE)


_MD_TWO_LEVELS = _md(r"use heading levels NUM and NUM")
_MD_TWO_LEVELS_LOOSE = _md(r"use heading levels.*?level\s*NUM.*?level\s*NUM")
_MD_LISTED = (
    _md(r"a heading level NUM"),
    rx.compile(r"H(\d+)", rx.IGNORECASE),
    _md(r"Level NUM for"),
)
_MD_TITLED = (
    _md(r"level NUM heading titled [\"'](.*?)[\"']"),
    _md(_MD_COUNTED + r" level NUM heading with the text [\"'](.*?)[\"']"),
)
_MD_ONE_LEVEL = (
    _md(r"(?:a|at least \d+) heading level NUM"),
    _md(_MD_COUNTED + r" level NUM heading"),
    rx.compile(r"must use a heading level of H(\d+)", rx.IGNORECASE),
)
_MD_LEVEL_COUNT = (
    _md(r"(at least|at most|exactly|up to|a maximum of|under) NUM heading levels?"),
    _md(r"(at least|at most|exactly|up to|a maximum of|under) NUM levels?"),
)
_MD_AT_MOST = {"up to": "at most", "a maximum of": "at most", "under": "at most"}
_MD_MAX_LEVEL = _md(r"(?:heading levels)? must (?:not exceed|be limited to)\s+(?:level\s+)?NUM")
_MD_BEGINS = _md(r"must begin with a level NUM heading")
_MD_USE_LEVEL = _md(r"use heading level NUM")
_MD_ANY_HEADING = (
    "include headings",
    "includes headings",
    "use heading levels",
    "using heading levels",
    "presented under a separate heading",
    "separated with headings",
    "with headings",
)
_MD_CLAUSE_SPLIT = rx.compile(r"(?<=\w),(?=\w)")  # the reference's \b,\b
_MD_QUOTE_COUNT = _md(r"NUM block quotes")
_MD_USE_QUOTES = (
    "use block quotes",
    "using block quotes",
    "include a block quote",
    "using markdown block quotes",
    "employ block quotes",
    "present the headline as a block quote",
)
_MD_QUESTIONS_EXACT = "Questions must be organized under a level 2 heading."
_MD_23_EXACT = (
    "format the response using Markdown, employing '##' for main points and '###' for "
    "subpoints to clearly organize the information"
)

# A rule is a tuple: (kind, *parameters).
_MdRule = tuple


def _md_number(token: str) -> int | None:
    token = token.strip().lower()
    if token.isdigit():
        return int(token)
    return _VALUE_TO_TEN.get(token)


def _md_clause_rule(requirement: str, lowered: str, clause: str) -> _MdRule | None:
    """The rule one clause contributes (the reference's ``_parse_constraint`` loop body)."""
    if (
        "include headings at two levels: main and subheadings" in lowered
        or "be structured with a main heading and subheadings" in lowered
    ):
        return ("levels", frozenset((1, 2)))
    if requirement == _MD_QUESTIONS_EXACT:
        return ("questions", frozenset((2,)))
    if "include a single level 1 heading" in lowered:
        return ("exactly_n_of_level", 1, 1)
    if (
        "be structured using a minimum of two heading levels" in lowered
        or "include headings at two levels" in lowered
    ):
        return ("distinct_levels", "at least", 2)
    if requirement == _MD_23_EXACT:
        return ("levels", frozenset((2, 3)))

    found = rx.search(_MD_TWO_LEVELS, clause) or rx.search(_MD_TWO_LEVELS_LOOSE, clause)
    if found:
        first, second = _md_number(found.group(1)), _md_number(found.group(2))
        if first is not None and second is not None:
            return ("levels", frozenset((first, second)))
        return None

    listed: list[str] = []
    for pattern in _MD_LISTED:
        listed = rx.findall(pattern, clause)
        if listed:
            break
    if listed and ("must include" in clause or "should" in clause):
        return ("levels", frozenset(_md_number(token) for token in listed))

    if "titled" in clause:
        clause = clause.strip().rstrip(".")
        found = rx.search(_MD_TITLED[0], clause) or rx.search(_MD_TITLED[1], clause)
        if found:
            level = _md_number(found.group(1))
            return ("titled", level, found.group(2)) if level is not None else None

    clause = clause.strip().lower().rstrip(".")
    has_verb = rx.search(_MD_VERBS, clause) is not None
    if has_verb:
        found = None
        for pattern in _MD_ONE_LEVEL:
            found = rx.search(pattern, clause)
            if found:
                break
        if found:
            level = _md_number(found.group(1))
            return ("at_least_one_of_level", level) if level is not None else None
        found = rx.search(_MD_LEVEL_COUNT[0], clause) or rx.search(_MD_LEVEL_COUNT[1], clause)
        if found:
            operator = found.group(1).lower()
            count = _md_number(found.group(2))
            if count is None:
                return None
            return ("distinct_levels", _MD_AT_MOST.get(operator, operator), count)

    found = rx.search(_MD_MAX_LEVEL, clause)
    if found:
        level = _md_number(found.group(1))
        return ("max_level", level) if level is not None else None
    found = rx.search(_MD_BEGINS, clause)
    if found:
        level = _md_number(found.group(1))
        return ("first_level", level) if level is not None else None
    found = rx.search(_MD_USE_LEVEL, clause)
    if found:
        level = _md_number(found.group(1))
        return ("at_least_one_of_level", level) if level is not None else None
    if any(phrase in lowered for phrase in _MD_ANY_HEADING):
        return ("any_heading",)
    return None


@dataclass(frozen=True)
class _MarkdownSpec:
    rules: tuple[_MdRule, ...]
    per_heading: bool  # "each"/"any" in the requirement: every heading alone passes all rules
    block_quotes: bool
    quote_count: int | None  # "at least ... N block quotes"
    quote_mode: str  # "at_least", "some", "all"
    bold: bool
    bullets: bool


@functools.lru_cache(maxsize=4096)
def _markdown_spec(requirement: str) -> _MarkdownSpec:
    lowered = requirement.lower()
    rules = []
    for clause in rx.split(_MD_CLAUSE_SPLIT, requirement):
        rule = _md_clause_rule(requirement, lowered, clause)
        if rule is not None:
            rules.append(rule)
    quote_count = None
    if "at least" in lowered:
        quote_mode = "at_least"
        found = rx.search(_MD_QUOTE_COUNT, requirement)
        # The reference raises AttributeError here when no "<N> block quotes" follows; we ask
        # for at least one quoted line.
        quote_count = _md_number(found.group(1)) if found else 1
    elif any(phrase in lowered for phrase in _MD_USE_QUOTES):
        quote_mode = "some"
    else:
        quote_mode = "all"
    return _MarkdownSpec(
        rules=tuple(rules),
        per_heading="each" in lowered or "any" in lowered,
        block_quotes="block quotes" in lowered,
        quote_count=quote_count,
        quote_mode=quote_mode,
        bold="bold" in lowered,
        bullets="bullet points" in lowered,
    )


@functools.lru_cache(maxsize=256)
def _markdown_headings(text: str) -> tuple[tuple[int, str], ...]:
    """(level, content) of each ATX heading line: after stripping, one or more ``#`` then
    whitespace (the reference's ``^(#+)\\s+(.*?)\\s*$`` on each stripped line)."""
    headings = []
    for line in _lines(text):
        line = line.strip()
        level = len(line) - len(line.lstrip("#"))
        if level and level < len(line) and line[level].isspace():
            headings.append((level, line[level:].strip()))
    return tuple(headings)


def _md_rule_holds(rule: _MdRule, headings) -> bool:
    kind = rule[0]
    if kind == "distinct_levels":  # the only rule that does not demand a heading
        actual = len({level for level, _ in headings})
        operator, count = rule[1], rule[2]
        if operator == "at least":
            return actual >= count
        if operator == "at most":
            return actual <= count
        return operator == "exactly" and actual == count
    if not headings:
        return False
    if kind == "at_least_one_of_level":
        return any(level == rule[1] for level, _ in headings)
    if kind == "any_heading":
        return True
    if kind == "titled":
        return any(level == rule[1] and content == rule[2] for level, content in headings)
    if kind == "max_level":
        return all(level <= rule[1] for level, _ in headings)
    if kind == "first_level":
        return headings[0][0] == rule[1]
    if kind == "levels":
        return rule[1] <= {level for level, _ in headings}
    if kind == "questions":
        return all(level in rule[1] for level, content in headings if "?" in content)
    if kind == "exactly_n_of_level":
        return sum(level == rule[1] for level, _ in headings) == rule[2]
    return False


def _md_block_quotes_hold(spec: _MarkdownSpec, text: str) -> bool:
    lines = _lines(text)
    quoted = sum(1 for line in lines if line.strip().startswith(">"))
    if spec.quote_mode == "at_least":
        return quoted >= spec.quote_count
    if spec.quote_mode == "some":
        return quoted > 0
    # Every line, blank ones included, as the reference counts them: one blank line fails.
    return quoted == len(lines)


def _has_pair(line: str, marker: str) -> bool:
    first = line.find(marker)
    return first >= 0 and line.find(marker, first + len(marker)) >= 0


def _md_has_bold(text: str) -> bool:
    # ``**...**`` or ``__...__`` within one line (the reference's (\*\*.*?\*\*|__.*?__)).
    return any(_has_pair(line, "**") or _has_pair(line, "__") for line in _lines(text))


def _md_has_bullet(text: str) -> bool:
    # A line whose first non-space character is -, * or + followed by whitespace.
    for line in _lines(text):
        rest = line.lstrip()
        if len(rest) > 1 and rest[0] in "-*+" and rest[1].isspace():
            return True
    return False


def check_format_markdown(requirement: str, response: str) -> bool:
    """Markdown structure as the requirement words it, parsed as the reference parses it.

    Heading rules (ATX headings ``#``..., one per line): a heading level that must occur
    ("a heading level 2", "a level 2 heading", "H2", "use heading level 2"), levels that must
    all occur ("use heading levels 1 and 2", "H1 ... H2 ... H3" with "must include"/"should"),
    a number of distinct levels ("at least/at most/exactly/up to/under N heading levels"), a
    deepest level ("must not exceed level 3", "must be limited to three"), the first heading's
    level ("must begin with a level 2 heading"), a titled heading (level and exact text),
    "with headings" (any heading). Several clauses only when the requirement has a comma
    between two word characters. When the requirement contains "each" or "any" (even inside
    a word: "company"), every heading on its own must pass every rule and at least one
    heading must exist. Also, when named: "block quotes" (see below), "bold" (a ``**``/``__``
    pair on one line), "bullet points" (a ``-``/``*``/``+`` item).

    Block quotes: "at least N block quotes" counts lines starting with ``>``; "use/include
    a block quote" and similar want one; any other wording wants every line, blank lines
    included, quoted. Without "N block quotes" after "at least" we want one quoted line
    where the reference raises AttributeError.

    Unparsable requirement: True (no rule), except that "each"/"any" still needs a heading.
    """
    spec = _markdown_spec(requirement)
    if spec.block_quotes and not _md_block_quotes_hold(spec, response):
        return False
    if spec.bold and not _md_has_bold(response):
        return False
    if spec.bullets and not _md_has_bullet(response):
        return False
    headings = _markdown_headings(response)
    if spec.per_heading:
        if not headings:
            return False
        return all(_md_rule_holds(rule, (h,)) for h in headings for rule in spec.rules)
    return all(_md_rule_holds(rule, headings) for rule in spec.rules)


# ---------------------------------------------------------------------------------------------
# Format_Table

_TABLE_WORDS = {
    **_VALUE_TO_TEN,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_TABLE_N = r"(\d+|\b(?:" + "|".join(_TABLE_WORDS) + r")\b)"


def _table_patterns(entries) -> tuple:
    return tuple((tag, rx.compile(p.replace("N", _TABLE_N))) for tag, p in entries)


# Applied in order to the lowercased requirement; the first match decides.
_ROW_RULES = _table_patterns(
    (
        ("exact", r"exactly\s+N\s+rows?"),
        ("max", r"no\s+more\s+than\s+N\s+rows?"),
        ("max", r"not\s+have\s+more\s+than\s+N\s+rows?"),
        ("max", r"must\s+not\s+exceed\s+N\s+rows?"),
        ("max", r"not\s+exceed\s+N\s+rows?"),
        ("max", r"not\s+exceeding\s+N\s+rows?"),
        ("max", r"should\s+not\s+exceed\s+N\s+rows?"),
        ("max", r"row\s+limit\s+of\s+N"),
        ("exact", r"N\s+rows?\s+must\s+be\s+included"),
        ("exact", r"exactly\s+.+and N\s+rows?"),
        ("max", r"not exceed\s+.+and N\s+rows?"),
        ("max", r"a maximum of\s+N\s+rows"),
        ("max", r"limited to a maximum of\s+N\s+rows"),
        ("max", r"limited to\s+N\s+rows"),
        ("max", r"a row limit of\s+N"),
        ("max", r"a maximum of\s+.+and N\s+rows?"),
        ("max", r"limit the number of rows to\s+N"),
        ("max", r"limit it to\s+N\s+rows"),
        ("max", r"limit the table to\s+N\s+rows"),
        ("max", r"the number of rows in each table does not exceed\s+N"),
    )
)
_COLUMN_RULES = _table_patterns(
    (
        ("exact", r"exactly\s+N\s+columns?"),
        ("max", r"no\s+more\s+than\s+N\s+columns?"),
        ("max", r"not\s+have\s+more\s+than\s+N\s+columns?"),
        ("max", r"must\s+not\s+exceed\s+N\s+columns?"),
        ("max", r"not\s+exceed\s+N\s+columns?"),
        ("max", r"not\s+exceeding\s+N\s+columns?"),
        ("max", r"should\s+not\s+exceed\s+N\s+columns?"),
        ("max", r"column\s+limit\s+of\s+N"),
        ("exact", r"must\s+have\s+exactly\s+N\s+columns?"),
        ("exact", r"exactly\s+.+and N\s+columns?"),
        ("exact", r"in\s+N\s+columns"),
        ("max", r"not exceed\s+.+and N\s+columns?"),
        ("max", r"maximum of\s+N\s+columns"),
        ("max", r"maximum\s+N\s+columns"),
        ("max", r"at most\s+N\s+columns"),
        ("max", r"limited to a maximum of\s+N\s+columns"),
        ("max", r"limited to\s+N\s+columns"),
        ("max", r"a column limit of\s+N"),
        ("max", r"a maximum of\s+.+and N\s+columns?"),
        ("max", r"limit the number of columns to\s+N"),
        ("max", r"limit it to\s+N\s+columns"),
        ("max", r"limit the table to\s+N\s+columns"),
        ("max", r"the number of columns in each table does not exceed\s+N"),
        ("single", r"(a|each) (single) column"),
        ("single", r"presented in (a|one) single column"),
        ("title", r"title must not exceed N\s+words"),
    )
)
# Column names / content the table must show; every pattern that matches contributes.
_TABLE_NAMING = _table_patterns(
    (
        ("names", r"columns?\s+should\s+be\s+([\w\s,]+)"),
        ("names", r"columns:\s+([\w\s,']+)"),
        ("names", r'must include columns for\s+"([^"]+)"'),
        ("content", r"must include the\s+([\w\s,]+)"),  # one group: contributes nothing
        (
            "content",
            (
                r"each (entry|row|item|game|series) must include (?:the\s+)?"
                r"([\w\s,]+(?:\s+and\s+(?:its|their)\s+[\w\s,]+)?)"
            ),
        ),
        ("names", r'table must include columns (for|named)\s+["]([^"]+)["]'),
        (
            "content",
            (
                r"each (entry|row|item|game|series) should (?:be )?(present|include|contain|show)"
                r"(?:ed)? (?:in|with)?\s+([\w\s,]+)"
            ),
        ),
    )
)
# The reference splits names on a character class that holds "a", "n" and "d" (meant: "and").
_TABLE_NAME_SPLIT = rx.compile(r"[,、，和and]")
_TABLE_CONTENT_SPLIT = rx.compile(r"[,、，]")
_QUOTED = rx.compile(r'"([^"]+)"')
_COLUMNS_FOR_LIST = rx.compile(r'include columns for\s+(?:"([^"]+)",?\s*)+')
_AND_ITS = rx.compile(r"each\s+\w+\s+must\s+include\s+(?:the\s+)?([\w\s]+\s+and\s+its\s+[\w\s]+)")
_AND_ITS_SPLIT = rx.compile(r"\s+and\s+its\s+")
_TITLE_WORDS = rx.compile(r"title\s+must\s+not\s+exceed\s+" + _TABLE_N + r"\s+words")
# "If you include a table ...": without a table in the response, nothing to check. The
# reference's last two patterns run together (a missing comma); so they do here.
_TABLE_OPTIONAL = tuple(
    rx.compile(p, rx.DOTALL)
    for p in (
        r"if you (include|use|utilize|incorporate|present) (a |any )?(tables?|tabular data)",
        (
            r"if you (decide|choose|opt) to (use|include|incorporate|present|utilize) "
            r"(a |any )?(tables?|tabular data)"
        ),
        (
            r"if (a |any )?(tables?|tabular data|table format) (is|are) "
            r"(used|included|utilized|incorporated|presented|chosen)"
        ),
        (
            r"if there (is|are) (a |any )?(tables?|tabular data|table format) "
            r"(used|included|utilized|incorporated|presented|chosen)"
        ),
        (
            r"if you (decide|choose|opt) to (use|include|incorporate|present|utilize) "
            r"(your )?information in a table"
            r"if presented in a table"
        ),
    )
)


def _table_number(token: str) -> int:
    return _TABLE_WORDS[token] if token in _TABLE_WORDS else int(token)


def _clean_quoted(names) -> list[str]:
    return [cleaned for name in names if (cleaned := name.strip().rstrip(",").strip())]


@dataclass(frozen=True)
class _TableSpec:
    lowered: str
    optional: bool  # the requirement only applies "if" a table is used
    rows: tuple[str, int] | None = None
    columns: tuple[str, int] | None = None
    title_words: int | None = None
    markdown: bool = False
    names: tuple[str, ...] = ()
    content: frozenset[str] = field(default_factory=frozenset)


def _content_items(phrase: str) -> list[str]:
    if " and " in phrase:
        left, right = phrase.split(" and ")[:2]
        items = [part.strip() for part in left.split(",")] if "," in left else [left.strip()]
        items.append(right[4:].strip() if right.startswith("its ") else right.strip())
        return items
    return [part for p in rx.split(_TABLE_CONTENT_SPLIT, phrase) if (part := p.strip())]


@functools.lru_cache(maxsize=4096)
def _table_spec(requirement: str) -> _TableSpec:
    lowered = requirement.lower()
    optional = any(rx.search(p, lowered) for p in _TABLE_OPTIONAL)
    spec: dict = {"lowered": lowered, "optional": optional, "markdown": "markdown" in lowered}

    tag, found = _first_pattern(_ROW_RULES, lowered)
    if found:
        spec["rows"] = (tag, _table_number(found.group(1)))
    tag, found = _first_pattern(_COLUMN_RULES, lowered)
    if tag == "single":
        spec["columns"] = ("exact", 1)
    elif tag == "title":
        spec["title_words"] = _table_number(found.group(1))
    elif found:
        spec["columns"] = (tag, _table_number(found.group(1)))

    content: list[str] = []
    if "series must include" in lowered and "title" in lowered and "author" in lowered:
        content = ["title", "author", "year", "publication"]
    if "film title" in lowered and "release year" in lowered:
        content = ["film title", "release year"]

    if "columns for" in lowered and '"' in lowered:
        quoted = _clean_quoted(rx.findall(_QUOTED, lowered))
        if quoted:
            # The reference returns here, before its later special cases (single column,
            # title length, and the de-duplication of content items).
            return _TableSpec(**spec, names=tuple(quoted), content=frozenset(content))

    names: list[str] = []
    for tag, pattern in _TABLE_NAMING:
        found = rx.search(pattern, lowered)
        if not found:
            continue
        if tag == "names":
            if found.group(1):
                parts = rx.split(_TABLE_NAME_SPLIT, found.group(1))
                names.extend(n for part in parts if (n := part.strip("'\" ")))
        elif len(found.groups()) > 1:
            content.extend(_content_items(found.groups()[-1]))

    found = rx.search(_COLUMNS_FOR_LIST, lowered)
    if found:
        names.extend(n.strip() for n in rx.findall(_QUOTED, found.group(0)) if n.strip())
    quoted = rx.findall(_QUOTED, lowered)
    if quoted and not names:
        names.extend(_clean_quoted(quoted))

    found = rx.search(_AND_ITS, lowered)
    if found:
        content.extend(p.strip() for p in rx.split(_AND_ITS_SPLIT, found.group(1)) if p.strip())
    if "single column" in lowered:
        spec["columns"] = ("exact", 1)
    found = rx.search(_TITLE_WORDS, lowered)
    if found:
        spec["title_words"] = _table_number(found.group(1))
    return _TableSpec(**spec, names=tuple(names), content=frozenset(c for c in content if c))


def _table_lines(response: str) -> list[str]:
    """Non-blank stripped lines from the response's first ``|`` to its last (none when the
    response has a single ``|``): the reference's ``(\\|.*\\|)`` DOTALL search."""
    first, last = response.find("|"), response.rfind("|")
    if first == last:
        return []
    return [s for line in _lines(response[first : last + 1]) if (s := line.strip())]


def _header_cells(lines: list[str]) -> list[str]:
    return [cell.strip().lower() for cell in lines[0].split("|")[1:-1]] if lines else []


def _table_content_holds(spec: _TableSpec, lines: list[str]) -> bool:
    everything = " ".join(" ".join(line.split("|")) for line in lines).lower()
    headers = _header_cells(lines)

    def in_header(*words: str) -> bool:
        return any(word in header for header in headers for word in words)

    for item in spec.content:
        item = item.lower()
        if item == "film title" and in_header("film", "title"):
            continue
        if item == "release year" and in_header("release", "year"):
            continue
        if item == "title" and in_header("title"):
            continue
        if item == "author" and in_header("author"):
            continue
        if item in ("year", "year of publication") and in_header("year"):
            continue
        if item == "publication" or item in everything:
            continue
        if in_header(*item.split()):
            continue
        return False
    return True


def check_format_table(requirement: str, response: str) -> bool:
    """A Markdown table's rows, columns, column names and content, as the requirement says.

    The table is taken from the response's first ``|`` to its last, non-blank lines
    stripped. Rows: lines after the header, less a ``---`` separator on line 2 ("exactly N
    rows", "no more than / not exceed / a maximum of / limited to N rows", "a row limit of
    N", ...; digits or number words one..twenty, thirty..ninety, hundred). Columns: cells
    of the first line ("exactly N columns", "no more than N columns", "a single column",
    ...). Column names (quoted, "columns: a, b", "columns should be ...") must each occur in
    a header cell; content items ("each entry must include the X and its Y") in the table.
    "markdown": a line starting with ``|``. Only the first row rule and the first column rule
    in the reference's order count.

    With no ``|`` in the response: True when the requirement does not say "table" or says
    "if a table is used"-style; False otherwise. Unparsable requirement: True. The
    reference's quirks are kept: a name list split on the letters "a", "n", "d" (its
    character class ``[,、，和and]``), substring header matches, an empty header cell matching
    any quoted name under "columns for".
    """
    spec = _table_spec(requirement)
    if "|" not in response:
        return "table" not in spec.lowered or spec.optional
    lines = _table_lines(response)
    if spec.markdown and not lines:  # every kept line starts with "|"
        return False
    if spec.rows:
        kind, value = spec.rows
        actual = len(lines) - (2 if len(lines) > 1 and "---" in lines[1] else 1)
        if actual > value or (kind == "exact" and actual != value):
            return False
    if spec.columns:
        if not lines:
            return False
        kind, value = spec.columns
        count = len(lines[0].split("|")) - 2
        if count > value or (kind == "exact" and count != value):
            return False
    if spec.title_words is not None and (
        not lines or len(lines[0].strip("|").strip().split()) > spec.title_words
    ):
        return False
    lowered = spec.lowered
    if all(w in lowered for w in ("series must include", "title", "author", "year")):
        headers = _header_cells(lines)
        return all(any(w in h for h in headers) for w in ("title", "author", "year"))
    if spec.names:
        if not lines:
            return False
        headers = _header_cells(lines)
        loose = "columns for" in lowered  # either may contain the other
        for name in spec.names:
            name = name.lower()
            if not any(name in h or (loose and h in name) for h in headers):
                return False
        if loose:
            return True
    if "film title" in lowered and "release year" in lowered:
        headers = _header_cells(lines)
        return any("film" in h or "title" in h for h in headers) and any(
            "release" in h or "year" in h for h in headers
        )
    if spec.content:
        return _table_content_holds(spec, lines)
    return True


# ---------------------------------------------------------------------------------------------
# Format_Others

_NUM_WORD = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
_XML_FENCE = "```xml"
# The reference's tag pattern less a redundant \s* after the name (same matches, no
# quadratic backtracking on long whitespace runs).
# re's \s on str (exactly str.isspace); the regex package's \s leaves out U+001C..U+001F.
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_XML_TAG = rx.compile(
    r"<S*([a-zA-Z_:][\w:.-]*)(?:S+[a-zA-Z_:][\w:.-]*=['\"][^'\"]*['\"])*S*/?>".replace("S", _SPACE)
)
_XML_ATTRIBUTE = rx.compile(r"(\w+)=[\"'][^\"']*[\"']")
_APA = rx.compile(r"\(S*\w+,S*\d{4}S*\)".replace("S", _SPACE))
_REFERENCE_MARK = rx.compile(r"(\[\d+\]|\([A-Za-z]+, \d{4}\))")


def _xml_scope(text: str) -> str | None:
    """The first ```xml fenced block when the response has ```xml (None if it never
    closes), else the whole response."""
    start = text.find(_XML_FENCE)
    if start < 0:
        return text
    end = text.find("```", start + len(_XML_FENCE))
    return None if end < 0 else text[start + len(_XML_FENCE) : end]


def _attribute_counts(text: str) -> list[int] | None:
    scope = _xml_scope(text)
    if scope is None:
        return None
    return [len(rx.findall(_XML_ATTRIBUTE, tag.group(0))) for tag in rx.finditer(_XML_TAG, scope)]


def _attributes_at_most(text: str, count) -> bool:
    counts = _attribute_counts(text)
    return counts is not None and all(n <= int(count) for n in counts)


def _attributes_at_least(text: str, count) -> bool:
    counts = _attribute_counts(text)
    return counts is not None and all(n >= int(count) for n in counts)


def _attributes_exactly(text: str, count) -> bool:
    return _attributes_at_most(text, count) and _attributes_at_least(text, count)


def _contains_phrase(text: str, phrase) -> bool:
    # A quoted number word ("Must include 'two'") arrives converted to an int, as in the
    # reference, where re.escape then raises TypeError; we look for its digits.
    return rx.search(r"\b" + rx.escape(str(phrase)) + r"\b", text, rx.IGNORECASE) is not None


def _line_starts_with(text: str, accept: Callable[[str], bool]) -> bool:
    # The reference's ``^\s*X`` (MULTILINE): \s* may cross blank lines, which is the same as
    # testing each line's first non-space character.
    return any(accept(line.lstrip()) for line in _lines(text))


def _has_dash_or_star(text: str) -> bool:
    return _line_starts_with(text, lambda rest: rest[:1] in ("-", "*"))


def _numbered(rest: str, need_space: bool, last: bool) -> bool:
    digits = len(rest) - len(rest.lstrip("0123456789")) if rest.isascii() else None
    if digits is None:  # Unicode decimal digits count too (the reference's \d)
        digits = 0
        while digits < len(rest) and rest[digits].isdecimal():
            digits += 1
    if not digits or rest[digits : digits + 1] != ".":
        return False
    if not need_space:
        return True
    after = rest[digits + 1 : digits + 2]
    return after.isspace() if after else not last  # the line's "\n" is whitespace too


def _has_numbered_item(text: str, need_space: bool) -> bool:
    lines = _lines(text)
    final = len(lines) - 1
    return any(_numbered(line.lstrip(), need_space, i == final) for i, line in enumerate(lines))


def _has_block_quote(text: str) -> bool:
    return text.startswith(">") or "\n>" in text or "<blockquote>" in text.lower()


def _is_separator_row(row: str) -> bool:
    # ^\|(\s*-+\s*\|)+$ on a row that starts and ends with "|".
    cells = row[1:-1].split("|")
    return all((core := cell.strip()) and core.strip("-") == "" for cell in cells)


def _table_rows_at_most(text: str, count) -> bool:
    rows = [line for line in _lines(text) if len(line) > 1 and line[0] == line[-1] == "|"]
    data = sum(1 for row in rows if not _is_separator_row(row))
    return data <= int(count) and text.lower().count("<tr>") <= int(count)


def _references_at_least(text: str, count) -> bool:
    return len(rx.findall(_REFERENCE_MARK, text)) >= int(count)


# (requirement pattern, handler(response, *groups, *extra), extra); the first match decides.
_OTHERS_RULES = tuple(
    (rx.compile(pattern.replace("<N>", _NUM_WORD), rx.IGNORECASE), handler, extra)
    for pattern, handler, extra in (
        (r"no more than <N> attributes?", _attributes_at_most, ()),
        (r"must not exceed <N>(?:.*)?attributes?", _attributes_at_most, ()),
        (r"Limit the number of attributes to two", _attributes_exactly, (2,)),
        (r"Number of attributes must be exactly <N>", _attributes_exactly, ()),
        (r"must have exactly <N> attributes?", _attributes_exactly, ()),
        (r"must include exactly <N> attributes?", _attributes_exactly, ()),
        (r"at least <N> attributes?", _attributes_at_least, ()),
        (r"Must include '(.*?)'", _contains_phrase, ()),
        (r"Must be in APA format", lambda t: rx.search(_APA, t) is not None, ()),
        (r"must be provided in APA format", lambda t: rx.search(_APA, t) is not None, ()),
        (r"No bullet points", lambda t: not _has_dash_or_star(t), ()),
        (r"Must be listed as bullet points", _has_dash_or_star, ()),
        (r"is structured as bullet points", _has_dash_or_star, ()),
        (r"block quotes format", _has_block_quote, ()),
        (r"be formatted in block quotes", _has_block_quote, ()),
        (r"no more than <N> rows", _table_rows_at_most, ()),
        (r"table with no more than <N> rows", _table_rows_at_most, ()),
        (r"a table, which is limited to a maximum of <N> rows", _table_rows_at_most, ()),
        (r"full sentences", lambda t: True, ()),
        (r"short blurb", lambda t: len(t) <= 200, ()),
        (r"The answer must include at least <N> references?", _references_at_least, ()),
        (r"No lists", lambda t: not _has_numbered_item(t, need_space=True), ()),
        (r"No number points", lambda t: not _has_numbered_item(t, need_space=False), ()),
        (r"Response must be written at medium length", lambda t: 200 < len(t) <= 400, ()),
    )
)


@functools.lru_cache(maxsize=4096)
def _others_rule(requirement: str):
    """(handler, arguments) of the first rule whose pattern the requirement matches."""
    for pattern, handler, extra in _OTHERS_RULES:
        found = rx.search(pattern, requirement)
        if found:
            groups = [
                _VALUE_TO_TEN.get(g.lower(), g) if isinstance(g, str) else g for g in found.groups()
            ]
            return handler, (*groups, *extra)
    return None


def check_format_others(requirement: str, response: str) -> bool:
    """The reference's grab-bag of format rules, picked by the first phrase that matches.

    XML attributes ("no more than N attributes", "must not exceed N ... attributes",
    "exactly N attributes", "at least N attributes"): every tag in the response, or in its
    first ```xml block, has that many ``name="value"`` attributes (no tag passes; an
    unclosed ```xml block fails). "Must include '<phrase>'" (whole words, any case); APA
    "(Name, 2020)"; "No bullet points" / "as bullet points" (a line starting with ``-`` or
    ``*``); block quotes (a line starting with ``>`` or ``<blockquote>``); "no more than N
    rows" (``|...|`` lines that are not separators, and ``<tr>`` tags); "full sentences"
    (always True); "short blurb" (at most 200 characters); "at least N references" (``[1]``
    or ``(Name, 2020)``); "No lists" / "No number points" (a line starting with ``1.``);
    "medium length" (201 to 400 characters). Unparsable requirement: False.
    """
    rule = _others_rule(requirement)
    if rule is None:
        return False
    handler, arguments = rule
    return bool(handler(response, *arguments))


# ---------------------------------------------------------------------------------------------
# requirement samplers: templates of the test set, numbers varied


def _count(rng: random.Random, words: tuple[str, ...], low: int, high: int) -> str:
    """A number as digits or, when it has one, as its word."""
    value = rng.randint(low, high)
    if value <= len(words) and rng.random() < 0.5:
        return words[value - 1]
    return str(value)


def _sample_json(rng: random.Random) -> str:
    depth = _count(rng, ("one", "two", "three"), 2, 3)
    return rng.choice(
        (
            f"The answer must include a JSON object with at least {depth} levels of nesting",
            f"Object nesting levels must not exceed {depth}",
            f"The answer must include a JSON example with exactly {depth} levels of nesting",
            f"formatted using JSON, with object nesting levels not exceeding {depth}",
            f"The answer must include a JSON object with a nesting level of {depth}",
        )
    )


def _sample_markdown(rng: random.Random) -> str:
    level = _count(rng, _WORDS_TO_TEN, 1, 3)
    levels = _count(rng, _WORDS_TO_TEN, 2, 3)
    return rng.choice(
        (
            f"The answer must include a heading level {level}",
            f"The response must include at least {levels} heading levels",
            f"The answer must begin with a level {level} heading",
            "The answer must use heading levels 1 and 2",
            f"Heading levels must be limited to {levels}",
            "Use heading levels to organize the answer",
            f"The answer must use exactly {levels} heading levels",
        )
    )


def _sample_table(rng: random.Random) -> str:
    n = _count(rng, _WORDS_TO_TEN, 2, 6)
    return rng.choice(
        (
            f"If a table is used, it must not exceed {n} rows",
            f"The answer must include a table with no more than {n} rows",
            f"Include a table with exactly {n} rows",
            f"The answer must include a table with exactly {n} columns",
            f"If you include a table, it must have no more than {n} columns",
            f"Present the information in a table format with a maximum of {n} columns",
        )
    )


def _sample_others(rng: random.Random) -> str:
    n = _count(rng, _WORDS_TO_TEN, 2, 5)
    return rng.choice(
        (
            f"Each XML element must have no more than {n} attributes",
            f"Number of attributes must be exactly {n}",
            f"Must describe the XML data structure with at least {n} attributes",
            "No bullet points",
            "the response should be concise, resembling a short blurb",
            (
                f"include a table, which is limited to a maximum of {n} rows, to present "
                "relevant information concisely"
            ),
        )
    )


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "Format_Json": check_format_json,
    "Format_Markdown": check_format_markdown,
    "Format_Table": check_format_table,
    "Format_Others": check_format_others,
}
REQUIREMENT_SAMPLERS: dict[str, Callable[[random.Random], str]] = {
    "Format_Json": _sample_json,
    "Format_Markdown": _sample_markdown,
    "Format_Table": _sample_table,
    "Format_Others": _sample_others,
}
