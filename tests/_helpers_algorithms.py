"""Small hand-built tables (schema-checked) for the hindsight, advantage and metric tests."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa

from hir_core.storage import conform
from schemas import TABLES


def frame(rows: list[dict], table: str) -> pl.DataFrame:
    """Rows -> a DataFrame with exactly the schema of `table` (checked like a stage's output)."""
    return pl.from_arrow(conform(pa.Table.from_pylist(rows, schema=TABLES[table]), table))


def prompt_row(
    prompt_id: str,
    constraints: list[dict],
    prompt: str,
    task: str = "Write.",
    template: str = "sentences",
) -> dict:
    """A PROMPTS row; `constraints` are {"id", "kwargs", "text"} dicts."""
    return {
        "prompt_id": prompt_id,
        "base_task_id": prompt_id,
        "split": "train",
        "task": task,
        "constraints": [
            {"id": c["id"], "kwargs_json": json.dumps(c["kwargs"]), "text": c["text"]}
            for c in constraints
        ],
        "template": template,
        "prompt": prompt,
    }


def rollout_row(
    prompt_id: str,
    idx: int,
    response: str = "response",
    entropy: float = 0.5,
    response_ids: list[int] | None = None,
    prompt_ids: list[int] | None = None,
) -> dict:
    response_ids = response_ids if response_ids is not None else [7, 8, 9]
    return {
        "rollout_id": f"{prompt_id}/{idx}",
        "prompt_id": prompt_id,
        "sample_idx": idx,
        "response": response,
        "prompt_token_ids": prompt_ids if prompt_ids is not None else [1, 2],
        "response_token_ids": response_ids,
        "logprobs": [-1.0] * len(response_ids),
        "mean_entropy": entropy,
        "finish_reason": "stop",
    }


def verdict_row(prompt_id: str, idx: int, constraint_ids: list[str], verdicts: list[bool]) -> dict:
    """A VERDICTS row with ILA reward."""
    passed = sum(verdicts)
    return {
        "rollout_id": f"{prompt_id}/{idx}",
        "prompt_id": prompt_id,
        "sample_idx": idx,
        "constraint_ids": constraint_ids,
        "verdicts": verdicts,
        "errors": [""] * len(verdicts),
        "ila": float(passed == len(verdicts)),
        "cla": passed / len(verdicts),
        "reward": float(passed == len(verdicts)),
    }


def replay_row(
    source_rollout_id: str,
    prompt_id: str,
    rewritten_prompt: str,
    kept: list[str],
    dropped: list[str],
) -> dict:
    """A REPLAYS row as the hir strategy writes it (scores are placeholders)."""
    return {
        "replay_id": f"{source_rollout_id}/hir",
        "strategy": "hir",
        "source_rollout_id": source_rollout_id,
        "prompt_id": prompt_id,
        "original_prompt": "original",
        "kept_ids": kept,
        "dropped_ids": dropped,
        "keep_mask": [True] * len(kept) + [False] * len(dropped),
        "rewritten_constraints": [{"id": c, "kwargs_json": "{}", "text": c} for c in kept],
        "rewritten_prompt": rewritten_prompt,
        "response": "response",
        "score": 1.0,
        "score_cla": 0.5,
        "score_entropy": 0.5,
        "lambda_t": 2.0,
        "reverified": None,
    }
