"""The ``hir`` command line: errors, train/resume summary, stage, eval, audit, data build.

Audit results are checked against tables read independently with pyarrow.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
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


def _eval_verdicts_match_scoring(table, benchmark: str, prompts) -> None:
    """Every row of an EVAL table written by hir eval is hir_core's scoring of its response."""
    from hir_core.evaluation import score_response

    by_id = {row["prompt_id"]: row for row in prompts.iter_rows(named=True)}
    for row in table.to_pylist():
        record, _ = score_response(by_id[row["prompt_id"]], row["response"], benchmark)
        assert (row["strict"], row["loose"]) == (record["strict"], record["loose"])


BREAKDOWN_ROW = re.compile(r"^  (\S.*?)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")


def _breakdown_table(output: str) -> dict[str, tuple[str, ...]]:
    """group -> (items, constraints, overall, macro, micro) of hir eval's breakdown table."""
    lines = output.splitlines()
    header = next(
        i for i, x in enumerate(lines) if x.split()[:3] == ["group", "items", "constraints"]
    )
    rows = {}
    for line in lines[header + 1 :]:
        match = BREAKDOWN_ROW.match(line)
        if match is None:
            break
        rows[match.group(1)] = match.groups()[1:]
    return rows


def _length_overall(table) -> float:
    """Items whose Length constraints all pass, over items with one (by the reference's map)."""
    from hir_core.evaluation import MULDIMIF_CATEGORY_OF_KEY

    passed = []
    for ids, verdicts in zip(table["constraint_ids"].to_pylist(), table["strict"].to_pylist()):
        mine = [
            v
            for cid, v in zip(ids, verdicts)
            if MULDIMIF_CATEGORY_OF_KEY[cid.removeprefix("muldimif:")].startswith("Length_")
        ]
        if mine:
            passed.append(all(mine))
    return sum(passed) / len(passed)


def test_eval_on_ifbench_prompts(hir_run, tmp_path):
    from hir_core.evaluation import ifbench_prompts

    out = tmp_path / "ifbench.parquet"
    checkpoint = hir_run / "checkpoints" / "iter-0001"
    result = invoke(
        "eval", checkpoint, "--benchmark", "ifbench", "--limit", 2, "--out", out, "--no-track"
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table["prompt_id"].to_pylist() == ["ifbench-0", "ifbench-1"]
    assert set(table["benchmark"].to_pylist()) == {"ifbench"}
    _eval_verdicts_match_scoring(table, "ifbench", ifbench_prompts())
    strict = [all(v) for v in table["strict"].to_pylist()]
    line = next(x for x in result.output.splitlines() if "prompt_level_strict_acc" in x)
    assert line.split() == ["eval/ifbench/prompt_level_strict_acc:", f"{sum(strict) / 2:.4f}"]
    assert "/type/" not in result.output and "group" not in result.output


def test_eval_on_muldimif_prints_breakdowns_and_logs_to_mlflow(hir_run, tmp_path):
    from hir_core.evaluation import load_benchmark

    run = copy_run(hir_run, tmp_path / "run")
    result = invoke(
        "eval", run / "checkpoints" / "iter-0001", "--benchmark", "muldimif", "--limit", 2
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(run / "eval" / "iter-0001-muldimif.parquet")
    prompts, info = load_benchmark("muldimif")
    assert table["prompt_id"].to_pylist() == prompts["prompt_id"].to_list()[:2]
    assert table["loose"].to_pylist() == table["strict"].to_pylist()
    _eval_verdicts_match_scoring(table, "muldimif", prompts)
    verdicts = table["strict"].to_pylist()
    overall = sum(map(all, verdicts)) / 2
    macro = sum(sum(v) / len(v) for v in verdicts) / 2
    lines = result.output.splitlines()
    assert f"  eval/muldimif/overall: {overall:.4f}" in lines
    assert f"  eval/muldimif/macro: {macro:.4f}" in lines
    # The breakdown table: one row per level of the two items, with its item count.
    rows = _breakdown_table(result.output)
    levels = Counter(info[p]["difficulty"] for p in table["prompt_id"].to_pylist())
    assert {g: int(r[0]) for g, r in rows.items() if g.startswith("level/")} == {
        f"level/{level}": count for level, count in levels.items()
    }
    assert float(rows["category/Length"][2]) == pytest.approx(_length_overall(table), abs=5e-5)
    state = json.loads((run / "mlflow.json").read_text())
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    history = client.get_metric_history(state["run_id"], "eval/muldimif/overall")
    assert [(m.step, m.value) for m in history] == [(1, overall)]
    level = next(iter(levels))
    history = client.get_metric_history(state["run_id"], f"eval/muldimif/level/{level}/n_items")
    assert [m.value for m in history] == [levels[level]]


def test_eval_unknown_benchmark_exits_2(hir_run, tmp_path):
    result = invoke("eval", hir_run / "checkpoints" / "iter-0001", "--benchmark", "ifbnch")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "unknown benchmark 'ifbnch'" in result.output
    assert "heldout, ifeval, ifbench, muldimif" in result.output
    assert "Traceback" not in result.output
    result = invoke(
        "eval", hir_run / "checkpoints" / "iter-0001", "--prompts", tmp_path / "x.jsonl"
    )
    assert result.exit_code == EXIT_BAD_INPUT and "'heldout' takes no prompts file" in result.output


def test_eval_malformed_prompts_file_names_file_and_row(hir_run, tmp_path):
    checkpoint = hir_run / "checkpoints" / "iter-0001"
    good = {
        "key": 1,
        "prompt": "Answer in 1 to 5 words.",
        "instruction_id_list": ["count:word_count_range"],
        "kwargs": [{"min_words": 1, "max_words": 5}],
    }
    bad = {**good, "key": 2, "instruction_id_list": ["count:no_such_type"]}
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    out = tmp_path / "never.parquet"
    result = invoke("eval", checkpoint, "--benchmark", "ifbench", "--prompts", jsonl, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{jsonl}: line 2" in result.output and "count:no_such_type" in result.output
    assert "Traceback" not in result.output and not out.exists()

    items = [
        {
            "id": "a1",
            "conversations": [{"role": "user", "content": "Write under 20 words."}],
            "constraints": [["Length", "Words", "The response must contain at most 20 words"]],
        },
        {
            "id": "a2",
            "conversations": [{"role": "user", "content": "Write a table."}],
            "constraints": [["Table", "Row limit"]],
        },
    ]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(items))
    result = invoke("eval", checkpoint, "--benchmark", "muldimif", "--prompts", path, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{path}: item 1: constraint 0" in result.output and "Traceback" not in result.output
    # The same file with the triple mended is scored, as a user's MulDimIF file.
    items[1]["constraints"][0].append("The table must have at most 3 rows")
    path.write_text(json.dumps(items))
    result = invoke(
        "eval", checkpoint, "--benchmark", "muldimif", "--prompts", path, "--out", out, "--no-track"
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out)["prompt_id"].to_pylist() == ["muldimif-a1", "muldimif-a2"]
    rows = _breakdown_table(result.output)  # no difficulty or pattern: only categories
    assert sorted(rows) == ["category/Format", "category/Format_Table", "category/Length"] + [
        "category/Length_Words"
    ]


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
