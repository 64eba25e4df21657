"""Orchestration overhead: an iteration run by the Prefect flow vs the same stage functions
called directly.

    .venv/bin/python benchmarks/pipeline_overhead.py                      # tiny config
    .venv/bin/python benchmarks/pipeline_overhead.py --config configs/demo.yaml --iterations 2
    .venv/bin/python benchmarks/pipeline_overhead.py --from-run runs/demo   # split only

Both modes run the same config, seed and iterations in this process. Iteration 0 is left
out of the comparison in both (it pays the DeepSpeed and model start-up the flow does
lazily); the iterations after it are timed:

- direct: ``hir_core.stages.run_stage`` for every stage (what the Prefect tasks call: Parquet
  writes, schema-checked reads, manifest with sha256 verification, checkpoint save) with the
  in-process engines, no Prefect, no MLflow;
- flow: ``flows.train.train`` on a fresh run directory (Prefect task runs against a
  temporary Prefect server, Parquet writes and schema-checked reads, manifest with sha256
  verification, MLflow logging to a sqlite store, Prefect artifacts).

Per timed iteration the flow's wall time is split into stage work (the manifest's stage
durations: compute + Parquet write), and the rest (Prefect task runs, input hashing,
manifest, MLflow, artifacts). Overhead = flow - direct, as a fraction of the flow iteration.
The flow's tables are checked equal to the direct run's (same computation, or no comparison).

``--from-run DIR`` reads a finished flow run's manifest instead (e.g. ``make demo``'s) and
reports, per iteration, wall time vs the stages' own durations: the part outside the stages is
the orchestration (Prefect, hashing, manifest, MLflow, artifacts). No direct run is made.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
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
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": str(ROOT / ".cache" / "prefect"),
    "TORCH_EXTENSIONS_DIR": str(ROOT / ".cache" / "torch_extensions"),
    "HIR_CACHE_DIR": str(ROOT / ".cache" / "hir"),
    "PREFECT_LOGGING_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(key, value)

from hir_core.config import load_config
from hir_core.rundir import STAGES, Manifest, RunDir


def direct_iterations(cfg, workdir: Path) -> tuple[list[float], dict]:
    """Wall seconds of each iteration run by ``hir_core.stages.run_stage`` (the function the
    Prefect tasks call) with the in-process engines, without Prefect or MLflow; the last
    tables."""
    from hir_core.engines.inprocess import InProcessEngines
    from hir_core.stages import read_input, run_stage

    rundir = RunDir(workdir / "direct")
    cfg = rundir.init(cfg)
    engines = InProcessEngines(cfg, rundir)
    times = []
    for k in range(cfg.iterations):
        start = time.perf_counter()
        for stage in STAGES:
            run_stage(rundir, cfg, k, stage, engines)
        times.append(time.perf_counter() - start)
    last = cfg.iterations - 1
    tables = {t: read_input(rundir, last, t) for t in ("prompts", "rollouts", "verdicts", "batch")}
    engines.close()
    return times, tables


def flow_iterations(config: str, overrides: list[str], workdir: Path) -> tuple[list, list, dict]:
    """Wall seconds of each flow iteration (report stage end to report stage end; iteration
    0 from the flow's first stage), the manifest's stage seconds, the last tables."""
    from flows.train import train
    from hir_core.storage import read_table

    run_dir = workdir / "run"
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    train(
        config=config,
        run_dir=str(run_dir),
        overrides=[*overrides, f"tracking.mlflow_tracking_uri={uri}"],
    )
    rundir = RunDir(run_dir)
    manifest = Manifest.load(rundir)
    ends, stage_s = [], []
    start = manifest.stage(0, "prompts")["started"]
    for k in manifest.iterations():
        ends.append(manifest.stage(k, "report")["finished"])
        stage_s.append(sum(manifest.stage(k, s)["duration_s"] for s in STAGES))
    walls = [ends[0] - start] + [b - a for a, b in itertools.pairwise(ends)]
    last = manifest.iterations()[-1]
    tables = {
        t: read_table(rundir.table_path(last, t), t)
        for t in ("prompts", "rollouts", "verdicts", "batch")
    }
    return walls, stage_s, tables


def split_from_run(run_dir: str) -> None:
    """Per iteration of a finished run: wall time, stage time, the rest (orchestration)."""
    manifest = Manifest.load(RunDir(run_dir))
    cfg = RunDir(run_dir).load_config()
    print(
        f"run: {run_dir} ({cfg.model.spec}, {cfg.data.prompts_per_iteration} prompts x "
        f"{cfg.hindsight.n_gen} samples, {cfg.rollout.max_new_tokens} new tokens)"
    )
    print()
    print("| iteration | wall s | stages s | outside the stages s | share |")
    print("|---:|---:|---:|---:|---:|")
    previous_end = None
    for k in manifest.iterations():
        entries = {s: manifest.stage(k, s) for s in (*STAGES, "eval", "report")}
        if any(entries[s] is None for s in (*STAGES, "report")):
            break
        end = entries["report"]["finished"]
        start = previous_end if previous_end is not None else entries["prompts"]["started"]
        stages = sum(e["duration_s"] for name, e in entries.items() if e and name != "report")
        wall = end - start
        print(
            f"| {k} | {wall:.1f} | {stages:.1f} | {wall - stages:.2f} | "
            f"{100 * (wall - stages) / wall:.2f}% |"
        )
        previous_end = end


def wait_for_quiet(max_load: float, wait: float) -> float:
    """Wait (up to ``wait`` s) for the 1-minute load to drop below ``max_load``: this
    machine's cores are shared. Returns the load the run starts under."""
    deadline = time.monotonic() + wait
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def main() -> None:
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): the flow and the
    # direct loop then measure what `hir train` does.
    exec_with_allocator()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"))
    parser.add_argument(
        "--iterations", type=int, default=4, help="per run (the first is not timed)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument(
        "--max-load", type=float, default=1.5, help="wait for a 1-min load below this per run"
    )
    parser.add_argument("--wait", type=float, default=300, help="most seconds to wait per run")
    parser.add_argument("--from-run", help="only split a finished run's iterations (no runs)")
    args = parser.parse_args()
    if args.from_run:
        split_from_run(args.from_run)
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [f"iterations={args.iterations}"]
    cfg = load_config(args.config, overrides)
    direct, flow, stages = [], [], []
    load_start = os.getloadavg()[0]
    loads = []
    for repeat in range(args.repeats):
        loads.append(wait_for_quiet(args.max_load, args.wait))
        with tempfile.TemporaryDirectory(prefix="hir-overhead-") as tmp:
            times, direct_tables = direct_iterations(cfg, Path(tmp))
            direct += times[1:]
        loads.append(wait_for_quiet(args.max_load, args.wait))
        with tempfile.TemporaryDirectory(prefix="hir-overhead-") as tmp:
            walls, stage_s, flow_tables = flow_iterations(args.config, overrides, Path(tmp))
            flow += walls[1:]
            stages += stage_s[1:]
        for name, frame in direct_tables.items():
            if not frame.equals(flow_tables[name]):
                raise SystemExit(
                    f"repeat {repeat}: the flow's {name} table differs from the direct run's"
                )
        print(f"repeat {repeat}: direct {times}, flow {walls}", file=sys.stderr)

    med = statistics.median
    d, f, s = med(direct), med(flow), med(stages)
    print(
        f"config: {args.config} ({cfg.model.spec}), iterations timed per run: "
        f"{args.iterations - 1}, runs per mode: {args.repeats}, torch threads: "
        f"{torch.get_num_threads()}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; 1-min load at start "
        f"{load_start:.1f}, at end {os.getloadavg()[0]:.1f}, when each run started: "
        f"{', '.join(f'{x:.1f}' for x in loads)}"
    )
    print()
    print("| mode | s / iteration (median) | min | max |")
    print("|---|---:|---:|---:|")
    print(
        f"| direct (hir_core.stages.run_stage) | {d:.2f} | {min(direct):.2f} | {max(direct):.2f} |"
    )
    print(f"| Prefect flow | {f:.2f} | {min(flow):.2f} | {max(flow):.2f} |")
    print(
        f"| - of which stage work (compute + Parquet write) | {s:.2f} | {min(stages):.2f} | {max(stages):.2f} |"
    )
    print(f"| - of which Prefect, hashing, manifest, MLflow, artifacts | {f - s:.2f} | | |")
    print()
    print(
        f"overhead (flow - direct): {f - d:.2f} s = {100 * (f - d) / f:.1f}% of a flow iteration; "
        f"outside the stages: {f - s:.2f} s = {100 * (f - s) / f:.1f}%"
    )


if __name__ == "__main__":
    main()
