"""The run directory: layout, frozen config, manifest, lock, stage seeds and input hashes.

Layout (ARCHITECTURE.md)::

    <root>/config.yaml                resolved config, frozen at the run's start
    <root>/manifest.json              per iteration and stage: status, outputs + sha256,
                                      input hash, timings, metrics
    <root>/.lock                      holder of the run (pid, host, start, holder label)
    <root>/iter-0000/<table>.parquet  prompts, rollouts, verdicts, replays, batch
    <root>/iter-0000/train.json       the train stage's metrics
    <root>/checkpoints/iter-0000/     policy after iteration 0 (HF safetensors + deepspeed/;
                                      with keep_optimizer_states, older checkpoints hold
                                      deepspeed.pruned.json instead of deepspeed/)

A stage is done when the manifest says so, its recorded input hash equals the one computed
now, and every output still has the recorded sha256 (:meth:`Manifest.is_done`): a truncated,
hand-edited or half-written output is recomputed, never trusted. The input hash covers the
config (minus fields that cannot change a stage's output), the iteration, the stage and the
sha256 of every input file, so a changed upstream output invalidates everything downstream
without any bookkeeping.

Nothing here imports prefect or mlflow.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from hir_core.config import ConfigError, PipelineConfig, config_diff, config_hash, dump_config
from hir_core.config import load_config as _load_config
from hir_core.engines.training_config import OPTIMIZER_STATE_DIR
from hir_core.storage import PRUNED_SUFFIX, atomic_write, file_sha256

__all__ = [
    "STAGES",
    "DamagedInputError",
    "Manifest",
    "ManifestError",
    "RunDir",
    "RunLock",
    "RunLockedError",
    "input_hash",
    "path_sha256",
    "stage_seed",
]

STAGES = ("prompts", "rollouts", "verdicts", "replays", "batch", "train")
# Stages whose output is one Parquet table named like the stage.
TABLE_STAGES = STAGES[:-1]
MANIFEST_VERSION = 1

# Fields that may differ when a run is resumed: they cannot change any stage's output.
# `iterations` may only grow (and not under hindsight.schedule=progress, where it shapes
# the curriculum of iterations already done).
_RESUMABLE_FIELDS = (
    "iterations",
    "tracking",
    "keep_optimizer_states",
    "distributed",
    "host_memory",
)
# Left out of every stage's input hash: iterations (growing a run must not invalidate its
# finished stages), tracking and name (labels), keep_optimizer_states (disk housekeeping).
# distributed (where the engines run, not what they compute), host_memory (how the host holds
# them, bit-identical results). `evaluation` only enters
# evaluation stages.
_UNHASHED_FIELDS = (
    "iterations",
    "tracking",
    "name",
    "keep_optimizer_states",
    "distributed",
    "host_memory",
)


class RunLockedError(RuntimeError):
    """Another flow holds the run directory; the message names the holder."""


# ------------------------------------------------------------------------------------ hashes


# Hashes of large files keyed by (path, size, mtime, inode): a checkpoint is an input of
# three stages per iteration and is verified on every resume; re-reading GBs each time costs
# seconds. Small files (every table of the tests) are always re-read.
_HASH_CACHE_MIN_BYTES = 16 << 20
_hash_cache: dict[tuple, str] = {}


def _file_hash(path: Path) -> str:
    stat = path.stat()
    if stat.st_size < _HASH_CACHE_MIN_BYTES:
        return file_sha256(path)
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _hash_cache:
        _hash_cache[key] = file_sha256(path)
    return _hash_cache[key]


def path_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder: of the sorted (relative path, file sha256) pairs of
    every file below it. FileNotFoundError when absent.

    A subfolder removed by :func:`prune_subfolder` counts as the files its record lists, so
    pruning leaves the folder's hash (and every input hash that covers it) unchanged.
    """
    path = Path(path)
    if path.is_file():
        return _file_hash(path)
    if not path.is_dir():
        raise FileNotFoundError(path)
    files = [p for p in path.rglob("*") if p.is_file()]  # order: entries are sorted below
    records = {p for p in files if p.name.endswith(PRUNED_SUFFIX)}
    entries: dict[str, str] = {}
    pruned: list[str] = []
    for record in records:
        sub = record.with_name(record.name[: -len(PRUNED_SUFFIX)]).relative_to(path).as_posix()
        pruned.append(sub + "/")
        listed = json.loads(record.read_text())["files"]
        entries.update({f"{sub}/{name}": sha for name, sha in listed.items()})
    for file in files:
        rel = file.relative_to(path).as_posix()
        # What is left of a pruned subfolder (a removal cut short) is not hashed: the
        # record stands for it.
        if file in records or any(rel.startswith(prefix) for prefix in pruned):
            continue
        entries[rel] = _file_hash(file)
    digest = hashlib.sha256()
    for rel in sorted(entries):
        digest.update(f"{rel}\0{entries[rel]}\n".encode())
    return digest.hexdigest()


def prune_subfolder(folder: Path) -> Path:
    """Delete ``folder`` (inside a hashed folder), leaving ``<folder>.pruned.json`` with the
    sha256 of each file it held, so :func:`path_sha256` of the parent stays the same and the
    stages recorded with it stay done. The record is written first (atomically): a removal
    cut short leaves the record and the rest of the files, and pruning again finishes it.
    Returns the record's path."""
    folder = Path(folder)
    record = folder.with_name(folder.name + PRUNED_SUFFIX)
    if not record.exists():
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        listing = {p.relative_to(folder).as_posix(): _file_hash(p) for p in files}
        body = {"removed": time.time(), "files": listing}
        with atomic_write(record) as handle:
            handle.write(json.dumps(body, indent=1, sort_keys=True).encode())
    shutil.rmtree(folder, ignore_errors=True)
    return record


def stage_seed(run_seed: int, iteration: int, stage: str) -> int:
    """A seed in [0, 2**31) derived from (run seed, iteration, stage) by sha256: stable
    across processes and Python versions (unlike ``hash()``), distinct per stage."""
    blob = f"hir-stage-seed|{int(run_seed)}|{int(iteration)}|{stage}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def input_hash(cfg: PipelineConfig, iteration: int, stage: str, inputs: Sequence[Path]) -> str:
    """Hash of what a stage's output depends on: the config (without iterations, tracking,
    name; without evaluation unless the stage name starts with ``eval``), the iteration, the
    stage and the content of each input file or folder, in order."""
    exclude = list(_UNHASHED_FIELDS)
    if not stage.startswith("eval"):
        exclude.append("evaluation")
    record = {
        "config": config_hash(cfg, exclude=exclude),
        "iteration": int(iteration),
        "stage": stage,
        "inputs": [[Path(p).name, path_sha256(p)] for p in inputs],
    }
    blob = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


# ------------------------------------------------------------------------------------ run dir


class RunDir:
    """Paths of one run, its frozen config, its lock."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.manifest_path = self.root / "manifest.json"
        self.lock_path = self.root / ".lock"

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # -- layout

    def iteration_dir(self, k: int) -> Path:
        return self.root / f"iter-{k:04d}"

    def table_path(self, k: int, table: str) -> Path:
        return self.iteration_dir(k) / f"{table}.parquet"

    def train_json_path(self, k: int) -> Path:
        return self.iteration_dir(k) / "train.json"

    def checkpoint_dir(self, k: int) -> Path:
        return self.root / "checkpoints" / f"iter-{k:04d}"

    def stage_outputs(self, k: int, stage: str) -> dict[str, Path]:
        """Output name -> path of a stage (what :meth:`Manifest.record` takes)."""
        _check_stage(stage)
        if stage == "train":
            return {"train": self.train_json_path(k), "checkpoint": self.checkpoint_dir(k)}
        return {stage: self.table_path(k, stage)}

    def stage_inputs(self, k: int, stage: str) -> list[Path]:
        """The files and folders a stage reads (what :func:`input_hash` takes).

        Stages that run the policy also depend on the previous checkpoint (none at k = 0:
        the base model, named by the config).
        """
        _check_stage(stage)
        tables = {t: self.table_path(k, t) for t in TABLE_STAGES}
        previous = [self.checkpoint_dir(k - 1)] if k > 0 else []
        return {
            "prompts": [],
            "rollouts": [tables["prompts"], *previous],
            "verdicts": [tables["prompts"], tables["rollouts"]],
            "replays": [tables["prompts"], tables["rollouts"], tables["verdicts"]],
            "batch": [
                tables["prompts"],
                tables["rollouts"],
                tables["verdicts"],
                tables["replays"],
                *previous,
            ],
            "train": [tables["batch"], *previous],
        }[stage]

    def latest_checkpoint(self, before: int | None = None) -> Path | None:
        """Checkpoint of the last iteration < ``before`` (all, if None) whose train stage the
        manifest records as done and whose folder exists; None: start from the base model."""
        manifest = Manifest.load(self)
        done = [
            k
            for k in manifest.iterations()
            if (before is None or k < before)
            and (manifest.stage(k, "train") or {}).get("status") == "done"
            and self.checkpoint_dir(k).is_dir()
        ]
        return self.checkpoint_dir(max(done)) if done else None

    def prune_optimizer_states(self, keep: int, newest: int) -> list[Path]:
        """Remove the optimizer state (``deepspeed/``) of done checkpoints older than the
        ``keep`` newest up to iteration ``newest``; their policy weights stay. Resuming needs
        only the newest; the manifest's records stay valid (:func:`prune_subfolder`).
        Returns the removed folders."""
        if keep < 1:
            raise ValueError(f"keep_optimizer_states must be >= 1 (got {keep})")
        manifest = Manifest.load(self)
        removed = []
        for k in manifest.iterations():
            state = self.checkpoint_dir(k) / OPTIMIZER_STATE_DIR
            done = (manifest.stage(k, "train") or {}).get("status") == "done"
            if k <= newest - keep and done and state.exists():
                prune_subfolder(state)
                removed.append(state)
        return removed

    # -- lock and config

    def lock(self, holder: str = "") -> RunLock:
        """A lock on the run (use as a context manager); refuses with RunLockedError while
        another process (or another lock object) holds it."""
        return RunLock(self.lock_path, holder)

    def init(self, cfg: PipelineConfig) -> PipelineConfig:
        """Start or resume the run with ``cfg``; returns the config to run with.

        A new directory gets ``config.yaml``. An existing one keeps its frozen config: a
        ``cfg`` differing in anything but ``tracking`` or a larger ``iterations`` is a
        ConfigError listing the differing fields. A grown ``iterations`` is written back.
        """
        if not self.config_path.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            dump_config(cfg, self.config_path)
            return cfg
        frozen = _load_config(self.config_path)
        diff = config_diff(frozen, cfg)
        refused = {
            field: values
            for field, values in diff.items()
            if field.split(".")[0] not in _RESUMABLE_FIELDS
        }
        if refused:
            listed = "; ".join(
                f"{field} (run has {old!r}, given {new!r})" for field, (old, new) in refused.items()
            )
            raise ConfigError(
                f"{self.config_path}: this run was started with another config; differing "
                f"fields: {listed}. Resume with the frozen config (only iterations may grow) "
                "or start a new run directory."
            )
        if cfg.iterations < frozen.iterations:
            raise ConfigError(
                f"iterations: {cfg.iterations} < {frozen.iterations}, the run's frozen value "
                f"({self.config_path}); a run can only grow"
            )
        if cfg.iterations > frozen.iterations and frozen.hindsight.schedule == "progress":
            raise ConfigError(
                f"iterations: cannot grow from {frozen.iterations} to {cfg.iterations} with "
                "hindsight.schedule=progress: the curriculum of the finished iterations depends "
                "on the total; start a new run directory"
            )
        if diff:
            dump_config(cfg, self.config_path)
        return cfg

    def load_config(self) -> PipelineConfig:
        """The run's frozen config."""
        if not self.config_path.is_file():
            raise ConfigError(f"{self.root} is not a run directory (no config.yaml)")
        return _load_config(self.config_path)


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


# ------------------------------------------------------------------------------------ lock


class RunLock:
    """An exclusive ``flock`` on ``<root>/.lock``, holding a JSON note of its holder.

    The kernel drops the lock when its process dies, however it dies (SIGKILL included), so
    a stale lock is taken over by simply acquiring it; the note left behind is overwritten.
    The lock is per open file: a second RunLock in the same process is refused too.
    """

    def __init__(self, path: Path, holder: str = ""):
        self.path = Path(path)
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> Self:
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: this lock object is already held")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(self._refusal()) from None
        note = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "holder": self.holder,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(note).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # kept (not unlinked): unlinking a flocked file races
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder_info(self) -> dict:
        """The note of the current (or last) holder; {} when none was written."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return {}

    def _refusal(self) -> str:
        info = self.holder_info()
        if not info:
            who = "another process (its note is being written)"
        else:
            who = f"pid {info.get('pid')} on host {info.get('host')} since {info.get('started')}"
            if info.get("holder"):
                who += f" ({info['holder']})"
        return f"run directory {self.path.parent} is locked by {who}"

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ------------------------------------------------------------------------------------ manifest

# One lock per manifest file for the threads of this process (Prefect runs tasks in threads).
_manifest_locks: dict[str, threading.Lock] = {}
_manifest_locks_guard = threading.Lock()


def _manifest_lock(path: Path) -> threading.Lock:
    with _manifest_locks_guard:
        return _manifest_locks.setdefault(str(path.resolve()), threading.Lock())


def _jsonable(value: Any) -> Any:
    """Metrics as plain JSON values (numpy scalars -> float/int)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class ManifestError(ValueError):
    """``manifest.json`` is not valid JSON, or an entry lacks a field or holds a wrong type;
    the message names the file and the field (``iterations.1.rollouts.outputs``)."""


def _manifest_problem(iterations: dict) -> str | None:
    """What is wrong with the entries of a manifest (a hand edit, another tool), or None.
    Checked on every read, so that no query meets a half-formed entry."""
    for k, stages in iterations.items():
        if not k.isdigit():
            return f"iterations.{k}: not an iteration number"
        if not isinstance(stages, dict):
            return f"iterations.{k}: expected an object of stages, got {type(stages).__name__}"
        for stage, entry in stages.items():
            where = f"iterations.{k}.{stage}"
            if not isinstance(entry, dict):
                return f"{where}: expected an object, got {type(entry).__name__}"
            if entry.get("status") not in ("done", "stale"):
                return f"{where}.status: expected 'done' or 'stale', got {entry.get('status')!r}"
            if not isinstance(entry.get("input_hash"), str):
                return f"{where}.input_hash: expected a string"
            outputs = entry.get("outputs")
            if not isinstance(outputs, dict):
                return f"{where}.outputs: expected an object"
            for name, output in outputs.items():
                if not (
                    isinstance(output, dict)
                    and isinstance(output.get("path"), str)
                    and isinstance(output.get("sha256"), str)
                ):
                    return f"{where}.outputs.{name}: expected {{'path': str, 'sha256': str}}"
                if Path(output["path"]).is_absolute() or ".." in Path(output["path"]).parts:
                    return f"{where}.outputs.{name}.path: not a path inside the run directory"
            if not isinstance(entry.get("metrics", {}), dict):
                return f"{where}.metrics: expected an object"
    return None


class Manifest:
    """``manifest.json``: one entry per (iteration, stage), rewritten atomically on change.

    Entry: ``status`` ("done" | "stale"), ``outputs`` (name -> path relative to the run root
    and sha256), ``input_hash``, ``started``/``finished`` (epoch seconds), ``duration_s``,
    ``metrics``. Every change re-reads the file first, so several Manifest objects of one
    process (and the lock holder's successive processes) never lose each other's entries.
    """

    def __init__(self, rundir: RunDir, data: dict | None = None):
        self.rundir = rundir
        self.path = rundir.manifest_path
        self.data = data or {"version": MANIFEST_VERSION, "iterations": {}}

    @classmethod
    def load(cls, rundir: RunDir) -> Manifest:
        return cls(rundir, cls._read(rundir.manifest_path))

    @staticmethod
    def _read(path: Path) -> dict:
        if not path.is_file():
            return {"version": MANIFEST_VERSION, "iterations": {}}
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ManifestError(
                f"{path}: not valid JSON ({err}); fix it, or delete it to recompute the run"
            ) from err
        if (
            not isinstance(data, dict)
            or data.get("version") != MANIFEST_VERSION
            or not isinstance(data.get("iterations"), dict)
        ):
            raise ManifestError(f"{path}: not a version {MANIFEST_VERSION} hir manifest")
        problem = _manifest_problem(data["iterations"])
        if problem:
            raise ManifestError(
                f"{path}: {problem}; fix it, or delete the entry (or the file) to recompute "
                "what it records"
            )
        return data

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict]:
        with _manifest_lock(self.path):
            self.data = self._read(self.path)
            yield self.data
            blob = json.dumps(self.data, indent=1, sort_keys=True)
            with atomic_write(self.path) as handle:
                handle.write(blob.encode())

    def refresh(self) -> Manifest:
        """Re-read the file (another Manifest object may have written since)."""
        self.data = self._read(self.path)
        return self

    # -- queries

    def iterations(self) -> list[int]:
        return sorted(int(k) for k in self.data["iterations"])

    def stage(self, k: int, stage: str) -> dict | None:
        """The entry of (k, stage), or None when never recorded."""
        return self.data["iterations"].get(str(k), {}).get(stage)

    def is_done(self, k: int, stage: str, input_hash: str) -> bool:
        """Done, with this input hash, and every output present with its recorded sha256."""
        entry = self.stage(k, stage)
        if not entry or entry.get("status") != "done" or entry.get("input_hash") != input_hash:
            return False
        for output in entry["outputs"].values():
            try:
                if path_sha256(self.rundir.root / output["path"]) != output["sha256"]:
                    return False
            except FileNotFoundError:
                return False
        return True

    def completed_iterations(self) -> int:
        """Iterations 0..n-1 whose train stage is done (leading run, no gap)."""
        n = 0
        while (self.stage(n, "train") or {}).get("status") == "done":
            n += 1
        return n

    # -- updates

    def record(
        self,
        k: int,
        stage: str,
        *,
        outputs: Mapping[str, Path],
        input_hash: str,
        started: float,
        finished: float,
        metrics: Mapping[str, Any],
        engine: Mapping[str, Any] | None = None,
    ) -> None:
        """Record (k, stage) as done: the outputs' sha256 (files or folders) are computed now.
        ``engine``: where the stage ran (backend, world size), kept as the entry's ``engine``."""
        root = self.rundir.root.resolve()
        recorded = {}
        for name, path in outputs.items():
            path = Path(path).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"output {name!r} at {path} is outside the run directory {root}")
            recorded[name] = {
                "path": path.relative_to(root).as_posix(),
                "sha256": path_sha256(path),
            }
        entry = {
            "status": "done",
            "outputs": recorded,
            "input_hash": input_hash,
            "started": float(started),
            "finished": float(finished),
            "duration_s": float(finished) - float(started),
            "metrics": _jsonable(dict(metrics)),
        }
        if engine is not None:
            entry["engine"] = _jsonable(dict(engine))
        with self._update() as data:
            data["iterations"].setdefault(str(k), {})[stage] = entry

    def mark_stale(self, k: int, stages: Sequence[str]) -> None:
        """Mark recorded stages of iteration k stale: they are recomputed on the next run."""
        with self._update() as data:
            for stage in stages:
                entry = data["iterations"].get(str(k), {}).get(stage)
                if entry is not None:
                    entry["status"] = "stale"


# ------------------------------------------------------------------------------------ inputs


class DamagedInputError(ValueError):
    """A stage's input differs from what the stage that wrote it recorded (truncated, edited
    or half-copied since): the message names the file and the stage to rerun."""


def damaged_inputs(rundir: RunDir, k: int, stage: str) -> list[str]:
    """The inputs of (k, stage) that an earlier stage recorded as done with another sha256
    than they have now (or that it recorded and that are gone), one line each naming the
    file and the stage to rerun. What ``hir stage`` checks before a rerun: the train flow
    recomputes such an input itself, a single stage would compute from it."""
    manifest = Manifest.load(rundir)
    writers = {path.resolve(): (k, table) for table, path in _table_outputs(rundir, k)}
    if k > 0:
        writers[rundir.checkpoint_dir(k - 1).resolve()] = (k - 1, "train")
    problems = []
    for path in rundir.stage_inputs(k, stage):
        writer = writers.get(Path(path).resolve())
        entry = manifest.stage(*writer) if writer else None
        if not entry or entry.get("status") != "done":
            continue  # not recorded (or stale): the stage's own checks apply
        for output in entry["outputs"].values():
            if (rundir.root / output["path"]).resolve() != Path(path).resolve():
                continue
            try:
                now = path_sha256(path)
            except FileNotFoundError:
                now = None
            if now != output["sha256"]:
                state = "is gone" if now is None else "was altered"
                problems.append(
                    f"{path} {state} since stage {writer[1]} of iteration {writer[0]} recorded "
                    f"it; recompute it first: hir stage {rundir.root} {writer[0]} {writer[1]} "
                    "--force (or rerun hir train, which does)"
                )
    return problems


def _table_outputs(rundir: RunDir, k: int) -> list[tuple[str, Path]]:
    return [(table, rundir.table_path(k, table)) for table in TABLE_STAGES]
