"""HeRL's guided pass on a real model: how often it triggers, how often the revision beats the
draft, what it costs next to the rollouts; and test-time self-revision accuracy per round.

    nice -n 10 .venv/bin/python benchmarks/herl_guided.py                    # SmolLM2-135M
    .venv/bin/python benchmarks/herl_guided.py --model tiny-random --prompts 2 --max-new-tokens 8
                                                                              # smoke run

Training side (one iteration of the hindsight stage, strategy ``herl``): synthetic prompts
(``build_synthetic``), ``--n`` rollouts each at temperature 1, verified, reward = CLA (HeRL's
fraction reward); then the real ``run_hindsight`` with the same generator. Test-time side:
greedy drafts on held-out synthetic prompts, then ``hir_core.revision.revise`` for
``--rounds`` rounds (greedy), accuracy per round.

``--write`` replaces the "## HeRL guided pass" section of BENCHMARKS.md with the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hir_core import constraints
from hir_core.data import build_synthetic, constraints_from_row
from hir_core.engines.generation import GenerationConfig, chat, make_generator
from hir_core.engines.training import bf16_available
from hir_core.evaluation import eval_generation_config
from hir_core.hindsight import HindsightConfig, run_hindsight
from hir_core.metrics import herl_metrics
from hir_core.models import ModelConfig, load_model
from hir_core.revision import revise
from hir_core.rewards import RewardConfig, score_verdicts
from hir_core.storage import conform

SECTION = "## HeRL guided pass"
REWARD = RewardConfig(kind="cla")


def chats(prompts: pl.DataFrame) -> list[list[dict]]:
    return [chat(p) for p in prompts["prompt"]]


def rollouts_and_verdicts(prompts, generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    rollouts, verdicts = [], []
    for row, samples in zip(prompts.iter_rows(named=True), generator.generate(chats(prompts))):
        cons = constraints_from_row(row)
        for s in samples:
            rid = f"{row['prompt_id']}/{s.sample_idx}"
            rollouts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": s.sample_idx,
                    "response": s.response,
                    "prompt_token_ids": s.prompt_token_ids,
                    "response_token_ids": s.response_token_ids,
                    "logprobs": s.logprobs,
                    "mean_entropy": s.mean_entropy,
                    "finish_reason": s.finish_reason,
                }
            )
            check = constraints.verify_detailed(s.response, cons, prompt=row["prompt"])
            verdicts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": s.sample_idx,
                    "constraint_ids": [c["id"] for c in cons],
                    "verdicts": check.verdicts,
                    "errors": check.errors,
                    "ila": 0.0,
                    "cla": 0.0,
                    "reward": 0.0,
                }
            )
    rollouts_df = pl.from_arrow(conform(pl.DataFrame(rollouts), "rollouts"))
    verdicts_df = score_verdicts(pl.from_arrow(conform(pl.DataFrame(verdicts), "verdicts")), REWARD)
    return rollouts_df, verdicts_df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=8, help="training prompts (B)")
    parser.add_argument("--n", type=int, default=4, help="rollouts per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--heldout", type=int, default=8, help="prompts for test-time revision")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model, tokenizer = load_model(ModelConfig(spec=args.model))
    model.eval()
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if bf16_available()
        else contextlib.nullcontext()
    )
    data = build_synthetic(args.prompts, args.heldout, seed=args.seed)
    train = data.filter(pl.col("split") == "train")
    heldout = data.filter(pl.col("split") == "heldout")
    rollout_cfg = GenerationConfig(
        n=args.n, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=32
    )
    generator = make_generator(rollout_cfg, model=model, tokenizer=tokenizer)
    cfg = HindsightConfig(
        strategy="herl", n_gen=args.n, n_total=args.n, herl={"max_new_tokens": args.max_new_tokens}
    )

    with torch.no_grad(), autocast:
        start = time.perf_counter()
        rollouts, verdicts = rollouts_and_verdicts(train, generator)
        rollout_s = time.perf_counter() - start
        replays, stats = run_hindsight(
            train, rollouts, verdicts, cfg, step=0, generator=generator, reward=REWARD
        )
        greedy = make_generator(
            eval_generation_config(rollout_cfg, max_new_tokens=rollout_cfg.max_new_tokens),
            model=model,
            tokenizer=tokenizer,
        )
        start = time.perf_counter()
        drafts = [s[0].response for s in greedy.generate(chats(heldout))]
        revision = revise(greedy, heldout, drafts, rounds=args.rounds)
        revise_s = time.perf_counter() - start

    command = " ".join(sys.argv[1:])
    metrics = herl_metrics(stats, replays)
    guided = replays.filter(pl.col("strategy") == "herl")
    source_reward = dict(zip(verdicts["rollout_id"], verdicts["reward"].cast(pl.Float64)))
    drafts_mean = float(np.mean([source_reward[s] for s in guided["source_rollout_id"]]))
    lines = [
        SECTION,
        "",
        (
            f"Command: `nice -n 10 .venv/bin/python benchmarks/herl_guided.py {command}` "
            f"(model {args.model}, {args.prompts} prompts x {args.n} rollouts, temperature 1, "
            f"{args.max_new_tokens} new tokens; guided pass: temperature 1, "
            f"{args.max_new_tokens} new tokens; reward = CLA; seed {args.seed}). Machine: "
            f"{platform.machine()}, {torch.get_num_threads()} torch threads, shared with other "
            "jobs: timings are noisy."
        ),
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| groups with best reward < 1 (trigger rate) | {metrics['herl/trigger_rate']:.3f} |",
        f"| guided responses (one per draft tied at its group's best) | {int(metrics['herl/guided'])} |",
        f"| mean reward of those drafts | {drafts_mean:.3f} |",
        f"| mean reward of their guided revisions | {metrics['herl/guided_reward_mean']:.3f} |",
        (
            "| guided success rate (revision above the group's best) | "
            f"{metrics['herl/guided_success_rate']:.3f} |"
        ),
        f"| mean bonus (alpha 0.05) | {metrics['herl/bonus_mean']:+.4f} |",
        f"| rollout generation + verification (s) | {rollout_s:.1f} |",
        f"| guided generation (s) | {metrics['herl/generation_s']:.1f} |",
        f"| guided verification (s) | {metrics['herl/verify_s']:.2f} |",
        "",
        (
            f"Test-time self-revision (`hir_core.revision.revise`): {args.heldout} held-out "
            f"synthetic prompts, greedy drafts and revisions, {args.rounds} rounds, "
            f"{revise_s:.1f} s in all."
        ),
        "",
        "| round | ILA | CLA | responses revised |",
        "|---:|---:|---:|---:|",
    ]
    for acc in revision.accuracy:
        lines.append(
            f"| {int(acc['round'])} | {acc['ila']:.3f} | {acc['cla']:.3f} | {int(acc['revised'])} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        _write_section(ROOT / "BENCHMARKS.md", text)


def _write_section(path: Path, text: str) -> None:
    current = path.read_text()
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    updated = (
        pattern.sub(text + "\n", current)
        if pattern.search(current)
        else (current.rstrip("\n") + "\n\n" + text)
    )
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(updated)
    tmp.replace(path)


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
