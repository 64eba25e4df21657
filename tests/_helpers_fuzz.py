"""Fuzzing every verifier of the three families with hostile responses.

Shared by ``tests/test_fuzz_verifiers.py`` (a few hundred responses per family, in the suite)
and ``benchmarks/fuzz_verifiers.py`` (10,000 responses, with per-type timings).

- :func:`cases`: for every registered constraint id, a few kwargs to check it with: drawn by
  the type's own ``sample_kwargs`` where it has one, and real kwargs from the benchmark data
  (IFEval and IFBench test rows, MulDimIF test items) for every type; a MulDimIF key that no
  test item uses takes the requirements of the other keys of its checker class (the
  reference dispatches on the class, the requirement text is what the checker parses).
- :func:`responses`: a hypothesis strategy of the responses a broken, adversarial or
  degenerate model can produce: empty and blank, huge, deeply nested brackets and markup,
  broken and huge JSON, text of every Unicode general category (lone surrogates included),
  control characters, regex-pathological runs (``aaaa``, ``((((``, ``****``, ``||||``,
  ``<<<<``, ...) and mixtures of markdown, JSON and prose fragments.
- :func:`check_all`: every case of a family against one response, strict and loose, through
  ``hir_core.constraints.verify_detailed`` (what the pipeline calls): the verdicts, the
  errors the checkers raised (caught by ``verify_detailed``: a verdict False with its error),
  and the seconds of each single check.
"""

from __future__ import annotations

import functools
import inspect
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import strategies as st

from hir_core import constraints
from hir_core.constraints import muldimif

SEED = 20261124
# Largest generated response: 100,000 characters, ~25K tokens, twelve times the longest
# response the paper config can generate (2,048 tokens, ~8K characters).
HUGE_CHARS = 100_000
# Responses up to this size are ones a configured run can produce (2,048 tokens and more).
REALISTIC_CHARS = 16_000
# The per-check time target (the "no single check takes more than 50 ms").
TARGET_S = 0.050
PROMPT = "Write a short story about a robot who learns to paint."
# Checker errors that are decisions, not bugs: (id, exception type) -> why. Any other error a
# checker raises on a fuzzed response is a finding.
DOCUMENTED_ERRORS = {
    ("detectable_format:json_format", "RecursionError"): (
        "JSON nested deeper than Python's parser allows: the IFEval reference raises too; "
        "verify_detailed records the error and gives False (tests/test_constraints.py, "
        "test_a_raising_checker_gives_false_and_its_error_at_its_own_index)"
    ),
}


def error_kind(cid: str, error: str) -> tuple[str, str]:
    """(id, exception type) of a ``verify_detailed`` error text ``"<id>: <Type>: ..."``."""
    return cid, error.removeprefix(f"{cid}: ").split(":", 1)[0]


def undocumented(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The errors of a check that no entry of DOCUMENTED_ERRORS explains."""
    return [(cid, e) for cid, e in errors if error_kind(cid, e) not in DOCUMENTED_ERRORS]


@dataclass(frozen=True)
class Case:
    """One constraint to check: validated kwargs bound to a prompt (what verify resolves)."""

    cid: str
    kwargs: dict
    prompt: str
    source: str  # "sample" or "data"

    def constraint(self) -> dict:
        return {"id": self.cid, "kwargs": self.kwargs}


# ------------------------------------------------------------------------------- the cases


@functools.cache
def _data_rows() -> dict[str, list[tuple[dict, str]]]:
    """id -> [(kwargs, prompt)] from the shipped test sets, in file order."""
    from hir_core.data import (
        ifbench_data_path,
        ifeval_data_path,
        load_ifeval_jsonl,
        load_muldimif_json,
        muldimif_data_path,
    )

    tables = [
        load_ifeval_jsonl(ifeval_data_path(), "ifeval"),
        load_ifeval_jsonl(ifbench_data_path(), "ifbench"),
        load_muldimif_json(muldimif_data_path()),
    ]
    found: dict[str, list[tuple[dict, str]]] = {}
    for table in tables:
        for row in table.select("prompt", "constraints").iter_rows(named=True):
            for c in row["constraints"]:
                found.setdefault(c["id"], []).append((json.loads(c["kwargs_json"]), row["prompt"]))
    return found


def _distinct(pairs: list[tuple[dict, str]], limit: int) -> list[tuple[dict, str]]:
    seen, out = set(), []
    for kwargs, prompt in pairs:
        key = json.dumps(kwargs, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append((kwargs, prompt))
        if len(out) == limit:
            break
    return out


@functools.cache
def cases(family: str, per_type: int = 3) -> tuple[Case, ...]:
    """Up to ``per_type`` sampled and ``per_type`` data kwargs for every id of ``family``."""
    data = _data_rows()
    by_class: dict[str, list[tuple[dict, str]]] = {}
    if family == "muldimif":
        for key, class_name in muldimif.CLASS_OF_KEY.items():
            by_class.setdefault(class_name, []).extend(data.get(muldimif.PREFIX + key, []))
    out: list[Case] = []
    for cid in constraints.ids(family):
        ctype = constraints.get(cid)
        for seed in range(per_type):
            try:
                kwargs = ctype.sample_kwargs(random.Random(SEED + seed))
            except NotImplementedError:
                break  # not samplable: its kwargs come from the data
            out.append(Case(cid, ctype.bind_prompt(kwargs, PROMPT), PROMPT, "sample"))
        rows = data.get(cid, [])
        if not rows and family == "muldimif":
            rows = by_class[muldimif.CLASS_OF_KEY[cid.removeprefix(muldimif.PREFIX)]]
        for kwargs, prompt in _distinct(rows, per_type):
            validated = ctype.bind_prompt(ctype.validate(kwargs), prompt)
            out.append(Case(cid, validated, prompt, "data"))
        if not any(case.cid == cid for case in out):
            raise RuntimeError(f"{cid}: no kwargs to fuzz it with")
    return tuple(out)


# ------------------------------------------------------------------------------- responses

# Units whose long runs make naive patterns backtrack or split into many pieces.
PATHOLOGICAL_UNITS = (
    "a",
    " ",
    "\n",
    "\n\n",
    "(",
    ")",
    "((",
    "*",
    "**",
    "|",
    "| ",
    "<",
    "<<",
    ">",
    "#",
    "-",
    "_",
    "~",
    "`",
    "```",
    ".",
    "!",
    "?",
    ",",
    '"',
    "'",
    "\\",
    "{",
    "[",
    "a ",
    "A",
    "aA",
    "1",
    "1.",
    "P.S.",
    "\t",
    "\r\n",
    "\u200b",
    "\u00a0",
    "\u3002",
    "\uff0c",
    "\u4e2d",
    "\U0001f600",
    "e\u0301",
)
# Openers and closers of nested structures a checker may parse recursively.
NESTING = (
    ("[", "]"),
    ("{", "}"),
    ('{"a":', "}"),
    ("(", ")"),
    ("<a>", "</a>"),
    ('<x y="1">', "</x>"),
    ("> ", ""),
    ("#", ""),
    ("* ", ""),
    ("  - ", ""),
    ("```\n", "\n```"),
    ("<<", ">>"),
    ('"', '"'),
    ("**", "**"),
    ("|", "|"),
)
# Fragments of what a chat model writes: markdown, tables, JSON, lists, postscripts, CJK.
FRAGMENTS = (
    "# Title\n",
    "## Section 1\n",
    "### \n",
    "* item\n",
    "- item\n",
    "1. first\n",
    "| a | b |\n",
    "|---|---|\n",
    "| 1 |\n",
    "```json\n",
    "```\n",
    '{"key": "value", "n": [1, 2, {"x": null}]}',
    '{"broken": [1, 2',
    "<<My Title>>\n",
    "***\n",
    "P.S. thanks\n",
    "SECTION 1\n",
    "Paragraph one.\n\nParagraph two.",
    "<html><b>bold</b></html>",
    "> quoted\n",
    "Dear Sir,",
    "Is this a question?",
    "ALL CAPS TEXT ",
    "lowercase only ",
    "你好，世界。",
    "Привет, мир!",
    "مرحبا بالعالم",
    "😀🎉",
    "word " * 20,
    "\u0000",
    "\x1b[31m",
    "\ufeff",
    "\U0010ffff",
    "\ud800",
    "=SUM(A1)",
    "Sincerely,\nBob",
    '"quoted text"',
    "[link](http://x)",
    "a, b, c; d: e!",
    "\n\n\n",
)
# Every Unicode general category (Cs: lone surrogates, which no UTF-8 text holds).
CATEGORIES = (
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
    "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs",
    "Co", "Cn",
)  # fmt: skip
WORDS = ("the", "robot", "paints", "a", "blue", "sky", "and", "it", "learns", "slowly")


def _repeat(unit: str, n: int, limit: int) -> str:
    return (unit * n)[:limit]


def _nest(pair: tuple[str, str], depth: int, core: str, limit: int) -> str:
    opener, closer = pair
    return (opener * depth + core + closer * depth)[:limit]


def _prose(words: list[str], sentences: int, limit: int) -> str:
    sentence = " ".join(words).capitalize() + ". "
    return (sentence * sentences)[:limit]


def _json_value(depth: int = 3):
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=6), children, max_size=4),
        ),
        max_leaves=20,
    )


def _broken_json(value, cut: float, fence: bool) -> str:
    text = json.dumps(value, ensure_ascii=False)
    text = text[: max(0, int(len(text) * cut))]
    return f"```json\n{text}\n```" if fence else text


def _huge_json(n: int, depth: int, limit: int) -> str:
    record = {"id": 1, "name": "x" * 10, "tags": ["a", "b"], "nested": {"k": [1, 2, 3]}}
    body = json.dumps([record] * n)
    return ("[" * depth + body + "]" * depth)[:limit]


def pinned_responses(limit: int = HUGE_CHARS) -> list[str]:
    """The named worst cases, always tried (hypothesis draws around them): runs of one
    pathological unit at full size, deep nesting, a mixture, broken and huge JSON."""
    mixed = '((((****||||<<<<>>>>####----____````[[[[{{{{\\\\""""' + "a" * 16
    out = ["", " ", "\n" * limit, "a" * limit, "a " * (limit // 2)]
    out += [unit * (limit // len(unit)) for unit in ("(", "*", "|", "<", "[", "{", "#", "-")]
    out += [(mixed * (limit // len(mixed)))[:limit], "P.S." * (limit // 4)]
    out += [_nest(pair, limit // 2, "x", limit) for pair in NESTING[:6]]
    out += ['{"a": [1, 2, {"b": "', '```json\n{"broken": ', _huge_json(limit // 80, 40, limit)]
    out += ["\udfff\ud800x\ufffe\uffff\x00\x1b[2J\u202e\u2066" * 50, "\u200b" * limit]
    return out


def _sizes(top: int) -> st.SearchStrategy[int]:
    """Counts in [1, top], log-uniform: each power-of-two range as likely as the next, so
    the huge sizes are all tried while most responses stay the size of real ones."""
    bits = max(1, top.bit_length())
    return st.integers(1, bits).flatmap(
        lambda b: st.integers(max(1, (1 << b) >> 1), max(1, min(top, 1 << b)))
    )


def responses(limit: int = HUGE_CHARS) -> st.SearchStrategy[str]:
    """Responses a broken or hostile model can produce (module docstring), at most ``limit``
    characters."""
    text = st.text(max_size=300)
    per_category = st.sampled_from(CATEGORIES).flatmap(
        lambda c: st.text(st.characters(categories=[c]), min_size=1, max_size=200)
    )
    controls = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), max_size=200)
    blank = st.sampled_from(("", " ", "\n", "\t", "\r\n", " \n \n ", "\u3000", "\u200b"))
    runs = st.builds(
        _repeat,
        st.sampled_from(PATHOLOGICAL_UNITS) | st.text(min_size=1, max_size=3),
        _sizes(limit),
        st.just(limit),
    )
    nested = st.builds(
        _nest,
        st.sampled_from(NESTING),
        _sizes(max(1, limit // 4)),
        st.sampled_from(("", "x", "1")),
        st.just(limit),
    )
    prose = st.builds(
        _prose,
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=12),
        _sizes(max(1, limit // 20)),
        st.just(limit),
    )
    broken = st.builds(_broken_json, _json_value(), st.floats(0, 1), st.booleans())
    whole = st.builds(json.dumps, _json_value())
    huge = st.builds(_huge_json, _sizes(max(1, limit // 60)), st.integers(0, 50), st.just(limit))
    mixed = st.lists(
        st.sampled_from(FRAGMENTS) | runs.map(lambda s: s[:200]) | per_category | text,
        min_size=1,
        max_size=12,
    ).map("".join)
    return st.one_of(
        blank, text, per_category, controls, runs, nested, prose, broken, whole, huge, mixed
    )


def shape(response: str) -> str:
    """A short description of a response for reports (length, start, distinct characters)."""
    head = response[:24]
    return f"{len(response)} chars, {len(set(response))} distinct, starts {head!r}"


# ------------------------------------------------------------------------------- checking


# Parameter names of the per-text caches (their results depend on a response); caches of
# loaded models and of parsed requirements are kept, as in use.
_TEXT_PARAMETERS = ("text", "line", "occurrences", "char")


@functools.lru_cache(maxsize=1)
def _caches() -> tuple:
    """Every per-text cache of the verifier modules (functools caches whose first parameter
    is a text)."""
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("hir_core.constraints") or module is None:
            continue
        for value in vars(module).values():
            if not callable(getattr(value, "cache_clear", None)):
                continue
            try:
                parameters = list(inspect.signature(value).parameters)
            except (TypeError, ValueError):
                continue
            if parameters and parameters[0] in _TEXT_PARAMETERS:
                found.append(value)
    return tuple(found)


def clear_caches() -> None:
    """Forget every per-text result (models stay loaded): each timed check starts cold."""
    from hir_core.constraints import text

    text.clear_caches()
    for cached in _caches():
        cached.cache_clear()


@dataclass
class Checked:
    """Verdicts (strict, loose) of one response against every case of a family."""

    strict: list[bool]
    loose: list[bool]
    strict_errors: list[tuple[str, str]]  # (case id, error) of every check that raised
    loose_errors: list[tuple[str, str]]
    # (case id, mode, wall seconds, CPU seconds of this thread) of every single check
    seconds: list[tuple[str, str, float, float]]

    @property
    def errors(self) -> list[tuple[str, str]]:
        return self.strict_errors + self.loose_errors


def check_all(response: str, family_cases: tuple[Case, ...], timed: bool = False) -> Checked:
    """``verify_detailed`` of ``response`` against each case alone (strict and loose), so a
    verdict and its time belong to one check; with ``timed``, caches are cleared before each
    check (not timed), so every check is timed cold."""
    checked = Checked([], [], [], [], [])
    modes = (
        ("strict", checked.strict, checked.strict_errors),
        ("loose", checked.loose, checked.loose_errors),
    )
    for case in family_cases:
        for mode, verdicts, errors in modes:
            if timed:
                clear_caches()
            start, cpu = time.perf_counter(), time.thread_time()
            result = constraints.verify_detailed(
                response, [case.constraint()], case.prompt, loose=mode == "loose"
            )
            elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
            verdicts.append(result.verdicts[0])
            if result.errors[0]:
                errors.append((case.cid, result.errors[0]))
            checked.seconds.append((case.cid, mode, elapsed, cpu))
    return checked


def verdict_digest(pairs: Iterator[tuple[str, tuple[Case, ...]]]) -> list[list[bool]]:
    """Strict + loose verdicts of (response, cases) pairs: what a second process must repeat."""
    out = []
    for response, family_cases in pairs:
        checked = check_all(response, family_cases)
        out.append(checked.strict + checked.loose)
    return out
