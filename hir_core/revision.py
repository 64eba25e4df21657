"""Revision with the verifier's feedback: HeRL's guidance prompt and test-time self-revision.

A *revision prompt* shows the model an instruction, its previous response (the draft) and the
verdict of every constraint: which are met and which are not. HeRL (METHOD.md, "HeRL",
step 3) samples one guided response per failed draft from such a prompt during training;
:func:`revise` runs the same loop at test time, ``rounds`` times, and reports accuracy per
round (the eval CLI's ``--revise-rounds``).

The prompt is one user message (:func:`hir_core.engines.generation_config.chat`), rendered with the model's chat
template by the generator, so a training sample can carry it as a plain string.

This module never imports a model: generation goes through an injected
``hir_core.engines.generation.Generator`` (``generate(list of chats) -> list[list[Sample]]``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from hir_core import constraints as constraint_registry
from hir_core.data import constraints_from_row
from hir_core.engines.generation_config import chat
from hir_core.rewards import cla, ila

REVISION_INTRO = (
    "Your previous response to the instruction below was checked against each of its requirements."
)
REVISION_TASK = (
    "Write a new response to the instruction that meets every requirement, including the "
    "ones your previous response missed, and keeps what it already did right. Reply with the "
    "new response only."
)
NONE_LINE = "- (none)"


def revision_prompt(
    instruction: str, draft: str, constraint_texts: Sequence[str], verdicts: Sequence[bool]
) -> str:
    """The user message asking for a revision of `draft`.

    Args:
        instruction: the original user message (task and constraints, as the model read it).
        draft: the response to revise.
        constraint_texts: each constraint's description, in the instruction's order.
        verdicts: the draft's verdict per constraint (True = met), aligned with the texts.
    """
    if len(constraint_texts) != len(verdicts):
        raise ValueError(
            f"revision_prompt: {len(verdicts)} verdicts for {len(constraint_texts)} constraints"
        )
    met = [_bullet(text) for text, ok in zip(constraint_texts, verdicts) if ok] or [NONE_LINE]
    unmet = [_bullet(t) for t, ok in zip(constraint_texts, verdicts) if not ok] or [NONE_LINE]
    return "\n".join(
        [
            REVISION_INTRO,
            "",
            "### Instruction",
            instruction,
            "",
            "### Your previous response",
            draft,
            "",
            "### Requirements it met",
            *met,
            "",
            "### Requirements it did NOT meet",
            *unmet,
            "",
            REVISION_TASK,
        ]
    )


def _bullet(text: str) -> str:
    # A multi-line description (e.g. an example bullet list) stays inside its bullet.
    return "- " + text.replace("\n", "\n  ")


def with_sampling(generator: Any, **params: Any) -> Any:
    """A shallow copy of `generator` whose ``cfg`` (a GenerationConfig) has `params` set.

    The copy shares the model (or vLLM engine); only the sampling settings differ, so an
    extra generation pass can use its own temperature, length, ``n`` and seed. The new
    settings are validated (a bad value is an error naming the field).
    """
    cfg = getattr(generator, "cfg", None)
    if cfg is None or not hasattr(cfg, "model_dump"):
        raise TypeError(
            f"{type(generator).__name__} has no GenerationConfig attribute `cfg`, so its sampling "
            f"settings ({sorted(params)}) cannot be set; use a generator from "
            "hir_core.engines.generation.make_generator"
        )
    clone = copy.copy(generator)
    clone.cfg = type(cfg).model_validate({**cfg.model_dump(), **params})
    return clone


# ---------------------------------------------------------------------------------------------
# Test-time self-revision


@dataclass(frozen=True)
class RevisionResult:
    """What :func:`revise` returns.

    Attributes:
        table: one row per (prompt, round): ``prompt_id``, ``round`` (0 = the given
            responses), ``revised`` (whether the model wrote this round's response; a response
            that already met every constraint is carried over unchanged), ``prompt`` (the
            message the response answers: the original prompt in round 0, else the revision
            prompt), ``response``, ``constraint_ids``, ``verdicts``, ``ila``, ``cla``.
        accuracy: per round, ``{"round", "ila", "cla", "revised"}``: mean ILA and CLA over
            every prompt after that round, and how many responses were rewritten in it.
    """

    table: pl.DataFrame
    accuracy: list[dict[str, float]]


def revise(
    generator: Any,
    prompts: pl.DataFrame,
    responses: Sequence[str],
    rounds: int,
    *,
    loose: bool = False,
) -> RevisionResult:
    """Let the model revise its answers with the verifier's feedback for `rounds` rounds.

    Args:
        generator: a Generator (its ``n`` is set to 1 when it has a GenerationConfig ``cfg``;
            otherwise the first sample of each prompt is used). Its other sampling settings
            (temperature, length) apply as configured.
        prompts: a PROMPTS table; `responses` are aligned with its rows.
        responses: the round-0 answers (e.g. greedy answers to the original prompts).
        rounds: revision rounds (>= 0). Round k revises every response of round k-1 that
            failed a constraint, against the ORIGINAL instruction.
        loose: verify with IFEval's loose variants instead of strict.
    """
    if rounds < 0:
        raise ValueError(f"revise: rounds must be >= 0, got {rounds}")
    responses = list(responses)
    if len(responses) != prompts.height:
        raise ValueError(
            f"revise: {len(responses)} responses for {prompts.height} prompts (one per row)"
        )
    if hasattr(generator, "cfg"):
        generator = with_sampling(generator, n=1)
    rows = list(prompts.iter_rows(named=True))
    constraint_lists = [constraints_from_row(row) for row in rows]
    current = [
        _scored(row, cons, 0, False, row["prompt"], text, loose)
        for row, cons, text in zip(rows, constraint_lists, responses)
    ]
    table = list(current)
    accuracy = [_accuracy(current, 0, 0)]
    for k in range(1, rounds + 1):
        todo = [i for i, entry in enumerate(current) if not all(entry["verdicts"])]
        asks = [
            revision_prompt(
                rows[i]["prompt"],
                current[i]["response"],
                [c["text"] for c in constraint_lists[i]],
                current[i]["verdicts"],
            )
            for i in todo
        ]
        outputs = generator.generate([chat(ask) for ask in asks]) if todo else []
        if len(outputs) != len(todo):
            raise ValueError(f"generator returned {len(outputs)} results for {len(todo)} prompts")
        revised = {i: (ask, samples[0].response) for i, ask, samples in zip(todo, asks, outputs)}
        for i, row in enumerate(rows):
            if i in revised:
                ask, text = revised[i]
                current[i] = _scored(row, constraint_lists[i], k, True, ask, text, loose)
            else:
                current[i] = {**current[i], "round": k, "revised": False}
        table += current
        accuracy.append(_accuracy(current, k, len(todo)))
    return RevisionResult(pl.DataFrame(table, schema=_TABLE_SCHEMA), accuracy)


_TABLE_SCHEMA = {
    "prompt_id": pl.String,
    "round": pl.Int32,
    "revised": pl.Boolean,
    "prompt": pl.String,
    "response": pl.String,
    "constraint_ids": pl.List(pl.String),
    "verdicts": pl.List(pl.Boolean),
    "ila": pl.Float64,
    "cla": pl.Float64,
}


def _scored(
    row: dict, cons: list[dict], k: int, revised: bool, prompt: str, response: str, loose: bool
) -> dict:
    # Verified against the ORIGINAL instruction (prompt-dependent checkers read its text).
    verdicts = constraint_registry.verify(response, cons, prompt=row["prompt"], loose=loose)
    return {
        "prompt_id": row["prompt_id"],
        "round": k,
        "revised": revised,
        "prompt": prompt,
        "response": response,
        "constraint_ids": [c["id"] for c in cons],
        "verdicts": verdicts,
        "ila": ila(verdicts),
        "cla": cla(verdicts),
    }


def _accuracy(entries: list[dict], k: int, n_revised: int) -> dict[str, float]:
    n = len(entries)
    nan = float("nan")  # a mean of nothing
    return {
        "round": float(k),
        "ila": sum(e["ila"] for e in entries) / n if n else nan,
        "cla": sum(e["cla"] for e in entries) / n if n else nan,
        "revised": float(n_revised),
    }
