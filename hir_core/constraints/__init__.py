"""Verifiable constraints: three verifier families behind one registry.

The families are those of the HiR paper's data (the verl ``data_source`` of each row):
``ifeval`` (the 25 IFEval types, module ``ifeval``), ``ifbench`` (the 58 IFBench types,
module ``ifbench``) and ``muldimif`` (MulDimIF's constraint triples, package ``muldimif``).
Ids do not collide across families, so ``verify(response, constraints)`` takes rows of any family unchanged.

    >>> from hir_core import constraints
    >>> constraints.verify("No commas here.", [{"id": "punctuation:no_comma", "kwargs": {}}])
    [True]

See ``base.ConstraintType`` for what a type offers, ``ifeval`` for the semantics of each type
(and where they differ from the reference scorer), ``conflicts`` for which types may not be
combined. Nothing is downloaded: the sentence, word and language models ship with the
installed packages and load on first use.
"""

from .base import ConstraintArgumentError, ConstraintType, UnknownConstraintError
from .registry import (
    FAMILIES,
    Verification,
    conflicts,
    family_label,
    family_of,
    get,
    ids,
    verify,
    verify_detailed,
)

__all__ = [
    "FAMILIES",
    "ConstraintArgumentError",
    "ConstraintType",
    "UnknownConstraintError",
    "Verification",
    "conflicts",
    "family_label",
    "family_of",
    "get",
    "ids",
    "verify",
    "verify_detailed",
]
