"""The Prefect layer end to end: real Prefect (test server), real MLflow (sqlite), real
DeepSpeed on CPU, the tiny-random model, real Parquet.

Reference runs (2 iterations, hir and none) are made once per session; tests that alter a
run (tamper, rerun a stage, resume after faults) work on a copy or a fresh directory and
compare against the reference, byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from hir_core.rundir import STAGES, TABLE_STAGES, Manifest, RunDir, RunLockedError
from hir_core.storage import file_sha256, read_table, write_table
from tests._helpers_flows import (
    ITERATIONS,
    ROOT,
    TINY,
    copy_run,
    finished_times,
    mlflow_uri,
    output_files,
    overrides,
    reference_run,
    single_thread,
    subprocess_env,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flows")


@pytest.fixture(scope="session")
def hir_run(base, prefect_harness) -> Path:
    return reference_run(base, "hir")


@pytest.fixture(scope="session")
def none_run(base, prefect_harness) -> Path:
    # Also evaluates on the held-out split after the last iteration.
    return reference_run(base, "none", "evaluation.every=2")


# ------------------------------------------------------------------------------ end to end


@pytest.mark.parametrize("strategy", ["hir", "none"])
def test_every_table_exists_with_its_schema(request, strategy):
    run = request.getfixturevalue(f"{strategy}_run")
    rundir = RunDir(run)
    manifest = Manifest.load(rundir)
    assert manifest.completed_iterations() == ITERATIONS
    for k in range(ITERATIONS):
        tables = {t: read_table(rundir.table_path(k, t), t) for t in TABLE_STAGES}
        assert sorted(rundir.checkpoint_dir(k).glob("*.safetensors"))
        for stage in STAGES:
            assert manifest.stage(k, stage)["status"] == "done"
        prompts, verdicts, replays, batch = (
            tables["prompts"],
            tables["verdicts"],
            tables["replays"],
            tables["batch"],
        )
        # Originals-only ILA/CLA recorded for the iteration = the verdict table's means.
        metrics = manifest.stage(k, "verdicts")["metrics"]
        assert metrics["ila"] == pytest.approx(verdicts["ila"].cast(pl.Float64).mean())
        assert metrics["cla"] == pytest.approx(verdicts["cla"].cast(pl.Float64).mean())
        n_gen = rundir.load_config().hindsight.n_gen
        assert tables["rollouts"].height == prompts.height * n_gen
        assert batch.filter(~pl.col("is_replay")).height == prompts.height * n_gen
        assert batch.filter(pl.col("is_replay")).height == replays.height
        if strategy == "none":
            assert replays.height == 0
            continue
        assert replays.height > 0
        # Every replay keeps exactly the constraints its source rollout passed.
        passed = {
            row["rollout_id"]: [c for c, v in zip(row["constraint_ids"], row["verdicts"]) if v]
            for row in verdicts.iter_rows(named=True)
        }
        for row in replays.iter_rows(named=True):
            assert row["kept_ids"] == passed[row["source_rollout_id"]]


def test_evaluation_every_n_iterations(none_run):
    rundir = RunDir(none_run)
    assert not (rundir.iteration_dir(0) / "eval.parquet").exists()
    table = read_table(rundir.iteration_dir(1) / "eval.parquet", "eval")
    cfg = rundir.load_config()
    assert table.height == cfg.evaluation.heldout_prompts
    metrics = Manifest.load(rundir).stage(1, "eval")["metrics"]
    strict = [all(v) for v in table["strict"].to_list()]
    assert metrics["eval/heldout/prompt_level_strict_acc"] == pytest.approx(
        sum(strict) / len(strict)
    )


def test_mlflow_run_has_params_metrics_artifacts_and_flow_run_tag(hir_run, base):
    from prefect.client.orchestration import get_client

    state = json.loads((hir_run / "mlflow.json").read_text())
    # The run may come from another module's base (reference runs are shared per session).
    assert state["tracking_uri"] == mlflow_uri(hir_run.parent)
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    mlflow.set_tracking_uri(state["tracking_uri"])  # for register_model below
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["hindsight.strategy"] == "hir"
    assert run.data.params["iterations"] == str(ITERATIONS)
    assert run.data.params["model.spec"] == "tiny-random"
    # The tag names a real Prefect flow run of the training flow.
    with get_client(sync_client=True) as prefect:
        flow_run = prefect.read_flow_run(uuid.UUID(run.data.tags["prefect.flow_run_id"]))
        assert prefect.read_flow(flow_run.flow_id).name == "hir-train"
    manifest = Manifest.load(RunDir(hir_run))
    for key, stage in [
        ("ila", "verdicts"),
        ("hindsight/replays", "replays"),
        ("train/loss", "train"),
    ]:
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == list(range(ITERATIONS))
        for m in history:
            assert m.value == pytest.approx(manifest.stage(m.step, stage)["metrics"][key])
    for key in (
        "cla",
        "train/kl",
        "train/clip_frac",
        "train/grad_norm",
        "train/tokens_per_s",
        "time/rollouts_s",
        "time/train_s",
        "hindsight/signal_fraction_with",
    ):
        assert client.get_metric_history(run.info.run_id, key), key
    for k in range(ITERATIONS):
        listed = {a.path for a in client.list_artifacts(run.info.run_id, f"iter-{k:04d}")}
        expected = {f"iter-{k:04d}/{t}.parquet" for t in TABLE_STAGES} | {
            f"iter-{k:04d}/train.json"
        }
        assert expected <= listed
    # The final policy: a logged model of this run holding the HF files, registrable.
    model_id = run.data.tags["hir.policy_model_id"]
    assert run.data.tags["hir.policy_iteration"] == str(ITERATIONS - 1)
    model = client.get_logged_model(model_id)
    assert model.source_run_id == run.info.run_id
    files = {a.path for a in client.list_logged_model_artifacts(model_id)}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= files
    assert not any("deepspeed" in f for f in files)
    with open(
        Path(model.artifact_location.removeprefix("file://")) / "model.safetensors", "rb"
    ) as f:
        logged = f.read()
    final = RunDir(hir_run).checkpoint_dir(ITERATIONS - 1) / "model.safetensors"
    assert logged == final.read_bytes()
    version = mlflow.register_model(f"models:/{model_id}", "tiny-policy")
    assert version.version is not None


def test_prefect_artifacts_per_iteration(hir_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.report import markdown_text

    rundir = RunDir(hir_run)
    for k in range(ITERATIONS):
        replays = read_table(rundir.table_path(k, "replays"), "replays")
        keys = [f"{hir_run.name}-iter-{k:04d}-replays", f"{hir_run.name}-iter-{k:04d}-summary"]
        with get_client(sync_client=True) as prefect:
            found = prefect.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
            )
        by_key = {a.key: a for a in sorted(found, key=lambda a: a.created)}  # latest wins
        assert set(by_key) == set(keys)
        table = by_key[keys[0]].data
        rows = json.loads(table) if isinstance(table, str) else table
        # Every text cell is escaped for Prefect's markdown rendering (tasks/report.py).
        assert [r["rewritten_instruction"] for r in rows] == [
            markdown_text(p) for p in replays["rewritten_prompt"].to_list()
        ]
        assert [r["dropped_constraints"] for r in rows] == [
            markdown_text(", ".join(d)) for d in replays["dropped_ids"].to_list()
        ]
        ila = Manifest.load(rundir).stage(k, "verdicts")["metrics"]["ila"]
        assert f"| ILA (originals) | {ila:.4g} |" in by_key[keys[1]].data
        assert "HeRL" not in by_key[keys[1]].data  # strategy hir: no HeRL lines


# ------------------------------------------------------------------------------ resume


def test_rerun_of_a_finished_run_is_a_noop(hir_run, base):
    from flows.train import train

    before = (hir_run / "manifest.json").read_text()
    run_id = json.loads((hir_run / "mlflow.json").read_text())["run_id"]
    summary = train(
        config=str(TINY),
        run_dir=str(hir_run),
        overrides=overrides("hir", mlflow_uri(hir_run.parent)),
    )
    assert (hir_run / "manifest.json").read_text() == before
    assert summary["mlflow_run_id"] == run_id
    assert summary["completed_iterations"] == ITERATIONS


def test_resume_after_a_failure_after_each_stage(hir_run, tmp_path, monkeypatch):
    """Crash right after every stage of iteration 1 in turn (and once after iteration 0's
    train); each rerun resumes; the result equals the uninterrupted run byte for byte."""
    from flows.train import train
    from tasks.context import FAULT_ENV, InjectedFault

    run_dir = tmp_path / "faulty"
    args = {
        "config": str(TINY),
        "run_dir": str(run_dir),
        "overrides": overrides("hir", "x"),
        "track": False,
    }
    points = [(0, "train")] + [(1, s) for s in STAGES[:-1]]
    for k, stage in points:
        monkeypatch.setenv(FAULT_ENV, f"{k}:{stage}")
        with pytest.raises(InjectedFault):
            train(**args)
        entry = Manifest.load(RunDir(run_dir)).stage(k, stage)
        assert entry["status"] == "done"  # recorded before the crash
    monkeypatch.delenv(FAULT_ENV)
    train(**args)
    assert output_files(run_dir) == output_files(hir_run)


def test_sigkill_mid_run_then_resume(hir_run, tmp_path):
    """`hir train` in a subprocess, SIGKILLed after iteration 1's rollouts; the rerun
    resumes (the kernel dropped the lock), continues the same MLflow run, and ends with the
    uninterrupted run's tables and weights."""
    from prefect.settings import PREFECT_API_URL

    from flows.train import train

    run_dir = tmp_path / "killed"
    uri = mlflow_uri(tmp_path)
    env = subprocess_env(
        HIR_FAULT_AFTER="1:rollouts:kill",
        PREFECT_API_URL=PREFECT_API_URL.value(),  # the test server: no second start-up
    )
    cmd = [sys.executable, "-m", "flows.cli", "train", str(TINY), "--run-dir", str(run_dir)]
    proc = subprocess.run(
        cmd + overrides("hir", uri),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    manifest = Manifest.load(RunDir(run_dir))
    assert manifest.stage(1, "rollouts")["status"] == "done"
    assert manifest.stage(1, "verdicts") is None
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]

    summary = train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", uri))
    assert summary["mlflow_run_id"] == run_id
    assert output_files(run_dir) == output_files(hir_run)
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert len(MlflowClient(tracking_uri=uri).get_metric_history(run_id, "ila")) == ITERATIONS


def test_tampered_and_truncated_outputs_are_recomputed(hir_run, tmp_path):
    from flows.train import train

    run_dir = copy_run(hir_run, tmp_path / "tampered")
    rundir = RunDir(run_dir)
    expected = output_files(run_dir)
    before = finished_times(run_dir)
    # Hand-edit a verdict (a valid table, schema intact) and truncate a rollouts file.
    verdicts_path = rundir.table_path(0, "verdicts")
    verdicts = read_table(verdicts_path, "verdicts")
    write_table(verdicts.with_columns(ila=pl.lit(1.0), cla=pl.lit(1.0)), verdicts_path, "verdicts")
    rollouts_path = rundir.table_path(1, "rollouts")
    rollouts_path.write_bytes(rollouts_path.read_bytes()[:100])

    train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", "x"), track=False)
    assert output_files(run_dir) == expected
    after = finished_times(run_dir)
    recomputed = {key for key in before if before[key] != after[key]}
    # Both came back identical, so nothing downstream had to be recomputed.
    assert recomputed == {"0/verdicts", "1/rollouts"}


def test_second_flow_on_a_locked_run_is_refused(hir_run, tmp_path):
    from flows.train import train

    run_dir = copy_run(hir_run, tmp_path / "locked")
    with RunDir(run_dir).lock(holder="another training flow"), pytest.raises(RunLockedError) as err:
        train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", "x"), track=False)
    assert "another training flow" in str(err.value)
    assert f"pid {os.getpid()}" in str(err.value)


# ------------------------------------------------------------------------------ run_stage


def test_run_stage_reproduces_and_force_marks_later_stages_stale(hir_run, tmp_path):
    from flows.run_stage import run_stage
    from flows.train import train

    run_dir = copy_run(hir_run, tmp_path / "stage")
    expected = output_files(run_dir)
    result = run_stage(str(run_dir), 1, "rollouts", track=False)
    assert result["skipped"] and not result["stale"]

    result = run_stage(str(run_dir), 1, "rollouts", force=True, track=False)
    assert not result["skipped"]
    assert output_files(run_dir) == expected  # same inputs, same seed: same bytes
    manifest = Manifest.load(RunDir(run_dir))
    assert result["stale"] == ["verdicts", "replays", "batch", "train"]
    for stage in STAGES:
        status = manifest.stage(1, stage)["status"]
        assert status == ("stale" if stage in result["stale"] else "done"), stage
    assert all(manifest.stage(0, s)["status"] == "done" for s in STAGES)

    before = finished_times(run_dir)
    train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", "x"), track=False)
    after = finished_times(run_dir)
    assert {key for key in before if before[key] != after[key]} == {
        f"1/{s}" for s in result["stale"]
    }
    assert output_files(run_dir) == expected


def test_run_stage_without_inputs_names_them(hir_run, tmp_path):
    from flows.run_stage import run_stage
    from tasks.context import MissingInputError

    run_dir = copy_run(hir_run, tmp_path / "missing")
    with pytest.raises(MissingInputError, match="iter-0005"):
        run_stage(str(run_dir), 5, "verdicts", track=False)


# ------------------------------------------------------------------------------ disk


def test_keep_optimizer_states_prunes_without_changing_the_run(hir_run, tmp_path):
    """Resuming a finished run with keep_optimizer_states=1 removes iteration 0's optimizer
    state and recomputes nothing; growing the run then continues from iteration 1's state to
    the same iteration 2 as the unpruned run; retraining iteration 1 (which needs iteration
    0's state) is a clear error."""
    from flows.run_stage import run_stage
    from flows.train import train

    pruned = copy_run(hir_run, tmp_path / "pruned")
    kept = copy_run(hir_run, tmp_path / "kept")
    args = {"config": str(TINY), "track": False}
    before = finished_times(pruned)
    train(run_dir=str(pruned), overrides=overrides("hir", "x", "keep_optimizer_states=1"), **args)
    assert finished_times(pruned) == before
    assert output_files(pruned) == output_files(hir_run)
    rundir = RunDir(pruned)
    assert not (rundir.checkpoint_dir(0) / "deepspeed").exists()
    assert (rundir.checkpoint_dir(0) / "deepspeed.pruned.json").is_file()
    assert (rundir.checkpoint_dir(1) / "deepspeed").is_dir()

    with pytest.raises(FileNotFoundError, match="keep_optimizer_states"):
        run_stage(str(pruned), 1, "train", force=True, track=False)

    grow = [*overrides("hir", "x"), "iterations=3"]
    train(run_dir=str(pruned), overrides=[*grow, "keep_optimizer_states=1"], **args)
    train(run_dir=str(kept), overrides=grow, **args)
    assert not (rundir.checkpoint_dir(1) / "deepspeed").exists()
    assert (rundir.checkpoint_dir(2) / "deepspeed").is_dir()
    assert (RunDir(kept).checkpoint_dir(0) / "deepspeed").is_dir()
    for path in ("iter-0002/batch.parquet", "checkpoints/iter-0002/model.safetensors"):
        assert file_sha256(pruned / path) == file_sha256(kept / path), path


# ------------------------------------------------------------------------------ the DAG


def test_flow_run_graph_draws_the_data(hir_run):
    """The task runs' inputs, as Prefect's API records them (what its UI draws): each stage
    takes the results of the stages whose files it reads, and nothing else (no edge from
    the run context, none across unrelated stages)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    state = json.loads((hir_run / "mlflow.json").read_text())
    tags = MlflowClient(tracking_uri=state["tracking_uri"]).get_run(state["run_id"]).data.tags
    # The first flow run of the reference run (the one that computed every stage).
    first = min((k for k in tags if k.startswith("prefect.flow_run.")), key=lambda k: int(k[17:]))
    flow_run_id = uuid.UUID(tags[first])
    with get_client(sync_client=True) as prefect:
        task_runs = prefect.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    # Tasks without a run name template get a key suffix: open-run-<key>, finish-run-<key>.
    names = {
        run.id: run.name if "-iter-" in run.name else run.name.rsplit("-", 1)[0]
        for run in task_runs
    }
    edges = {
        names[run.id]: {
            param: sorted(names[i.id] for i in inputs)
            for param, inputs in run.task_inputs.items()
            if inputs
        }
        for run in task_runs
    }
    expected = {"open-run": {}, "finish-run": {"ctx": ["open-run"]}}
    for k in range(ITERATIONS):
        previous = {"checkpoint": [f"train-iter-{k - 1}"]} if k else {}
        p, r, v, x, b = (
            f"{s}-iter-{k}" for s in ("prompts", "rollouts", "verdicts", "replays", "batch")
        )
        expected |= {
            p: {},
            r: {"prompts": [p], **previous},
            f"verdicts-iter-{k}": {"prompts": [p], "rollouts": [r]},
            x: {"prompts": [p], "rollouts": [r], "verdicts": [v]},
            b: {"prompts": [p], "rollouts": [r], "verdicts": [v], "replays": [x], **previous},
            f"train-iter-{k}": {"batch": [b], **previous},
            f"report-iter-{k}": {"wait_for": sorted([x, f"train-iter-{k}"])},
        }
    assert edges == expected
