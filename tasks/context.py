"""What every stage task shares: the run (config, directory, MLflow run) and the live policy.

:class:`RunContext` is passed to each task. It holds the objects that are expensive to build
(the DeepSpeed engine, the rollout generator that shares its weights) for the whole flow
run, so an iteration does not re-initialise DeepSpeed or reload the model.
"""

from __future__ import annotations

import gc
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from hir_core import pipeline
from hir_core.config import ConfigError, PipelineConfig
from hir_core.data import DataError
from hir_core.engines.generation import Generator, VllmGenerator
from hir_core.engines.training import TrainingEngine
from hir_core.rundir import RunDir, RunLockedError
from hir_core.storage import SchemaError

# Environment variable of the fault-injection hook (tests, and a manual crash drill):
# "K:STAGE" raises InjectedFault right after stage STAGE of iteration K is recorded;
# "K:STAGE:kill" sends the process SIGKILL at that point (no cleanup of any kind runs).
FAULT_ENV = "HIR_FAULT_AFTER"


class MissingInputError(FileNotFoundError):
    """A stage's input is absent from the run directory (run the earlier stages first)."""


class InjectedFault(RuntimeError):
    """Raised by the fault-injection hook (``HIR_FAULT_AFTER``)."""


# Errors a retry cannot fix: the input or the config is wrong, or the run is someone else's.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    SchemaError,
    DataError,
    MissingInputError,
    RunLockedError,
    InjectedFault,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
# Errors a retry can fix: a transient I/O failure (NFS hiccup, full disk being cleaned,
# sqlite busy, a broken connection to a tracking server).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


def is_transient(exc: BaseException | None) -> bool:
    """Whether a failed task deserves another attempt."""
    if exc is None or isinstance(exc, PERMANENT_ERRORS):
        return False
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    # sqlite "database is locked" from the MLflow store arrives as an OperationalError.
    return type(exc).__name__ == "OperationalError"


def retry_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry on transient I/O errors only, never on bad input."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # noqa: BLE001 - we only classify it
        return is_transient(exc)
    return False


def fault_hook(iteration: int, stage: str) -> None:
    """Crash on purpose after (iteration, stage) when ``HIR_FAULT_AFTER`` asks for it."""
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    parts = spec.split(":")
    if len(parts) < 2 or parts[0] != str(iteration) or parts[1] != stage:
        return
    if len(parts) > 2 and parts[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault after stage {stage} of iteration {iteration}")


@dataclass
class Policy:
    """The live training engine and its generator, loaded lazily and moved between
    iterations' checkpoints as the flow needs them.

    Nothing is built until a stage that runs the policy computes: a finished run resumed is
    a no-op that never initialises DeepSpeed.
    """

    cfg: PipelineConfig
    rundir: RunDir
    engine: TrainingEngine | None = None
    generator: Generator | None = None

    def engine_for(self, iteration: int) -> TrainingEngine:
        """The engine holding the policy iteration ``iteration`` starts from (the
        checkpoint of iteration - 1, or the base model). The live engine is reused when it
        is there already; else the checkpoint is loaded into it (or a new one is made: the
        base model, or a train step interrupted half-way; see
        ``pipeline.engine_for_iteration``)."""
        previous = self.rundir.checkpoint_dir(iteration - 1) if iteration > 0 else None
        if previous is not None and not previous.is_dir():
            raise MissingInputError(
                f"{previous}: checkpoint of iteration {iteration - 1} is missing; run its "
                "train stage first"
            )
        self.engine = pipeline.engine_for_iteration(self.cfg, iteration, previous, self.engine)
        return self.engine

    def generator_for(self, iteration: int) -> Generator:
        """The rollout generator of ``iteration``'s policy (shares the engine's weights with
        the transformers backend; vLLM reloads the checkpoint)."""
        engine = self.engine_for(iteration)
        if self.cfg.rollout.backend == "vllm":
            folder = self.rundir.checkpoint_dir(iteration - 1) if iteration > 0 else None
            if self.generator is None:
                self.generator = pipeline.make_generator(self.cfg, folder)
            elif folder is not None:
                pipeline.refresh_generator(self.generator, folder)
            return self.generator
        if self.generator is None or getattr(self.generator, "model", None) is not engine.model:
            self.generator = pipeline.make_generator(self.cfg, engine=engine)
        return self.generator

    def close(self) -> None:
        """Drop the engine and generator (frees memory; a later call builds new ones)."""
        if isinstance(self.generator, VllmGenerator):
            self.generator.close()
        self.engine = None
        self.generator = None
        gc.collect()


@dataclass
class RunContext:
    """A run as the tasks see it."""

    cfg: PipelineConfig
    rundir: RunDir
    tracker: object | None = None  # tasks.tracking.Tracker; None: no MLflow logging
    policy: Policy = field(init=False)
    # Prefix of the run's Prefect artifact keys: the run directory's name (runs/<name> by
    # default), so two runs of one config in two directories do not share keys.
    run_label: str = ""

    def __post_init__(self) -> None:
        self.policy = Policy(self.cfg, self.rundir)
        if not self.run_label:
            self.run_label = artifact_slug(self.rundir.root.resolve().name)

    @property
    def root(self) -> Path:
        return self.rundir.root


def artifact_slug(text: str) -> str:
    """A Prefect artifact key fragment: lowercase letters, digits and dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in text.lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return slug or "run"
