"""Helpers for the engine tests: a deterministic training batch, and a worker that runs one
training step in each process of ``torchrun`` / the ``deepspeed`` launcher.

Worker usage: ``python -m torch.distributed.run --nproc_per_node 2 tests/_helpers_engines.py
OUT_DIR 0,2`` runs one step per listed ZeRO stage (one launch: interpreter start-up and imports
are most of its cost) and writes, from rank 0, ``OUT_DIR/zero{stage}.safetensors`` (the
updated policy, read back from the saved checkpoint) and ``OUT_DIR/zero{stage}.json``
(the step's metrics). ``run_step`` is the same work in the calling process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script by launchers

from schemas import BATCH

TASKS = [
    "Write a poem about tea.",
    "List three reasons to travel.",
    "Explain the rules of chess in JSON format.",
    "Summarize the history of bread without commas.",
    "Describe the weather today in all lowercase letters.",
    "Answer the question with a title in double angular brackets.",
]


def make_batch(
    model,
    tokenizer,
    n_rows: int = 8,
    seed: int = 0,
    max_new_tokens: int = 10,
    replay_every: int = 0,
    hindsight_rows: tuple[int, ...] = (),
) -> pl.DataFrame:
    """A BATCH table from real samples of ``model``: old and reference log-probs are the
    rollout's own (policy = reference at step 0); advantages are seeded noise per token, so
    every branch of the clipped loss is reached after the first mini-batch.

    Every ``replay_every``-th row is a replay (loss weight 0.5); ``hindsight_rows`` are HeRL
    guided samples (loss weight 0.75, so a weight applied zero or two times shows)."""
    from hir_core.engines.generation import GenerationConfig, TransformersGenerator

    prompts = [
        [{"role": "user", "content": TASKS[i % len(TASKS)]}] for i in range((n_rows + 1) // 2)
    ]
    cfg = GenerationConfig(n=2, max_new_tokens=max_new_tokens, seed=seed, batch_size=16)
    samples = [
        s for group in TransformersGenerator(model, tokenizer, cfg).generate(prompts) for s in group
    ]
    rng = np.random.default_rng(seed)
    rows = []
    for i, s in enumerate(samples[:n_rows]):
        n = len(s.response_token_ids)
        is_replay = bool(replay_every) and i % replay_every == replay_every - 1
        is_hindsight = i in hindsight_rows
        rows.append(
            {
                "sample_id": f"s{i}",
                "group_id": f"g{s.prompt_index}",
                "prompt_id": f"p{s.prompt_index}",
                "source_rollout_id": f"p{s.prompt_index}/{s.sample_idx}",
                "is_replay": is_replay,
                "is_hindsight": is_hindsight,
                "prompt": TASKS[s.prompt_index % len(TASKS)],
                "prompt_token_ids": s.prompt_token_ids,
                "response_token_ids": s.response_token_ids,
                "reward": float(rng.integers(0, 2)),
                "advantages": rng.normal(size=n).astype(np.float32).tolist(),
                "old_logprobs": s.logprobs,
                "ref_logprobs": s.logprobs,
                "logprob_source": "rollout",
                "loss_weight": 0.5 if is_replay else 0.75 if is_hindsight else 1.0,
            }
        )
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=BATCH))


# A learning rate large enough that one step moves tiny-random's weights visibly.
WORKER_LR = 1e-3
# The multi-process batch: replays and HeRL rows, so every per-sample branch is sharded.
WORKER_BATCH = {"n_rows": 8, "replay_every": 4, "hindsight_rows": (1, 6)}


def run_step(zero_stage: int, checkpoint: Path) -> tuple[dict, dict, int]:
    """One TrainingEngine step on the worker batch, in this process's process group, saved to
    ``checkpoint`` (the same path on every rank).

    Returns the policy weights read back from the saved checkpoint (what generation would
    load), the step's metrics and the world size.
    """
    from hir_core.engines.training import TrainingConfig, TrainingEngine
    from hir_core.models import build_tiny_random, load_model

    model, tokenizer = build_tiny_random(0)
    batch = make_batch(model, tokenizer, **WORKER_BATCH)
    cfg = TrainingConfig(zero_stage=zero_stage, lr=WORKER_LR, micro_batch_size=1, bf16=False)
    engine = TrainingEngine(model, cfg, tokenizer)
    metrics = engine.step(batch)
    engine.save_checkpoint(checkpoint)
    weights = {}
    if engine.rank == 0:
        saved, _ = load_model(str(checkpoint))
        weights = {
            k: v.contiguous() for k, v in saved.state_dict().items() if k != "lm_head.weight"
        }
    return weights, metrics, engine.world_size


def _worker(out_dir: str, zero_stages: str) -> None:
    import json

    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    for stage in [int(s) for s in zero_stages.split(",")]:
        weights, metrics, world_size = run_step(stage, out / f"zero{stage}.ckpt")
        if torch.distributed.get_rank() == 0:
            save_file(weights, out / f"zero{stage}.safetensors")
            (out / f"zero{stage}.json").write_text(
                json.dumps({**metrics, "world_size": world_size})
            )
        torch.distributed.barrier()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
