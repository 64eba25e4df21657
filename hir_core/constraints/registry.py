"""Lookup of constraint types by id, and verification of a response against a constraint list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import ifbench, ifeval, muldimif
from .base import ConstraintType, LooseVariants, UnknownConstraintError
from .conflicts import types_conflict

# The verifier families, in the order of the paper's data (verl ``data_source``).
FAMILIES: tuple[str, ...] = ("ifeval", "ifbench", "muldimif")


def _build_registry() -> dict[str, ConstraintType]:
    registry: dict[str, ConstraintType] = {}
    for ctype in (*ifeval.TYPES, *ifbench.TYPES, *muldimif.TYPES):
        if ctype.id in registry:
            raise RuntimeError(f"constraint id {ctype.id!r} is registered twice")
        if ctype.family not in FAMILIES:
            raise RuntimeError(f"{ctype.id}: unknown family {ctype.family!r}")
        registry[ctype.id] = ctype
    return registry


_REGISTRY: dict[str, ConstraintType] = _build_registry()


def get(constraint_id: str) -> ConstraintType:
    """The type registered under ``constraint_id``; UnknownConstraintError names unknown ids."""
    try:
        return _REGISTRY[constraint_id]
    except (KeyError, TypeError):  # TypeError: an unhashable id
        raise UnknownConstraintError(constraint_id, list(_REGISTRY)) from None


def ids(family: str | None = None) -> list[str]:
    """Every registered constraint id, sorted; only those of ``family`` when given."""
    if family is None:
        return sorted(_REGISTRY)
    if family not in FAMILIES:
        raise ValueError(f"unknown verifier family {family!r}; known: {', '.join(FAMILIES)}")
    return sorted(cid for cid, ctype in _REGISTRY.items() if ctype.family == family)


def family_of(constraint_id: str) -> str:
    """The verifier family of a registered id (``ifeval``, ``ifbench`` or ``muldimif``)."""
    return get(constraint_id).family


def family_label(ids: Sequence[str]) -> str:
    """The verifier families of an instruction's constraint ids, ``+``-joined in first-seen
    order (``ifeval``, ``ifbench+muldimif``, ...); ``unknown`` for an id no type has (a table
    written by another version). For audit tables and artifacts."""
    families: list[str] = []
    for cid in ids:
        ctype = _REGISTRY.get(cid) if isinstance(cid, str) else None
        family = ctype.family if ctype is not None else "unknown"
        if family not in families:
            families.append(family)
    return "+".join(families)


def conflicts(id_a: str, id_b: str) -> bool:
    """Whether the two types may not be combined in one instruction (symmetric; a type
    conflicts with itself; types of different families never share an instruction)."""
    type_a, type_b = get(id_a), get(id_b)
    return type_a.family != type_b.family or types_conflict(type_a.id, type_b.id)


@dataclass(frozen=True)
class Verification:
    """Per-constraint verdicts, in input order, and the error a checker raised ("" if none)."""

    verdicts: list[bool]
    errors: list[str]


def _prepare(
    constraints: Sequence[Mapping[str, Any]], prompt: str | None
) -> list[tuple[ConstraintType, dict]]:
    """Resolve every id and validate every kwargs, before any check runs."""
    prepared = []
    for index, constraint in enumerate(constraints):
        mapping = type(constraint) is dict or isinstance(constraint, Mapping)
        if not mapping or "id" not in constraint:
            raise ValueError(
                f"constraint {index}: expected a mapping with an 'id', got {constraint!r}"
            )
        try:
            ctype = get(constraint["id"])
            kwargs = ctype.bind_prompt(ctype.validate(constraint.get("kwargs")), prompt)
        except ValueError as error:  # UnknownConstraintError and ConstraintArgumentError
            error.add_note(f"in constraint {index} of {len(constraints)}")
            raise
        prepared.append((ctype, kwargs))
    return prepared


def verify_detailed(
    response: str,
    constraints: Sequence[Mapping[str, Any]],
    prompt: str | None = None,
    loose: bool = False,
) -> Verification:
    """Check ``response`` against each ``{"id": ..., "kwargs": {...}}`` (other keys ignored).

    Unknown ids and bad kwargs raise before any check. A checker that raises gives False and
    its error at its own index; no verdict is ever dropped or shifted.
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {type(response).__name__}")
    prepared = _prepare(constraints, prompt)
    variants = LooseVariants(response) if loose else ()
    verdicts, errors = [], []
    for ctype, kwargs in prepared:
        try:
            if loose:
                verdict = ctype.check_variants(variants, kwargs)
            else:
                verdict = ctype.check_validated(response, kwargs)
            error = ""
        except Exception as exc:  # noqa: BLE001 - a checker bug costs one verdict, not the batch
            verdict, error = False, f"{ctype.id}: {type(exc).__name__}: {exc}"
        verdicts.append(verdict)
        errors.append(error)
    return Verification(verdicts, errors)


def verify(
    response: str,
    constraints: Sequence[Mapping[str, Any]],
    prompt: str | None = None,
    loose: bool = False,
) -> list[bool]:
    """Per-constraint verdicts of ``response`` (see ``verify_detailed``)."""
    return verify_detailed(response, constraints, prompt, loose).verdicts
