"""MulDimIF's language checkers: Language_English (letter case) and Language_Chinese (script).

Both restate the reference (Junjie-Ye/MulDimIF at ``efd0c02``,
``Code/evaluation/scripts/Language_English.py`` and ``Language_Chinese.py``): the phrases each
recognises in the requirement and the test it applies to the response, quirks included. The
requirement is parsed once per distinct text. Language_Chinese uses ``zhconv`` (1.4.3, as the
reference pins it), imported on first use: its conversion tables load lazily too.

No deliberate verdict differences: neither reference checker crashes on any input we know
of. Patterns applied to the response spell out ``re``'s whitespace class (``str.isspace``)
where the reference uses ``\\s``, since the ``regex`` package's ``\\s`` leaves out
U+001C..U+001F.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

from . import _regex as rx

# re's \s on str (exactly str.isspace), for patterns run by the regex package.
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# ---------------------------------------------------------------------------------------------
# Language_English

_ALL_UPPERCASE = rx.compile(r"\ball[- ]?uppercase\b")
_CAPITALIZED = rx.compile(r"\bcapitalized\b")
_LOWERCASE = rx.compile(r"\blowercase\b")
_HEADING_TEXT = rx.compile(r"^#+" + _SPACE + r"*(.+)$", rx.MULTILINE)
_JSON_KEY = rx.compile(r'"([^"]+)"' + _SPACE + r"*:")
_JSON_STRING_VALUE = rx.compile(r":" + _SPACE + r'*"([^"]+)"')


def _case_rule(lowered: str) -> str | None:
    """Which letter case the requirement asks for, in the reference's order of tests."""
    if rx.search(_ALL_UPPERCASE, lowered) or "in capitalized form" in lowered:
        return "upper"
    if (
        "each word in" in lowered
        or rx.search(_CAPITALIZED, lowered)
        # covers "capitalize the first letter of each word", "a capital letter" + "each", ...
        or ("capital" in lowered and "each" in lowered)
    ):
        return "title"
    if (
        "must be in lowercase" in lowered
        or "all lowercase" in lowered
        or rx.search(_LOWERCASE, lowered)
    ):
        return "lower"
    if "written as a short blurb" in lowered:
        return "blurb"
    return None


def _scope(lowered: str) -> tuple[str, str] | None:
    """(format, part) whose text the case rule applies to; None for the whole response."""
    if "headings" in lowered and "table" in lowered:
        return ("mixed", "all")
    if "table" in lowered:
        if "header" in lowered:
            return ("table", "headers")
        if "entries" in lowered:
            return ("table", "entries")
        if "content" in lowered:
            return ("table", "content")
        return ("table", "all")
    if "json" in lowered:
        if "keys" in lowered:
            return ("json", "keys")
        if "values" in lowered:
            return ("json", "values")
        return ("json", "all")
    if "heading" in lowered:
        return ("heading", "all")
    return None


@functools.lru_cache(maxsize=4096)
def _english_spec(requirement: str) -> tuple[str | None, tuple[str, str] | None]:
    lowered = requirement.strip().lower()
    return _case_rule(lowered), _scope(lowered)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.split("|") if cell.strip()]


def _table_text(text: str, part: str) -> str:
    """Cell texts of every non-blank line (the reference treats the whole response as the
    table): the first line's for "headers", the others' for "entries" (the response
    itself when there is one line), all for "content"/"all". No ``|``: the response."""
    if "|" not in text:
        return text
    rows = [row.strip() for row in text.split("\n") if row.strip()]
    if part == "headers":
        return " ".join(_cells(rows[0]))
    if part == "entries":
        if len(rows) < 2:
            return text
        return " ".join(cell for row in rows[1:] for cell in _cells(row))
    return " ".join(cell for row in rows for cell in _cells(row))


def _json_text(text: str, part: str) -> str:
    """Quoted keys (``"k":``) or quoted string values (``: "v"``) found by pattern, joined by
    spaces; the response itself when there are none, for "all", or without braces."""
    if "{" not in text or "}" not in text or part == "all":
        return text
    found = rx.findall(_JSON_KEY if part == "keys" else _JSON_STRING_VALUE, text)
    return " ".join(found) if found else text


def _heading_text(text: str) -> str:
    # The reference's ^#+\s*(.+)$: \s* may run over the line break into the next line.
    found = rx.findall(_HEADING_TEXT, text)
    return " ".join(found) if found else text


def _scoped_text(text: str, scope: tuple[str, str] | None) -> str:
    if scope is None:
        return text
    kind, part = scope
    if kind == "mixed":
        return _table_text(text, "all") or _heading_text(text)
    if kind == "table":
        return _table_text(text, part)
    if kind == "json":
        return _json_text(text, part)
    return _heading_text(text)


def _title_case(text: str) -> bool:
    # Only a word starting with an ASCII lowercase letter fails ("über" and "3d" pass).
    return not any("a" <= word[0] <= "z" for word in text.split())


def check_language_english(requirement: str, response: str) -> bool:
    """Letter case of the response, or of the part of it the requirement names.

    Case: "all uppercase" / "in capitalized form" (the text equals its ``upper()``); "each
    word in", "capitalized", "capital" with "each" (no whitespace-separated word starts with
    an ASCII lowercase letter); "lowercase" (the text equals its ``lower()``); "written as a
    short blurb" (always True). Tested in that order, so "each word ... capitalized" is
    title case, and "all uppercase letters for each word" is uppercase.

    Part: with "table" in the requirement, the cell texts of every non-blank line
    (first line only for "header(s)", later lines for "entries"); with "json", quoted keys
    or string values ("keys"/"values"); with "heading", the text of ``#`` lines; both
    "headings" and "table": table cells, else heading texts. When the part is not found the
    whole response is tested.

    Empty or whitespace-only response, or no case phrase: False.
    """
    if not response.strip():
        return False
    rule, scope = _english_spec(requirement)
    if rule is None:
        return False
    text = _scoped_text(response, scope)
    if rule == "upper":
        return text == text.upper()
    if rule == "title":
        return _title_case(text)
    if rule == "lower":
        return text == text.lower()
    return True  # short blurb


# ---------------------------------------------------------------------------------------------
# Language_Chinese


@functools.cache
def _zhconv_convert() -> Callable[[str, str], str]:
    from zhconv import convert  # lazy: its import and tables are not needed until used

    return convert


@functools.lru_cache(maxsize=65536)
def _char_converts(char: str, locale: str) -> bool:
    return _zhconv_convert()(char, locale) != char


def _has_traditional(text: str) -> bool:
    """Some character that zhconv changes when converting to Simplified (zh-cn)."""
    return any(_char_converts(c, "zh-cn") for c in set(text))


def _has_simplified(text: str) -> bool:
    """Some character that zhconv changes when converting to Traditional (zh-tw)."""
    return any(_char_converts(c, "zh-tw") for c in set(text))


def _no_ascii_letter(text: str) -> bool:
    return not any("a" <= c <= "z" or "A" <= c <= "Z" for c in text)


def _entirely(text: str, locale: str) -> bool:
    # Whole-text conversion, as the reference (zhconv converts phrases, not only characters).
    return _no_ascii_letter(text) and _zhconv_convert()(text, locale) == text


_SIMPLIFIED_VERBS = (
    r"(?:must be|must use|must write|must be presented|answer must be|essential|is|should be"
    r"|必须|请|需要) {0,1}(?:in|provided in|written in|to use|conducted in|用|使用|提供|书写"
    r"|翻译为|将文本翻译为) {0,1}(?:Simplified Chinese|简体中文)"
)
# (requirement pattern, handler(response, *groups)); the first match decides.
_CHINESE_RULES = tuple(
    (rx.compile(pattern, rx.IGNORECASE), handler)
    for pattern, handler in (
        (r'Must include the phrase "{1,2}(.+?)"{1,2}', lambda text, phrase: phrase in text),
        (r'Must write the name "Shen Lim" in Simplified Chinese', lambda text: "沈林" in text),
        (
            r"Must (?:use|convert into|be converted into) Traditional Chinese characters",
            lambda text: _entirely(text, "zh-tw"),
        ),
        (r"include .*?Traditional Chinese characters", _has_traditional),
        (r"use .*?Traditional Chinese characters", _has_traditional),
        (r"使用繁體中文", _has_traditional),
        (
            r"(The answer must ){0,1}include some content in Simplified Chinese",
            lambda text, _: _has_simplified(text),
        ),
        (r"Use Simplified Chinese characters", _has_simplified),
        (_SIMPLIFIED_VERBS, _has_simplified),
        (r"用中文简体描述", _has_simplified),
        (r"Names must be in Simplified Chinese", _has_simplified),
        (
            r"Must translate the text into Simplified Chinese",
            lambda text: _entirely(text, "zh-cn"),
        ),
        (r"Simplified", _has_simplified),
    )
)


@functools.lru_cache(maxsize=4096)
def _chinese_rule(requirement: str):
    for pattern, handler in _CHINESE_RULES:
        found = rx.search(pattern, requirement)
        if found:
            return handler, found.groups()
    return None


def check_language_chinese(requirement: str, response: str) -> bool:
    """Chinese script of the response, by the first requirement phrase that matches:

    - 'Must include the phrase "X"': X occurs in the response;
    - 'Must write the name "Shen Lim" in Simplified Chinese': 沈林 occurs;
    - "Must use / convert into / be converted into Traditional Chinese characters": no ASCII
      letter, and zhconv's zh-tw conversion leaves the response unchanged;
    - "include/use ... Traditional Chinese characters", "使用繁體中文": some character that
      zh-cn conversion changes (a Traditional one);
    - "Simplified Chinese" phrasings ("must be in", "provided in", "简体中文", any
      "Simplified"): some character that zh-tw conversion changes (a Simplified one), so a
      mostly English answer with one Simplified character passes;
    - "Must translate the text into Simplified Chinese": no ASCII letter, and zh-cn
      conversion leaves the response unchanged.

    Characters that both scripts share pass neither "some character" test. Unparsable
    requirement: False.
    """
    rule = _chinese_rule(requirement)
    if rule is None:
        return False
    handler, groups = rule
    return bool(handler(response, *groups))


# ---------------------------------------------------------------------------------------------
# requirement samplers: templates of the test set


def _sample_english(rng: random.Random) -> str:
    return rng.choice(
        (
            "The answer must be in all uppercase letters",
            "The entire response must be written in all uppercase letters",
            "The response must use capitalized letters for each word",
            "Each word in the answer must start with a capital letter",
            "The answer must capitalize the first letter of each word",
            "The table headers must use capitalized letters for each word",
            "Headings must use capitalized letters for each word",
        )
    )


def _sample_chinese(rng: random.Random) -> str:
    return rng.choice(
        (
            "The answer must be provided in Simplified Chinese",
            "The answer must be in Simplified Chinese",
            "please ensure that the response is provided in Simplified Chinese",
            "Must use Traditional Chinese characters",
            "確保使用繁體中文書寫",
        )
    )


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "Language_English": check_language_english,
    "Language_Chinese": check_language_chinese,
}
REQUIREMENT_SAMPLERS: dict[str, Callable[[random.Random], str]] = {
    "Language_English": _sample_english,
    "Language_Chinese": _sample_chinese,
}
