"""HeRL through the real train flow: tiny run, real Prefect, MLflow (sqlite), DeepSpeed on CPU.

Strategies ``herl`` and ``hir+herl`` on configs/tiny.yaml (2 iterations, guided responses cut
at 8 tokens): the replays table records the guided revisions, the batch trains exactly the
used ones, each source's reward carries its bonus, the HeRL stats reach the manifest and
MLflow; the audit command shows the HeRL columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from hir_core import constraints
from hir_core.config import load_config
from hir_core.data import instruction_from_row
from hir_core.rewards import reward
from hir_core.rundir import Manifest, RunDir
from hir_core.storage import read_table
from tests._helpers_flows import ITERATIONS, mlflow_uri, reference_run, single_thread

pytestmark = pytest.mark.usefixtures("prefect_harness")

SHORT = "hindsight.herl.max_new_tokens=8"
ALPHA = 0.05  # HerlConfig's default (paper)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def herl_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("herl_flows")


@pytest.fixture(scope="session", params=["herl", "hir+herl"])
def herl_run(request, herl_base, prefect_harness) -> tuple[str, Path]:
    return request.param, reference_run(herl_base, request.param, SHORT)


def _tables(run: Path, k: int) -> dict[str, pl.DataFrame]:
    rundir = RunDir(run)
    return {
        t: read_table(rundir.table_path(k, t), t)
        for t in ("prompts", "verdicts", "replays", "batch")
    }


def test_replays_record_guided_revisions(herl_run):
    _, run = herl_run
    cfg = RunDir(run).load_config()
    assert cfg.hindsight.herl.max_new_tokens == 8
    total_herl = 0
    for k in range(ITERATIONS):
        t = _tables(run, k)
        herl = t["replays"].filter(pl.col("strategy") == "herl")
        total_herl += herl.height
        prompts = {r["prompt_id"]: r for r in t["prompts"].iter_rows(named=True)}
        verdict_reward = dict(zip(t["verdicts"]["rollout_id"], t["verdicts"]["reward"]))
        for row in herl.iter_rows(named=True):
            assert row["guidance_prompt"] and row["guided_response"] is not None
            assert row["bonus"] is not None and row["used"] is not None
            # Independent check: re-verify the guided response against the ORIGINAL
            # instruction and recompute the reward and the bonus.
            instruction = instruction_from_row(prompts[row["prompt_id"]])
            assert prompts[row["prompt_id"]]["prompt"] in row["guidance_prompt"]
            verdicts = constraints.verify(
                row["guided_response"], list(instruction.constraints), prompt=instruction.prompt
            )
            assert list(row["guided_verdicts"]) == list(verdicts)
            r_guided = reward(verdicts, instruction.constraint_ids, cfg.reward)
            assert row["guided_reward"] == pytest.approx(r_guided)
            source = verdict_reward[row["source_rollout_id"]]
            assert source < 1.0
            assert row["bonus"] == pytest.approx(ALPHA * (r_guided - source), abs=1e-6)
        # One used guided response per triggered group, none elsewhere.
        used_per_prompt = herl.group_by("prompt_id").agg(pl.col("used").sum())
        assert (used_per_prompt["used"] == 1).all()
    # A random model never satisfies every constraint: HeRL must have fired.
    assert total_herl > 0


def test_batch_trains_exactly_the_used_rows_with_bonus(herl_run):
    _, run = herl_run
    for k in range(ITERATIONS):
        t = _tables(run, k)
        herl = t["replays"].filter(pl.col("strategy") == "herl")
        batch = t["batch"]
        hindsight = batch.filter(pl.col("is_hindsight"))
        used = herl.filter(pl.col("used"))
        assert sorted(hindsight["sample_id"]) == sorted(used["replay_id"])
        by_id = {r["replay_id"]: r for r in used.iter_rows(named=True)}
        for row in hindsight.iter_rows(named=True):
            guided = by_id[row["sample_id"]]
            assert row["prompt"] == guided["guidance_prompt"]
            assert list(row["response_token_ids"]) == list(guided["guided_response_token_ids"])
            assert len(row["response_token_ids"]) <= 8
            assert row["group_id"] == guided["prompt_id"]
            assert row["reward"] == pytest.approx(guided["guided_reward"], abs=1e-6)
        # A source's batch reward = its verdict reward + its bonus (0 without a HeRL row).
        bonus = dict(zip(herl["source_rollout_id"], herl["bonus"]))
        verdict_reward = dict(zip(t["verdicts"]["rollout_id"], t["verdicts"]["reward"]))
        originals = batch.filter(~pl.col("is_replay") & ~pl.col("is_hindsight"))
        assert originals.height == t["verdicts"].height
        for row in originals.iter_rows(named=True):
            expected = verdict_reward[row["sample_id"]] + bonus.get(row["sample_id"], 0.0)
            assert row["reward"] == pytest.approx(expected, abs=1e-6)


def test_herl_stats_reach_manifest_and_mlflow(herl_run, herl_base):
    strategy, run = herl_run
    manifest = Manifest.load(RunDir(run))
    state = json.loads((run / "mlflow.json").read_text())
    assert state["tracking_uri"] == mlflow_uri(herl_base)
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    assert client.get_run(state["run_id"]).data.params["hindsight.strategy"] == strategy
    for k in range(ITERATIONS):
        t = _tables(run, k)
        herl = t["replays"].filter(pl.col("strategy") == "herl")
        metrics = manifest.stage(k, "replays")["metrics"]
        assert metrics["hindsight/herl_guided"] == herl.height
        assert metrics["hindsight/herl_used"] == herl["used"].sum()
        assert metrics["hindsight/herl_generation_s"] > 0
        assert manifest.stage(k, "batch")["metrics"]["batch/hindsight"] == (
            t["batch"]["is_hindsight"].sum()
        )
    for key in ("hindsight/herl_guided", "hindsight/herl_used", "batch/hindsight"):
        history = client.get_metric_history(state["run_id"], key)
        assert sorted(m.step for m in history) == list(range(ITERATIONS)), key
        stage = "batch" if key.startswith("batch/") else "replays"
        for m in history:
            assert m.value == pytest.approx(manifest.stage(m.step, stage)["metrics"][key])


def test_herl_rates_recomputed_from_tables(herl_run):
    """Issue 7's per-iteration metrics, recomputed here from the Parquet tables."""
    from tasks.report import iteration_metrics, summary_markdown

    _, run = herl_run
    manifest = Manifest.load(RunDir(run))
    for k in range(ITERATIONS):
        t = _tables(run, k)
        herl = t["replays"].filter(pl.col("strategy") == "herl")
        best = t["verdicts"].group_by("prompt_id").agg(pl.col("reward").max().alias("best"))
        best_of = dict(zip(best["prompt_id"], best["best"]))
        metrics = manifest.stage(k, "replays")["metrics"]
        triggered = sum(b < 1 - 1e-6 for b in best_of.values())
        assert metrics["herl/trigger_rate"] == pytest.approx(triggered / len(best_of))
        beat = sum(
            r["guided_reward"] > best_of[r["prompt_id"]] + 1e-6 for r in herl.iter_rows(named=True)
        )
        assert metrics["herl/guided_success_rate"] == pytest.approx(beat / herl.height)
        assert metrics["herl/guided"] == herl.height
        assert metrics["herl/bonus_mean"] == pytest.approx(herl["bonus"].mean(), abs=1e-7)
        assert metrics["herl/generation_s"] > 0
        batch = t["batch"]
        lengths = batch["response_token_ids"].list.len()
        fraction = lengths.filter(batch["is_hindsight"]).sum() / lengths.sum()
        batch_metrics = manifest.stage(k, "batch")["metrics"]
        assert batch_metrics["herl/hindsight_token_fraction"] == pytest.approx(fraction)
        assert 0 < fraction < 1
        # The iteration's markdown summary carries the HeRL lines.
        text = summary_markdown("run", k, iteration_metrics(manifest, k))
        assert "| HeRL trigger rate (groups with best reward < 1) |" in text
        assert "| HeRL share of trained tokens |" in text


def test_config_override_loaded():
    # The override reaches the config (guards the SHORT string against a renamed field).
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml", [SHORT])
    assert cfg.hindsight.herl.max_new_tokens == 8


# ------------------------------------------------------------------------------ audit, artifact


def test_audit_cli_shows_herl_columns(herl_run, tmp_path):
    from typer.testing import CliRunner

    from flows.audit import HERL_DISPLAY_COLUMNS, display_frame, neutralise_cell
    from flows.cli import app

    _, run = herl_run
    replays = _tables(run, 0)["replays"]
    out = tmp_path / "replays.csv"
    result = CliRunner().invoke(
        app, ["audit", str(run), "-k", "0", "--stage", "replays", "--rows", "50", "--csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    for column in HERL_DISPLAY_COLUMNS:
        assert column in result.output, column
    # iteration + the 7 HiR display columns (family included) + the HeRL ones, every replay row.
    assert f"shape: ({replays.height}, {1 + 7 + len(HERL_DISPLAY_COLUMNS)})" in result.output
    exported = pl.read_csv(out)
    herl = replays.filter(pl.col("strategy") == "herl")
    mine = exported.filter(pl.col("strategy") == "herl")
    # Model text a spreadsheet would run as a formula gets a leading quote (flows/audit.py).
    assert mine["guided_response"].fill_null("").to_list() == [
        neutralise_cell(text) for text in herl["guided_response"].to_list()
    ]
    assert mine["bonus"].to_list() == pytest.approx(herl["bonus"].to_list())
    assert mine["used"].to_list() == herl["used"].to_list()
    # Without HeRL rows the display keeps HiR's columns only.
    hir_only = display_frame(replays.filter(pl.col("strategy") != "herl"), "replays")
    assert not set(HERL_DISPLAY_COLUMNS) & set(hir_only.columns)


def test_prefect_replay_artifact_has_herl_columns(herl_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.context import artifact_slug
    from tasks.report import markdown_text

    _, run = herl_run
    for k in range(ITERATIONS):
        replays = _tables(run, k)["replays"]
        key = f"{artifact_slug(run.name)}-iter-{k:04d}-replays"
        with get_client(sync_client=True) as prefect:
            found = prefect.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
        assert found, key
        table = max(found, key=lambda a: a.created).data
        rows = json.loads(table) if isinstance(table, str) else table
        assert [r["replay_id"] for r in rows] == [
            markdown_text(i) for i in replays["replay_id"].to_list()
        ]
        for row, ref in zip(rows, replays.iter_rows(named=True)):
            assert row["strategy"] == markdown_text(ref["strategy"])
            if ref["strategy"] != "herl":
                assert row["bonus"] is None and row["used"] is None
                continue
            # Text cells are escaped for Prefect's markdown rendering (tasks/report.py).
            guidance, guided = row["guidance_prompt_excerpt"], row["guided_response_excerpt"]
            assert markdown_text(ref["guidance_prompt"]).startswith(guidance.rstrip("…"))
            assert markdown_text(ref["guided_response"]).startswith(guided.rstrip("…"))
            assert row["guided_verdicts"] == "".join(
                "1" if v else "0" for v in ref["guided_verdicts"]
            )
            assert row["guided_reward"] == pytest.approx(ref["guided_reward"], abs=1e-4)
            assert row["bonus"] == pytest.approx(ref["bonus"], abs=1e-6)
            assert row["used"] == ref["used"]


# ------------------------------------------------------------------------------ eval --revise-rounds


def test_eval_revise_rounds_reports_accuracy_per_round(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    out = tmp_path / "eval.parquet"
    args = ["eval", "base", "--config", str(tiny), "--out", str(out), "--no-track"]
    result = CliRunner().invoke(app, [*args, "--revise-rounds", "2"])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    passed = [all(v) for v in table["strict"].to_list()]
    failed = len(passed) - sum(passed)
    assert failed > 0  # a random model: something to revise
    lines = [line.split() for line in result.output.splitlines() if "revision round" in line]
    assert [int(parts[2].rstrip(":")) for parts in lines] == [0, 1, 2]
    ila = [float(parts[4]) for parts in lines]
    revised = [int(parts[8]) for parts in lines]
    # Round 0 = the greedy answers as scored by eval; round 1 revises every failed one.
    assert ila[0] == pytest.approx(sum(passed) / len(passed), abs=1e-4)
    assert revised[:2] == [0, failed]
    # A fully correct answer is carried over unchanged, so ILA never drops between rounds.
    assert ila == sorted(ila)
    assert revised[2] <= revised[1]


def test_eval_revise_rounds_rejects_negative():
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["eval", "base", "--revise-rounds", "-1"])
    assert result.exit_code != 0
    assert "--revise-rounds" in result.output
