"""The stage functions end to end on tiny-random, and the core resume guarantee.

``hir_core.stages.run_stage`` (no Prefect) runs the stages through the real run directory:
each stage reads its input tables, computes, writes atomically, records in the manifest, and
is skipped when the manifest says it is done with verified outputs. On CPU, a run interrupted
mid-iteration and resumed in a new engine (checkpoint of the previous iteration, optimizer
state included) must equal an uninterrupted run: every table and the final weights.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from hir_core import constraints as constraint_registry
from hir_core import pipeline as P
from hir_core.config import ConfigError, load_config
from hir_core.data import constraints_from_row
from hir_core.engines.inprocess import InProcessEngines
from hir_core.rundir import STAGES, TABLE_STAGES, Manifest, RunDir
from hir_core.stages import run_stage
from hir_core.storage import read_table, write_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
ITERATIONS = 3
# tiny.yaml, smaller still: 3 prompts x 3 samples, 12 tokens (the resume test runs 6 iterations).
OVERRIDES = [
    f"iterations={ITERATIONS}",
    "data.n_train=9",
    "data.prompts_per_iteration=3",
    "hindsight.n_gen=3",
    "hindsight.n_total=4",
    "rollout.max_new_tokens=12",
]


def tiny_cfg(*extra: str):
    return load_config(TINY, [*OVERRIDES, *extra])


class Driver:
    """Runs every stage of a run directory in order through ``hir_core.stages.run_stage``
    (the function the Prefect tasks call), with the in-process engines; the runner skips
    the stages the manifest records done with verified outputs."""

    def __init__(self, root: Path, cfg):
        self.rundir = RunDir(root)
        self.cfg = self.rundir.init(cfg)
        self.manifest = Manifest.load(self.rundir)
        self.engines = InProcessEngines(self.cfg, self.rundir)
        self.executed: list[tuple[int, str]] = []

    @property
    def engine(self):
        return self.engines.engine

    def run(self, stop_after: tuple[int, str] | None = None) -> Driver:
        with self.rundir.lock("test driver"):
            for k in range(self.cfg.iterations):
                for stage in STAGES:
                    outcome = run_stage(self.rundir, self.cfg, k, stage, self.engines)
                    if outcome.skipped:
                        continue
                    self.executed.append((k, stage))
                    if stop_after == (k, stage):
                        return self
        self.manifest.refresh()
        return self


def _digest(rundir: RunDir) -> dict[str, bytes]:
    """Every table of the run and the final policy weights, as bytes."""
    files = {
        f"{k}/{t}": rundir.table_path(k, t).read_bytes()
        for k in range(ITERATIONS)
        for t in TABLE_STAGES
    }
    final = rundir.checkpoint_dir(ITERATIONS - 1)
    for weights in sorted(final.glob("*.safetensors")):
        files[f"final/{weights.name}"] = weights.read_bytes()
    return files


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this module: on tensors this small, synchronising threads costs
    more than it gains, and far more on a loaded machine (3x slower measured on 2 busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, and one stopped after iteration 1's verify stage and resumed by a
    new driver (new engine from checkpoint 0)."""
    cfg = tiny_cfg()
    whole = Driver(tmp_path_factory.mktemp("whole") / "run", cfg).run()
    resumed_root = tmp_path_factory.mktemp("resumed") / "run"
    first = Driver(resumed_root, cfg).run(stop_after=(1, "verdicts"))
    del first  # the "crash": its engine and generator are gone
    second = Driver(resumed_root, cfg).run()
    return whole, second


def test_resume_reproduces_an_uninterrupted_run(runs):
    whole, resumed = runs
    assert whole.executed == [(k, s) for k in range(ITERATIONS) for s in STAGES]
    # The resumed driver found iteration 0 and iteration 1's first three stages done.
    assert resumed.executed[0] == (1, "replays")
    assert len(resumed.executed) == ITERATIONS * len(STAGES) - len(STAGES) - 3
    a, b = _digest(whole.rundir), _digest(resumed.rundir)
    assert sorted(a) == sorted(b)
    differing = [name for name in a if a[name] != b[name]]
    assert differing == []
    # The runs did learn something: the final policy is not the base model.
    base = P.make_engine(whole.cfg).model.state_dict()
    final = whole.engine.model.state_dict()
    assert any(not torch.equal(base[n], final[n]) for n in base)


def test_manifest_records_where_each_stage_ran(runs):
    whole, _ = runs
    for k in range(ITERATIONS):
        for stage in STAGES:
            entry = whole.manifest.stage(k, stage)
            if stage in ("rollouts", "batch", "train"):
                assert entry["engine"] == {"backend": "inprocess", "world_size": 1}, stage
            else:  # no engine ran (HiR's replays need no model)
                assert "engine" not in entry, stage


def test_engine_and_generator_hold_the_same_policy(runs):
    # Old log-probs of the originals (engine, teacher forced) against the generator's
    # sampled-token log-probs: equal up to float noise in every iteration, also after the
    # resume rebuilt the engine from a checkpoint.
    for driver in runs:
        for k in range(ITERATIONS):
            gap = driver.manifest.stage(k, "batch")["metrics"]["batch/rollout_logprob_gap"]
            assert gap < 1e-4, (driver.rundir.root, k, gap)


def test_tampered_output_is_recomputed_identically(runs):
    whole, _ = runs
    before = _digest(whole.rundir)
    path = whole.rundir.table_path(1, "verdicts")
    verdicts = read_table(path, "verdicts")
    # A hand edit: the first rollout's reward flipped (still a valid table).
    edited = verdicts.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(1.0 - pl.col("reward"))
        .otherwise(pl.col("reward"))
        .alias("reward")
    )
    write_table(edited, path, "verdicts")
    again = Driver(whole.rundir.root, whole.cfg).run()
    # Only the damaged stage reran; its output is the original again, so nothing downstream.
    assert again.executed == [(1, "verdicts")]
    assert _digest(whole.rundir) == before


def test_stage_tables_are_consistent(runs):
    whole, _ = runs
    cfg, rd = whole.cfg, whole.rundir
    for k in range(ITERATIONS):
        prompts, rollouts, verdicts, replays, batch = (
            read_table(rd.table_path(k, t), t) for t in TABLE_STAGES
        )
        b, n_gen = cfg.data.prompts_per_iteration, cfg.hindsight.n_gen
        assert prompts.height == b and prompts["prompt_id"].n_unique() == b
        assert rollouts.height == b * n_gen
        assert rollouts["rollout_id"].to_list() == [
            f"{p}/{s}" for p in prompts["prompt_id"] for s in range(n_gen)
        ]
        assert verdicts["rollout_id"].to_list() == rollouts["rollout_id"].to_list()
        # Verdicts recomputed independently, constraint by constraint.
        by_id = {row["prompt_id"]: row for row in prompts.iter_rows(named=True)}
        for rollout, verdict in zip(
            rollouts.iter_rows(named=True), verdicts.iter_rows(named=True), strict=True
        ):
            prompt = by_id[rollout["prompt_id"]]
            expected = constraint_registry.verify(
                rollout["response"], constraints_from_row(prompt), prompt=prompt["prompt"]
            )
            assert verdict["verdicts"] == expected
            assert verdict["ila"] == float(all(expected))
            assert verdict["cla"] == pytest.approx(sum(expected) / len(expected))
        # Replays: at most the free slots, each of a partial success.
        assert replays.height <= (cfg.hindsight.n_total - n_gen) * b
        partial = verdicts.filter((pl.col("cla") > 0) & (pl.col("cla") < 1))["rollout_id"]
        assert set(replays["source_rollout_id"]) <= set(partial)
        assert batch.height == rollouts.height + replays.height
        assert int(batch["is_replay"].sum()) == replays.height


def test_hindsight_schedule_uses_the_iteration(runs):
    whole, _ = runs
    for k in range(ITERATIONS):
        metrics = whole.manifest.stage(k, "replays")["metrics"]
        if metrics["hindsight/candidates"] > 0:
            # METHOD.md, HiR step 3: lambda_t = 2.0 * 1.05 ** step.
            assert metrics["hindsight/lambda_t"] == pytest.approx(2.0 * 1.05**k)


def test_progress_schedule_uses_iteration_over_iterations(runs):
    whole, _ = runs
    cfg = tiny_cfg("hindsight.schedule=progress", "hindsight.progress_horizon=10")
    rd = whole.rundir
    tables = [read_table(rd.table_path(2, t), t) for t in ("prompts", "rollouts", "verdicts")]
    _, metrics = P.hindsight(*tables, cfg, 2)
    assert metrics["hindsight/candidates"] > 0
    assert metrics["hindsight/lambda_t"] == pytest.approx(2.0 * 1.05 ** (2 / ITERATIONS * 10))


def test_train_metrics(runs):
    whole, _ = runs
    for k in range(ITERATIONS):
        metrics = json.loads(whole.rundir.train_json_path(k).read_text())
        for key in ("loss", "kl", "clip_frac", "grad_norm", "tokens_per_s", "lr"):
            assert math.isfinite(metrics[f"train/{key}"]), key
        assert metrics["train/engine_steps"] == k + 1
        assert metrics["train/lr"] == whole.cfg.training.lr
        assert metrics["train/grad_norm"] > 0


def _teacher_forced(model, prompt_ids: list[int], response_ids: list[int]) -> np.ndarray:
    """Reference log-probs: one unpadded forward pass, fp32."""
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None]).squeeze(-1)
    return logp[len(prompt_ids) - 1 :].numpy()


@pytest.mark.parametrize("mode", ["copy", "recompute"])
def test_replay_logprobs_copy_or_recompute(runs, mode):
    whole, _ = runs
    cfg = tiny_cfg(f"hindsight.replay_logprobs={mode}")
    engine, rd = whole.engine, whole.rundir
    tables = [read_table(rd.table_path(0, t), t) for t in TABLE_STAGES[:-1]]
    assert tables[3].height > 0, "iteration 0 has no replays to check"
    batch, _ = P.build_batch(*tables, cfg, engine)
    rows = {row["sample_id"]: row for row in batch.iter_rows(named=True)}
    model = engine.model.eval()
    for row in rows.values():
        if not row["is_replay"]:
            continue
        source = rows[row["source_rollout_id"]]
        assert row["prompt_token_ids"] != source["prompt_token_ids"]
        assert row["response_token_ids"] == source["response_token_ids"]
        assert row["logprob_source"] == mode
        if mode == "copy":  # the paper: log-probs under the ORIGINAL prompt
            assert row["old_logprobs"] == source["old_logprobs"]
            assert row["ref_logprobs"] == source["ref_logprobs"]
        else:  # scored under the rewritten prompt
            expected = _teacher_forced(model, row["prompt_token_ids"], row["response_token_ids"])
            np.testing.assert_allclose(row["old_logprobs"], expected, atol=1e-4)
            with engine.reference_model() as reference:
                ref = _teacher_forced(reference, row["prompt_token_ids"], row["response_token_ids"])
            np.testing.assert_allclose(row["ref_logprobs"], ref, atol=1e-4)
    # The rewritten prompt is tokenised with the chat template, as the rollouts' prompts are.
    replay = next(r for r in rows.values() if r["is_replay"])
    expected_ids = engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": replay["prompt"]}], add_generation_prompt=True, tokenize=False
    )
    assert (
        replay["prompt_token_ids"]
        == engine.tokenizer(expected_ids, add_special_tokens=False)["input_ids"]
    )


# ------------------------------------------------------------------------------ single stages


def test_sample_prompts_walks_epochs_without_repeats():
    cfg = tiny_cfg("data.n_train=10", "data.prompts_per_iteration=3")  # 3 per epoch, 1 left out
    pool = set(P.train_prompts(cfg)["prompt_id"])
    epochs = []
    for epoch in range(2):
        ids = [
            pid
            for k in range(epoch * 3, epoch * 3 + 3)
            for pid in P.sample_prompts(cfg, k, seed=0)[0]["prompt_id"]
        ]
        assert len(ids) == len(set(ids)) == 9 and set(ids) <= pool
        epochs.append(ids)
    assert epochs[0] != epochs[1]  # each epoch is reshuffled
    again, metrics = P.sample_prompts(cfg, 4, seed=123)
    assert again["prompt_id"].to_list() == epochs[1][3:6]  # a function of (config, iteration)
    assert metrics["prompts/epoch"] == 1
    held = set(P.heldout_prompts(cfg)["base_task_id"])
    assert not held & set(P.train_prompts(cfg)["base_task_id"])


def test_generation_is_seeded_and_leaves_the_generator_unchanged():
    cfg = tiny_cfg()
    generator = P.make_generator(cfg)  # base model, its own copy
    before = generator.cfg
    prompts, _ = P.sample_prompts(cfg, 0, 0)
    a, metrics = P.generate_rollouts(prompts, generator, cfg, seed=11)
    b, _ = P.generate_rollouts(prompts, generator, cfg, seed=11)
    c, _ = P.generate_rollouts(prompts, generator, cfg, seed=12)
    assert generator.cfg == before
    assert a.equals(b)
    assert not a["response_token_ids"].equals(c["response_token_ids"])
    assert metrics["rollout/samples"] == prompts.height * cfg.hindsight.n_gen
    # Prompt tokens are the chat-templated user message.
    tok = generator.tokenizer
    first = prompts.row(0, named=True)
    text = tok.apply_chat_template(
        [{"role": "user", "content": first["prompt"]}], add_generation_prompt=True, tokenize=False
    )
    assert a["prompt_token_ids"][0].to_list() == tok(text, add_special_tokens=False)["input_ids"]


def _weights_equal(model, folder: Path) -> bool:
    from safetensors.torch import load_file

    saved = {}
    for file in folder.glob("*.safetensors"):
        saved.update(load_file(file))
    live = model.state_dict()
    return bool(saved) and all(torch.equal(live[name].cpu(), t) for name, t in saved.items())


def test_interrupted_train_step_is_not_trusted(runs):
    # Runs last in this module: it rewinds the uninterrupted run's live engine.
    whole, _ = runs
    cfg, rd, k = whole.cfg, whole.rundir, ITERATIONS - 1
    engine = P.engine_for_iteration(cfg, k, rd.checkpoint_dir(k - 1), whole.engine)
    assert engine is whole.engine and engine.steps == k  # rewound in place
    assert _weights_equal(engine.model, rd.checkpoint_dir(k - 1))
    batch = read_table(rd.table_path(k, "batch"), "batch")
    original = engine._mini_batch_step
    calls = []

    def fail_on_second_mini_batch(rows):
        if calls:
            raise RuntimeError("injected failure")
        calls.append(rows)
        return original(rows)

    engine._mini_batch_step = fail_on_second_mini_batch
    try:
        with pytest.raises(RuntimeError, match="injected failure"):
            P.train_step(batch, engine, cfg)
    finally:
        del engine._mini_batch_step
    # The step counter did not move but the weights did: the engine says so, and must not
    # be reused as it is.
    assert engine.steps == k and engine.interrupted_step
    assert not _weights_equal(engine.model, rd.checkpoint_dir(k - 1))
    engine = P.engine_for_iteration(cfg, k, rd.checkpoint_dir(k - 1), engine)
    assert _weights_equal(engine.model, rd.checkpoint_dir(k - 1)) and not engine.interrupted_step
    # Retrying the step reproduces the run's checkpoint k (weights and Adam state restored).
    P.train_step(batch, engine, cfg)
    assert _weights_equal(engine.model, rd.checkpoint_dir(k))


def test_evaluate_heldout_applies_the_evaluation_settings():
    cfg = tiny_cfg(
        "evaluation.every=1", "evaluation.heldout_prompts=3", "evaluation.max_new_tokens=6"
    )
    generator = P.make_generator(cfg)  # rollout settings: 3 samples, temperature 1
    before = generator.cfg
    table, metrics = P.evaluate_heldout(cfg, generator)
    again, _ = P.evaluate_heldout(cfg, generator)
    assert generator.cfg == before
    held = P.heldout_prompts(cfg)["prompt_id"].head(3).to_list()
    assert table["prompt_id"].to_list() == held  # one greedy response per prompt
    assert table["response"].equals(again["response"])  # greedy: deterministic
    assert metrics["eval/heldout/n_responses"] == 3
    assert metrics["eval/heldout/mean_response_tokens"] <= 6
    strict = table["strict"].to_list()
    assert metrics["eval/heldout/prompt_level_strict_acc"] == pytest.approx(
        np.mean([all(s) for s in strict])
    )


def test_file_sources_split_off_heldout_prompts(tmp_path):
    from hir_core.data import ifeval_data_path

    source = ifeval_data_path()
    lines = [line for line in source.read_text().splitlines() if line.strip()][:12]
    path = tmp_path / "ifeval.jsonl"
    path.write_text("\n".join(lines) + "\n")
    common = ["data.source=ifeval_jsonl", f"data.path={path}", "data.prompts_per_iteration=4"]
    cfg = tiny_cfg(*common, "data.n_heldout=3")
    train, held = P.prompt_pool(cfg)
    assert (train.height, held.height) == (9, 3)
    assert set(train["split"]) == {"train"} and set(held["split"]) == {"heldout"}
    assert not set(train["prompt_id"]) & set(held["prompt_id"])
    assert set(train["prompt_id"]) | set(held["prompt_id"]) == {
        f"ifeval-{json.loads(line)['key']}" for line in lines
    }
    prompts, _ = P.sample_prompts(cfg, 0, 0)
    assert prompts.height == 4 and set(prompts["prompt_id"]) <= set(train["prompt_id"])
    # A separate held-out file replaces the split.
    held_path = tmp_path / "held.jsonl"
    held_path.write_text(lines[0] + "\n")
    train, held = P.prompt_pool(tiny_cfg(*common, f"data.heldout_path={held_path}"))
    assert (train.height, held["prompt_id"].to_list()) == (
        12,
        [f"ifeval-{json.loads(lines[0])['key']}"],
    )
    with pytest.raises(ConfigError, match=r"data\.n_heldout \(12\) leaves no training prompt"):
        P.prompt_pool(tiny_cfg(*common, "data.n_heldout=12"))
