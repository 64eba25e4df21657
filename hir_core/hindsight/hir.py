"""HiR: Hindsight instruction Replay, select-then-rewrite (METHOD.md, "HiR", steps 3-4).

A rollout that satisfied some but not all constraints is replayed as a success for the
instruction it did satisfy: the same task and template with only its passed constraints.
No model is involved; re-verification (optional) uses the same verifiers as the verify stage.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from hir_core import constraints
from hir_core.data import constraint_records, instruction_from_row
from hir_core.hindsight.base import HindsightInputs, empty_stats, replays_frame
from hir_core.hindsight.config import HindsightConfig
from hir_core.hindsight.selection import is_candidate, select, selection_score
from hir_core.instructions import Instruction, rewrite
from hir_core.rewards import cla

STRATEGY = "hir"


def run(inputs: HindsightInputs, cfg: HindsightConfig) -> tuple[pl.DataFrame, dict]:
    """Select up to K candidates of this iteration and rewrite each into a replay."""
    instructions = {
        row["prompt_id"]: (row, instruction_from_row(row))
        for row in inputs.prompts.iter_rows(named=True)
    }
    scored = _scored_rollouts(inputs, {pid: ins for pid, (_, ins) in instructions.items()})
    # A verbatim prompt (constraints written into the task by a human) cannot be rewritten.
    separable = [pid for pid, (_, ins) in instructions.items() if ins.separable]
    lambda_t = cfg.lambda_t(inputs.step, inputs.progress)
    candidates = _candidates(scored, lambda_t)
    verbatim = candidates.filter(~pl.col("prompt_id").is_in(separable))
    candidates = candidates.filter(pl.col("prompt_id").is_in(separable))
    k = cfg.replay_budget(inputs.rollouts["prompt_id"].n_unique())
    rng = np.random.default_rng([cfg.seed, inputs.step])
    chosen = set(select(candidates, k, cfg.selection, rng))

    rows, failed_reverify = [], 0
    # Rollout order, so each replay can be placed right after its source in the batch.
    for cand in candidates.filter(pl.col("rollout_id").is_in(chosen)).iter_rows(named=True):
        prompt_row, instruction = instructions[cand["prompt_id"]]
        rewritten = rewrite(instruction, list(cand["verdicts"]))
        reverified = _reverify(cand["response"], rewritten) if cfg.reverify else None
        if reverified is False:
            failed_reverify += 1
            continue
        rows.append(_replay_row(cand, prompt_row, instruction, rewritten, lambda_t, reverified))

    stats = empty_stats()
    stats.update(
        n_candidates=candidates.height,
        n_verbatim_skipped=verbatim.height,
        k=k,
        n_selected=len(chosen),
        shortfall=max(0, k - candidates.height),
        n_reverify_failed=failed_reverify,
        n_replays=len(rows),
        lambda_t=lambda_t,
    )
    return replays_frame(rows), stats


def _scored_rollouts(inputs: HindsightInputs, instructions: dict[str, Instruction]) -> pl.DataFrame:
    """Rollouts joined 1:1 with their verdicts, each verdict aligned with its instruction.

    An unmatched row on either side, a prompt missing from the prompts table or a verdict
    vector for other constraints than its prompt's is an error naming the row.
    """
    rollouts = inputs.rollouts.select("rollout_id", "prompt_id", "response", "mean_entropy")
    verdicts = inputs.verdicts.select("rollout_id", "constraint_ids", "verdicts")
    joined = rollouts.join(verdicts, on="rollout_id", how="inner", maintain_order="left")
    for side, table in (("rollouts", rollouts), ("verdicts", verdicts)):
        missing = table.filter(~pl.col("rollout_id").is_in(joined["rollout_id"].implode()))
        if missing.height:
            raise ValueError(
                f"hindsight: {side} rows without a match in the other table: "
                f"{missing['rollout_id'].head(5).to_list()}"
            )
    for row in joined.select("rollout_id", "prompt_id", "constraint_ids", "verdicts").iter_rows(
        named=True
    ):
        if row["prompt_id"] not in instructions:
            raise ValueError(
                f"hindsight: rollout {row['rollout_id']!r}: prompt {row['prompt_id']!r} is not in "
                "the prompts table"
            )
        _check_aligned(row, instructions[row["prompt_id"]])
    return joined


def _candidates(scored: pl.DataFrame, lambda_t: float) -> pl.DataFrame:
    """Rollouts with 0 < CLA < 1 and their selection score, in rollout order."""
    rows = []
    for row in scored.iter_rows(named=True):
        if not is_candidate(row["verdicts"]):
            continue
        entropy = row["mean_entropy"]
        if not math.isfinite(entropy):
            raise ValueError(f"rollout {row['rollout_id']!r}: mean_entropy is {entropy}")
        fraction = cla(row["verdicts"])
        rows.append({**row, "cla": fraction, "score": selection_score(fraction, entropy, lambda_t)})
    return pl.DataFrame(rows, schema={**scored.schema, "cla": pl.Float64, "score": pl.Float64})


def _reverify(response: str, rewritten: Instruction) -> bool:
    """Whether the response passes every kept constraint under the rewritten prompt."""
    return all(constraints.verify(response, list(rewritten.constraints), prompt=rewritten.prompt))


def _check_aligned(row: dict, instruction: Instruction) -> None:
    # A verdict vector misaligned with its instruction would keep the wrong constraints.
    if list(row["constraint_ids"]) != instruction.constraint_ids or len(row["verdicts"]) != len(
        instruction.constraint_ids
    ):
        raise ValueError(
            f"hindsight: verdict row {row['rollout_id']!r}: {len(row['verdicts'])} verdicts for "
            f"constraint ids {row['constraint_ids']}, its prompt has {instruction.constraint_ids}"
        )


def _replay_row(
    cand: dict,
    prompt_row: dict,
    instruction: Instruction,
    rewritten: Instruction,
    lambda_t: float,
    reverified: bool | None,
) -> dict:
    ids = instruction.constraint_ids
    keep_mask = list(cand["verdicts"])
    return {
        "replay_id": f"{cand['rollout_id']}/{STRATEGY}",
        "strategy": STRATEGY,
        "source_rollout_id": cand["rollout_id"],
        "prompt_id": cand["prompt_id"],
        "original_prompt": prompt_row["prompt"],
        "kept_ids": [cid for cid, keep in zip(ids, keep_mask) if keep],
        "dropped_ids": [cid for cid, keep in zip(ids, keep_mask) if not keep],
        "keep_mask": keep_mask,
        "rewritten_constraints": constraint_records(rewritten.constraints),
        "rewritten_prompt": rewritten.prompt,
        "response": cand["response"],
        "score": cand["score"],
        "score_cla": cand["cla"],
        "score_entropy": cand["mean_entropy"],
        "lambda_t": lambda_t,
        "reverified": reverified,
    }
