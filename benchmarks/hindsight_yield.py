"""Hindsight yield: how many prompts give a learning signal, baseline versus HiR.

A prompt gives a (response-level) learning signal when its advantage group holds rewards that
are not all equal; with a binary reward and hard prompts most groups are all-zero (METHOD.md,
"Baseline"). This benchmark builds fixed synthetic verdict tables with a controlled success
rate s (every prompt succeeds with probability s per sample: each of its n constraints passes
independently with probability s ** (1 / n)), runs the real hindsight stage, batch assembly
and metric on them, and reports the fraction of prompts with a signal for:

* none, n = 8: the baseline with the same training batch size;
* none, n = 6: the baseline with the same generation cost as HiR;
* hir (score): 6 generated + (8 - 6) * B replays, the paper's global top-K selection;
* hir (per_prompt): the same budget allocated evenly over prompts.

No model is involved. Run:

    .venv/bin/python benchmarks/hindsight_yield.py

It rewrites the "## Hindsight yield" section of BENCHMARKS.md and the plot
benchmarks/hindsight_yield.png.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from hir_core.advantages import AdvantageConfig, assemble_batch
from hir_core.data import build_synthetic
from hir_core.hindsight import HindsightConfig, run_hindsight
from hir_core.hindsight.base import replays_frame
from hir_core.metrics import signal_fraction
from hir_core.rewards import RewardConfig, score_verdicts
from schemas import ROLLOUTS, VERDICTS

ROOT = Path(__file__).resolve().parents[1]
SUCCESS_RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
N_GEN, N_TOTAL = 6, 8
SECTION = "## Hindsight yield"
ARMS = ("none, n=8", "none, n=6", "hir (score)", "hir (per_prompt)")


def synthetic_iteration(
    prompts: pl.DataFrame, success_rate: float, n: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ROLLOUTS and VERDICTS tables: n samples per prompt, ILA success rate `success_rate`."""
    rollouts, verdicts = [], []
    for row in prompts.iter_rows(named=True):
        ids = [c["id"] for c in row["constraints"]]
        per_constraint = success_rate ** (1.0 / len(ids))
        for i in range(n):
            rid = f"{row['prompt_id']}/{i}"
            passed = (rng.random(len(ids)) < per_constraint).tolist()
            rollouts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": i,
                    "response": f"response {rid}",
                    "prompt_token_ids": [0],
                    "response_token_ids": [0],
                    "logprobs": [0.0],
                    "mean_entropy": float(rng.uniform(0.2, 1.5)),
                    "finish_reason": "stop",
                }
            )
            verdicts.append(
                {
                    "rollout_id": rid,
                    "prompt_id": row["prompt_id"],
                    "sample_idx": i,
                    "constraint_ids": ids,
                    "verdicts": passed,
                    "errors": [""] * len(ids),
                    "ila": 0.0,
                    "cla": 0.0,
                    "reward": 0.0,
                }
            )
    rollouts_df = pl.DataFrame(rollouts, schema=pl.Schema(ROLLOUTS))
    verdicts_df = score_verdicts(pl.DataFrame(verdicts, schema=pl.Schema(VERDICTS)), RewardConfig())
    return rollouts_df, verdicts_df


def first_samples(table: pl.DataFrame, n: int) -> pl.DataFrame:
    return table.filter(pl.col("sample_idx") < n)


def yield_of(prompts, rollouts, verdicts, replays, hindsight) -> float:
    batch = assemble_batch(
        prompts, rollouts, verdicts, replays, hindsight, AdvantageConfig(), lambda text: [0]
    )
    return signal_fraction(batch, include_replays=True)


def measure(prompts: pl.DataFrame, seeds: int) -> tuple[dict, dict, list[float]]:
    """Per success rate and arm: mean and std over seeds of the signal fraction."""
    results = {arm: {} for arm in ARMS}
    replay_counts: dict[float, list[float]] = {}
    stage_seconds: list[float] = []
    none_cfg = HindsightConfig(strategy="none")
    no_replays = replays_frame([])
    for rate in SUCCESS_RATES:
        per_arm = {arm: [] for arm in ARMS}
        for seed in range(seeds):
            rng = np.random.default_rng([seed, round(rate * 1000)])
            rollouts8, verdicts8 = synthetic_iteration(prompts, rate, N_TOTAL, rng)
            rollouts6, verdicts6 = first_samples(rollouts8, N_GEN), first_samples(verdicts8, N_GEN)
            per_arm["none, n=8"].append(
                yield_of(prompts, rollouts8, verdicts8, no_replays, none_cfg)
            )
            per_arm["none, n=6"].append(
                yield_of(prompts, rollouts6, verdicts6, no_replays, none_cfg)
            )
            for selection in ("score", "per_prompt"):
                cfg = HindsightConfig(selection=selection, n_gen=N_GEN, n_total=N_TOTAL, seed=seed)
                start = time.perf_counter()
                replays, stats = run_hindsight(prompts, rollouts6, verdicts6, cfg, step=0)
                stage_seconds.append(time.perf_counter() - start)
                per_arm[f"hir ({selection})"].append(
                    yield_of(prompts, rollouts6, verdicts6, replays, cfg)
                )
                if selection == "score":
                    replay_counts.setdefault(rate, []).append(stats["n_replays"] / stats["k"])
        for arm in ARMS:
            results[arm][rate] = (statistics.mean(per_arm[arm]), statistics.pstdev(per_arm[arm]))
    return results, {r: statistics.mean(v) for r, v in replay_counts.items()}, stage_seconds


def analytic_none(rate: float, n: int) -> float:
    """P(a group of n binary rewards is not constant) = 1 - s^n - (1 - s)^n."""
    return 1.0 - rate**n - (1.0 - rate) ** n


def plot(results: dict, path: Path, n_prompts: int, seeds: int) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm in ARMS:
        means = [results[arm][r][0] for r in SUCCESS_RATES]
        stds = [results[arm][r][1] for r in SUCCESS_RATES]
        ax.errorbar(SUCCESS_RATES, means, yerr=stds, marker="o", capsize=3, label=arm)
    ax.set_xscale("log")
    ax.set_xticks(SUCCESS_RATES, [f"{r:g}" for r in SUCCESS_RATES])
    ax.set_xlabel("success rate (ILA) per sample")
    ax.set_ylabel("fraction of prompts with a learning signal")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Hindsight yield: {n_prompts} synthetic prompts, {seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def section(results, replay_fill, stage_seconds, prompts, seeds, command, plot_link) -> str:
    counts = prompts["constraints"].list.len()
    header = "| success rate | " + " | ".join(ARMS) + " | none n=8, analytic | replays / K |"
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        (
            f"{prompts.height} synthetic prompts (`build_synthetic({prompts.height}, 0, seed=0)`, "
            f"{counts.min()}-{counts.max()} constraints, mean {counts.mean():.2f}; "
            f"one-constraint prompts, which can never yield a replay: {(counts == 1).sum()}). "
            "Each sample succeeds with the given probability (each constraint passes independently "
            "with probability s^(1/n)). Cell: fraction of prompts whose advantage group has "
            f"non-constant reward, mean ± std over {seeds} seeds. HiR: {N_GEN} generated + "
            f"K = ({N_TOTAL} - {N_GEN}) x {prompts.height} replays, lambda_t at step 0."
        ),
        "",
        header,
        "|" + "---|" * (len(ARMS) + 3),
    ]
    for rate in SUCCESS_RATES:
        cells = [f"{results[arm][rate][0]:.3f} ± {results[arm][rate][1]:.3f}" for arm in ARMS]
        lines.append(
            f"| {rate:g} | " + " | ".join(cells) + f" | {analytic_none(rate, N_TOTAL):.3f} "
            f"| {replay_fill[rate]:.2f} |"
        )
    ms = sorted(1000 * s for s in stage_seconds)
    lines += [
        "",
        (
            "Reading: the `none, n=8` column should match the analytic 1 - s^8 - (1 - s)^8 (a check "
            "of the harness). HiR's ceiling is the share of prompts with two or more constraints. "
            "HiR generates 6 samples per prompt, so at high success rates, where an all-success "
            "group of 6 gives no candidate, compare it with `none, n=6`."
        ),
        "",
        (
            f"hir stage time per iteration ({prompts.height} prompts x {N_GEN} samples, selection, "
            f"rewrite, no re-verification): median {statistics.median(ms):.1f} ms "
            f"(min {ms[0]:.1f}, max {ms[-1]:.1f}, {len(ms)} runs, this machine's CPU)."
        ),
        "",
        f"![hindsight yield]({plot_link})",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of BENCHMARKS.md (or append it); keep the others."""
    current = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(updated.rstrip("\n") + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=64, help="prompts per iteration (B)")
    parser.add_argument("--seeds", type=int, default=20, help="synthetic tables per success rate")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "hindsight_yield.png")
    args = parser.parse_args()

    prompts = build_synthetic(args.prompts, 0, seed=0)
    results, replay_fill, stage_seconds = measure(prompts, args.seeds)
    plot(results, args.plot, prompts.height, args.seeds)
    command = ".venv/bin/python benchmarks/hindsight_yield.py"
    if (args.prompts, args.seeds) != (64, 20):
        command += f" --prompts {args.prompts} --seeds {args.seeds}"
    plot_link = Path(os.path.relpath(args.plot, args.markdown.resolve().parent)).as_posix()
    text = section(results, replay_fill, stage_seconds, prompts, args.seeds, command, plot_link)
    write_section(args.markdown, text)
    print(text)


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
