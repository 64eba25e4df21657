"""One function per stage of an iteration (ARCHITECTURE.md, "One iteration as data").

    prompts ──► rollouts ──► verdicts ──► replays ──► batch ──► train (+ checkpoint)

Each stage function is pure over (its input tables, the config, the iteration / stage seed)
and returns ``(table, metrics)``; reading and writing the run directory is the caller's job
(``tasks/``), except :func:`save_checkpoint`. Metrics are flat ``str -> float`` dicts, ready
for MLflow.

Engines are expensive (DeepSpeed initialisation, model loading). An in-process flow keeps
ONE :class:`TrainingEngine` for the whole run and builds the rollout generator on it:

    engine = engine_for_iteration(cfg, k, rundir.latest_checkpoint(before=k))  # once
    generator = make_generator(cfg, engine=engine)      # shares the engine's live weights
    for k in ...:
        engine = engine_for_iteration(cfg, k, rundir.latest_checkpoint(before=k), engine)
        prompts, _ = sample_prompts(cfg, k, stage_seed(cfg.seed, k, "prompts"))
        rollouts, _ = generate_rollouts(prompts, generator, cfg, stage_seed(cfg.seed, k, "rollouts"))
        ...
        metrics = train_step(batch, engine, cfg); save_checkpoint(engine, rundir.checkpoint_dir(k))

With the transformers backend the generator reads the weights the engine has just updated:
nothing to reload between iterations. With vLLM, call :func:`refresh_generator` with the new
checkpoint folder after each train stage. ``engine_for_iteration`` reuses a live engine when
it is at the right step (``engine.steps == k``) and otherwise restores the checkpoint of
iteration k-1 (weights and optimizer state), so skipping finished stages on resume is safe.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from hir_core import constraints as constraint_registry
from hir_core.advantages import assemble_batch, compute_advantages, gather_logprobs
from hir_core.config import ConfigError, DataConfig, PipelineConfig
from hir_core.data import (
    build_synthetic,
    constraints_from_row,
    load_ifeval_jsonl,
    load_verl_parquet,
)
from hir_core.engines import generation as generation_engines
from hir_core.engines.generation import (
    GenerationConfig,
    Generator,
    TransformersGenerator,
    VllmGenerator,
    chat,
    chat_prompt_ids,
)
from hir_core.engines.training import TrainingEngine
from hir_core.hindsight import run_hindsight
from hir_core.metrics import (
    herl_metrics,
    hindsight_token_fraction,
    rollout_metrics,
    signal_fraction,
    signal_fraction_without_hindsight,
)
from hir_core.models import load_model, resolve_folder
from hir_core.rewards import score_verdicts
from hir_core.rundir import stage_seed
from hir_core.storage import conform

__all__ = [
    "build_batch",
    "engine_for_iteration",
    "eval_generation_config",
    "evaluate_heldout",
    "generate_rollouts",
    "generation_chunks",
    "heldout_prompts",
    "hindsight",
    "make_engine",
    "make_generator",
    "prompt_pool",
    "refresh_generator",
    "rollouts_metrics",
    "sample_prompts",
    "save_checkpoint",
    "train_prompts",
    "train_step",
    "verify_rollouts",
]


# ------------------------------------------------------------------------------ prompts


@functools.lru_cache(maxsize=4)
def _pool(data_json: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = DataConfig.model_validate_json(data_json)
    if data.source == "synthetic":
        table = build_synthetic(
            data.n_train,
            data.n_heldout,
            data.seed,
            data.min_constraints,
            data.max_constraints,
            families=data.families,
            constraint_ids=data.types,
        )
        return table.filter(pl.col("split") == "train"), table.filter(pl.col("split") == "heldout")
    load = load_ifeval_jsonl if data.source == "ifeval_jsonl" else load_verl_parquet
    table = load(data.path)
    if data.heldout_path:
        heldout = load(data.heldout_path)
        train = table
    else:
        if data.n_heldout >= table.height:
            raise ConfigError(
                f"data.n_heldout ({data.n_heldout}) leaves no training prompt in {data.path} "
                f"({table.height} prompts)"
            )
        order = random.Random(data.seed).sample(range(table.height), table.height)
        heldout = table[sorted(order[: data.n_heldout])]
        train = table[sorted(order[data.n_heldout :])]
    return (
        train.with_columns(split=pl.lit("train")),
        heldout.with_columns(split=pl.lit("heldout")),
    )


def prompt_pool(cfg: PipelineConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, held-out) PROMPTS tables of the configured data source (cached per data config)."""
    return _pool(cfg.data.model_dump_json())


def train_prompts(cfg: PipelineConfig) -> pl.DataFrame:
    return prompt_pool(cfg)[0]


def heldout_prompts(cfg: PipelineConfig) -> pl.DataFrame:
    """The held-out split (PROMPTS, split "heldout"): never trained on."""
    return prompt_pool(cfg)[1]


def sample_prompts(cfg: PipelineConfig, iteration: int, seed: int) -> tuple[pl.DataFrame, dict]:
    """The B = ``data.prompts_per_iteration`` training prompts of ``iteration``.

    Iterations walk epochs: epoch e is a permutation of the training prompts seeded by
    (run seed, e); iteration k takes the slice ``slot * B : (slot + 1) * B`` of epoch
    ``k // per_epoch`` with ``per_epoch = n_train // B`` (the remainder of an epoch is left
    out, as a drop-last loader does). So no prompt repeats within an epoch, and the choice is
    a function of (config, iteration) only. ``seed`` (the stage seed) is accepted for the
    uniform stage signature; the order derives from the run seed so that iterations tile
    epochs.
    """
    del seed  # see the docstring
    pool = train_prompts(cfg)
    b = cfg.data.prompts_per_iteration
    if pool.height < b:
        raise ConfigError(
            f"data.prompts_per_iteration ({b}) > {pool.height}, the training prompts of "
            f"data.source={cfg.data.source!r}"
        )
    per_epoch = pool.height // b
    epoch, slot = divmod(iteration, per_epoch)
    order = random.Random(stage_seed(cfg.seed, epoch, "data-epoch")).sample(
        range(pool.height), pool.height
    )
    chosen = pool[order[slot * b : (slot + 1) * b]]
    n_constraints = chosen["constraints"].list.len()
    metrics = {
        "prompts/n": float(chosen.height),
        "prompts/epoch": float(epoch),
        "prompts/mean_constraints": float(n_constraints.mean()),
        "prompts/single_constraint_fraction": float((n_constraints == 1).mean()),
    }
    return chosen, metrics


# ------------------------------------------------------------------------------ rollouts


@contextlib.contextmanager
def _generation(generator: Generator, **updates) -> Iterator[Generator]:
    """``generator`` with its config fields updated (seed, n, ...) and its model in eval mode,
    both restored afterwards: one generator object serves every iteration and stage."""
    old_cfg = getattr(generator, "cfg", None)
    if old_cfg is not None:
        generator.cfg = old_cfg.model_copy(update=updates)
    model = getattr(generator, "model", None)
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()  # a model shared with the training engine is left in train mode
    try:
        yield generator
    finally:
        if old_cfg is not None:
            generator.cfg = old_cfg
        if was_training:
            model.train()


def _rollouts_frame(rows: list[dict]) -> pl.DataFrame:
    from schemas import ROLLOUTS

    return pl.from_arrow(conform(pa.Table.from_pylist(rows, schema=ROLLOUTS), "rollouts"))


def generation_chunks(
    n_prompts: int, generation: GenerationConfig, n: int
) -> list[tuple[int, int]]:
    """The prompt ranges ``[lo, hi)`` that :func:`generate_rollouts` decodes one call each.

    transformers: whole prompts filling one decoding batch (``batch_size // n`` prompts,
    at least one). The transformers generator draws one random stream per batch, so a
    prompt's samples depend on the batch it is decoded in and that batch's seed: chunk c is
    always the same prompts, decoded with seed ``seed + c``, whatever process decodes it.
    The ``ray`` backend hands each rollout actor a run of whole chunks, and the table is the
    same for any number of actors. vLLM seeds every request with the seed itself (a stream
    per prompt): one range.
    """
    if n_prompts == 0:
        return []
    if generation.backend == "vllm":
        return [(0, n_prompts)]
    per = max(1, generation.batch_size // n)
    return [(lo, min(lo + per, n_prompts)) for lo in range(0, n_prompts, per)]


def generate_rollouts(
    prompts: pl.DataFrame,
    generator: Generator,
    cfg: PipelineConfig,
    seed: int,
    first_chunk: int = 0,
) -> tuple[pl.DataFrame, dict]:
    """``hindsight.n_gen`` samples per prompt with the rollout settings and ``seed``.

    The prompts are decoded in the chunks of :func:`generation_chunks`, chunk c with seed
    ``seed + first_chunk + c`` (``first_chunk``: the index of ``prompts``' first chunk in
    the stage's whole prompts table, when a rollout actor decodes a part of it). The seed
    and group size are applied to ``generator`` for each call only. Rows are in prompt
    order, then sample order; ``rollout_id`` is ``"<prompt_id>/<sample_idx>"``.
    """
    start = time.perf_counter()
    n = cfg.hindsight.n_gen
    gen_cfg = getattr(generator, "cfg", None)
    if gen_cfg is not None and not isinstance(generator, VllmGenerator):
        chunks = generation_chunks(prompts.height, gen_cfg, n)
    else:  # vLLM (a stream per request), or a generator without settings (tests)
        chunks, first_chunk = [(0, prompts.height)], 0
    texts = [chat(p) for p in prompts["prompt"]]
    groups = []
    for c, (lo, hi) in enumerate(chunks):
        with _generation(generator, seed=int(seed) + first_chunk + c, n=n) as gen:
            groups += gen.generate(texts[lo:hi])
    elapsed = time.perf_counter() - start
    if len(groups) != prompts.height:
        raise ValueError(f"generator returned {len(groups)} groups for {prompts.height} prompts")
    rows = []
    for prompt_id, samples in zip(prompts["prompt_id"], groups):
        for sample in samples:
            rows.append(
                {
                    "rollout_id": f"{prompt_id}/{sample.sample_idx}",
                    "prompt_id": prompt_id,
                    "sample_idx": sample.sample_idx,
                    "response": sample.response,
                    "prompt_token_ids": list(sample.prompt_token_ids),
                    "response_token_ids": list(sample.response_token_ids),
                    "logprobs": list(sample.logprobs),
                    "mean_entropy": float(sample.mean_entropy),
                    "finish_reason": sample.finish_reason,
                }
            )
    rollouts = _rollouts_frame(rows)
    return rollouts, rollouts_metrics(rollouts, elapsed)


def rollouts_metrics(rollouts: pl.DataFrame, elapsed: float) -> dict:
    """The rollouts stage's metrics of a ROLLOUTS table generated in ``elapsed`` seconds."""
    lengths = rollouts["response_token_ids"].list.len()
    tokens = int(lengths.sum())
    return {
        "rollout/samples": float(rollouts.height),
        "rollout/mean_response_tokens": float(lengths.mean()),
        "rollout/truncated_fraction": float((rollouts["finish_reason"] == "length").mean()),
        "rollout/mean_entropy": float(rollouts["mean_entropy"].mean()),
        "rollout/generation_s": elapsed,
        "rollout/tokens_per_s": tokens / elapsed if elapsed > 0 else float("nan"),
    }


# ------------------------------------------------------------------------------ verdicts


def _verdicts_frame(rows: list[dict]) -> pl.DataFrame:
    from schemas import VERDICTS

    return pl.from_arrow(conform(pa.Table.from_pylist(rows, schema=VERDICTS), "verdicts"))


def verify_rollouts(
    prompts: pl.DataFrame, rollouts: pl.DataFrame, cfg: PipelineConfig
) -> tuple[pl.DataFrame, dict]:
    """A verdict vector per rollout (one entry per constraint, in order), rewards per
    ``cfg.reward``. Metrics are over these originals only: ``ila``, ``cla``,
    ``zero_variance_group_fraction``, ``pass_rate/<id>`` and ``verify/errors``."""
    start = time.perf_counter()
    by_prompt = {row["prompt_id"]: row for row in prompts.iter_rows(named=True)}
    rows, n_errors = [], 0
    for rollout in rollouts.select("rollout_id", "prompt_id", "sample_idx", "response").iter_rows(
        named=True
    ):
        prompt = by_prompt.get(rollout["prompt_id"])
        if prompt is None:
            raise ValueError(
                f"rollout {rollout['rollout_id']!r}: prompt {rollout['prompt_id']!r} is not in "
                "the prompts table"
            )
        constraints = constraints_from_row(prompt)
        result = constraint_registry.verify_detailed(
            rollout["response"], constraints, prompt=prompt["prompt"]
        )
        n_errors += sum(1 for e in result.errors if e)
        rows.append(
            {
                "rollout_id": rollout["rollout_id"],
                "prompt_id": rollout["prompt_id"],
                "sample_idx": rollout["sample_idx"],
                "constraint_ids": [c["id"] for c in constraints],
                "verdicts": list(result.verdicts),
                "errors": list(result.errors),
                "ila": 0.0,  # filled by score_verdicts
                "cla": 0.0,
                "reward": 0.0,
            }
        )
    verdicts = score_verdicts(_verdicts_frame(rows), cfg.reward)
    metrics = rollout_metrics(verdicts)
    metrics["reward"] = float(verdicts["reward"].cast(pl.Float64).mean())
    metrics["verify/errors"] = float(n_errors)
    metrics["verify/s"] = time.perf_counter() - start
    return verdicts, metrics


# ------------------------------------------------------------------------------ hindsight


def hindsight(
    prompts: pl.DataFrame,
    rollouts: pl.DataFrame,
    verdicts: pl.DataFrame,
    cfg: PipelineConfig,
    iteration: int,
    generator: Generator | None = None,
) -> tuple[pl.DataFrame, dict]:
    """The configured hindsight strategy on one iteration's scored rollouts -> REPLAYS.

    The selection schedule's step is ``iteration`` and its progress ``iteration /
    iterations``. Strategies that generate (HeRL) get ``generator`` (the current policy),
    seeded with this stage's seed, and the run's reward config.
    """
    kwargs: dict = {}
    accepted = inspect.signature(run_hindsight).parameters
    if "generator" in accepted:
        kwargs["generator"] = generator
    if "reward" in accepted:
        kwargs["reward"] = cfg.reward
    start = time.perf_counter()
    seeded = (
        _generation(generator, seed=stage_seed(cfg.seed, iteration, "replays"))
        if generator is not None
        else contextlib.nullcontext()
    )
    with seeded:
        replays, stats = run_hindsight(
            prompts,
            rollouts,
            verdicts,
            cfg.hindsight,
            step=iteration,
            progress=iteration / cfg.iterations,
            **kwargs,
        )
    metrics = _hindsight_metrics(stats, replays, time.perf_counter() - start)
    if uses_herl(cfg):
        # The rates and means of issue 7 (trigger rate, guided success, bonus, extra time).
        metrics.update(herl_metrics(stats, replays))
    return replays, metrics


def uses_herl(cfg: PipelineConfig) -> bool:
    """Whether the configured strategy runs HeRL's guided pass (``herl`` or ``hir+herl``)."""
    return "herl" in cfg.hindsight.strategy


# Stats of run_hindsight -> metric names (those of hir_core.metrics.hindsight_metrics).
_STAT_NAMES = {
    "n_candidates": "candidates",
    "n_verbatim_skipped": "verbatim_skipped",
    "k": "k",
    "n_selected": "selected",
    "shortfall": "shortfall",
    "n_reverify_failed": "reverify_failed",
    "n_replays": "replays",
    "lambda_t": "lambda_t",
}


def _hindsight_metrics(stats: dict, replays: pl.DataFrame, elapsed: float) -> dict:
    metrics = {}
    for key, value in stats.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[f"hindsight/{_STAT_NAMES.get(key, key)}"] = float(value)
    nan = float("nan")
    kept = replays["kept_ids"].list.len().cast(pl.Float64)
    dropped = replays["dropped_ids"].list.len().cast(pl.Float64)
    metrics["hindsight/mean_kept"] = float(kept.mean()) if replays.height else nan
    metrics["hindsight/mean_dropped"] = float(dropped.mean()) if replays.height else nan
    metrics["hindsight/s"] = elapsed
    return metrics


# ------------------------------------------------------------------------------ batch


def build_batch(
    prompts: pl.DataFrame,
    rollouts: pl.DataFrame,
    verdicts: pl.DataFrame,
    replays: pl.DataFrame,
    cfg: PipelineConfig,
    engine: TrainingEngine,
    tokenizer=None,
) -> tuple[pl.DataFrame, dict]:
    """The BATCH table: originals and replays, old and reference log-probs from ``engine``
    (a ``copy`` replay reuses its source's, per ``hindsight.replay_logprobs``), advantages.

    ``engine`` must hold the policy that generated the rollouts (the checkpoint of the
    previous iteration). ``tokenizer`` (default: the engine's) tokenises rewritten prompts
    with the chat template, exactly as rollout prompts are.
    """
    tokenizer = tokenizer if tokenizer is not None else engine.tokenizer
    start = time.perf_counter()

    def tokenize_prompt(text: str) -> list[int]:
        return chat_prompt_ids(tokenizer, [chat(text)])[0]

    batch = assemble_batch(
        prompts, rollouts, verdicts, replays, cfg.hindsight, cfg.advantages, tokenize_prompt
    )

    def scorer(fn):
        return lambda requests: fn([p for p, _ in requests], [r for _, r in requests])

    old = gather_logprobs(batch, scorer(engine.policy_logprobs))
    ref = gather_logprobs(batch, scorer(engine.ref_logprobs))
    logprob_s = time.perf_counter() - start
    batch = compute_advantages(batch, old, ref, cfg.advantages)
    metrics = _batch_metrics(batch, rollouts, verdicts, old, ref, logprob_s)
    if uses_herl(cfg):
        # Share of the trained tokens that come from guided revisions (shaped loss, no clip).
        metrics["herl/hindsight_token_fraction"] = hindsight_token_fraction(batch)
    return batch, metrics


def _batch_metrics(
    batch: pl.DataFrame,
    rollouts: pl.DataFrame,
    verdicts: pl.DataFrame,
    old: list[np.ndarray],
    ref: list[np.ndarray],
    logprob_s: float,
) -> dict:
    originals = ~batch["is_replay"] & ~batch["is_hindsight"]
    old_flat, ref_flat = np.concatenate(old), np.concatenate(ref)
    # The generator's log-probs against the engine's, on the originals: ~0 when the engine
    # holds the rollout policy (a large gap means the two hold different weights).
    rollout_lp = dict(zip(rollouts["rollout_id"], rollouts["logprobs"].to_list()))
    gaps = [
        np.abs(np.asarray(rollout_lp[sid]) - old[i]).mean()
        for i, sid in enumerate(batch["sample_id"])
        if originals[i] and sid in rollout_lp
    ]
    return {
        "batch/samples": float(batch.height),
        "batch/originals": float(originals.sum()),
        "batch/replays": float(batch["is_replay"].sum()),
        "batch/hindsight": float(batch["is_hindsight"].sum()),
        "batch/tokens": float(batch["response_token_ids"].list.len().sum()),
        "batch/mean_reward": float(batch["reward"].cast(pl.Float64).mean()),
        "batch/kl_old_ref": float((old_flat - ref_flat).mean()),
        "batch/rollout_logprob_gap": float(np.mean(gaps)) if gaps else float("nan"),
        "batch/logprob_s": logprob_s,
        # Without: the verdicts' rewards, before HeRL's bonus; with: the batch as trained.
        "hindsight/signal_fraction_without": signal_fraction_without_hindsight(verdicts),
        "hindsight/signal_fraction_with": signal_fraction(batch, include_replays=True),
    }


# ------------------------------------------------------------------------------ train


def train_step(batch: pl.DataFrame, engine: TrainingEngine, cfg: PipelineConfig) -> dict:
    """One policy update on ``batch`` (``training.mini_batches`` optimizer steps).

    Returns ``train/<name>`` for every metric of ``engine.step`` (loss, pg_loss, kl,
    clip_frac, grad_norm, tokens_per_s, lr) plus ``train/step_s`` and ``train/engine_steps``
    (the engine's step count after the update, = iteration + 1). Does not save: see
    :func:`save_checkpoint`.
    """
    del cfg  # the engine was built from cfg.training
    start = time.perf_counter()
    # An exception inside step() leaves engine.interrupted_step set (engine_for_iteration
    # then reloads the previous checkpoint instead of reusing a half-updated policy).
    metrics = {f"train/{k}": float(v) for k, v in engine.step(batch).items()}
    metrics["train/step_s"] = time.perf_counter() - start
    metrics["train/engine_steps"] = float(engine.steps)
    return metrics


def save_checkpoint(engine: TrainingEngine, folder: str | Path) -> Path:
    """``engine.save_checkpoint`` into ``folder`` atomically: written beside it under a
    temporary name, then renamed (a crash leaves no half-written folder under the real
    name). An existing folder is replaced. Every rank must call it."""
    import torch.distributed as dist

    folder = Path(folder)
    partial = folder.with_name(f".{folder.name}.partial")
    if engine.rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
    if dist.is_initialized():
        dist.barrier()
    engine.save_checkpoint(partial)
    if engine.rank == 0:
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            partial.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(folder)
    if dist.is_initialized():
        dist.barrier()
    return folder


# ------------------------------------------------------------------------------ engines


def make_engine(cfg: PipelineConfig, model_dir: Path | None = None) -> TrainingEngine:
    """A training engine: reference = the base model (``cfg.model``); policy = the base
    model, or the checkpoint in ``model_dir`` (weights, optimizer state, step count)."""
    engine = TrainingEngine(cfg.model, cfg.training, host_memory=cfg.host_memory)
    if model_dir is not None:
        engine.load_checkpoint(model_dir)
    return engine


def engine_for_iteration(
    cfg: PipelineConfig,
    iteration: int,
    model_dir: Path | None,
    engine: TrainingEngine | None = None,
) -> TrainingEngine:
    """An engine holding the policy that iteration ``iteration`` starts from.

    ``model_dir`` is the checkpoint of iteration - 1 (None for iteration 0). A live
    ``engine`` already at that point (``engine.steps == iteration``, no step interrupted
    half-way) is returned as is; otherwise it loads ``model_dir`` (weights and optimizer
    state). Without a usable engine a new one is made: callers that keep a generator on
    the engine's model must then rebuild it (``generator.model is not engine.model``).
    """
    partial = engine is not None and engine.interrupted_step
    if engine is not None and (engine.steps != iteration or partial):
        if model_dir is None:
            engine = None  # the base policy: only a fresh engine has it (and fresh Adam state)
        else:
            engine.load_checkpoint(model_dir)  # clears interrupted_step
    if engine is None:
        engine = make_engine(cfg, model_dir)
    if engine.steps != iteration:
        raise ValueError(
            f"checkpoint {model_dir} holds step {engine.steps}, iteration {iteration} needs "
            f"step {iteration}"
        )
    return engine


def make_generator(
    cfg: PipelineConfig,
    model_dir: Path | None = None,
    engine: TrainingEngine | None = None,
    generation: GenerationConfig | None = None,
) -> Generator:
    """A rollout generator (``generation``, default ``cfg.rollout``) for the current policy.

    transformers backend: on ``engine``'s live model when given (no copy, no reload: it
    sees every update), else the model in ``model_dir`` (a checkpoint), else the base
    model. vLLM: loads ``model_dir`` (else the base model's folder); call
    :func:`refresh_generator` after each checkpoint.
    """
    generation = generation or cfg.rollout
    build = generation_engines.make_generator
    if generation.backend != "vllm" and engine is not None:
        return build(generation, model=engine.model, tokenizer=engine.tokenizer)
    if model_dir is not None:
        return build(generation, model_dir, dtype=cfg.model.dtype)
    if generation.backend == "vllm":
        return build(generation, resolve_folder(cfg.model.spec), dtype=cfg.model.dtype)
    model, tokenizer = load_model(cfg.model)  # a spec, not a folder: smollm2, tiny-random
    return build(generation, model=model, tokenizer=tokenizer)


def refresh_generator(generator: Generator, model_dir: Path) -> None:
    """Point ``generator`` at the checkpoint in ``model_dir``: vLLM reloads it; a
    transformers generator with its own model copies the weights in; one sharing the
    engine's model already has them (no-op)."""
    if isinstance(generator, VllmGenerator):
        generator.load(model_dir)
        return
    if isinstance(generator, TransformersGenerator):
        from safetensors.torch import load_file

        files = sorted(Path(model_dir).glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{model_dir} holds no *.safetensors weights")
        state = {}
        for file in files:
            state.update(load_file(file))
        missing, unexpected = generator.model.load_state_dict(state, strict=False)
        # Tied embeddings are saved once: a missing lm_head.weight is expected.
        real_missing = [m for m in missing if m != "lm_head.weight"]
        if real_missing or unexpected:
            raise ValueError(
                f"{model_dir}: weights do not fit the generator's model "
                f"(missing {real_missing[:3]}, unexpected {unexpected[:3]})"
            )
        return
    raise TypeError(f"cannot refresh a {type(generator).__name__}")


# ------------------------------------------------------------------------------ evaluation


def eval_generation_config(cfg: PipelineConfig) -> GenerationConfig:
    """The rollout backend with the evaluation settings: one sample per prompt."""
    from hir_core.evaluation import eval_generation_config as settings

    ev = cfg.evaluation
    return settings(
        cfg.rollout,
        temperature=ev.temperature,
        max_new_tokens=ev.max_new_tokens,
        batch_size=ev.batch_size,
        seed=stage_seed(cfg.seed, 0, "eval"),
    )


def evaluate_heldout(
    cfg: PipelineConfig, generator: Generator
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Score ``generator`` on the first ``evaluation.heldout_prompts`` held-out prompts.

    Uses ``hir_core.evaluation.evaluate`` (EVAL table, IFEval-style metrics) with the
    evaluation sampling settings applied for this call; metric keys are prefixed
    ``eval/<benchmark>/``.
    """
    from hir_core.evaluation import evaluate

    prompts = heldout_prompts(cfg).head(cfg.evaluation.heldout_prompts)
    ev = eval_generation_config(cfg)
    # batch_size too: evaluation.batch_size used to be ignored here (the rollout one applied).
    fields = ("n", "temperature", "max_new_tokens", "batch_size", "seed")
    updates = {k: getattr(ev, k) for k in fields}
    with _generation(generator, **updates) as gen:
        table, metrics = evaluate(gen, prompts, cfg.evaluation.benchmark)
    prefix = f"eval/{cfg.evaluation.benchmark}/"
    return table, {prefix + k: float(v) for k, v in metrics.items()}
