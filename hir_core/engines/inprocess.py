"""Backend ``inprocess``: the engines live in the calling process (the CPU default).

One :class:`~hir_core.engines.training.TrainingEngine` is kept for the whole run and the
rollout generator is built on its live model (transformers: no copy, no reload, it sees
every update); with ``rollout.backend: vllm`` the generator is a vLLM engine that reloads the
latest checkpoint folder when it changed. Nothing is built until a stage that runs the
policy computes: resuming a finished run never initialises DeepSpeed.

This is what the flow ran before the backends existed, unchanged in outputs and speed.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from hir_core import pipeline
from hir_core.config import PipelineConfig
from hir_core.engines.api import EngineInfo, WeightSync, checkpoint_signature
from hir_core.engines.generation import Generator, VllmGenerator
from hir_core.engines.training import TrainingEngine
from hir_core.rundir import RunDir
from hir_core.stages import MissingInputError


class MissingCheckpointError(MissingInputError):
    """The checkpoint an iteration starts from is absent (its train stage has not run)."""


def previous_checkpoint(rundir: RunDir, iteration: int) -> Path | None:
    """The checkpoint folder ``iteration`` starts from (None: the base model, iteration 0);
    :class:`MissingCheckpointError` when its train stage has not written it. Every backend
    asks this."""
    previous = rundir.checkpoint_dir(iteration - 1) if iteration > 0 else None
    if previous is not None and not previous.is_dir():
        raise MissingCheckpointError(
            f"{previous}: checkpoint of iteration {iteration - 1} is missing; run its "
            "train stage first"
        )
    return previous


class InProcessRolloutEngine:
    """A generator in this process, as a :class:`~hir_core.engines.api.RolloutEngine`."""

    def __init__(self, generator: Generator, source: str | None = None):
        self._generator = generator
        self._signature = source  # checkpoint_signature of the weights held (None: base)

    def generate(self, prompts, cfg: PipelineConfig, seed: int):
        return pipeline.generate_rollouts(prompts, self._generator, cfg, seed)

    def generator(self) -> Generator:
        return self._generator

    def sync_weights(self, checkpoint: Path | None) -> WeightSync:
        """vLLM: reload ``checkpoint`` when its files changed. A transformers generator on
        the trainer's live model already holds the weights: nothing to do."""
        start = time.perf_counter()
        if not isinstance(self._generator, VllmGenerator) or checkpoint is None:
            return WeightSync(str(checkpoint) if checkpoint else None, reloaded=False)
        signature = checkpoint_signature(checkpoint)
        if signature == self._signature:
            return WeightSync(str(checkpoint), reloaded=False)
        pipeline.refresh_generator(self._generator, checkpoint)
        self._signature = signature
        return WeightSync(str(checkpoint), True, seconds=time.perf_counter() - start)

    def release_memory(self) -> None:
        """In process nothing is released: the generator shares the trainer's memory."""

    def resume_memory(self) -> None:
        pass

    def close(self) -> None:
        if isinstance(self._generator, VllmGenerator):
            self._generator.close()


class InProcessEngines:
    """The run's engines in this process (:class:`~hir_core.engines.api.Engines`)."""

    backend = "inprocess"

    def __init__(self, cfg: PipelineConfig, rundir: RunDir):
        self.cfg = cfg
        self.rundir = rundir
        self.engine: TrainingEngine | None = None
        self._rollout: InProcessRolloutEngine | None = None

    def _previous(self, iteration: int) -> Path | None:
        return previous_checkpoint(self.rundir, iteration)

    def train_engine(self, iteration: int) -> TrainingEngine:
        """The engine holding the policy ``iteration`` starts from: the live one when it is
        there already, else the checkpoint of iteration - 1 loaded into it, else a new one
        (the base model, or a train step interrupted half-way;
        ``pipeline.engine_for_iteration``)."""
        self.engine = pipeline.engine_for_iteration(
            self.cfg, iteration, self._previous(iteration), self.engine
        )
        return self.engine

    def rollout_engine(self, iteration: int) -> InProcessRolloutEngine:
        """The generator of ``iteration``'s policy: on the engine's live weights
        (transformers), or a vLLM engine synced to the checkpoint of iteration - 1."""
        engine = self.train_engine(iteration)
        if self.cfg.rollout.backend == "vllm":
            folder = self._previous(iteration)
            if self._rollout is None:
                self._rollout = InProcessRolloutEngine(
                    pipeline.make_generator(self.cfg, folder), checkpoint_signature(folder)
                )
            else:
                self._rollout.sync_weights(folder)
            return self._rollout
        if self._rollout is None or getattr(self._rollout.generator(), "model", None) is not (
            engine.model
        ):
            self._rollout = InProcessRolloutEngine(pipeline.make_generator(self.cfg, engine=engine))
        return self._rollout

    def info(self, stage: str) -> EngineInfo:
        world = self.engine.world_size if self.engine is not None else 1
        return EngineInfo(self.backend, world if stage in ("batch", "train") else 1)

    def close(self) -> None:
        """Drop the engine and generator (frees memory; a later call builds new ones)."""
        if self._rollout is not None:
            self._rollout.close()
        self.engine = None
        self._rollout = None
        gc.collect()
