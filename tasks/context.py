"""What every stage task shares: the run (config, directory, MLflow run) and the live policy.

:class:`RunContext` is passed to each task. It holds the objects that are expensive to build
(the run's engines: in process, the DeepSpeed engine and the rollout generator that shares
its weights; with Ray, the actors) for the whole flow run, so an iteration does not
re-initialise DeepSpeed or reload the model.
"""

from __future__ import annotations

import gc
import os
import signal
from pathlib import Path

from hir_core.config import ConfigError, PipelineConfig
from hir_core.data import DataError
from hir_core.engines.api import Engines
from hir_core.engines.generation import Generator
from hir_core.rundir import RunDir, RunLockedError
from hir_core.stages import MissingInputError
from hir_core.storage import SchemaError

__all__ = [
    "FAULT_ENV",
    "PERMANENT_ERRORS",
    "InjectedFault",
    "MissingInputError",
    "Policy",
    "RunContext",
    "artifact_slug",
    "fault_hook",
    "is_transient",
    "retry_transient",
]

# Environment variable of the fault-injection hook (tests, and a manual crash drill):
# "K:STAGE" raises InjectedFault right after stage STAGE of iteration K is recorded;
# "K:STAGE:kill" sends the process SIGKILL at that point (no cleanup of any kind runs).
FAULT_ENV = "HIR_FAULT_AFTER"


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


class Policy:
    """The run's engines as the tasks use them: built lazily by the configured backend
    (``distributed.backend``; :func:`hir_core.engines.backends.make_engines`), kept across
    iterations, closed when the flow ends.

    Nothing is built until a stage that runs the policy computes: a finished run resumed is
    a no-op that never initialises DeepSpeed.
    """

    def __init__(self, cfg: PipelineConfig, rundir: RunDir):
        self.cfg = cfg
        self.rundir = rundir
        self._engines: Engines | None = None

    @property
    def engines(self) -> Engines:
        if self._engines is None:
            from hir_core.engines.backends import make_engines

            self._engines = make_engines(self.cfg, self.rundir)
        return self._engines

    def engine_for(self, iteration: int):
        """The train engine holding the policy ``iteration`` starts from."""
        return self.engines.train_engine(iteration)

    def generator_for(self, iteration: int) -> Generator:
        """A generator on ``iteration``'s policy (evaluation, HeRL)."""
        return self.engines.rollout_engine(iteration).generator()

    def close(self) -> None:
        """Drop the engines (frees memory, stops actors; a later call builds new ones)."""
        if self._engines is not None:
            self._engines.close()
        self._engines = None
        gc.collect()


class RunContext:
    """A run as the tasks see it: config, run directory, MLflow tracker, engines.

    A plain class (not a dataclass) passed to tasks under ``prefect.utilities.annotations.
    quote``: Prefect neither walks into it nor draws it as a task input, so a flow-run
    graph's edges are the stage results the tasks take (tasks/__init__.py).
    """

    def __init__(
        self,
        cfg: PipelineConfig,
        rundir: RunDir,
        tracker: object | None = None,  # tasks.tracking.Tracker; None: no MLflow logging
        run_label: str = "",
    ):
        self.cfg = cfg
        self.rundir = rundir
        self.tracker = tracker
        self.policy = Policy(cfg, rundir)
        # Prefix of the run's Prefect artifact keys: the run directory's name (runs/<name> by
        # default), so two runs of one config in two directories do not share keys.
        self.run_label = run_label or artifact_slug(rundir.root.resolve().name)

    @property
    def root(self) -> Path:
        return self.rundir.root


def artifact_slug(text: str) -> str:
    """A Prefect artifact key fragment: lowercase letters, digits and dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in text.lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return slug or "run"
