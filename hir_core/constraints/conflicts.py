"""Which constraint types may not appear together in one instruction.

Re-derived from the IFEval reference's conflict table (``instructions_registry``), made
symmetric, and written as the reasons behind it:

1. a type never combines with itself (two keyword lists, two length bounds, ... in one
   instruction are either redundant or contradictory);
2. four types fix the overall shape of the response, so they admit only the few types that
   still make sense inside that shape;
3. a short list of pairs that contradict or confuse each other.
"""

from __future__ import annotations

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


def _shape_conflict(shape_type: str, other: str) -> bool:
    allowed = _SHAPE_FIXING.get(shape_type)
    return allowed is not None and other not in allowed


def types_conflict(a: str, b: str) -> bool:
    """Whether ids ``a`` and ``b`` (assumed registered) may not share an instruction."""
    return a == b or frozenset((a, b)) in _PAIRS or _shape_conflict(a, b) or _shape_conflict(b, a)
