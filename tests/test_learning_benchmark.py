"""benchmarks/learning.py: its runs are pipeline runs (issue 14, issue 16).

Each (scale, arm, seed) is a run directory driven stage by stage through
``hir_core.stages.run_stage`` with the in-process engines; its held-out evaluations are
recorded stages. Real parts: the tiny random model, DeepSpeed on CPU, Parquet run tables.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _learning():
    name = "learning_benchmark"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "learning.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[name]


# A small tiny-scale run: 2 iterations of 16 prompts, 8 held-out prompts x 4 samples.
SMALL = ["data.n_heldout=8", "evaluation.heldout_prompts=8"]


def test_tiny_prompts_stage_walks_the_builders_prompts_in_the_old_order(tmp_path):
    """The tiny scale's feasible prompts, written once as verl Parquet, are what the
    prompts stage walks: iteration k gets the rows the benchmark's own loop took (epoch e's
    seeded permutation of the builder's training table), and the held-out split is the
    builder's; only prompt_id differs (the verl loader numbers rows)."""
    from hir_core import pipeline
    from hir_core.rundir import RunDir, stage_seed
    from hir_core.stages import read_input, run_stage

    learning = _learning()
    settings = learning.Settings(runs_root=tmp_path)
    cfg = learning.run_config("tiny", "none", 3, 24, settings)
    d = cfg.data
    train, heldout = learning.feasible_prompts(
        d.n_train, d.n_heldout, d.seed, d.min_constraints, d.max_constraints
    )
    assert cfg.data.source == "verl_parquet"
    assert learning._same_prompts(pipeline.heldout_prompts(cfg), heldout)

    rundir = RunDir(tmp_path / "run")
    cfg = rundir.init(cfg)
    b = cfg.data.prompts_per_iteration
    per_epoch = train.height // b
    for k in (0, 1, per_epoch - 1, per_epoch, per_epoch + 1):  # across an epoch boundary
        run_stage(rundir, cfg, k, "prompts")
        epoch, slot = divmod(k, per_epoch)
        order = random.Random(stage_seed(cfg.seed, epoch, "data-epoch")).sample(
            range(train.height), train.height
        )
        expected = train[order[slot * b : (slot + 1) * b]]
        assert learning._same_prompts(read_input(rundir, k, "prompts"), expected), k

    # Written once: the same settings reuse the files; a hand-edited file is refused.
    path = Path(cfg.data.path)
    stamp = path.stat().st_mtime_ns
    assert learning.run_config("tiny", "hir", 0, 24, settings).data.path == str(path)
    assert path.stat().st_mtime_ns == stamp
    import pyarrow.parquet as pq

    table = pq.read_table(path).slice(1)
    pq.write_table(table, path)
    with pytest.raises(ValueError, match=rf"{path.name}: its prompts differ"):
        learning.run_config("tiny", "hir", 0, 24, settings)


def _metrics(rows: list[dict]) -> list[dict]:
    """The rows without what depends on when and how long they ran."""
    return [
        {k: v for k, v in r.items() if k not in ("elapsed_s", "run_id", "run_dir")} for r in rows
    ]


def test_interrupted_run_resumes_to_the_rows_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """A run stopped in the middle of iteration 1 (its batch stage fails) continues on the
    next invocation where its manifest stopped: finished stages and evaluations are not
    recomputed, and the results rows equal an uninterrupted run's, bit for bit (the policy
    is restored from the iteration-0 checkpoint with its optimizer state). A third
    invocation skips the finished run and changes nothing."""
    from hir_core import stages
    from hir_core.rundir import Manifest, RunDir

    learning = _learning()

    def settings(name: str):
        return learning.Settings(eval_every=1, overrides=SMALL, runs_root=tmp_path / name)

    whole_out = tmp_path / "whole.jsonl"
    whole = learning.run_one("tiny", "hir", 0, 2, settings("whole"), whole_out)
    assert [r["iteration"] for r in whole] == [0, 1, 2]
    assert [r.get("done") for r in whole] == [None, False, True]

    out = tmp_path / "resumed.jsonl"
    real = stages.run_stage

    def failing(rundir, cfg, k, stage, engines=None, **kw):
        if (k, stage) == (1, "batch"):
            raise RuntimeError("interrupted")
        return real(rundir, cfg, k, stage, engines, **kw)

    monkeypatch.setattr(stages, "run_stage", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        learning.run_one("tiny", "hir", 0, 2, settings("resumed"), out)
    monkeypatch.setattr(stages, "run_stage", real)
    partial = learning.read_rows(out)
    assert [r["iteration"] for r in partial] == [0, 1]  # the points that had finished

    rundir = RunDir(tmp_path / "resumed" / "tiny" / "hir-s0")
    before = Manifest.load(rundir).data["iterations"]
    resumed = learning.run_one("tiny", "hir", 0, 2, settings("resumed"), out)
    after = Manifest.load(rundir).data["iterations"]
    kept = [(k, s) for k, stages_ in before.items() for s in stages_]
    assert ("1", "replays") in kept and ("0", "eval-learning") in kept
    for k, stage in kept:  # nothing that had finished ran again
        assert after[k][stage]["started"] == before[k][stage]["started"], (k, stage)
    assert {"batch", "train", "eval-learning"} <= set(after["1"])

    assert _metrics(resumed) == _metrics(whole)
    assert resumed[0]["run_id"] == partial[0]["run_id"]  # one run, continued
    assert learning.read_rows(out) == resumed  # its lines replaced, none repeated

    text = out.read_text()
    manifest = rundir.manifest_path.read_text()
    again = learning.run_one("tiny", "hir", 0, 2, settings("resumed"), out)
    assert again == resumed
    assert out.read_text() == text and rundir.manifest_path.read_text() == manifest

    # The report reads the finished run.
    report = learning.report("tiny", out, None, "cmd")
    assert "| hir | 1 | 2 | 256 |" in report


def test_results_file_with_a_broken_line_names_it(tmp_path):
    path = tmp_path / "learning_tiny.jsonl"
    path.write_text(json.dumps({"run_id": "a"}) + "\n" + '{"run_id": "b", "il')
    with pytest.raises(ValueError, match=r"learning_tiny\.jsonl: line 2: not JSON"):
        _learning().read_rows(path)


def test_base_rates_count_every_check_of_the_training_prompts(tmp_path):
    """--base-rates on the tiny scale: per type, the checks are the type's prompts times the
    samples; the prompt-level ILA is the share of samples meeting all their constraints, as
    the verdicts stage counts it."""
    from hir_core import pipeline
    from hir_core.config import load_config

    learning = _learning()
    out = tmp_path / "rates.json"
    settings = learning.Settings(runs_root=tmp_path, command="cmd")
    text = learning.run_base_rates("tiny", 6, 3, settings, out)
    result = json.loads(out.read_text())
    overall = result["overall"]
    assert (overall["prompts"], overall["samples"]) == (6, 18)

    cfg = learning.feasible_data(load_config(learning.SCALES["tiny"][0]), tmp_path / "tiny")
    prompts = pipeline.sample_prompts(cfg, 0, 0)[0].head(6)
    ids = prompts["constraints"].list.eval(pl.element().struct.field("id")).to_list()
    for row in result["per_type"]:
        holding = sum(row["type"] in p for p in ids)
        assert (row["prompts"], row["checks"]) == (holding, 3 * holding)
        assert row["rate"] == pytest.approx(row["successes"] / row["checks"])
    assert sum(r["checks"] for r in result["per_type"]) == 3 * sum(map(len, ids))
    assert overall["ila"] == pytest.approx(overall["samples_all_met"] / 18)
    assert overall["prompts_with_signal"] <= overall["prompts_any_success"] <= 6
    by_count = result["by_count"]
    assert sum(c["samples"] for c in by_count) == 18
    assert sum(c["ila"] * c["samples"] for c in by_count) == pytest.approx(
        overall["samples_all_met"]
    )
    assert f"{overall['samples_all_met']}/18 samples" in text
