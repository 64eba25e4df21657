"""Shared tiny runs of the Prefect layer (tests/test_flows.py, tests/test_cli.py).

A training run costs seconds (DeepSpeed init, generation), so each reference run is made once
per pytest session (module-level cache) and tests that alter a run work on a copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from hir_core.rundir import STAGES, TABLE_STAGES, RunDir
from hir_core.storage import file_sha256

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
ITERATIONS = 2

_cache: dict[str, Path] = {}

# torch.distributed settings a process inherits from a parent that made its own process group
# (init_distributed sets them): a child must pick its own (the parent's port is taken).
DIST_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def single_thread():
    """One torch thread: tiny-model stages run several times faster on a loaded 2-core box.
    Subprocesses get OMP_NUM_THREADS=1 so that they compute exactly like this process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def overrides(strategy: str, mlflow_uri: str, *extra: str) -> list[str]:
    return [
        f"iterations={ITERATIONS}",
        f"hindsight.strategy={strategy}",
        f"tracking.mlflow_tracking_uri={mlflow_uri}",
        *extra,
    ]


def mlflow_uri(base: Path) -> str:
    return f"sqlite:///{base / 'mlruns' / 'mlflow.db'}"


def reference_run(base: Path, strategy: str, *extra: str) -> Path:
    """A finished tiny run (2 iterations) with ``strategy``, made once per session."""
    key = f"{strategy}|{'|'.join(extra)}"
    if key not in _cache:
        from flows.train import train

        run_dir = base / f"ref-{strategy}-{len(_cache)}"
        train(
            config=str(TINY),
            run_dir=str(run_dir),
            overrides=overrides(strategy, mlflow_uri(base), *extra),
        )
        _cache[key] = run_dir
    return _cache[key]


def copy_run(run_dir: Path, dest: Path) -> Path:
    """A copy of a finished run (outside MLflow: tests on copies run with track=False)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def output_files(run_dir: Path) -> dict[str, str]:
    """sha256 of every table and of the final policy weights (what must reproduce)."""
    rundir = RunDir(run_dir)
    hashes = {}
    for k in range(ITERATIONS):
        for table in TABLE_STAGES:
            path = rundir.table_path(k, table)
            hashes[f"{k}/{table}"] = file_sha256(path)
        for weights in sorted(rundir.checkpoint_dir(k).glob("*.safetensors")):
            hashes[f"{k}/{weights.name}"] = file_sha256(weights)
    return hashes


def finished_times(run_dir: Path) -> dict[str, float]:
    """(iteration/stage) -> the manifest's finished timestamp: changes iff recomputed."""
    from hir_core.rundir import Manifest

    manifest = Manifest.load(RunDir(run_dir))
    return {
        f"{k}/{stage}": (manifest.stage(k, stage) or {}).get("finished")
        for k in range(ITERATIONS)
        for stage in STAGES
    }
