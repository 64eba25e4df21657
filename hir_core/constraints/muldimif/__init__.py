"""MulDimIF's constraint triples (Ye et al. 2025) as constraint types, with the reference's parsing.

A MulDimIF constraint is a triple ``[category, subcategory, requirement]``: the requirement is
English text ("The response must contain no more than 150 words") that a checker parses for
its bounds and then tests on the response. The reference (Junjie-Ye/MulDimIF at ``efd0c02``,
``Code/evaluation/evaluation.py``) picks the checker by the key ``f"{category}_{subcategory}"``
in a table of 55 keys over 12 checker classes; this package restates that table
(:data:`CLASS_OF_KEY`) and the 12 checkers, written from their behaviour:

- :mod:`.length`: Length_Words, Length_Sentences, Length_Paragraphs;
- :mod:`.content`: Content_Keywords, Content_Punctuation, Content_Others;
- :mod:`.formats`: Format_Json, Format_Markdown, Format_Table, Format_Others;
- :mod:`.language`: Language_English, Language_Chinese.

Each key is a registered constraint type with id ``muldimif:<key>`` (for example
``muldimif:Length_Words`` or ``muldimif:Table_Row limit``) and one argument, ``requirement``;
its instruction text is the requirement itself, so HiR's rewrite keeps the surviving triples,
in order, as they were written. :func:`constraint_from_triple` and :func:`triple_of` convert.

Scoring follows the reference: no blank-response rule (an empty response passes "at most"
requirements) and no loose mode (the loose verdict is the strict one). Every regular
expression applied to a response runs with a time limit (:mod:`._regex`). An unknown key is
``UnknownConstraintError`` naming it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ..base import Arg, ConstraintType
from . import content, formats, language, length

FAMILY = "muldimif"
PREFIX = "muldimif:"

# The reference's dispatch table: key f"{category}_{subcategory}" -> checker class.
CLASS_OF_KEY: dict[str, str] = {
    "Content_Keywords": "Content_Keywords",
    "Content_Keywords: Must include": "Content_Keywords",
    "Length_Words": "Length_Words",
    "Length_Words: At most": "Length_Words",
    "Length_Words: At least": "Length_Words",
    "Length_Words: Range": "Length_Words",
    "Length_Sentences": "Length_Sentences",
    "Length_Sentences: At least": "Length_Sentences",
    "Length_Sentences: At most": "Length_Sentences",
    "Length_Sentences: Range": "Length_Sentences",
    "Length_Paragraphs": "Length_Paragraphs",
    "Length_Paragraphs: At most": "Length_Paragraphs",
    "Length_Paragraphs: At least": "Length_Paragraphs",
    "Length_Paragraphs: Range": "Length_Paragraphs",
    "Paragraphs_At most": "Length_Paragraphs",
    "Format_Table": "Format_Table",
    "Table_Row limit": "Format_Table",
    "Table_Column limit": "Format_Table",
    "Format_Table: Row limit": "Format_Table",
    "Format_Table: Column limit": "Format_Table",
    "Punctuation_Ending punctuation": "Content_Punctuation",
    "Content_Punctuation: Ending punctuation": "Content_Punctuation",
    "Content_Punctuation": "Content_Punctuation",
    "Language_English": "Language_English",
    "Language_English: Capitalized": "Language_English",
    "Language_English: All Uppercase": "Language_English",
    "Format_Markdown": "Format_Markdown",
    "Markdown_Heading levels": "Format_Markdown",
    "Format_Markdown: Heading levels": "Format_Markdown",
    "Markdown_Block quotes": "Format_Markdown",
    "Json_Object nesting levels": "Format_Json",
    "Format_Json": "Format_Json",
    "Language_Chinese": "Language_Chinese",
    "Language_Chinese: Simplified": "Language_Chinese",
    "Language_Chinese: Traditional": "Language_Chinese",
    "Content_Identifiers": "Content_Others",
    "Content_Length": "Content_Others",
    "Citations_In-text": "Content_Others",
    "Content_Quotes": "Content_Others",
    "Content_Sources": "Content_Others",
    "Content_Mention": "Content_Others",
    # Not a typo: the reference sends this key to Format_Others, not Format_Markdown.
    "Format_Markdown: Block quotes": "Format_Others",
    "Format_Text": "Format_Others",
    "XML_Number of attributes": "Format_Others",
    "References_Format": "Format_Others",
    "Format_Bullet Points": "Format_Others",
    "Format_XML": "Format_Others",
    "Format_Blurb": "Format_Others",
    "Table_Table": "Format_Others",
    "Sentences_At most": "Length_Sentences",
    "Sentences_At least": "Length_Sentences",
    "Words_At most": "Length_Words",
    "Json_Number of attributes": "Format_Json",
    "Format_Word Count": "Length_Words",
    "Format_Length": "Format_Others",
}

CHECKERS: dict[str, Callable[[str, str], bool]] = {
    **length.CHECKERS,
    **content.CHECKERS,
    **formats.CHECKERS,
    **language.CHECKERS,
}
REQUIREMENT_SAMPLERS: dict[str, Callable[[random.Random], str]] = {
    **length.REQUIREMENT_SAMPLERS,
    **content.REQUIREMENT_SAMPLERS,
    **formats.REQUIREMENT_SAMPLERS,
    **language.REQUIREMENT_SAMPLERS,
}


def _rule(check: Callable[[str, str], bool]):
    def rule(text: str, kwargs: dict) -> bool:
        return bool(check(kwargs["requirement"], text))

    return rule


# Synthetic prompts use one key per checker class, so two aliases of one checker never meet in
# an instruction: the class's own name where it is a key; the two classes without one get the
# key that names what their sampled requirements ask for.
SAMPLED_KEY: dict[str, str] = {
    **{name: name for name in set(CLASS_OF_KEY.values()) if name in CLASS_OF_KEY},
    "Content_Others": "Content_Identifiers",  # "... must start with the identifier ..."
    "Format_Others": "Format_Text",  # its requirements span several text formats
}


def _sampler(class_name: str, key: str):
    def sample(rng: random.Random) -> dict:
        if SAMPLED_KEY[class_name] != key or class_name not in REQUIREMENT_SAMPLERS:
            raise NotImplementedError(f"{PREFIX}{key}: no synthetic requirement texts")
        return {"requirement": REQUIREMENT_SAMPLERS[class_name](rng)}

    return sample


def _make_type(key: str, class_name: str) -> ConstraintType | None:
    check = CHECKERS.get(class_name)
    if check is None:  # a checker module not written yet registers nothing for its keys
        return None
    return ConstraintType(
        id=PREFIX + key,
        rule=_rule(check),
        phrasings=("{requirement}",),
        args=(Arg("requirement", str, "the requirement as English text, parsed by the checker"),),
        sample=_sampler(class_name, key),
        family=FAMILY,
        blank_response_fails=False,
        loose_variants=False,
    )


TYPES: tuple[ConstraintType, ...] = tuple(
    ctype
    for key, class_name in CLASS_OF_KEY.items()
    if (ctype := _make_type(key, class_name)) is not None
)


def constraint_id(category: str, subcategory: str) -> str:
    """The registered id of a triple's key (not checked here; the registry checks it)."""
    return f"{PREFIX}{category}_{subcategory}"


def constraint_from_triple(triple: Sequence[Any]) -> dict:
    """``{"id", "kwargs"}`` for ``[category, subcategory, requirement]``; ValueError when the
    triple is not three strings."""
    if (
        isinstance(triple, str)
        or not isinstance(triple, Sequence)
        or len(triple) != 3
        or not all(isinstance(part, str) for part in triple)
    ):
        raise ValueError(
            f"a MulDimIF constraint is [category, subcategory, requirement], got {triple!r}"
        )
    category, subcategory, requirement = triple
    return {"id": constraint_id(category, subcategory), "kwargs": {"requirement": requirement}}


def triple_of(constraint_id_: str, kwargs: dict) -> list[str]:
    """The ``[category, subcategory, requirement]`` of a MulDimIF constraint."""
    key = constraint_id_.removeprefix(PREFIX)
    category, _, subcategory = key.partition("_")
    return [category, subcategory, kwargs["requirement"]]
