"""The ``hir`` command line: errors, train/resume summary, stage, eval, audit, data build.

Audit results are checked against tables read independently with pyarrow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows.cli import EXIT_BAD_INPUT, EXIT_LOCKED, app
from hir_core.rundir import Manifest, RunDir
from tests._helpers_flows import ITERATIONS, TINY, copy_run, reference_run, single_thread

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def hir_run(tmp_path_factory, prefect_harness) -> Path:
    return reference_run(tmp_path_factory.mktemp("cli"), "hir")


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("override", "field", "why"),
    [
        ("hindsight.strategy=bogus", "hindsight.strategy", "Input should be"),
        ("training.lrr=1", "training.lrr", "unknown field"),
        ("iterations=0", "iterations", "greater than or equal to 1"),
        ("iterations", "iterations", "expected dotted.field=value"),
    ],
)
def test_bad_override_names_the_field_and_exits_2(tmp_path, override, field, why):
    result = invoke("train", TINY, "--run-dir", tmp_path / "run", override)
    assert result.exit_code == EXIT_BAD_INPUT
    assert field in result.output and why in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # refused before anything started


def test_missing_config_file_exits_2(tmp_path):
    result = invoke("train", tmp_path / "nope.yaml", "--run-dir", tmp_path / "run")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "nope.yaml" in result.output and "Traceback" not in result.output


def test_resume_with_another_config_is_refused_naming_the_field(hir_run, tmp_path):
    run = copy_run(hir_run, tmp_path / "run")
    result = invoke("train", TINY, "--run-dir", run, "iterations=2", "hindsight.strategy=none")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "hindsight.strategy" in result.output
    assert str(run / "config.yaml") in result.output  # the run's file, not a scratch copy


# ------------------------------------------------------------------------------ train / stage


def test_train_resume_prints_the_summary(hir_run, tmp_path):
    run = copy_run(hir_run, tmp_path / "run")
    result = invoke(
        "train", TINY, "--run-dir", run, "iterations=2", "hindsight.strategy=hir", "--no-track"
    )
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(RunDir(run))
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["iter", "ILA", "CLA"])
    for k in range(ITERATIONS):
        cells = lines[header + 1 + k].split()
        metrics = manifest.stage(k, "verdicts")["metrics"]
        assert cells[0] == str(k)
        assert float(cells[1]) == pytest.approx(metrics["ila"], abs=5e-4)
        assert float(cells[2]) == pytest.approx(metrics["cla"], abs=5e-4)
        replays = manifest.stage(k, "replays")["metrics"]["hindsight/replays"]
        assert int(cells[3]) == replays


def test_stage_on_a_locked_run_exits_3_naming_the_holder(hir_run, tmp_path):
    run = copy_run(hir_run, tmp_path / "run")
    with RunDir(run).lock(holder="a nightly training"):
        result = invoke("stage", run, 1, "rollouts", "--no-track")
    assert result.exit_code == EXIT_LOCKED
    assert "a nightly training" in result.output


def test_stage_up_to_date_and_unknown_stage(hir_run, tmp_path):
    run = copy_run(hir_run, tmp_path / "run")
    result = invoke("stage", run, 0, "verdicts", "--no-track")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    result = invoke("stage", run, 0, "nonsense")
    assert result.exit_code == EXIT_BAD_INPUT and "rollouts" in result.output


def test_eval_of_a_checkpoint_logs_to_the_runs_mlflow_run(hir_run, tmp_path):
    run = copy_run(hir_run, tmp_path / "run")
    result = invoke("eval", run / "checkpoints" / "iter-0001", "--limit", 2)
    assert result.exit_code == 0, result.output
    table = pq.read_table(run / "eval" / "iter-0001-heldout.parquet")
    assert table.num_rows == 2
    strict = [all(v) for v in table["strict"].to_pylist()]
    assert "eval/heldout/prompt_level_strict_acc" in result.output
    state = json.loads((run / "mlflow.json").read_text())
    history = MlflowClient(tracking_uri=state["tracking_uri"]).get_metric_history(
        state["run_id"], "eval/heldout/prompt_level_strict_acc"
    )
    assert [(m.step, m.value) for m in history] == [(1, sum(strict) / 2)]


def test_eval_on_ifeval_prompts(hir_run, tmp_path):
    out = tmp_path / "ifeval.parquet"
    result = invoke(
        "eval",
        hir_run / "checkpoints" / "iter-0001",
        "--benchmark",
        "ifeval",
        "--limit",
        3,
        "--out",
        out,
        "--no-track",
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 3
    assert set(table["benchmark"].to_pylist()) == {"ifeval"}


# ------------------------------------------------------------------------------ audit


def _read(run: Path, k: int, table: str):
    return pq.read_table(RunDir(run).table_path(k, table))


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_audit_prints_replays(hir_run):
    result = invoke("audit", hir_run, "--iteration", 0, "--stage", "replays")
    assert result.exit_code == 0, result.output
    assert "rewritten_prompt" in result.output
    assert f"shape: ({_read(hir_run, 0, 'replays').num_rows}," in result.output


def test_audit_constraint_filter_and_csv(hir_run, tmp_path):
    prompts = _read(hir_run, 0, "prompts").to_pylist()
    constraint = prompts[0]["constraints"][0]["id"]
    with_it = {
        p["prompt_id"] for p in prompts if any(c["id"] == constraint for c in p["constraints"])
    }
    out = tmp_path / "verdicts.csv"
    result = invoke(
        "audit", hir_run, "-k", 0, "--stage", "verdicts", "--constraint", constraint, "--csv", out
    )
    assert result.exit_code == 0, result.output
    rows = _csv_rows(out)
    verdicts = _read(hir_run, 0, "verdicts").to_pylist()
    expected = [v["rollout_id"] for v in verdicts if v["prompt_id"] in with_it]
    assert [r["rollout_id"] for r in rows] == expected
    assert all(constraint in json.loads(r["constraint_ids"]) for r in rows)


def test_audit_replays_only_group_and_all_iterations(hir_run, tmp_path):
    out = tmp_path / "batch.csv"
    result = invoke("audit", hir_run, "--stage", "batch", "--replays-only", "--csv", out)
    assert result.exit_code == 0, result.output
    expected = sum(
        pc.sum(_read(hir_run, k, "batch")["is_replay"]).as_py() for k in range(ITERATIONS)
    )
    rows = _csv_rows(out)
    assert len(rows) == expected > 0
    assert {r["iteration"] for r in rows} <= {str(k) for k in range(ITERATIONS)}

    batch = _read(hir_run, 1, "batch").to_pylist()
    group = batch[0]["group_id"]
    out = tmp_path / "group.csv"
    result = invoke("audit", hir_run, "-k", 1, "--stage", "batch", "--group", group, "--csv", out)
    assert result.exit_code == 0, result.output
    rows = _csv_rows(out)
    assert [r["sample_id"] for r in rows] == [
        b["sample_id"] for b in batch if b["group_id"] == group
    ]
    # Nested columns survive CSV as JSON.
    assert json.loads(rows[0]["response_token_ids"]) == batch[0]["response_token_ids"]


def test_audit_replays_only_rollouts_are_the_sources(hir_run, tmp_path):
    out = tmp_path / "rollouts.csv"
    result = invoke(
        "audit", hir_run, "-k", 0, "--stage", "rollouts", "--replays-only", "--csv", out
    )
    assert result.exit_code == 0, result.output
    sources = set(_read(hir_run, 0, "replays")["source_rollout_id"].to_pylist())
    assert {r["rollout_id"] for r in _csv_rows(out)} == sources


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stage", "nope"), "unknown stage"),
        (("--iteration", 9), "iter-0009"),
        (("--columns", "nope"), "nope"),
    ],
)
def test_audit_bad_requests_exit_2(hir_run, args, message):
    result = invoke("audit", hir_run, *args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------------ data


def test_data_build(tmp_path):
    out = tmp_path / "prompts.parquet"
    result = invoke("data", "build", out, "--n-train", 10, "--n-heldout", 3, "--seed", 1)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    splits = table["split"].to_pylist()
    assert splits.count("train") == 10 and splits.count("heldout") == 3
    train_tasks = {t for t, s in zip(table["base_task_id"].to_pylist(), splits) if s == "train"}
    held_tasks = {t for t, s in zip(table["base_task_id"].to_pylist(), splits) if s == "heldout"}
    assert not train_tasks & held_tasks
    result = invoke("data", "build", out, "--min-constraints", 5, "--max-constraints", 2)
    assert result.exit_code == EXIT_BAD_INPUT and "min_constraints" in result.output
