"""Run directory: layout, manifest, lock, stage seeds and input hashes (ARCHITECTURE.md).

STUB: signatures of the orchestration contract (/work/notes/orchestration-api.md);
implementation follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from hir_core.config import PipelineConfig

STAGES = ("prompts", "rollouts", "verdicts", "replays", "batch", "train")


class RunLockedError(RuntimeError):
    """Another process holds the run's lock; the message names it."""


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.manifest_path = self.root / "manifest.json"

    def iteration_dir(self, k: int) -> Path:
        return self.root / f"iter-{k:04d}"

    def table_path(self, k: int, table: str) -> Path:
        return self.iteration_dir(k) / f"{table}.parquet"

    def checkpoint_dir(self, k: int) -> Path:
        return self.root / "checkpoints" / f"iter-{k:04d}"

    def latest_checkpoint(self, before: int | None = None) -> Path | None:
        raise NotImplementedError

    def lock(self, holder: str = "") -> AbstractContextManager:
        raise NotImplementedError

    def init(self, cfg: PipelineConfig) -> PipelineConfig:
        raise NotImplementedError


class Manifest:
    @classmethod
    def load(cls, rundir: RunDir) -> Manifest:
        raise NotImplementedError

    def is_done(self, k: int, stage: str, input_hash: str) -> bool:
        raise NotImplementedError

    def record(self, k, stage, *, outputs, input_hash, started, finished, metrics) -> None:
        raise NotImplementedError

    def mark_stale(self, k: int, stages: Sequence[str]) -> None:
        raise NotImplementedError

    def stage(self, k: int, stage: str) -> dict | None:
        raise NotImplementedError

    def completed_iterations(self) -> int:
        raise NotImplementedError


def stage_seed(run_seed: int, iteration: int, stage: str) -> int:
    raise NotImplementedError


def input_hash(cfg: PipelineConfig, iteration: int, stage: str, inputs: Sequence[Path]) -> str:
    raise NotImplementedError
