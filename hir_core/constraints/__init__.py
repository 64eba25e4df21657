"""Verifiable constraints: the 25 IFEval instruction types behind one registry.

    >>> from hir_core import constraints
    >>> constraints.verify("No commas here.", [{"id": "punctuation:no_comma", "kwargs": {}}])
    [True]

See ``base.ConstraintType`` for what a type offers, ``ifeval`` for the semantics of each type
(and where they differ from the reference scorer), ``conflicts`` for which types may not be
combined. Nothing is downloaded: the sentence, word and language models ship with the
installed packages and load on first use.
"""

from .base import ConstraintArgumentError, ConstraintType, UnknownConstraintError
from .registry import Verification, conflicts, get, ids, verify, verify_detailed

__all__ = [
    "ConstraintArgumentError",
    "ConstraintType",
    "UnknownConstraintError",
    "Verification",
    "conflicts",
    "get",
    "ids",
    "verify",
    "verify_detailed",
]
