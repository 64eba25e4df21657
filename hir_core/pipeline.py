"""One pure function per stage of an iteration (ARCHITECTURE.md, "One iteration as data").

STUB: signatures of the orchestration contract (/work/notes/orchestration-api.md);
implementation follows.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hir_core.config import PipelineConfig
from hir_core.engines.generation import Generator
from hir_core.engines.training import TrainingEngine


def sample_prompts(cfg: PipelineConfig, iteration: int, seed: int) -> tuple[pl.DataFrame, dict]:
    raise NotImplementedError


def heldout_prompts(cfg: PipelineConfig) -> pl.DataFrame:
    raise NotImplementedError


def generate_rollouts(prompts, generator, cfg, seed) -> tuple[pl.DataFrame, dict]:
    raise NotImplementedError


def verify_rollouts(prompts, rollouts, cfg) -> tuple[pl.DataFrame, dict]:
    raise NotImplementedError


def hindsight(prompts, rollouts, verdicts, cfg, iteration, generator=None):
    raise NotImplementedError


def build_batch(prompts, rollouts, verdicts, replays, cfg, engine, tokenizer):
    raise NotImplementedError


def train_step(batch: pl.DataFrame, engine: TrainingEngine, cfg: PipelineConfig) -> dict:
    raise NotImplementedError


def make_generator(cfg: PipelineConfig, model_dir: Path | None) -> Generator:
    raise NotImplementedError


def make_engine(cfg: PipelineConfig, model_dir: Path | None) -> TrainingEngine:
    raise NotImplementedError
