"""What a training run would run where: the text of ``hir train --dry-run`` (Prefect-free).

The flow is the single controller in every case (one process, wherever ``hir train`` is
started); only the engines move. The plan names, for each stage, the process that computes
it and the engines it calls, the Ray actors and the resources they reserve (``distributed``),
and the commands that launch the run: on this machine, on an existing Ray cluster, and the
no-Ray fallback (``hir worker`` under ``torchrun``, one stage at a time).

Nothing here imports torch, starts Ray or writes a file: a dry run answers in a second.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from hir_core.config import ActorResources, PipelineConfig

__all__ = ["LaunchPlan", "launch_plan"]

# The stages in flow order with what each computes; `engine` names the engine it calls.
_STAGES = (
    ("prompts", "draw the iteration's prompts", None),
    ("rollouts", "sample hindsight.n_gen responses per prompt", "rollout"),
    ("verdicts", "verify every constraint of every response", None),
    ("replays", "hindsight selection and rewrite", None),
    ("batch", "old and reference log-probs, advantages", "train"),
    ("train", "one policy update (DeepSpeed), checkpoint", "train"),
)


@dataclass(frozen=True)
class LaunchPlan:
    """A dry run's answer: the text printed, and the figures a test or a script reads."""

    text: str
    backend: str
    train_ranks: int
    rollout_workers: int
    gpus: float  # GPUs the actors reserve in all (0 on CPU)
    cpus: float  # CPU cores the actors reserve in all (in-process: the flow's own)


def _resources(r: ActorResources) -> str:
    parts = [f"{r.num_cpus:g} CPU"]
    if r.num_gpus:
        parts.append(f"{r.num_gpus:g} GPU")
    if r.memory_gb is not None:
        parts.append(f"{r.memory_gb:g} GiB")
    return ", ".join(parts)


def _rollout_engine(cfg: PipelineConfig) -> str:
    g = cfg.rollout
    if g.backend == "vllm":
        return f"vLLM (tensor parallel {g.tensor_parallel_size})"
    return "transformers generate loop"


def _train_engine(cfg: PipelineConfig, ranks: int, gpu: bool) -> str:
    t = cfg.training
    precision = "bf16 autocast" if t.bf16 else "fp32"
    comm = "NCCL" if gpu else "gloo"
    group = f"{ranks} rank{'s' if ranks > 1 else ''}, {comm}" if ranks > 1 else "1 rank"
    return f"DeepSpeed ZeRO-{t.zero_stage}, {precision}, {group}"


def launch_plan(
    cfg: PipelineConfig,
    run_dir: Path,
    config_path: str | Path,
    overrides: list[str] | None = None,
    completed_iterations: int = 0,
) -> LaunchPlan:
    """The plan of ``hir train config_path overrides --run-dir run_dir`` (module docstring).

    ``completed_iterations``: iterations already recorded in the run's manifest (a resume
    starts after them)."""
    d = cfg.distributed
    ray = d.backend == "ray"
    ranks = d.train_ranks if ray else 1
    workers = d.rollout_workers if ray else 1
    gpu = ray and (d.train_actor.num_gpus > 0 or d.rollout_actor.num_gpus > 0)
    overrides = list(overrides or [])
    left = max(cfg.iterations - completed_iterations, 0)

    lines = [f"run {cfg.name!r} in {run_dir}"]
    if completed_iterations:
        lines.append(
            f"  resume: {completed_iterations} of {cfg.iterations} iterations recorded; "
            f"{left} to run (finished stages are skipped)"
        )
    else:
        lines.append(f"  {cfg.iterations} iterations, from the base model {cfg.model.spec}")
    lines.append(
        "  controller: the Prefect flow `train` in the process running `hir train` "
        "(one process; it reads and writes the run directory, logs to MLflow)"
    )
    lines.append(f"  engines: distributed.backend = {d.backend}")
    if ray:
        where = {
            None: f"a local Ray cluster started for the run ({d.local_num_cpus or 'all'} CPUs), "
            "stopped at the end",
            "auto": "the Ray cluster this machine belongs to (ray start / KubeRay / SLURM)",
        }.get(d.ray_address, f"the Ray cluster at {d.ray_address}")
        lines.append(f"  ray: {where}; every actor call times out after {d.call_timeout_s:g} s")
    lines.append("")
    lines.append("stages, once per iteration:")
    for stage, what, engine in _STAGES:
        if engine == "rollout":
            at = (
                f"{workers} rollout actor{'s' if workers > 1 else ''} "
                f"[{_resources(d.rollout_actor)} each]: {_rollout_engine(cfg)}; prompts split "
                "in fixed chunks (one seed per chunk: the table does not depend on the actors)"
                if ray
                else f"in process: {_rollout_engine(cfg)}"
                + (" on the trainer's live weights" if cfg.rollout.backend != "vllm" else "")
            )
        elif engine == "train":
            at = (
                f"{ranks} train actor{'s' if ranks > 1 else ''} "
                f"[{_resources(d.train_actor)} each]: {_train_engine(cfg, ranks, gpu)}"
                if ray
                else f"in process: {_train_engine(cfg, 1, False)}"
            )
        else:
            at = "in the flow's process (CPU)"
        lines.append(f"  {stage:<9} {what}: {at}")
    if ray:
        lines.append(
            "  weights: the train stage's checkpoint folder -> rollout actors (reloaded when it "
            "changed, parameter checksum after each sync); optimizer state stays in the train "
            "actors"
        )
    if cfg.evaluation.every:
        lines.append(
            f"  eval      every {cfg.evaluation.every} iterations: greedy on "
            f"{cfg.evaluation.heldout_prompts} held-out prompts, through the rollout engine"
        )

    cpus = (ranks * d.train_actor.num_cpus + workers * d.rollout_actor.num_cpus) if ray else 1.0
    gpus = (ranks * d.train_actor.num_gpus + workers * d.rollout_actor.num_gpus) if ray else 0.0
    lines.append("")
    if ray:
        lines.append(
            f"reserved by the actors: {cpus:g} CPU, {gpus:g} GPU "
            f"({ranks} x [{_resources(d.train_actor)}] + {workers} x "
            f"[{_resources(d.rollout_actor)}])"
        )
    else:
        lines.append("reserved: this process only (no actors)")

    command = ["hir", "train", str(config_path), *overrides]
    if Path(run_dir) != Path("runs") / cfg.name:
        command += ["--run-dir", str(run_dir)]
    launch = shlex.join(command)
    lines.append("")
    lines.append("launch:")
    if ray and d.ray_address is not None:
        lines.append("  on the head node:     ray start --head --port 6379")
        lines.append("  on every other node:  ray start --address HEAD_IP:6379")
        lines.append(f"  then, on the head:    {launch}")
    else:
        lines.append(f"  {launch}")
    per_stage = (
        f"torchrun --nproc_per_node {d.train_ranks} -m flows.cli worker {shlex.quote(str(run_dir))}"
        " K STAGE"
    )
    lines.append(
        f"  without Ray, one stage at a time (K: iteration, STAGE: {'|'.join(s for s, *_ in _STAGES)}):"
    )
    lines.append(f"    {per_stage}")
    lines.append("")
    lines.append("dry run: nothing was started or written")
    return LaunchPlan("\n".join(lines), d.backend, ranks, workers, gpus, cpus)
