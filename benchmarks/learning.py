"""Learning benchmark: held-out accuracy against generated rollouts, baseline versus HiR.

HiR's claim is sample efficiency: replaying failed responses under the instruction they did
satisfy gives a learning signal where the binary reward gives none, so the policy should
improve with fewer generated rollouts. This benchmark trains the same model on the same
prompts with the same seeds and the same budget of generated rollouts under several
hindsight strategies (arms), in-process with the pipeline's stage functions
(``hir_core.pipeline``: rollouts -> verdicts -> hindsight -> batch -> train step), and scores
the policy on held-out prompts (originals only: instruction- and constraint-level accuracy,
ILA and CLA) every ``eval_every`` generated rollouts.

Arms (``--arms``; the group size n_gen and the training slots n_total per prompt):

* ``none``: the baseline, binary reward, n_gen = n_total = 8;
* ``hir``: HiR with the same 8 generated rollouts per prompt plus 2 replay slots (n_total 10);
* ``hir-6of8``: the paper's setting, 6 generated + 2 replays in 8 slots: 25% fewer generated
  rollouts per step, so it runs 4/3 as many steps on the same rollout budget;
* ``none-6``: the control for ``hir-6of8``: the baseline with its 6 rollouts per prompt and
  its step count, no replays (does HiR help, or only taking more, smaller steps?);
* ``herl`` and ``hir+herl``: HeRL's guided revisions (and both), n_gen = 8; every guided
  generation counts as a generated rollout.

All arms share the advantage estimator, reward and optimiser settings of the scale's config.

Scales (``--scale``):

* ``tiny`` (``configs/learning_tiny.yaml``): the random ~200K-parameter test model. It knows no
  English and hardly reads its prompt, so the prompts use a small menu of constraints with
  arguments a random model meets by chance at a low rate (lower-case only, a word count, a
  letter count, no comma; 2-3 per prompt, built by :func:`feasible_prompts`), so that the
  binary reward is sparse but not impossible and learning takes minutes. Held-out scoring
  samples 4 responses per prompt at temperature 1 (greedy decoding of a random model gives
  nearly the same response to every prompt: a 0/1 score).
* ``smollm2`` (``configs/learning_smollm2.yaml``): SmolLM2-135M-Instruct on the pipeline's
  synthetic prompts (``data`` of the config), greedy held-out scoring. Slow on CPU: run it in
  the background; results are appended as they come and ``--report`` summarises whatever is
  finished.

Run:

    .venv/bin/python benchmarks/learning.py --scale tiny --seeds 5
    .venv/bin/python benchmarks/learning.py --scale tiny --report   # table + plot from results

Each held-out evaluation is one JSON line in ``benchmarks/results/learning_<scale>.jsonl``
(written as it goes); ``--report`` (also run at the end of a run) writes the plot
``benchmarks/learning_<scale>.png`` and rewrites this scale's part ("### <scale>") of the
"## Learning" section of BENCHMARKS.md, ending with the written reading kept in
``benchmarks/results/learning_<scale>_notes.md`` when there is one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TORCH_EXTENSIONS_DIR": str(ROOT / ".cache" / "torch_extensions"),
    "HIR_CACHE_DIR": str(ROOT / ".cache" / "hir"),
}.items():
    os.environ.setdefault(_key, _value)

import polars as pl

SECTION = "## Learning"
RESULTS = ROOT / "benchmarks" / "results"

# Arm -> config overrides. n_gen 8 is the baseline's group size; hir-6of8 is the paper's.
ARMS: dict[str, list[str]] = {
    "none": ["hindsight.strategy=none", "hindsight.n_gen=8", "hindsight.n_total=8"],
    "hir": ["hindsight.strategy=hir", "hindsight.n_gen=8", "hindsight.n_total=10"],
    "hir-6of8": ["hindsight.strategy=hir", "hindsight.n_gen=6", "hindsight.n_total=8"],
    # Control for hir-6of8: the same 6 rollouts per prompt and step count, no replays.
    "none-6": ["hindsight.strategy=none", "hindsight.n_gen=6", "hindsight.n_total=6"],
    "herl": ["hindsight.strategy=herl", "hindsight.n_gen=8", "hindsight.n_total=8"],
    "hir+herl": ["hindsight.strategy=hir+herl", "hindsight.n_gen=8", "hindsight.n_total=10"],
}
DEFAULT_ARMS = ("none", "hir", "hir-6of8")
BASE_GROUP = 8  # the budget is counted in units of the baseline's 8 rollouts per prompt

SCALES = {
    # scale: (config, eval samples per held-out prompt, default iterations of the n_gen=8 arms)
    "tiny": (ROOT / "configs" / "learning_tiny.yaml", 4, 24),
    "smollm2": (ROOT / "configs" / "learning_smollm2.yaml", 1, 6),
}

# ---------------------------------------------------------------------------------- prompts

# Constraints with arguments that the random tiny model meets by chance, each at roughly
# 0.3-0.6 (measured on its 16-token samples), so that all three together succeed
# rarely (~5%). Every option is equally likely.
FEASIBLE_MENU: dict[str, list[dict]] = {
    "change_case:english_lowercase": [{}],
    "length_constraints:number_words": [
        {"num_words": 11, "relation": "at least"},
        {"num_words": 9, "relation": "less than"},
    ],
    "keywords:letter_frequency": [
        {"letter": "e", "let_frequency": 4, "let_relation": "at least"},
        {"letter": "o", "let_frequency": 2, "let_relation": "at least"},
        {"letter": "t", "let_frequency": 1, "let_relation": "less than"},
        {"letter": "i", "let_frequency": 2, "let_relation": "at least"},
    ],
}


def feasible_prompts(
    n_train: int, n_heldout: int, seed: int, min_constraints: int, max_constraints: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, held-out) PROMPTS tables over the shipped base tasks (disjoint between the
    splits) with 2-3 distinct constraints from :data:`FEASIBLE_MENU` and a random template."""
    from hir_core.data import base_task_id, instruction_row, load_base_tasks, prompts_frame
    from hir_core.instructions import TEMPLATES, Instruction, make_constraint

    rng = random.Random(seed)
    tasks = rng.sample(load_base_tasks(), len(load_base_tasks()))
    n_held = max(1, len(tasks) * n_heldout // (n_train + n_heldout))
    splits = {"train": (n_train, tasks[n_held:]), "heldout": (n_heldout, tasks[:n_held])}
    tables = []
    for split, (count, split_tasks) in splits.items():
        rows = []
        for index in range(count):
            task = split_tasks[index % len(split_tasks)]
            wanted = rng.randint(min_constraints, max_constraints)
            ids = rng.sample(sorted(FEASIBLE_MENU), wanted)
            constraints = tuple(
                make_constraint(cid, rng.choice(FEASIBLE_MENU[cid]), seed=rng.randrange(2**31))
                for cid in ids
            )
            instruction = Instruction(task, constraints, rng.choice(TEMPLATES))
            rows.append(
                instruction_row(
                    instruction,
                    prompt_id=f"feasible-{split}-{index:05d}",
                    base_task_id=base_task_id(task),
                    split=split,
                )
            )
        tables.append(prompts_frame(rows))
    return tables[0], tables[1]


def prompt_tables(scale: str, cfg) -> tuple[pl.DataFrame, pl.DataFrame]:
    if scale == "tiny":
        d = cfg.data
        return feasible_prompts(
            d.n_train, d.n_heldout, d.seed, d.min_constraints, d.max_constraints
        )
    from hir_core.pipeline import prompt_pool

    return prompt_pool(cfg)


def iteration_prompts(train: pl.DataFrame, cfg, iteration: int) -> pl.DataFrame:
    """The B prompts of ``iteration``: epochs of seeded permutations, as
    ``hir_core.pipeline.sample_prompts`` walks the configured pool."""
    from hir_core.rundir import stage_seed

    b = cfg.data.prompts_per_iteration
    per_epoch = train.height // b
    epoch, slot = divmod(iteration, per_epoch)
    order = random.Random(stage_seed(cfg.seed, epoch, "data-epoch")).sample(
        range(train.height), train.height
    )
    return train[order[slot * b : (slot + 1) * b]]


# ---------------------------------------------------------------------------------- one run


@contextlib.contextmanager
def eval_settings(generator, cfg, samples: int):
    """The generator with the evaluation sampling settings, restored afterwards."""
    from hir_core.rundir import stage_seed

    old = generator.cfg
    generator.cfg = old.model_copy(
        update={
            "n": samples,
            "temperature": cfg.evaluation.temperature,
            "max_new_tokens": cfg.evaluation.max_new_tokens,
            "batch_size": cfg.evaluation.batch_size,
            # The same eval seed at every point and in every arm: only the policy differs.
            "seed": stage_seed(0, 0, "learning-eval"),
        }
    )
    model = generator.model
    was_training = model.training
    model.eval()
    try:
        yield generator
    finally:
        generator.cfg = old
        if was_training:
            model.train()


def heldout_scores(generator, cfg, heldout: pl.DataFrame, samples: int) -> dict[str, float]:
    """Held-out ILA and CLA (means over prompts and samples) of the current policy."""
    from hir_core.evaluation import evaluate

    with eval_settings(generator, cfg, samples) as gen:
        table, metrics = evaluate(gen, heldout, "heldout")
    strict = table["strict"]
    return {
        "ila": float(strict.list.all().cast(pl.Float64).mean()),
        "cla": float(strict.list.eval(pl.element().cast(pl.Float64).mean()).list.first().mean()),
        "eval_response_tokens": metrics["mean_response_tokens"],
    }


def start_key(cfg, heldout: pl.DataFrame, samples: int) -> str:
    """What the start evaluation depends on: the base model, the evaluation settings and
    the held-out prompts."""
    import hashlib

    parts = [
        cfg.model.model_dump_json(),
        cfg.evaluation.model_dump_json(),
        cfg.rollout.backend,
        str(samples),
        *heldout["prompt"].to_list(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cached_start(out: Path, key: str) -> dict | None:
    """The start scores of an earlier run with the same :func:`start_key`, if any."""
    if not out.exists():
        return None
    for line in out.read_text("utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("iteration") == 0 and row.get("start_key") == key:
            return {k: row[k] for k in ("ila", "cla", "eval_response_tokens")}
    return None


def run_one(scale: str, arm: str, seed: int, budget_iterations: int, args, out: Path) -> None:
    """Train one (arm, seed) for the rollout budget of ``budget_iterations`` baseline steps,
    appending one JSON line per held-out evaluation to ``out``."""
    from hir_core.config import load_config
    from hir_core.pipeline import (
        build_batch,
        generate_rollouts,
        hindsight,
        make_engine,
        make_generator,
        train_step,
        verify_rollouts,
    )
    from hir_core.rundir import stage_seed

    config, samples, _ = SCALES[scale]
    overrides = [*ARMS[arm], f"seed={seed}", *args.override]
    cfg = load_config(args.config or config, overrides)
    n_gen = cfg.hindsight.n_gen
    b = cfg.data.prompts_per_iteration
    budget = budget_iterations * BASE_GROUP * b
    iterations = math.ceil(budget / (n_gen * b))
    cfg = cfg.model_copy(update={"iterations": iterations})
    # Evaluation points every `eval_every` baseline steps' worth of rollouts: the same
    # rollout counts for n_gen 8 and 6 when eval_every is a multiple of 3.
    eval_rollouts = args.eval_every * BASE_GROUP * b
    train, heldout = prompt_tables(scale, cfg)
    heldout = heldout.head(cfg.evaluation.heldout_prompts)
    run_id = f"{arm}/{seed}/{int(time.time())}"
    common = {
        "scale": scale,
        "arm": arm,
        "seed": seed,
        "run_id": run_id,
        "n_gen": n_gen,
        "command": args.command,
    }

    def record(row: dict) -> None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({**common, **row}) + "\n")

    start = time.perf_counter()
    engine = make_engine(cfg)
    generator = make_generator(cfg, engine=engine)
    generated, next_eval, train_window = 0, eval_rollouts, []
    # Every arm and seed starts from the same policy, scored with the same evaluation seed:
    # the start point is computed once per evaluation setting and reused.
    key = start_key(cfg, heldout, samples)
    start_scores = cached_start(out, key) or heldout_scores(generator, cfg, heldout, samples)
    record({"iteration": 0, "generated": 0, "start_key": key, **start_scores})
    for k in range(iterations):
        prompts = iteration_prompts(train, cfg, k)
        rollouts, _ = generate_rollouts(
            prompts, generator, cfg, stage_seed(cfg.seed, k, "rollouts")
        )
        verdicts, m_verify = verify_rollouts(prompts, rollouts, cfg)
        replays, m_hind = hindsight(prompts, rollouts, verdicts, cfg, k, generator=generator)
        batch, m_batch = build_batch(prompts, rollouts, verdicts, replays, cfg, engine)
        m_train = train_step(batch, engine, cfg)
        generated += rollouts.height + int(m_hind.get("hindsight/herl_guided", 0))
        train_window.append(
            {
                "train_ila": m_verify["ila"],
                "train_cla": m_verify["cla"],
                "signal_without": m_batch["hindsight/signal_fraction_without"],
                "signal_with": m_batch["hindsight/signal_fraction_with"],
                "replays": m_batch["batch/replays"] + m_batch["batch/hindsight"],
            }
        )
        if generated >= next_eval or k == iterations - 1:
            window = {
                key: statistics.fmean(row[key] for row in train_window) for key in train_window[0]
            }
            train_window = []
            next_eval += eval_rollouts
            scores = heldout_scores(generator, cfg, heldout, samples)
            record(
                {
                    "iteration": k + 1,
                    "generated": generated,
                    **scores,
                    **window,
                    "elapsed_s": time.perf_counter() - start,
                    "train_loss": m_train["train/loss"],
                    "done": k == iterations - 1,
                }
            )
            print(
                f"[{arm} seed {seed}] iter {k + 1}/{iterations} generated {generated} "
                f"held-out ILA {scores['ila']:.3f} CLA {scores['cla']:.3f} "
                f"train ILA {window['train_ila']:.3f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    del generator, engine
    gc.collect()


# ---------------------------------------------------------------------------------- report


def load_results(path: Path) -> dict[tuple[str, int], list[dict]]:
    """(arm, seed) -> the evaluation rows of its latest finished run (unfinished runs only
    when the pair has no finished one)."""
    runs: dict[str, list[dict]] = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            runs.setdefault(row["run_id"], []).append(row)
    chosen: dict[tuple[str, int], list[dict]] = {}
    for rows in runs.values():
        key = (rows[0]["arm"], rows[0]["seed"])
        finished = any(r.get("done") for r in rows)
        old = chosen.get(key)
        old_finished = old is not None and any(r.get("done") for r in old)
        if old is None or (finished, rows[0]["run_id"]) > (old_finished, old[0]["run_id"]):
            chosen[key] = rows
    return chosen


def by_arm(chosen) -> dict[str, dict[int, list[dict]]]:
    arms: dict[str, dict[int, list[dict]]] = {}
    for (arm, seed), rows in sorted(chosen.items()):
        if len(rows) >= 2:  # a run still at its start point has no curve yet
            arms.setdefault(arm, {})[seed] = rows
    # Runs still going are shown only for an arm that has no finished run yet (their curve
    # would cut the finished ones short).
    for arm, runs in arms.items():
        if any(rows[-1].get("done") for rows in runs.values()):
            arms[arm] = {seed: rows for seed, rows in runs.items() if rows[-1].get("done")}
    return {arm: arms[arm] for arm in sorted(arms, key=lambda a: list(ARMS).index(a))}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def curve(rows_by_seed: dict[int, list[dict]], key: str):
    """Mean and std over seeds at each evaluation point (points all seeds have)."""
    import numpy as np

    n_points = min(len(rows) for rows in rows_by_seed.values())
    xs = np.array(
        [
            statistics.fmean(rows[i]["generated"] for rows in rows_by_seed.values())
            for i in range(n_points)
        ]
    )
    values = np.array([[rows[i][key] for i in range(n_points)] for rows in rows_by_seed.values()])
    return xs, values.mean(axis=0), values.std(axis=0)


def plot(arms, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in zip(axes, ("ila", "cla"), ("held-out ILA", "held-out CLA")):
        for arm, rows_by_seed in arms.items():
            xs, mean, std = curve(rows_by_seed, key)
            line = ax.plot(xs, mean, marker="o", ms=3, label=f"{arm} ({len(rows_by_seed)} seeds)")
            ax.fill_between(xs, mean - std, mean + std, alpha=0.2, color=line[0].get_color())
        ax.set_xlabel("generated rollouts (cumulative)")
        ax.set_ylabel(label + " (mean ± std over seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _points(rows_by_seed: dict[int, list[dict]]) -> int:
    return min(len(rows) for rows in rows_by_seed.values())


def _at(rows_by_seed: dict[int, list[dict]], i: int, key: str) -> list[float]:
    return [rows[i][key] for rows in rows_by_seed.values()]


def _area(rows: list[dict], n_points: int, key: str) -> float:
    """Mean of ``key`` over the evaluation points after the start: the area under the
    learning curve per point (points are equally spaced in generated rollouts)."""
    return statistics.fmean(row[key] for row in rows[1:n_points])


def table(arms) -> str:
    """Markdown: per arm, held-out ILA / CLA at the start, half-way and at the end of the
    budget, the mean over the run (area under the curve), the training ILA and the share of
    groups with a learning signal in the last evaluation window."""
    header = (
        "| arm | seeds | steps | generated | ILA start | ILA half | ILA end | ILA mean (AUC) "
        "| CLA start | CLA end | CLA mean (AUC) | train ILA (last window) "
        "| groups with signal: without / with replays | wall s |"
    )
    lines = [
        header,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, runs in arms.items():
        n, last = _points(runs), _points(runs) - 1
        auc = {key: [_area(rows, n, key) for rows in runs.values()] for key in ("ila", "cla")}
        unfinished = sum(not rows[-1].get("done") for rows in runs.values())
        label = f"{arm} ({unfinished} unfinished)" if unfinished else arm
        lines.append(
            f"| {label} | {len(runs)} | {statistics.fmean(_at(runs, last, 'iteration')):.0f} "
            f"| {statistics.fmean(_at(runs, last, 'generated')):.0f} "
            f"| {mean_std(_at(runs, 0, 'ila'))} | {mean_std(_at(runs, n // 2, 'ila'))} "
            f"| {mean_std(_at(runs, last, 'ila'))} | {mean_std(auc['ila'])} "
            f"| {mean_std(_at(runs, 0, 'cla'))} | {mean_std(_at(runs, last, 'cla'))} "
            f"| {mean_std(auc['cla'])} | {mean_std(_at(runs, last, 'train_ila'))} "
            f"| {statistics.fmean(_at(runs, last, 'signal_without')):.2f} / "
            f"{statistics.fmean(_at(runs, last, 'signal_with')):.2f} "
            f"| {statistics.fmean(_at(runs, last, 'elapsed_s')):.0f} |"
        )
    return "\n".join(lines)


# Paired comparisons beyond "each arm - none": the control that isolates the replays.
EXTRA_PAIRS = (("hir-6of8", "none-6"), ("hir+herl", "herl"))


def paired_table(arms, baseline: str = "none") -> str:
    """Markdown: each arm minus the baseline on the same seeds (final ILA, ILA AUC, final
    CLA), plus :data:`EXTRA_PAIRS`: mean difference ± its standard error, and on how many
    seeds the arm is ahead."""
    pairs = [(arm, baseline) for arm in arms if arm != baseline and baseline in arms]
    pairs += [(a, b) for a, b in EXTRA_PAIRS if a in arms and b in arms]
    if not pairs:
        return ""
    lines = [
        "| comparison (paired by seed) | seeds | final ILA | ILA mean (AUC) | final CLA |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm, base_arm in pairs:
        runs, base = arms[arm], arms[base_arm]
        seeds = sorted(set(runs) & set(base))
        if not seeds:
            continue
        cells = []
        for key, use_auc in (("ila", False), ("ila", True), ("cla", False)):
            diffs = []
            for seed in seeds:
                a, b = runs[seed], base[seed]
                n = min(len(a), len(b))
                if use_auc:
                    diffs.append(_area(a, n, key) - _area(b, n, key))
                else:
                    diffs.append(a[n - 1][key] - b[n - 1][key])
            ahead = sum(d > 0 for d in diffs)
            spread = ""
            if len(diffs) > 1:
                spread = f" ± {statistics.stdev(diffs) / math.sqrt(len(diffs)):.3f}"
            cells.append(f"{statistics.fmean(diffs):+.3f}{spread} ({ahead}/{len(diffs)} ahead)")
        lines.append(f"| {arm} - {base_arm} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_section(path: Path, scale: str, text: str) -> None:
    """Replace this scale's subsection (### <scale>) of the "## Learning" section of
    BENCHMARKS.md (creating either); other sections and subsections are kept."""
    current = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    section_re = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    match = section_re.search(current)
    body = match.group(0) if match else SECTION + "\n"
    sub = f"### {scale}"
    sub_re = re.compile(rf"^{re.escape(sub)}\n.*?(?=^### |\Z)", re.DOTALL | re.MULTILINE)
    if sub_re.search(body):
        body = sub_re.sub(lambda _: text.rstrip("\n") + "\n\n", body, count=1)
    else:
        body = body.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n\n"
    if match:
        updated = current[: match.start()] + body + current[match.end() :]
    else:
        updated = current.rstrip("\n") + "\n\n" + body
    path.write_text(updated.rstrip("\n") + "\n", "utf-8")


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _started(item) -> int:
    """A run's start time (the last part of its run id)."""
    return int(item[1][0]["run_id"].rsplit("/", 1)[1])


def report(scale: str, results: Path, markdown: Path | None, command: str) -> str:
    chosen = load_results(results)
    arms = by_arm(chosen)
    # The commands that produced the runs shown, in order of first use.
    commands = [rows[0].get("command") for _, rows in sorted(chosen.items(), key=_started)]
    commands = list(dict.fromkeys(c for c in commands if c)) or [command]
    # The default results file's plot is the one BENCHMARKS.md shows; others go beside theirs.
    default = results.resolve() == (RESULTS / f"learning_{scale}.jsonl").resolve()
    png = ROOT / "benchmarks" / f"learning_{scale}.png" if default else results.with_suffix(".png")
    if arms:
        plot(arms, png, f"Learning benchmark, {scale}")
    text = (
        f"### {scale}\n\n"
        f"Command{'s' if len(commands) > 1 else ''}: "
        + "; ".join(f"`{c}`" for c in commands)
        + " (table and plot again: `.venv/bin/python benchmarks/learning.py "
        f"--scale {scale} --report`). Results: `{_shown(results)}`.\n\n"
    )
    if arms:
        text += f"{table(arms)}\n\n{paired_table(arms)}\n\n![learning {scale}]({_shown(png)})\n"
    else:
        text += "No run has passed its start point yet.\n"
    # A written reading of the numbers, kept beside the results (the table is regenerated).
    notes = results.with_name(f"{results.stem}_notes.md")
    if notes.exists():
        text += "\n" + notes.read_text("utf-8").strip() + "\n"
    if markdown is not None:
        write_section(markdown, scale, text)
    return text


# ---------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="rollout budget in steps of the n_gen=8 arms (default: the scale's)",
    )
    parser.add_argument("--eval-every", type=int, default=3, help="baseline steps between evals")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"from {list(ARMS)}")
    parser.add_argument("--config", type=Path, default=None, help="replace the scale's config")
    parser.add_argument(
        "--override", action="append", default=[], help="dotted config override (repeatable)"
    )
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-markdown", action="store_true")
    parser.add_argument("--report", action="store_true", help="only summarise the results file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared machine)")
    args = parser.parse_args()

    results = args.results or RESULTS / f"learning_{args.scale}.jsonl"
    markdown = None if args.no_markdown else args.markdown
    args.command = " ".join([".venv/bin/python benchmarks/learning.py", *sys.argv[1:]])
    if args.report:
        print(report(args.scale, results, markdown, args.command))
        return

    import torch

    torch.set_num_threads(args.threads)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")
    budget = args.iterations or SCALES[args.scale][2]
    results.parent.mkdir(parents=True, exist_ok=True)
    # Seeds outermost: whatever finishes first is a complete comparison on some seeds.
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for arm in arms:
            run_one(args.scale, arm, seed, budget, args, results)
    print(report(args.scale, results, markdown, args.command))


if __name__ == "__main__":
    main()
