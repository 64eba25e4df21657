"""Helpers for the engine tests: a deterministic training batch, and a worker that runs one
training step in each process of ``torchrun`` / the ``deepspeed`` launcher.

Worker usage: ``python -m torch.distributed.run --nproc_per_node 2 tests/_helpers_engines.py
OUT.safetensors ZERO_STAGE`` writes the updated policy weights (rank 0).
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
) -> pl.DataFrame:
    """A BATCH table from real samples of ``model``: old and reference log-probs are the
    rollout's own (policy = reference at step 0); advantages are seeded noise per token, so
    every branch of the clipped loss is reached after the first mini-batch."""
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
        rows.append(
            {
                "sample_id": f"s{i}",
                "group_id": f"g{s.prompt_index}",
                "prompt_id": f"p{s.prompt_index}",
                "source_rollout_id": f"p{s.prompt_index}/{s.sample_idx}",
                "is_replay": is_replay,
                "is_hindsight": False,
                "prompt": TASKS[s.prompt_index % len(TASKS)],
                "prompt_token_ids": s.prompt_token_ids,
                "response_token_ids": s.response_token_ids,
                "reward": float(rng.integers(0, 2)),
                "advantages": rng.normal(size=n).astype(np.float32).tolist(),
                "old_logprobs": s.logprobs,
                "ref_logprobs": s.logprobs,
                "logprob_source": "rollout",
                "loss_weight": 0.5 if is_replay else 1.0,
            }
        )
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=BATCH))


# A learning rate large enough that one step moves tiny-random's weights visibly.
WORKER_LR = 1e-3


def _worker(out_path: str, zero_stage: int) -> None:
    import torch
    from safetensors.torch import save_file

    from hir_core.engines.training import TrainingConfig, TrainingEngine
    from hir_core.models import build_tiny_random

    model, tokenizer = build_tiny_random(0)
    batch = make_batch(model, tokenizer)
    cfg = TrainingConfig(zero_stage=zero_stage, lr=WORKER_LR, micro_batch_size=1, bf16=False)
    engine = TrainingEngine(model, cfg, tokenizer)
    metrics = engine.step(batch)
    folder = engine.save_checkpoint(Path(out_path).with_suffix(".ckpt"))
    if engine.rank == 0:
        from hir_core.models import load_model

        saved, _ = load_model(str(folder))
        save_file(
            {k: v.contiguous() for k, v in saved.state_dict().items() if k != "lm_head.weight"},
            out_path,
        )
        Path(out_path).with_suffix(".json").write_text(
            __import__("json").dumps({**metrics, "world_size": engine.world_size})
        )
    torch.distributed.barrier()


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]))
