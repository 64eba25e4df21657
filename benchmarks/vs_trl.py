"""Peer benchmark: TRL's GRPOTrainer against this pipeline's `none` strategy, same workload.

    .venv/bin/python benchmarks/vs_trl.py --model tiny-random --iterations 2      # smoke (~2 min)
    nice -n 10 .venv/bin/python benchmarks/vs_trl.py --model smollm2-135m-instruct --write
                                                 # the comparison; --write: "## Versus TRL"

Both sides train the same model on the same synthetic prompts, in the same order, with the
same group size, sampling settings, reward (binary ILA from ``hir_core.constraints.verify``),
loss family and number of optimizer steps:

- one iteration = B prompts x n samples (temperature 1, top-p 1, the same token limit), then
  ``mini_batches`` (2) optimizer steps over halves of the batch, micro-batches of the same size;
- GRPO advantages ``(r - mean_group) / std_group``; PPO-clip eps 0.2 without dual clip;
  token-mean loss over the mini-batch (TRL ``loss_type="dapo"``); KL to the reference model
  as a loss term with the k3 estimator, beta = ``--beta`` (TRL ``beta``, ours
  ``training.kl=loss``); AdamW with weight decay 0.01, constant learning rate, no warmup,
  grad-norm clip 1.0; bf16 autocast over fp32 weights where the CPU has bf16; no gradient
  checkpointing (TRL turns it on by default; our engine has none).

Each side runs in its own subprocess (``worker`` sub-command), so peak RSS is its own. Measured:
setup time (model load, engine / trainer construction), wall time of the training loop per
optimizer step (generation, scoring, log-probs, updates; ours also writes every stage's table
and a checkpoint per iteration, as a resumable run does), peak RSS, and held-out ILA/CLA of
the trained policy (greedy, ``hir_core.evaluation.evaluate``) next to that of the base model.
Differences that remain: TRL decodes with ``model.generate``, we with our KV-cache loop; TRL
keeps the whole run in memory, we write a run directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from hir_core.allocator import active_allocator, exec_with_allocator

RESULTS = ROOT / "benchmarks" / "results"
SECTION = "## Versus TRL"


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# ------------------------------------------------------------------------------ shared setup


def shared_config(args: argparse.Namespace):
    """The PipelineConfig both sides follow (ours runs it; TRL's settings are mapped from it)."""
    from hir_core.config import validate_config
    from hir_core.engines.training import bf16_available

    b, n = args.prompts, args.group
    return validate_config(
        {
            "name": f"vs-trl-{args.model}",
            "seed": args.seed,
            "iterations": args.iterations,
            "model": {"spec": args.model, "dtype": "float32"},
            "data": {
                "source": "synthetic",
                "n_train": max(b * args.iterations, b),
                "n_heldout": args.heldout,
                "prompts_per_iteration": b,
                "min_constraints": 1,
                "max_constraints": 3,
                "seed": args.seed,
            },
            "rollout": {
                "temperature": 1.0,
                "top_p": 1.0,
                "max_new_tokens": args.max_new_tokens,
                "batch_size": b * n,
                # Decoding in bf16 where training computes in bf16, as TRL's generate runs
                # under the trainer's bf16 autocast (Accelerate wraps the model's forward).
                "dtype": "bfloat16" if bf16_available() else "model",
            },
            "reward": {"kind": "ila"},
            "hindsight": {"strategy": "none", "n_gen": n, "n_total": n},
            "advantages": {"estimator": "grpo", "scale_std": True},
            "training": {
                "lr": args.lr,
                "weight_decay": 0.01,
                "grad_clip": 1.0,
                "mini_batches": 2,
                "micro_batch_size": args.micro,
                "bf16": "auto",
                "zero_stage": 0,
                "clip_eps": 0.2,
                "dual_clip": None,
                "aggregation": "token_mean",
                "kl": "loss",
                "kl_estimator": "k3",
                "kl_coef": args.beta,
            },
            "evaluation": {
                "heldout_prompts": args.heldout,
                "temperature": 0.0,
                "max_new_tokens": args.max_new_tokens,
                "batch_size": max(args.heldout, 1),
            },
        },
        source="vs_trl",
    )


def heldout_scores(cfg, model, tokenizer) -> dict[str, float]:
    """Held-out ILA (= prompt-level strict accuracy) and CLA of ``model``, greedy."""
    from hir_core import pipeline
    from hir_core.engines.generation import TransformersGenerator
    from hir_core.evaluation import evaluate

    prompts = pipeline.heldout_prompts(cfg).head(cfg.evaluation.heldout_prompts)
    was_training = model.training
    model.eval()
    try:
        generator = TransformersGenerator(model, tokenizer, pipeline.eval_generation_config(cfg))
        _, metrics = evaluate(generator, prompts, "heldout")
    finally:
        model.train(was_training)
    return {"ila": metrics["prompt_level_strict_acc"], "cla": metrics["inst_level_strict_acc"]}


def model_folder(spec: str, scratch: Path) -> Path:
    """A Hugging Face folder for ``spec`` (TRL loads its reference model from a path)."""
    from hir_core.models import TINY_RANDOM, load_model, resolve_folder, save_model

    if spec == TINY_RANDOM:
        model, tokenizer = load_model(spec)
        return save_model(model, tokenizer, scratch / "tiny-random")
    return resolve_folder(spec)


# ------------------------------------------------------------------------------ TRL side


def ila_reward_func():
    """A TRL reward function: binary ILA of each completion under its row's constraints."""
    from hir_core import constraints as registry

    def ila(prompts, completions, constraints_json, prompt_text, **_):
        rewards = []
        for completion, cons, text in zip(completions, constraints_json, prompt_text):
            response = completion[-1]["content"] if isinstance(completion, list) else completion
            verdicts = registry.verify(response, json.loads(cons), prompt=text)
            rewards.append(1.0 if all(verdicts) else 0.0)
        return rewards

    return ila


def trl_dataset(cfg):
    """The prompts of iterations 0..I-1 in order, as TRL's conversational dataset."""
    from datasets import Dataset

    from hir_core import pipeline
    from hir_core.data import constraints_from_row
    from hir_core.rundir import stage_seed

    rows = []
    for k in range(cfg.iterations):
        prompts, _ = pipeline.sample_prompts(cfg, k, stage_seed(cfg.seed, k, "prompts"))
        for row in prompts.iter_rows(named=True):
            constraints = [
                {"id": c["id"], "kwargs": c["kwargs"]} for c in constraints_from_row(row)
            ]
            rows.append(
                {
                    "prompt": pipeline.chat(row["prompt"]),
                    "prompt_text": row["prompt"],
                    "constraints_json": json.dumps(constraints),
                }
            )
    return Dataset.from_list(rows)


def run_trl(cfg, scratch: Path) -> dict:
    """TRL GRPOTrainer on the shared workload; timings, peak RSS and held-out scores."""
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from hir_core.engines.training import bf16_available

    t = cfg.training
    samples = cfg.data.prompts_per_iteration * cfg.hindsight.n_gen
    per_step = samples // t.mini_batches
    if per_step % t.micro_batch_size:
        raise SystemExit(f"{per_step} samples per optimizer step is not a multiple of --micro")
    bf16 = bf16_available() if t.bf16 == "auto" else bool(t.bf16)
    folder = model_folder(cfg.model.spec, scratch)
    start = time.perf_counter()
    args = GRPOConfig(
        output_dir=str(scratch / "trl"),
        use_cpu=True,
        seed=cfg.seed,
        max_steps=cfg.iterations * t.mini_batches,
        per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=per_step // t.micro_batch_size,
        generation_batch_size=samples,
        num_generations=cfg.hindsight.n_gen,
        num_iterations=t.epochs,
        max_completion_length=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        top_k=0,
        learning_rate=t.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=t.weight_decay,
        max_grad_norm=t.grad_clip,
        beta=t.kl_coef,
        epsilon=t.clip_eps,
        loss_type="dapo",
        scale_rewards="group",
        bf16=bf16,
        gradient_checkpointing=False,
        disable_dropout=True,
        shuffle_dataset=False,
        model_init_kwargs={"dtype": "float32"},
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        log_completions=False,
    )
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    trainer = GRPOTrainer(
        model=str(folder),
        reward_funcs=ila_reward_func(),
        args=args,
        train_dataset=trl_dataset(cfg),
        processing_class=tokenizer,
    )
    setup_s = time.perf_counter() - start

    step_ends: list[float] = []

    class StepTimes(TrainerCallback):
        def on_step_end(self, *_, **__):
            step_ends.append(time.perf_counter())

    trainer.add_callback(StepTimes())
    loop_start = time.perf_counter()
    trainer.train()
    loop_s = time.perf_counter() - loop_start
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return {
        "side": "trl",
        "setup_s": setup_s,
        "loop_s": loop_s,
        "optimizer_steps": len(step_ends),
        "step_s": loop_s / max(len(step_ends), 1),
        "step_times": [b - a for a, b in zip([loop_start, *step_ends], step_ends)],
        "train_reward": rewards,
        "heldout": heldout_scores(cfg, trainer.model, tokenizer),
        "peak_rss_gib": _peak_rss_gib(),
    }


# ------------------------------------------------------------------------------ our side


def run_ours_pipeline(cfg, scratch: Path) -> dict:
    """OUR PIPELINE, strategy `none`: every stage through ``hir_core.stages.run_stage`` (what
    the Prefect tasks call) with the in-process engines: each stage's table written to a run
    directory (schema-checked Parquet, atomic), recorded in the manifest, and a checkpoint
    saved per iteration, as a resumable run does (tasks/ add Prefect and MLflow on top:
    benchmarks/pipeline_overhead.py measures that layer)."""
    from hir_core.engines.inprocess import InProcessEngines
    from hir_core.rundir import STAGES, RunDir
    from hir_core.stages import run_stage

    start = time.perf_counter()
    rundir = RunDir(scratch / "ours")
    cfg = rundir.init(cfg)
    engines = InProcessEngines(cfg, rundir)
    engines.rollout_engine(0)  # DeepSpeed engine and generator, as TRL's trainer set-up
    engine = engines.engine
    setup_s = time.perf_counter() - start

    step_times, rewards = [], []
    loop_start = time.perf_counter()
    for k in range(cfg.iterations):
        iteration_start = time.perf_counter()
        for stage in STAGES:
            outcome = run_stage(rundir, cfg, k, stage, engines)
            if stage == "verdicts":
                rewards.append(outcome.metrics["reward"])
        # One iteration = mini_batches optimizer steps: each gets an equal share.
        share = (time.perf_counter() - iteration_start) / cfg.training.mini_batches
        step_times += [share] * cfg.training.mini_batches
    loop_s = time.perf_counter() - loop_start
    return {
        "side": "ours",
        "setup_s": setup_s,
        "loop_s": loop_s,
        "optimizer_steps": len(step_times),
        "step_s": loop_s / max(len(step_times), 1),
        "step_times": step_times,
        "train_reward": rewards,
        "heldout": heldout_scores(cfg, engine.model, engine.tokenizer),
        "peak_rss_gib": _peak_rss_gib(),
    }


def run_base(cfg, scratch: Path) -> dict:
    """Held-out scores of the untrained model (the common starting point)."""
    from hir_core.models import load_model

    model, tokenizer = load_model(cfg.model)
    return {"side": "base", "heldout": heldout_scores(cfg, model, tokenizer)}


SIDES = {"trl": run_trl, "ours": run_ours_pipeline, "base": run_base}


# ------------------------------------------------------------------------------ driver


def worker(side: str, config_json: str, out: Path, threads: int) -> None:
    import torch

    from hir_core.config import validate_config

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = validate_config(json.loads(config_json), source="vs_trl worker")
    with tempfile.TemporaryDirectory(prefix=f"vs-trl-{side}-") as scratch:
        result = SIDES[side](cfg, Path(scratch))
    out.write_text(json.dumps(result, indent=1))


def run_side(side: str, cfg, scratch: Path, threads: int) -> dict:
    out = scratch / f"{side}.json"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, __file__, "worker", side, cfg.model_dump_json(), str(out), str(threads)]
    print(f"[vs_trl] running {side} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return json.loads(out.read_text())


def markdown(cfg, results: dict, args: argparse.Namespace) -> str:
    trl, ours, base = results.get("trl"), results.get("ours"), results.get("base")
    t = cfg.training
    header = (
        f"Model `{cfg.model.spec}`; {cfg.iterations} iterations x "
        f"{cfg.data.prompts_per_iteration} prompts x {cfg.hindsight.n_gen} samples, "
        f"{cfg.rollout.max_new_tokens} new tokens, {cfg.iterations * t.mini_batches} optimizer "
        f"steps (2 per iteration), micro-batch {t.micro_batch_size}, lr {t.lr}, beta "
        f"{t.kl_coef}; held-out: {cfg.evaluation.heldout_prompts} synthetic prompts, greedy."
    )
    lines = [
        header,
        "",
        "| | setup s | loop s per optimizer step | peak RSS GiB | held-out ILA | held-out CLA |",
        "|---|---|---|---|---|---|",
    ]
    if base:
        h = base["heldout"]
        lines.append(f"| base model | | | | {h['ila']:.3f} | {h['cla']:.3f} |")
    for name, r in (("TRL GRPOTrainer", trl), ("ours (strategy none)", ours)):
        if r:
            h = r["heldout"]
            lines.append(
                f"| {name} | {r['setup_s']:.1f} | {r['step_s']:.2f} | {r['peak_rss_gib']:.2f} | "
                f"{h['ila']:.3f} | {h['cla']:.3f} |"
            )
    if trl and ours:
        time_ratio = ours["step_s"] / trl["step_s"]
        rss_ratio = ours["peak_rss_gib"] / trl["peak_rss_gib"]
        lines += [
            "",
            f"Ratios ours / TRL: time per step {time_ratio:.2f}, peak RSS {rss_ratio:.2f}.",
        ]
    lines += [
        "",
        (
            f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}` "
            f"(malloc: {active_allocator()}, both sides)"
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]))
        return
    # The allocator the `hir` command runs on (tcmalloc where installed), for both sides:
    # the workers inherit it. Absolute times are then comparable with BENCHMARKS.md Engines.
    exec_with_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=8, help="B, prompts per iteration")
    parser.add_argument("--group", type=int, default=6, help="n, samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--micro", type=int, default=8, help="micro-batch size")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--beta", type=float, default=0.001, help="KL coefficient (k3, in loss)")
    parser.add_argument("--heldout", type=int, default=32, help="held-out prompts scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sides", default="base,trl,ours")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads of both sides (0: torch's default)"
    )
    parser.add_argument("--write", action="store_true", help=f"write {SECTION!r} in BENCHMARKS.md")
    args = parser.parse_args()

    cfg = shared_config(args)
    results = {}
    with tempfile.TemporaryDirectory(prefix="vs-trl-") as scratch:
        for side in args.sides.split(","):
            results[side] = run_side(side, cfg, Path(scratch), args.threads)
    text = markdown(cfg, results, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"vs_trl_{args.model.replace('/', '_')}"
    (RESULTS / f"{stem}.json").write_text(
        json.dumps({"config": json.loads(cfg.model_dump_json()), "results": results}, indent=1)
    )
    (RESULTS / f"{stem}.md").write_text(text)
    print(text)
    if args.write:
        write_section(text)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of BENCHMARKS.md, leaving the rest."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    body = f"{SECTION}\n\n{text}"
    if SECTION in current:
        head, rest = current.split(SECTION, 1)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
        current = head + body.rstrip("\n") + "\n" + tail
    else:
        current = current.rstrip("\n") + "\n\n" + body
    path.write_text(current)


if __name__ == "__main__":
    main()
