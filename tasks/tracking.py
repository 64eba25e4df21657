"""MLflow tracking of a training run: one MLflow run per run directory.

Every call names its run id explicitly through an :class:`mlflow.MlflowClient`: MLflow's
"active run" is a per-thread stack and Prefect runs tasks in worker threads, so
``mlflow.log_metric`` inside a task would log to no run (or the wrong one).

The run id is stored in ``<run dir>/mlflow.json``; a resumed run directory continues the same
MLflow run (same metrics history, same artifacts), and each flow run that touches it is
recorded in its tags.

A store that stops answering in the middle of a run (a tracking server gone, a sqlite file
locked past MLflow's 20 s busy timeout) does not stop training: each metrics batch, tag set,
artifact or final policy that fails to log is appended to ``<run dir>/mlflow.pending.jsonl``
with a warning naming it, and is logged, in order, by the next call that reaches the store
(the same run, or the next ``hir train`` of the run directory). :func:`pending_count` says
how many are waiting; ``hir train`` prints it. Opening the run needs the store: an
unreachable store at the start is an error before anything trains.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from hir_core.config import PipelineConfig, config_dict
from hir_core.rundir import RunDir
from hir_core.storage import atomic_write

STATE_FILE = "mlflow.json"
# What could not be logged while the store was unreachable, one JSON record a line.
PENDING_FILE = "mlflow.pending.jsonl"
# MLflow accepts at most this many params/tags and metrics per log_batch call.
_BATCH_PARAMS = 100
_BATCH_METRICS = 1000
_MAX_PARAM_CHARS = 6000
# Names MLflow accepts on every OS (colons are refused on Windows).
_BAD_NAME_CHARS = re.compile(r"[^/\w.\- ]")


def default_tracking_uri(project_dir: str | Path | None = None) -> str:
    """sqlite store ``mlruns/mlflow.db`` in the project (the current directory by default)."""
    root = Path(project_dir or os.getcwd()).resolve() / "mlruns"
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def default_artifact_location(tracking_uri: str) -> str | None:
    """For a sqlite store: the folder ``artifacts/`` beside the database file.
    Other stores (a tracking server) choose their own artifact location."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    return (db.parent / "artifacts").resolve().as_uri()


def metric_name(name: str) -> str:
    """A metric or param name MLflow accepts (``pass_rate/punctuation:no_comma`` ->
    ``pass_rate/punctuation.no_comma``)."""
    return _BAD_NAME_CHARS.sub(".", name)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:_MAX_PARAM_CHARS]


_log = logging.getLogger(__name__)


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What a store that is down, locked or unreachable raises through MlflowClient: sqlite
    and SQL errors arrive as MlflowException, HTTP ones as requests' (OSError) errors."""
    return (MlflowException, OSError, TimeoutError, ConnectionError)


def pending_count(run_dir: str | Path) -> int:
    """How many records of the run directory wait to be logged to MLflow."""
    path = Path(run_dir) / PENDING_FILE
    if not path.is_file():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


class Tracker:
    """One MLflow run, addressed by id (thread-safe to use from Prefect task threads).

    With ``pending`` (a path), what fails to log is kept there and logged later (module
    docstring); without it a failure raises, as MlflowClient does."""

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        tracking_uri: str,
        pending: str | Path | None = None,
    ):
        self.client = client
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.pending = Path(pending) if pending is not None else None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ delivery

    def _deliver(self, record: dict) -> None:
        """Log ``record`` after whatever is pending; keep it (and warn) if the store fails."""
        with self._lock:
            if self.pending is None:
                self._apply(record)
                return
            if self.flush():
                try:
                    self._apply(record)
                    return
                except _unreachable_errors() as err:
                    reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            else:
                reason = "earlier records are still waiting"
            self._keep(record, reason)

    def _keep(self, record: dict, reason: str) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        # Appended whole lines (one write each); a line cut by a crash is skipped on reading.
        with open(self.pending, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        _log.warning(
            "MLflow store %s did not take a %s record (%s): kept in %s (%d waiting); it is "
            "logged when the store answers again",
            self.tracking_uri,
            record["kind"],
            reason,
            self.pending,
            pending_count(self.pending.parent),
        )

    def flush(self) -> bool:
        """Log the pending records in order; True when none is left."""
        with self._lock:
            if self.pending is None or not self.pending.is_file():
                return True
            lines = self.pending.read_text(encoding="utf-8").splitlines()
            done = 0
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    done += 1  # a line a crash cut short: its record is lost, not replayed
                    continue
                try:
                    self._apply(record)
                except _unreachable_errors():
                    break
                done += 1
            rest = lines[done:]
            if rest:
                if done:
                    with atomic_write(self.pending) as handle:
                        handle.write(("\n".join(rest) + "\n").encode())
                return False
            self.pending.unlink(missing_ok=True)
            _log.info("MLflow: %d waiting records logged", done)
            return True

    def _apply(self, record: dict) -> None:
        kind = record["kind"]
        if kind == "metrics":
            items = [
                Metric(k, float(v), int(record["timestamp"]), int(record["step"]))
                for k, v in record["metrics"].items()
            ]
            for start in range(0, len(items), _BATCH_METRICS):
                self.client.log_batch(self.run_id, metrics=items[start : start + _BATCH_METRICS])
        elif kind == "tags":
            items = [RunTag(k, v) for k, v in record["tags"].items()]
            for start in range(0, len(items), _BATCH_PARAMS):
                self.client.log_batch(self.run_id, tags=items[start : start + _BATCH_PARAMS])
        elif kind == "artifact":
            self.client.log_artifact(self.run_id, record["path"], record["artifact_path"])
        elif kind == "policy":
            self._log_policy(Path(record["folder"]), record["name"], int(record["iteration"]))
        elif kind == "terminate":
            self.client.set_terminated(self.run_id, status=record["status"])
        else:
            raise ValueError(f"{self.pending}: unknown record kind {kind!r}")

    def logged_tag(self, key: str) -> str | None:
        """A tag of the run as the store has it; None when absent or the store is down."""
        try:
            return self.client.get_run(self.run_id).data.tags.get(key)
        except _unreachable_errors():
            return None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, cfg: PipelineConfig, rundir: RunDir, flow_run_id: str | None = None) -> Tracker:
        """The run directory's MLflow run: resumed from ``mlflow.json`` when that run still
        exists in the same store, else created (with the config as params)."""
        uri = cfg.tracking.mlflow_tracking_uri or default_tracking_uri()
        client = MlflowClient(tracking_uri=uri)
        state_path = rundir.root / STATE_FILE
        run_id = resumed = _stored_run_id(state_path, uri, client)
        if run_id is None:
            experiment_id = _experiment_id(client, cfg.tracking.experiment, uri)
            run = client.create_run(
                experiment_id,
                run_name=cfg.name,
                tags={"hir.run_dir": str(rundir.root.resolve())},
            )
            run_id = run.info.run_id
            blob = json.dumps({"tracking_uri": uri, "run_id": run_id}, indent=1)
            with atomic_write(state_path) as handle:
                handle.write(blob.encode())
        tracker = cls(client, run_id, uri, pending=rundir.root / PENDING_FILE)
        # What an earlier flow run could not log (the store was down then), its closing
        # included: before this flow run marks the run RUNNING again.
        tracker.flush()
        if resumed is not None:
            client.update_run(run_id, status="RUNNING")
        tracker.log_params(cfg)
        tags = {"hir.strategy": cfg.hindsight.strategy, "hir.model": cfg.model.spec}
        if flow_run_id:
            tags["prefect.flow_run_id"] = flow_run_id
            tags[f"prefect.flow_run.{int(time.time())}"] = flow_run_id  # every run, in order
        tracker.set_tags(tags)
        return tracker

    # ------------------------------------------------------------------ logging

    def log_params(self, cfg: PipelineConfig) -> None:
        """The resolved config, flattened (``hindsight.strategy`` ...). A field whose value
        changed since the run started (only ``iterations`` and ``tracking`` may) is recorded
        as a ``resumed.<field>`` tag: MLflow params are immutable."""
        wanted = {metric_name(k): _param_value(v) for k, v in flatten(config_dict(cfg)).items()}
        logged = self.client.get_run(self.run_id).data.params
        new = [Param(k, v) for k, v in wanted.items() if k not in logged]
        changed = {f"resumed.{k}": v for k, v in wanted.items() if k in logged and logged[k] != v}
        for start in range(0, len(new), _BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=new[start : start + _BATCH_PARAMS])
        if changed:
            self.set_tags(changed)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._deliver({"kind": "tags", "tags": {k: str(v) for k, v in tags.items()}})

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Numeric, finite metrics at ``step`` (the iteration); others are skipped (a NaN
        mean of nothing is not a measurement)."""
        now = int(time.time() * 1000)
        values = {}
        for key, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            values[metric_name(key)] = float(value)
        if values:
            self._deliver(
                {"kind": "metrics", "step": int(step), "timestamp": now, "metrics": values}
            )

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file of the run directory (kept by path: logged as it is when delivered)."""
        record = {"kind": "artifact", "path": str(Path(path).resolve())}
        self._deliver({**record, "artifact_path": artifact_path})

    def log_policy(self, folder: str | Path, name: str, iteration: int) -> str:
        """The policy checkpoint as an MLflow logged model of this run (the Hugging Face
        files; the DeepSpeed optimizer state stays in the run directory). Register it with
        ``mlflow.register_model(f"models:/{model_id}", NAME)``. Returns the model id, also
        recorded in the run's tags ``hir.policy_model_id`` / ``hir.policy_iteration``; None
        when the store is unreachable (then it is logged with the pending records)."""
        record = {"kind": "policy", "folder": str(Path(folder).resolve()), "name": name}
        record["iteration"] = int(iteration)
        if self.pending is None:
            return self._log_policy(Path(folder), name, iteration)
        with self._lock:
            if self.flush():
                try:
                    return self._log_policy(Path(folder), name, iteration)
                except _unreachable_errors() as err:
                    self._keep(record, f"{type(err).__name__}")
            else:
                self._keep(record, "earlier records are still waiting")
        return None

    def _log_policy(self, folder: Path, name: str, iteration: int) -> str:
        folder = Path(folder)
        run = self.client.get_run(self.run_id)
        model = self.client.create_logged_model(
            run.info.experiment_id,
            name=name,
            source_run_id=self.run_id,
            tags={"hir.iteration": str(iteration), "hir.format": "huggingface-safetensors"},
        )
        # Stage the HF files beside the checkpoint (hard links: no copy of the weights).
        staging = folder.parent / f".{folder.name}.mlflow"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for item in folder.iterdir():
                if item.is_file():
                    try:
                        os.link(item, staging / item.name)
                    except OSError:
                        shutil.copy2(item, staging / item.name)
            self.client.log_model_artifacts(model.model_id, str(staging))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.client.finalize_logged_model(model.model_id, "READY")
        tags = {"hir.policy_model_id": model.model_id, "hir.policy_iteration": str(iteration)}
        self._apply({"kind": "tags", "tags": tags})
        return model.model_id

    def finish(self, status: str = "FINISHED") -> None:
        """Close the MLflow run (after the pending records, when the store answers)."""
        self._deliver({"kind": "terminate", "status": status})
        if self.pending is not None and self.pending.is_file():
            _log.warning(
                "MLflow: %d records of this run are not logged (store %s unreachable); they "
                "are kept in %s and logged by the next hir train of this run directory",
                pending_count(self.pending.parent),
                self.tracking_uri,
                self.pending,
            )


def _stored_run_id(state_path: Path, uri: str, client: MlflowClient) -> str | None:
    """The run id in ``mlflow.json`` when it names a live run of this store."""
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
    except json.JSONDecodeError:
        return None
    if state.get("tracking_uri") != uri or not state.get("run_id"):
        return None  # another store: start a run there (the old one is left as it is)
    try:
        run = client.get_run(state["run_id"])
    except MlflowException:
        return None
    if run.info.lifecycle_stage != "active":
        return None
    return run.info.run_id


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage != "active":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=default_artifact_location(uri))
    except MlflowException:
        # Created meanwhile by another process.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
