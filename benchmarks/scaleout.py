"""Per-iteration cost of the scale-out backends vs in process, on one machine.

    .venv/bin/python benchmarks/scaleout.py                                  # tiny config
    .venv/bin/python benchmarks/scaleout.py --config configs/demo.yaml --iterations 3
    .venv/bin/python benchmarks/scaleout.py --train-ranks 2 --rollout-workers 2 --skip worker

Every mode runs the same config, seed and iterations through ``hir_core.stages.run_stage``
(no Prefect, no MLflow) on a fresh run directory:

- inprocess: the engines in this process (the default backend);
- ray: ``distributed.backend: ray`` on a local cluster the backend starts (``ray.init``
  counted as its start-up), ``--train-ranks`` train actors and ``--rollout-workers`` rollout
  actors. The engines' own timings split out actor start, weight sync (rollout actors
  reloading each new checkpoint) and checkpoint reload;
- worker: the no-Ray fallback, ``python -m flows.cli worker RUN K STAGE`` for every stage
  of every iteration (one process each: interpreter, model load, checkpoint restore), as a
  driver script would run it (one rank: no launcher).

Iteration 0 pays the start-ups; the steady per-iteration cost is the mean of iterations
1..N-1, and its overhead is that minus in process's. Checkpoint reload: a train engine asked
for iteration N-1 after the run (live at N) restores checkpoint N-2 (N >= 2). Results are a
table on stdout (and ``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TORCH_EXTENSIONS_DIR": str(ROOT / ".cache" / "torch_extensions"),
    "HIR_CACHE_DIR": str(ROOT / ".cache" / "hir"),
    "RAY_USAGE_STATS_ENABLED": "0",
    "DS_BUILD_OPS": "0",
}.items():
    os.environ.setdefault(key, value)

from hir_core.config import load_config
from hir_core.rundir import STAGES, RunDir

# torch.distributed settings this process sets for its own one-process group: a worker
# subprocess must make its own (tests/_helpers_flows.py, DIST_ENV).
DIST_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _iterations(rundir: RunDir, cfg, engines) -> list[float]:
    from hir_core.stages import run_stage

    times = []
    for k in range(cfg.iterations):
        start = time.perf_counter()
        for stage in STAGES:
            run_stage(rundir, cfg, k, stage, engines)
        times.append(time.perf_counter() - start)
    return times


def _reload(engines, cfg) -> float | None:
    """Seconds to restore checkpoint N-2 into the live train engine (at step N)."""
    if cfg.iterations < 2:
        return None
    start = time.perf_counter()
    engines.train_engine(cfg.iterations - 1)
    return time.perf_counter() - start


def run_inprocess(cfg, workdir: Path) -> dict:
    from hir_core.engines.inprocess import InProcessEngines

    rundir = RunDir(workdir / "inprocess")
    cfg = rundir.init(cfg)
    engines = InProcessEngines(cfg, rundir)
    try:
        times = _iterations(rundir, cfg, engines)
        reload_s = _reload(engines, cfg)
    finally:
        engines.close()
    return {"iterations_s": times, "startup_s": None, "weight_sync_s": 0.0, "reload_s": reload_s}


def run_ray(cfg, workdir: Path, train_ranks: int, rollout_workers: int) -> dict:
    import ray

    from hir_core.engines.ray import RayEngines

    overrides = {
        "backend": "ray",
        "train_ranks": train_ranks,
        "rollout_workers": rollout_workers,
        "local_num_cpus": os.cpu_count(),
    }
    cfg = cfg.model_copy(update={"distributed": cfg.distributed.model_copy(update=overrides)})
    rundir = RunDir(workdir / "ray")
    cfg = rundir.init(cfg)
    engines = RayEngines(cfg, rundir)
    try:
        start = time.perf_counter()
        engines._connect()  # the cluster start, timed apart from the actors'
        cluster_s = time.perf_counter() - start
        times = _iterations(rundir, cfg, engines)
        reload_s = _reload(engines, cfg)
        timings = list(engines.timings)
    finally:
        engines.close()
    assert not ray.is_initialized()  # the backend stopped the cluster it started

    def total(name: str) -> float:
        return sum(s for n, s in timings if n == name)

    syncs = [s for n, s in timings if n == "weight_sync_s"]
    return {
        "iterations_s": times,
        "cluster_start_s": cluster_s,
        "train_actors_start_s": total("train_start_s"),
        "rollout_actors_start_s": total("rollout_start_s"),
        "startup_s": cluster_s + total("train_start_s") + total("rollout_start_s"),
        "weight_sync_s": statistics.mean(syncs) if syncs else None,
        "reload_s": reload_s,
    }


def run_worker(cfg, workdir: Path) -> dict:
    rundir = RunDir(workdir / "worker")
    rundir.init(cfg)
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    times, per_stage = [], {}
    for k in range(cfg.iterations):
        start = time.perf_counter()
        for stage in STAGES:
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "flows.cli", "worker", str(rundir.root), str(k), stage],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            per_stage.setdefault(stage, []).append(time.perf_counter() - began)
        times.append(time.perf_counter() - start)
    return {
        "iterations_s": times,
        "startup_s": None,
        "weight_sync_s": None,
        "reload_s": None,
        "stage_process_s": {s: statistics.mean(v) for s, v in per_stage.items()},
    }


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(results: dict) -> str:
    base = results.get("inprocess")
    base_steady = _steady(base["iterations_s"]) if base else None
    lines = [
        (
            "| backend | iteration 0 (s) | steady iteration (s) | overhead vs in-process (s) | "
            "start-up (s) | weight sync (s) | checkpoint reload (s) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        steady = _steady(r["iterations_s"])
        overhead = steady - base_steady if base_steady is not None and steady is not None else None
        lines.append(
            f"| {name} | {_fmt(r['iterations_s'][0])} | {_fmt(steady)} | {_fmt(overhead)} | "
            f"{_fmt(r['startup_s'])} | {_fmt(r['weight_sync_s'])} | {_fmt(r['reload_s'])} |"
        )
    return "\n".join(lines)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _steady(times: list[float]) -> float | None:
    return statistics.mean(times[1:]) if len(times) > 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"))
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--train-ranks", type=int, default=1)
    parser.add_argument("--rollout-workers", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], choices=["inprocess", "ray", "worker"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("override", nargs="*", help="dotted config overrides")
    args = parser.parse_args()

    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)  # as each actor and worker process (one core each)
    overrides = [f"iterations={args.iterations}", "rollout.progress=false", *args.override]
    cfg = load_config(args.config, overrides)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hir-scaleout-") as tmp:
        workdir = Path(tmp)
        if "inprocess" not in args.skip:
            results["inprocess"] = run_inprocess(cfg, workdir)
        if "ray" not in args.skip:
            name = f"ray ({args.train_ranks} train, {args.rollout_workers} rollout)"
            results[name] = run_ray(cfg, workdir, args.train_ranks, args.rollout_workers)
        if "worker" not in args.skip:
            results["worker (1 process per stage)"] = run_worker(cfg, workdir)
    print(
        f"{Path(args.config).name}, {args.iterations} iterations, {threads} thread(s), "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(table(results))
    for name, r in results.items():
        extra = {k: v for k, v in r.items() if k not in ("startup_s", "weight_sync_s", "reload_s")}
        print(f"{name}: " + json.dumps(_rounded(extra)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
