"""Which constraint types may not appear together in one instruction.

Re-derived from the IFEval reference's conflict table (``instructions_registry``), made
symmetric, and written as the reasons behind it:

1. a type never combines with itself (two keyword lists, two length bounds, ... in one
   instruction are either redundant or contradictory);
2. four types fix the overall shape of the response, so they admit only the few types that
   still make sense inside that shape;
3. a short list of pairs that contradict or confuse each other.

The IFBench types state their own rules next to them (``ifbench_counts`` and
``ifbench_format``: ``SHAPE_FIXING``, types that combine with no other type, and
``CONFLICTING_PAIRS``). MulDimIF's rules are below (``_MULDIMIF_PAIRS``): two keys of one checker
class never combine (two word-count bounds in one instruction), nor do contradictory classes.
Types of different families never share an instruction (``registry.conflicts``): each row of
the paper's data is one family.
"""

from __future__ import annotations

from . import ifbench_counts, ifbench_format
from .muldimif import CLASS_OF_KEY, PREFIX

# Shape-fixing types -> the only other types they combine with.
_SHAPE_FIXING: dict[str, frozenset[str]] = {
    # The answer is one of three fixed sentences: nothing else can be asked of it.
    "detectable_format:constrained_response": frozenset(),
    # A JSON document: only the words it contains can be constrained.
    "detectable_format:json_format": frozenset({"keywords:existence", "keywords:forbidden_words"}),
    # Two answers and a separator: counts, cases and endings become ambiguous.
    "combination:two_responses": frozenset(
        {
            "keywords:existence",
            "keywords:forbidden_words",
            "language:response_language",
            "detectable_format:title",
            "punctuation:no_comma",
        }
    ),
    # The response starts with a verbatim copy of the request, which the other constraints
    # would also have to govern.
    "combination:repeat_prompt": frozenset(
        {"keywords:existence", "detectable_format:title", "punctuation:no_comma"}
    ),
}

_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        # English-only words, markers and casing cannot be asked of a response in another
        # language.
        ("language:response_language", "keywords:existence"),
        ("language:response_language", "keywords:frequency"),
        ("language:response_language", "keywords:forbidden_words"),
        ("language:response_language", "startend:end_checker"),
        ("language:response_language", "detectable_format:multiple_sections"),
        ("language:response_language", "change_case:english_capital"),
        ("language:response_language", "change_case:english_lowercase"),
        # Contradictory or overlapping casing rules.
        ("change_case:english_capital", "change_case:english_lowercase"),
        ("change_case:capital_word_frequency", "change_case:english_capital"),
        ("change_case:capital_word_frequency", "change_case:english_lowercase"),
        # Two definitions of a paragraph, or of the length, in one answer.
        ("length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word"),
        ("length_constraints:number_paragraphs", "length_constraints:number_sentences"),
        # Section markers and highlights both use markdown emphasis/headers.
        ("detectable_format:multiple_sections", "detectable_format:number_highlighted_sections"),
        # A response wrapped in quotes cannot begin with a <<title>> line cleanly.
        ("startend:quotation", "detectable_format:title"),
    )
)


# IFBench: types that fix the whole response combine with nothing; listed pairs contradict.
for _module in (ifbench_counts, ifbench_format):
    _SHAPE_FIXING.update({cid: frozenset() for cid in _module.SHAPE_FIXING})
_PAIRS = _PAIRS | frozenset(
    frozenset(pair)
    for module in (ifbench_counts, ifbench_format)
    for pair in module.CONFLICTING_PAIRS
)

# MulDimIF, by checker class (key -> class: ``muldimif.CLASS_OF_KEY``).
_MULDIMIF_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        # A response is in English or in Chinese, not both.
        ("Language_English", "Language_Chinese"),
        # A response that is one JSON document is not a markdown table or markdown text.
        ("Format_Json", "Format_Table"),
        ("Format_Json", "Format_Markdown"),
    )
)


def _muldimif_conflict(a: str, b: str) -> bool:
    class_a = CLASS_OF_KEY.get(a.removeprefix(PREFIX)) if a.startswith(PREFIX) else None
    class_b = CLASS_OF_KEY.get(b.removeprefix(PREFIX)) if b.startswith(PREFIX) else None
    if class_a is None or class_b is None:
        return False
    return class_a == class_b or frozenset((class_a, class_b)) in _MULDIMIF_PAIRS


def _shape_conflict(shape_type: str, other: str) -> bool:
    allowed = _SHAPE_FIXING.get(shape_type)
    return allowed is not None and other not in allowed


def types_conflict(a: str, b: str) -> bool:
    """Whether ids ``a`` and ``b`` (assumed registered) may not share an instruction."""
    return (
        a == b
        or frozenset((a, b)) in _PAIRS
        or _shape_conflict(a, b)
        or _shape_conflict(b, a)
        or _muldimif_conflict(a, b)
    )
