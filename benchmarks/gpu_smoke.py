"""GPU smoke run: the tiny and SmolLM2 configs with vLLM rollouts and DeepSpeed training on
CUDA, a few iterations each, recording tokens/s per stage.

    python benchmarks/gpu_smoke.py                              # tiny + smollm2, vLLM, CUDA
    python benchmarks/gpu_smoke.py --configs tiny --iterations 2
    python benchmarks/gpu_smoke.py --rollout transformers       # no vLLM installed
    python benchmarks/gpu_smoke.py --allow-cpu --rollout transformers --configs tiny  # CPU check

Each config runs ``--iterations`` iterations through ``hir_core.stages.run_stage`` (the
function the Prefect tasks call) with the in-process engines, in a fresh run directory: the
flow's stage contract (tables, checkpoint, manifest) without Prefect or MLflow. Iteration 0
pays the engine start-up (vLLM's CUDA graphs, DeepSpeed's initialise) and is reported apart.
Per config it prints and writes (``benchmarks/results/gpu_smoke.json``): rollout tokens/s
(from the rollouts stage's metrics), train tokens/s (the train stage's), each stage's
seconds, the device and the versions. Without CUDA it refuses to run unless ``--allow-cpu``
(a check of the script itself, not a GPU figure).
"""

from __future__ import annotations

import argparse
import json
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
    "TORCH_EXTENSIONS_DIR": str(ROOT / ".cache" / "torch_extensions"),
    "HIR_CACHE_DIR": str(ROOT / ".cache" / "hir"),
}.items():
    os.environ.setdefault(key, value)

RESULTS = ROOT / "benchmarks" / "results"
# What each named config runs (overrides on top of the file): short responses, few prompts,
# bf16 on the GPU; the model and data are the config's own.
CONFIGS = {
    "tiny": (
        "configs/tiny.yaml",
        ["rollout.max_new_tokens=32", "data.prompts_per_iteration=8", "evaluation.every=0"],
    ),
    "smollm2": (
        "configs/demo.yaml",
        ["rollout.max_new_tokens=128", "data.prompts_per_iteration=16", "evaluation.every=0"],
    ),
}


def run_config(name: str, iterations: int, rollout: str, device_cpu: bool) -> dict:
    """One config's iterations; returns its figures."""
    import torch

    from hir_core.config import load_config
    from hir_core.engines.inprocess import InProcessEngines
    from hir_core.rundir import STAGES, Manifest, RunDir
    from hir_core.stages import run_stage

    path, overrides = CONFIGS[name]
    overrides = [*overrides, f"iterations={iterations}", f"rollout.backend={rollout}"]
    if not device_cpu:
        overrides += ["training.bf16=true"]
    if rollout == "vllm":
        overrides += ["rollout.vllm_kwargs={gpu_memory_utilization: 0.3}"]
    cfg = load_config(ROOT / path, overrides)
    with tempfile.TemporaryDirectory(prefix=f"gpu-smoke-{name}-") as scratch:
        rundir = RunDir(scratch)
        cfg = rundir.init(cfg)
        engines = InProcessEngines(cfg, rundir)
        walls = []
        try:
            for k in range(iterations):
                start = time.perf_counter()
                for stage in STAGES:
                    run_stage(rundir, cfg, k, stage, engines)
                walls.append(time.perf_counter() - start)
        finally:
            engines.close()
        manifest = Manifest.load(rundir)
        per_iter = []
        for k in range(iterations):
            rollouts = manifest.stage(k, "rollouts")["metrics"]
            train = manifest.stage(k, "train")["metrics"]
            per_iter.append(
                {
                    "iteration": k,
                    "wall_s": walls[k],
                    "stage_s": {s: manifest.stage(k, s)["duration_s"] for s in STAGES},
                    "rollout_tokens_per_s": rollouts.get("rollout/tokens_per_s"),
                    "train_tokens_per_s": train.get("train/tokens_per_s"),
                }
            )
    steady = per_iter[1:] or per_iter

    def median(key: str) -> float | None:
        values = [it[key] for it in steady if it[key] is not None]
        return statistics.median(values) if values else None

    return {
        "config": name,
        "file": path,
        "overrides": overrides,
        "rollout_backend": rollout,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "iterations": per_iter,
        "rollout_tokens_per_s": median("rollout_tokens_per_s"),
        "train_tokens_per_s": median("train_tokens_per_s"),
        "steady_wall_s": statistics.median(it["wall_s"] for it in steady),
        "first_wall_s": per_iter[0]["wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny,smollm2", help="comma-separated: tiny, smollm2")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--rollout", choices=("vllm", "transformers"), default="vllm")
    parser.add_argument(
        "--allow-cpu", action="store_true", help="run without CUDA (checks the script only)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_smoke.json")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        sys.exit("gpu_smoke: no CUDA device here (pass --allow-cpu to check the script on CPU)")
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        sys.exit(f"gpu_smoke: unknown config(s) {unknown}; known: {sorted(CONFIGS)}")
    results = [
        run_config(n, args.iterations, args.rollout, not torch.cuda.is_available()) for n in names
    ]
    record = {
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "results": results,
    }
    try:
        import vllm

        record["vllm"] = vllm.__version__
    except ImportError:
        record["vllm"] = None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2))
    partial.rename(args.out)
    print(
        f"{'config':<9} {'device':<24} {'rollout tok/s':>13} {'train tok/s':>11} {'iter s':>7} {'first s':>8}"
    )
    for r in results:
        print(
            f"{r['config']:<9} {r['device'][:24]:<24} {r['rollout_tokens_per_s'] or 0:>13.0f} "
            f"{r['train_tokens_per_s'] or 0:>11.0f} {r['steady_wall_s']:>7.1f} {r['first_wall_s']:>8.1f}"
        )
    print(f"written: {args.out}")


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
