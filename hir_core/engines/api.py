"""The two engine interfaces the stages drive, whatever runs them (Prefect-free).

A stage never builds an engine itself: it asks the run's :class:`Engines` (the backend, one
per flow run) for the engine holding the policy an iteration starts from, and calls it with
tables:

- :class:`RolloutEngine`: generate a PROMPTS table into a ROLLOUTS table; take new weights
  from a checkpoint folder (:meth:`RolloutEngine.sync_weights`, a reload only when the
  folder changed, with a parameter checksum after it); release and resume its memory
  (a GPU shared with training).
- :class:`TrainEngine`: old / reference log-probs of prompt-response pairs (the batch
  stage), one training step on a BATCH table, save a checkpoint (policy + optimizer state),
  export the Hugging Face policy alone.

Backends (``distributed.backend``): ``inprocess`` (:mod:`hir_core.engines.inprocess`: the
engines live in the flow's process, the CPU default) and ``ray`` (:mod:`hir_core.engines.ray`:
train actors forming one torch.distributed group and rollout actors, placed by Ray). Weights
go from the trainer to the rollout engines through the checkpoint folder the train stage
writes; a later backend can move them by NCCL instead: :meth:`RolloutEngine.sync_weights`
takes the folder and returns a :class:`WeightSync` record, and a transfer that skips the
folder fills the same record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch-free at import: the config and the CLI import this module
    import numpy as np
    import polars as pl

    from hir_core.config import PipelineConfig
    from hir_core.engines.generation import Generator

__all__ = [
    "EngineInfo",
    "Engines",
    "RolloutEngine",
    "TrainEngine",
    "WeightSync",
    "checkpoint_signature",
    "parameter_checksum",
]


@dataclass(frozen=True)
class EngineInfo:
    """Where a stage's engine ran: recorded in the manifest entry of each stage."""

    backend: str  # inprocess | ray | worker
    world_size: int = 1  # train ranks (train and batch stages) or rollout workers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WeightSync:
    """The outcome of one :meth:`RolloutEngine.sync_weights`.

    ``source``: the checkpoint folder (None: the base model); ``reloaded``: whether weights
    were read (False when the engine already held them: the same folder, unchanged, or the
    in-process engine sharing the trainer's live model); ``checksum``: the
    :func:`parameter_checksum` of the weights the engine holds after the sync (None when
    nothing was transferred); ``seconds``: wall time of the sync.
    """

    source: str | None
    reloaded: bool
    checksum: str | None = None
    seconds: float = 0.0


@runtime_checkable
class RolloutEngine(Protocol):
    """Generates rollouts with the current policy."""

    def generate(
        self, prompts: pl.DataFrame, cfg: PipelineConfig, seed: int
    ) -> tuple[pl.DataFrame, dict[str, float]]:
        """``hindsight.n_gen`` samples per prompt of ``prompts`` -> (ROLLOUTS, metrics), as
        :func:`hir_core.pipeline.generate_rollouts` (per-batch seeds derived from ``seed``)."""
        ...

    def sync_weights(self, checkpoint: Path | None) -> WeightSync:
        """Generate from the policy in ``checkpoint`` (None: the base model) from now on;
        reads it only when it differs from what the engine holds."""
        ...

    def generator(self) -> Generator:
        """A :class:`~hir_core.engines.generation.Generator` on the current policy (HeRL's
        guided pass and evaluation generate through it)."""
        ...

    def release_memory(self) -> None:
        """Free the engine's accelerator memory (weights, KV cache) until :meth:`resume_memory`."""
        ...

    def resume_memory(self) -> None: ...


@runtime_checkable
class TrainEngine(Protocol):
    """The policy being trained (DeepSpeed) and its frozen reference."""

    steps: int  # optimizer updates applied (= the iteration the policy starts)
    world_size: int

    @property
    def tokenizer(self) -> Any: ...

    def policy_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """Teacher-forced log-probs of each response under the current policy."""
        ...

    def ref_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """The same under the frozen reference model."""
        ...

    def step(self, batch: pl.DataFrame) -> dict[str, float]:
        """One policy update on a BATCH table (``training.mini_batches`` optimizer steps)."""
        ...

    def save_checkpoint(self, folder: Path) -> Path:
        """Policy (HF safetensors) and optimizer state into ``folder``."""
        ...

    def export_policy(self, folder: Path) -> Path:
        """The Hugging Face policy alone (weights, config, tokenizer) into ``folder``."""
        ...


class Engines(Protocol):
    """A run's engines (one backend), built lazily and kept across iterations.

    ``train_engine(k)`` / ``rollout_engine(k)`` return the engines holding the policy
    iteration ``k`` starts from (the checkpoint of iteration k - 1, or the base model),
    restoring it when the live engines are elsewhere (a resumed or rerun stage).
    """

    backend: str

    def train_engine(self, iteration: int) -> TrainEngine: ...

    def rollout_engine(self, iteration: int) -> RolloutEngine: ...

    def info(self, stage: str) -> EngineInfo:
        """The backend and world size that run ``stage`` (recorded in the manifest)."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------ checksums


def parameter_checksum(tensors: Mapping[str, Any]) -> str:
    """sha256 over the sorted (name, dtype, shape, bytes) of a state dict's tensors.

    Tied weights saved once (an output head sharing the embedding) are skipped: a
    checkpoint's safetensors and a live model's ``state_dict`` then give the same checksum
    (``lm_head.weight`` is left out when it is the embedding's tensor, or absent). The
    cost is one pass over the weights (~1 s per GB on CPU); the checksum compares a rollout
    engine's weights with the trainer's after a sync.
    """
    import torch

    digest = hashlib.sha256()
    seen: dict[int, str] = {}
    for name in sorted(tensors):
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor):
            continue
        key = tensor.data_ptr() if tensor.device.type != "meta" else id(tensor)
        if name == "lm_head.weight" and key in seen:
            continue  # tied to the embedding: saved once
        seen[key] = name
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def checkpoint_signature(folder: Path | None) -> str | None:
    """What identifies a checkpoint's weights without reading them: the weight files'
    names, sizes and modification times (None for the base model). A rollout engine
    reloads when it changes (a rerun train stage rewrites the folder)."""
    if folder is None:
        return None
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no *.safetensors weights")
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns, f.stat().st_ino) for f in files]
    return json.dumps([str(Path(folder).resolve()), stats])
