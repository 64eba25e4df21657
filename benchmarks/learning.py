"""Learning benchmark: held-out accuracy against generated rollouts, baseline versus HiR.

HiR's claim is sample efficiency: replaying failed responses under the instruction they did
satisfy gives a learning signal where the binary reward gives none, so the policy should
improve with fewer generated rollouts. This benchmark trains the same model on the same
prompts with the same seeds and the same budget of generated rollouts under several
hindsight strategies (arms), and scores the policy on held-out prompts (originals only:
instruction- and constraint-level accuracy, ILA and CLA) every ``eval_every`` baseline
steps' worth of generated rollouts.

Every (scale, arm, seed) is a pipeline run: a run directory
(``runs/learning/<scale>/<arm>-s<seed>/``, ``--runs-root``) whose iterations run stage by
stage through ``hir_core.stages.run_stage`` with the in-process engines, exactly as the flow
runs them; each held-out evaluation is a recorded stage of the run (``eval-learning`` at
iteration K: the policy after K, its EVAL table ``iter-K/eval-learning.parquet``; the start
point ``eval-learning-start``). Rerunning a command continues every run where its manifest
stopped (finished stages and evaluations are skipped, their metrics read back) and skips
finished runs, so a set of runs too long for one sitting is finished over several.

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
  binary reward is sparse but not impossible and learning takes minutes. They are written
  once as verl-style Parquet (``<runs-root>/tiny/data-<hash>/``) that the runs' ``data``
  section reads, so the prompts stage walks them like any data source. Held-out scoring
  samples 4 responses per prompt at temperature 1 (greedy decoding of a random model gives
  nearly the same response to every prompt: a 0/1 score).
* ``smollm2`` (``configs/learning_smollm2.yaml``): SmolLM2-135M-Instruct on the pipeline's
  synthetic prompts (``data`` of the config), greedy held-out scoring. Slow on CPU: run it in
  the background, stop it when the machine is needed and rerun the same command later to
  continue; ``--report`` summarises whatever has finished.

Run:

    .venv/bin/python benchmarks/learning.py --scale tiny --seeds 5
    .venv/bin/python benchmarks/learning.py --scale tiny --report   # table + plot from results

Base rates (issue 16: choose a training distribution where the base model's success is
low but not zero): ``--base-rates`` samples ``--base-samples`` responses to each of the first
``--base-prompts`` training prompts with the base model and the rollout settings and writes
per-constraint-type success rates, the prompt-level ILA and the groups with a learning
signal, with counts, to stdout and ``benchmarks/results/learning_<scale>_base_rates.json``:

    .venv/bin/python benchmarks/learning.py --scale smollm2 --base-rates --base-prompts 32

Each held-out evaluation is one JSON line in ``benchmarks/results/learning_<scale>.jsonl``
(a run's lines are rewritten, atomically, after each of its evaluations: a resumed run
writes the same lines again, none twice); ``--report`` (also run at the end of a run)
writes the plot ``benchmarks/learning_<scale>.png`` and rewrites this scale's part ("### <scale>") of the
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
from dataclasses import dataclass, field
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


def _verl_rows(table: pl.DataFrame) -> list[dict]:
    """PROMPTS rows as verl rows (``hir_core.data.load_verl_parquet`` reads them back to the
    same task, constraints, template and prompt): the question and the constraint texts in
    ``extra_info``, so the loader recognises the rendering and HiR can rewrite it."""
    from hir_core.data import constraints_from_row
    from hir_core.engines.generation_config import chat

    rows = []
    for row in table.iter_rows(named=True):
        constraints = constraints_from_row(row)
        truth = {
            "instruction_id_list": [c["id"] for c in constraints],
            "kwargs": [c["kwargs"] for c in constraints],
        }
        rows.append(
            {
                "data_source": "ifeval",
                "prompt": chat(row["prompt"]),
                # JSON text: one Parquet struct type would give every row every kwargs field.
                "reward_model": {"style": "rule", "ground_truth": json.dumps(truth)},
                "extra_info": {
                    "question": row["task"],
                    "criteria": [c["text"] for c in constraints],
                    "source_prompt_id": row["prompt_id"],
                },
            }
        )
    return rows


def _same_prompts(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Equal PROMPTS tables but for ``prompt_id`` (the verl loader numbers its rows)."""
    return a.drop("prompt_id").equals(b.drop("prompt_id"))


def feasible_data(cfg, root: Path):
    """``cfg`` with its ``data`` section pointed at the tiny scale's prompts
    (:func:`feasible_prompts` of ``cfg.data``), written once as verl-style Parquet files
    under ``root/data-<hash>/`` (``train.parquet``, ``heldout.parquet``; the hash names the
    rows, so other data settings get other files). The prompts stage then walks them as
    ``hir_core.pipeline.sample_prompts`` walks any pool: the same iteration prompts as the
    builder's table, in the same order; only ``prompt_id`` differs (``train-<row>``).

    An existing file whose prompts differ from the builder's is an error naming it."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    from hir_core.data import load_verl_parquet
    from hir_core.storage import atomic_write

    d = cfg.data
    tables = dict(
        zip(
            ("train", "heldout"),
            feasible_prompts(d.n_train, d.n_heldout, d.seed, d.min_constraints, d.max_constraints),
        )
    )
    rows = {split: _verl_rows(table) for split, table in tables.items()}
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:12]
    folder = root / f"data-{digest}"
    paths = {split: folder / f"{split}.parquet" for split in tables}
    for split, path in paths.items():
        if not path.is_file():
            with atomic_write(path) as handle:
                pq.write_table(pa.Table.from_pylist(rows[split]), handle)
        if not _same_prompts(load_verl_parquet(path, split), tables[split]):
            raise ValueError(
                f"{path}: its prompts differ from the tiny scale's feasible prompts (edited by "
                "hand?); delete it (and the runs that read it) to rebuild"
            )
    data = d.model_copy(
        update={
            "source": "verl_parquet",
            "path": str(paths["train"].resolve()),
            "heldout_path": str(paths["heldout"].resolve()),
        }
    )
    return cfg.model_copy(update={"data": data})


# ---------------------------------------------------------------------------------- one run

EVAL_STAGE = "eval-learning"  # "eval..." stages hash the evaluation settings (rundir.input_hash)
START_STAGE = "eval-learning-start"
RUNS = ROOT / "runs" / "learning"


@contextlib.contextmanager
def eval_settings(generator, cfg, samples: int):
    """The generator with the evaluation settings (``hir_core.evaluation``'s, with the
    scale's samples per prompt and temperature), restored afterwards."""
    from hir_core.evaluation import eval_generation_config
    from hir_core.rundir import stage_seed

    old = generator.cfg
    generator.cfg = eval_generation_config(
        old,
        temperature=cfg.evaluation.temperature,
        samples=samples,
        max_new_tokens=cfg.evaluation.max_new_tokens,
        batch_size=cfg.evaluation.batch_size,
        # The same eval seed at every point and in every arm: only the policy differs.
        seed=stage_seed(0, 0, "learning-eval"),
    )
    model = getattr(generator, "model", None)  # vLLM holds no torch module here
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        yield generator
    finally:
        generator.cfg = old
        if was_training:
            model.train()


def heldout_scores(table: pl.DataFrame) -> dict[str, float]:
    """Held-out ILA and CLA (means over prompts and samples) of an EVAL table."""
    strict = table["strict"]
    return {
        "ila": float(strict.list.all().cast(pl.Float64).mean()),
        "cla": float(strict.list.eval(pl.element().cast(pl.Float64).mean()).list.first().mean()),
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
    for row in read_rows(out):
        if row.get("iteration") == 0 and row.get("start_key") == key:
            return {k: row[k] for k in ("ila", "cla", "eval_response_tokens")}
    return None


def read_rows(path: Path) -> list[dict]:
    """The JSON lines of a results file; a line that is not JSON is an error naming it."""
    rows = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number}: not JSON ({err})") from None
    return rows


def publish(out: Path, run_id: str, rows: list[dict]) -> None:
    """Make ``rows`` the lines of ``run_id`` in ``out`` (replacing any it had: a resumed
    run rewrites the same rows), other runs' lines kept; written atomically under a lock
    (several benchmark processes may share one results file)."""
    import fcntl
    import hashlib
    import tempfile

    from hir_core.storage import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    # The lock is a file of its own (the results file is replaced, a new inode each time),
    # kept out of the repository: one per results file, named by its path.
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"hir-learning-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = [r for r in (read_rows(out) if out.exists() else []) if r["run_id"] != run_id]
        with atomic_write(out) as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in [*kept, *rows]).encode())


@dataclass
class Settings:
    """What one benchmark invocation runs with (the command line's options)."""

    eval_every: int = 3
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    runs_root: Path = RUNS
    command: str = ""


def run_config(scale: str, arm: str, seed: int, budget_iterations: int, settings: Settings):
    """The config of one (scale, arm, seed) run: the scale's config with the arm's and the
    user's overrides, the iterations of the rollout budget, and (tiny) the feasible prompts."""
    from hir_core.config import load_config

    config, _, _ = SCALES[scale]
    overrides = [*ARMS[arm], f"seed={seed}", *settings.overrides]
    cfg = load_config(settings.config or config, overrides)
    b, n_gen = cfg.data.prompts_per_iteration, cfg.hindsight.n_gen
    iterations = math.ceil(budget_iterations * BASE_GROUP * b / (n_gen * b))
    # Only the newest checkpoint's optimizer state is needed to resume (disk: one Adam
    # state per run, not per iteration); the field is not hashed, so it changes no output.
    keep = cfg.keep_optimizer_states or 1
    cfg = cfg.model_copy(update={"iterations": iterations, "keep_optimizer_states": keep})
    if scale == "tiny":
        cfg = feasible_data(cfg, settings.runs_root / scale)
    return cfg


def run_path(settings: Settings, scale: str, arm: str, seed: int) -> Path:
    return settings.runs_root / scale / f"{arm}-s{seed}"


def _run_id(rundir, arm: str, seed: int) -> str:
    """The run's id in the results file, fixed when the run directory is created (a resumed
    run keeps it): ``<arm>/<seed>/<creation time>``."""
    from hir_core.storage import atomic_write

    path = rundir.root / "learning.json"
    if not path.is_file():
        note = {"run_id": f"{arm}/{seed}/{int(time.time())}", "arm": arm, "seed": seed}
        with atomic_write(path) as handle:
            handle.write(json.dumps(note).encode())
    return json.loads(path.read_text())["run_id"]


def _finished(rundir, cfg, out: Path, run_id: str) -> bool:
    """The manifest records the final evaluation and the results file holds its row: skip
    the run without hashing its checkpoints."""
    from hir_core.rundir import Manifest

    final = Manifest.load(rundir).stage(cfg.iterations - 1, EVAL_STAGE) or {}
    if final.get("status") != "done" or not out.exists():
        return False
    return any(r["run_id"] == run_id and r.get("done") for r in read_rows(out))


def evaluate_point(rundir, cfg, engines, after: int | None, heldout, samples, cached=None):
    """Score the policy after iteration ``after`` (None: the base policy) on ``heldout``,
    as a recorded stage of the run: ``eval-learning`` at iteration ``after`` (input its
    checkpoint, output ``iter-K/eval-learning.parquet``), or ``eval-learning-start`` at
    iteration 0 (no input). A resumed run finds it done and reads its metrics back. The
    start may reuse ``cached`` scores (an earlier run's, same :func:`start_key`): then the
    entry records them and no table."""
    from hir_core.evaluation import evaluate
    from hir_core.stages import run_recorded

    k, stage = (0, START_STAGE) if after is None else (after, EVAL_STAGE)
    policy = 0 if after is None else after + 1  # the policy after K is the one K + 1 starts from
    inputs = [] if after is None else [rundir.checkpoint_dir(after)]
    outputs = {} if cached else {"eval": rundir.iteration_dir(k) / f"{stage}.parquet"}

    def compute(seed: int):
        del seed  # eval_settings fixes one evaluation seed for every point and arm
        if cached:
            return {}, dict(cached)
        generator = engines.rollout_engine(policy).generator()
        with eval_settings(generator, cfg, samples) as gen:
            table, metrics = evaluate(gen, heldout, "heldout")
        return {"eval": table}, {
            **heldout_scores(table),
            "eval_response_tokens": metrics["mean_response_tokens"],
        }

    return run_recorded(
        rundir,
        cfg,
        k,
        stage,
        compute,
        inputs=inputs,
        outputs=outputs,
        engine=lambda: engines.info(stage),
    )


def run_one(
    scale: str, arm: str, seed: int, budget_iterations: int, settings: Settings, out: Path
) -> list[dict]:
    """Train one (arm, seed) for the rollout budget of ``budget_iterations`` baseline steps
    as a pipeline run in ``run_path(...)``: every iteration's stages through
    ``hir_core.stages.run_stage`` with the in-process engines, a held-out evaluation every
    ``eval_every`` baseline steps' worth of generated rollouts (and at the end) as a recorded
    stage. Rerunning continues where the manifest stopped (done stages and evaluations are
    skipped, their metrics read back) and skips a finished run. The run's rows (one per
    evaluation) replace its lines in ``out``; returns them."""
    from hir_core.engines.inprocess import InProcessEngines
    from hir_core.pipeline import heldout_prompts
    from hir_core.rundir import STAGES, RunDir
    from hir_core.stages import run_stage

    _, samples, _ = SCALES[scale]
    rundir = RunDir(run_path(settings, scale, arm, seed))
    cfg = rundir.init(run_config(scale, arm, seed, budget_iterations, settings))
    run_id = _run_id(rundir, arm, seed)
    if _finished(rundir, cfg, out, run_id):
        print(f"[{arm} seed {seed}] finished ({rundir.root}): skipped", flush=True)
        return [r for r in read_rows(out) if r["run_id"] == run_id]
    n_gen, b, iterations = cfg.hindsight.n_gen, cfg.data.prompts_per_iteration, cfg.iterations
    # Evaluation points every `eval_every` baseline steps' worth of rollouts: the same
    # rollout counts for n_gen 8 and 6 when eval_every is a multiple of 3.
    eval_rollouts = settings.eval_every * BASE_GROUP * b
    heldout = heldout_prompts(cfg).head(cfg.evaluation.heldout_prompts)
    common = {
        "scale": scale,
        "arm": arm,
        "seed": seed,
        "run_id": run_id,
        "n_gen": n_gen,
        "command": settings.command,
        "run_dir": _shown(rundir.root),
    }
    rows: list[dict] = []
    with rundir.lock(f"benchmarks/learning.py {arm} seed {seed}"):
        engines = InProcessEngines(cfg, rundir)
        try:
            # Every arm and seed starts from the same policy, scored with the same evaluation
            # seed: the start point is computed once per evaluation setting and reused.
            key = start_key(cfg, heldout, samples)
            start = evaluate_point(
                rundir, cfg, engines, None, heldout, samples, cached_start(out, key)
            )
            # Wall time: the seconds the manifest records (stages and evaluations), so a
            # run continued over several sittings reports what it cost, not the calendar.
            elapsed = start.duration_s
            first = {"iteration": 0, "generated": 0, "start_key": key}
            rows.append({**common, **first, **_scores(start.metrics)})
            publish(out, run_id, rows)
            generated, next_eval, window = 0, eval_rollouts, []
            for k in range(iterations):
                done = {stage: run_stage(rundir, cfg, k, stage, engines) for stage in STAGES}
                if not done["train"].skipped:
                    rundir.prune_optimizer_states(cfg.keep_optimizer_states, k)
                elapsed += sum(o.duration_s for o in done.values())
                m = {stage: outcome.metrics for stage, outcome in done.items()}
                generated += int(m["rollouts"]["rollout/samples"]) + int(
                    m["replays"].get("hindsight/herl_guided", 0)
                )
                window.append(
                    {
                        "train_ila": m["verdicts"]["ila"],
                        "train_cla": m["verdicts"]["cla"],
                        "signal_without": m["batch"]["hindsight/signal_fraction_without"],
                        "signal_with": m["batch"]["hindsight/signal_fraction_with"],
                        "replays": m["batch"]["batch/replays"] + m["batch"]["batch/hindsight"],
                    }
                )
                if generated < next_eval and k < iterations - 1:
                    continue
                means = {name: statistics.fmean(w[name] for w in window) for name in window[0]}
                window, next_eval = [], next_eval + eval_rollouts
                point = evaluate_point(rundir, cfg, engines, k, heldout, samples)
                elapsed += point.duration_s
                rows.append(
                    {
                        **common,
                        "iteration": k + 1,
                        "generated": generated,
                        **_scores(point.metrics),
                        **means,
                        "elapsed_s": elapsed,
                        "train_loss": m["train"]["train/loss"],
                        "done": k == iterations - 1,
                    }
                )
                publish(out, run_id, rows)
                print(
                    f"[{arm} seed {seed}] iter {k + 1}/{iterations} generated {generated} "
                    f"held-out ILA {rows[-1]['ila']:.3f} CLA {rows[-1]['cla']:.3f} "
                    f"train ILA {means['train_ila']:.3f} ({elapsed:.0f} s"
                    f"{', recorded earlier' if point.skipped else ''})",
                    flush=True,
                )
        finally:
            engines.close()
    gc.collect()
    return rows


def _scores(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("ila", "cla", "eval_response_tokens")}


# ---------------------------------------------------------------------------------- base rates


def base_rates(cfg, n_prompts: int, samples: int) -> dict:
    """How often the base model meets each constraint type of the training distribution:
    ``samples`` responses (the rollout settings) to each of the first ``n_prompts`` training
    prompts (the order the prompts stage walks them), verified as the verdicts stage does.

    Returns ``per_type`` (type: prompts, checks, successes, rate), ``by_count`` (constraints
    per prompt: prompts, samples, ILA) and ``overall``: the prompt-level ILA (the share of
    samples meeting every constraint of their prompt), the prompts with at least one such
    sample, and the groups with a learning signal under the binary reward (0 < successes <
    samples), with counts."""
    from hir_core.pipeline import generate_rollouts, make_generator, sample_prompts, verify_rollouts
    from hir_core.rundir import stage_seed

    if cfg.hindsight.n_gen != samples:
        raise ValueError(f"hindsight.n_gen is {cfg.hindsight.n_gen}, asked for {samples} samples")
    b = cfg.data.prompts_per_iteration
    prompts = pl.concat(
        [sample_prompts(cfg, k, 0)[0] for k in range(math.ceil(n_prompts / b))]
    ).head(n_prompts)
    start = time.perf_counter()
    generator = make_generator(cfg)  # the base model, the rollout settings
    rollouts, m_rollouts = generate_rollouts(
        prompts, generator, cfg, stage_seed(cfg.seed, 0, "base-rates")
    )
    verdicts, _ = verify_rollouts(prompts, rollouts, cfg)
    wall = time.perf_counter() - start
    checks = (
        verdicts.select("prompt_id", "constraint_ids", "verdicts")
        .explode(["constraint_ids", "verdicts"])
        .group_by("constraint_ids")
        .agg(
            prompts=pl.col("prompt_id").n_unique(),
            checks=pl.len(),
            successes=pl.col("verdicts").cast(pl.Int64).sum(),
        )
        .with_columns(rate=pl.col("successes") / pl.col("checks"))
        .sort(["rate", "constraint_ids"], descending=[True, False])
        .rename({"constraint_ids": "type"})
    )
    per_sample = verdicts.select(
        "prompt_id",
        n=pl.col("constraint_ids").list.len(),
        all=pl.col("verdicts").list.all().cast(pl.Int64),
    )
    groups = per_sample.group_by("prompt_id").agg(pl.col("n").first(), wins=pl.col("all").sum())
    by_count = (
        per_sample.group_by("n")
        .agg(prompts=pl.col("prompt_id").n_unique(), samples=pl.len(), ila=pl.col("all").mean())
        .sort("n")
        .rename({"n": "constraints"})
    )
    overall = {
        "prompts": prompts.height,
        "samples": per_sample.height,
        "samples_all_met": int(per_sample["all"].sum()),
        "ila": float(per_sample["all"].mean()),
        "prompts_any_success": int((groups["wins"] > 0).sum()),
        "prompts_with_signal": int(((groups["wins"] > 0) & (groups["wins"] < samples)).sum()),
        "mean_response_tokens": m_rollouts["rollout/mean_response_tokens"],
        "truncated_fraction": m_rollouts["rollout/truncated_fraction"],
    }
    return {
        "model": cfg.model.spec,
        "samples_per_prompt": samples,
        "temperature": cfg.rollout.temperature,
        "max_new_tokens": cfg.rollout.max_new_tokens,
        "data": cfg.data.model_dump(),
        "overall": overall,
        "per_type": checks.to_dicts(),
        "by_count": by_count.to_dicts(),
        "wall_s": wall,
    }


def base_rates_text(result: dict) -> str:
    """Markdown tables of :func:`base_rates`."""
    o = result["overall"]
    head = (
        f"Base rates of {result['model']} on {o['prompts']} training prompts x "
        f"{result['samples_per_prompt']} samples (temperature {result['temperature']}, "
        f"{result['max_new_tokens']} new tokens; {o['truncated_fraction']:.0%} of responses cut "
        f"at the limit, {o['mean_response_tokens']:.1f} tokens on average; "
        f"{result['wall_s']:.0f} s)."
    )
    summary = (
        f"Prompt-level ILA (all constraints met): {o['ila']:.3f} "
        f"({o['samples_all_met']}/{o['samples']} samples); prompts with at least one success: "
        f"{o['prompts_any_success']}/{o['prompts']}; groups with a learning signal under the "
        f"binary reward (0 < successes < {result['samples_per_prompt']}): "
        f"{o['prompts_with_signal']}/{o['prompts']}."
    )
    lines = [
        head,
        "",
        summary,
        "",
        "| constraint type | prompts | checks | met | rate |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| `{t['type']}` | {t['prompts']} | {t['checks']} | {t['successes']} "
            f"| {t['rate']:.3f} |"
            for t in result["per_type"]
        ),
        "",
        "| constraints per prompt | prompts | samples | ILA |",
        "|---:|---:|---:|---:|",
        *(
            f"| {c['constraints']} | {c['prompts']} | {c['samples']} | {c['ila']:.3f} |"
            for c in result["by_count"]
        ),
    ]
    return "\n".join(lines)


def run_base_rates(scale: str, n_prompts: int, samples: int, settings: Settings, out: Path):
    """:func:`base_rates` for the scale's training distribution, written to ``out`` (JSON,
    atomically) and returned as markdown."""
    from hir_core.config import load_config
    from hir_core.storage import atomic_write

    overrides = ["hindsight.strategy=none", f"hindsight.n_gen={samples}"]
    overrides += [f"hindsight.n_total={samples}", *settings.overrides]
    cfg = load_config(settings.config or SCALES[scale][0], overrides)
    if scale == "tiny":
        cfg = feasible_data(cfg, settings.runs_root / scale)
    result = base_rates(cfg, n_prompts, samples)
    result["command"] = settings.command
    result["load_average"] = os.getloadavg()
    with atomic_write(out) as handle:
        handle.write((json.dumps(result, indent=1) + "\n").encode())
    return base_rates_text(result)


# ---------------------------------------------------------------------------------- report


def load_results(path: Path) -> dict[tuple[str, int], list[dict]]:
    """(arm, seed) -> the evaluation rows of its latest finished run (unfinished runs only
    when the pair has no finished one)."""
    runs: dict[str, list[dict]] = {}
    for row in read_rows(path):
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
    parser.add_argument(
        "--runs-root",
        type=Path,
        default=RUNS,
        help="run directories: <root>/<scale>/<arm>-s<seed>/ (rerun = resume)",
    )
    parser.add_argument(
        "--base-rates",
        action="store_true",
        help="only measure the base model's per-type success rates on the training prompts",
    )
    parser.add_argument("--base-prompts", type=int, default=32, help="--base-rates: prompts")
    parser.add_argument("--base-samples", type=int, default=4, help="--base-rates: samples each")
    args = parser.parse_args()

    results = args.results or RESULTS / f"learning_{args.scale}.jsonl"
    markdown = None if args.no_markdown else args.markdown
    command = " ".join([".venv/bin/python benchmarks/learning.py", *sys.argv[1:]])
    settings = Settings(args.eval_every, args.config, args.override, args.runs_root, command)
    if args.report:
        print(report(args.scale, results, markdown, command))
        return

    import torch

    torch.set_num_threads(args.threads)
    if args.base_rates:
        out = args.results or RESULTS / f"learning_{args.scale}_base_rates.json"
        print(run_base_rates(args.scale, args.base_prompts, args.base_samples, settings, out))
        print(f"\n{_shown(out)}")
        return
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")
    budget = args.iterations or SCALES[args.scale][2]
    # Seeds outermost: whatever finishes first is a complete comparison on some seeds.
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for arm in arms:
            run_one(args.scale, arm, seed, budget, settings, results)
    print(report(args.scale, results, markdown, command))


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
