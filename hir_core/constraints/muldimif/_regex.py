"""Regular expressions on model output, with a time limit.

MulDimIF's checkers parse English requirement text and scan the response with regular
expressions; a pathological response (long runs that make a pattern backtrack) must not stall
a verify stage. Every pattern applied to a *response* goes through these wrappers, which run
the ``regex`` package (a superset of ``re``; installed with nltk) with a per-call timeout.
A timeout raises ``RegexTimeout``; ``registry.verify_detailed`` turns it into a False verdict
with its error at the constraint's index, so one bad response costs its own verdicts only.
"""

from __future__ import annotations

import functools

import regex

# Per call. Ordinary responses take microseconds; this only stops catastrophic backtracking.
TIMEOUT_S = 0.1


class RegexTimeout(TimeoutError):
    """A pattern ran past ``TIMEOUT_S`` on a response."""


@functools.lru_cache(maxsize=1024)
def compile(pattern: str, flags: int = 0) -> regex.Pattern:
    return regex.compile(pattern, flags)


def _timed(method: str):
    def call(pattern, string, flags: int = 0, **kwargs):
        compiled = pattern if isinstance(pattern, regex.Pattern) else compile(pattern, flags)
        try:
            return getattr(compiled, method)(string, timeout=TIMEOUT_S, **kwargs)
        except TimeoutError as err:
            raise RegexTimeout(
                f"pattern {compiled.pattern[:60]!r} ran past {TIMEOUT_S}s on a "
                f"{len(string)}-character text"
            ) from err

    call.__name__ = method
    call.__doc__ = f"``regex.Pattern.{method}`` with the time limit."
    return call


search = _timed("search")
match = _timed("match")
fullmatch = _timed("fullmatch")
findall = _timed("findall")
split = _timed("split")


def sub(pattern, repl, string, count: int = 0, flags: int = 0):
    """``regex.sub`` with the time limit."""
    return subn(pattern, repl, string, count, flags)[0]


def subn(pattern, repl, string, count: int = 0, flags: int = 0):
    """``regex.subn`` with the time limit."""
    compiled = pattern if isinstance(pattern, regex.Pattern) else compile(pattern, flags)
    try:
        return compiled.subn(repl, string, count=count, timeout=TIMEOUT_S)
    except TimeoutError as err:
        raise RegexTimeout(
            f"pattern {compiled.pattern[:60]!r} ran past {TIMEOUT_S}s on a "
            f"{len(string)}-character text"
        ) from err


def finditer(pattern, string, flags: int = 0):
    """``finditer``, materialised inside the time limit (a lazy iterator would escape it)."""
    compiled = pattern if isinstance(pattern, regex.Pattern) else compile(pattern, flags)
    try:
        return list(compiled.finditer(string, timeout=TIMEOUT_S))
    except TimeoutError as err:
        raise RegexTimeout(
            f"pattern {compiled.pattern[:60]!r} ran past {TIMEOUT_S}s on a "
            f"{len(string)}-character text"
        ) from err


IGNORECASE, MULTILINE, DOTALL, VERBOSE = (
    regex.IGNORECASE,
    regex.MULTILINE,
    regex.DOTALL,
    regex.VERBOSE,
)
escape = regex.escape
