"""All three verifier families through a real run: a HIR-16K-shaped verl Parquet file (rows of
``ifeval``, ``ifbench`` and ``muldimif``, as the paper's training data mixes them) trained with
``hir train configs/tiny.yaml``, then audited.

The file exercises what the loader must accept (the spellings ``type1``..``type3`` and the family
names, ``ground_truth`` as JSON text, IFEval-style kwargs with every argument listed and null
where unused, floats such as ``30.0`` where an int is meant, MulDimIF triples in
``instruction_id_list``), with prompts built by a template (so HiR can rewrite them) and
verbatim ones. Each separable prompt pairs a constraint the random tiny model always meets
(an upper bound on length) with one it never meets (a rare keyword), so every such prompt's
samples are partial successes and HiR replays them: the test can then check the rewrite of
each family, not only its verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from hir_core import constraints
from hir_core.data import load_verl_parquet
from hir_core.instructions import render
from hir_core.rundir import RunDir
from hir_core.storage import read_table
from tests._helpers_flows import TINY, mlflow_uri, single_thread

runner = CliRunner()

# Every IFEval argument name, as IFEval-style rows list them (null where unused).
IFEVAL_ARGS = ("num_words", "relation", "keywords", "forbidden_words", "frequency", "keyword")

TASKS = (
    "Explain how tides work.",
    "Describe a rainy afternoon in a small town.",
    "Give advice to someone starting to learn the piano.",
    "Summarise the water cycle for a ten-year-old.",
)


def _ifeval_row(task: str, template: str, data_source: str) -> dict:
    texts = ["Answer with less than 300 words.", 'Include the keyword "zyzzyva".']
    kwargs = [dict.fromkeys(IFEVAL_ARGS) for _ in texts]
    kwargs[0].update(num_words=300.0, relation="less than")  # a float where an int is meant
    kwargs[1].update(keywords=["zyzzyva"])
    ids = ["length_constraints:number_words", "keywords:existence"]
    return _row(task, template, data_source, ids, kwargs, texts)


def _ifbench_row(task: str, template: str, data_source: str) -> dict:
    texts = [
        "Your response must have between 1 and 300 words.",
        "Include keyword zyzzyva once, keyword quixotic twice in your response.",
    ]
    ids = ["count:word_count_range", "count:keywords_multiple"]
    kwargs = [
        {"min_words": 1, "max_words": 300.0, "N": None},
        {
            "keyword1": "zyzzyva",
            "keyword2": "quixotic",
            "keyword3": "syzygy",
            "keyword4": "qat",
            "keyword5": "xu",
            "N": None,
        },
    ]
    return _row(task, template, data_source, ids, kwargs, texts)


def _muldimif_row(task: str, template: str, data_source: str) -> dict:
    triples = [
        ["Length", "Words", "The response must contain no more than 300 words"],
        ["Content", "Keywords", "The response must include the keyword 'zyzzyva'"],
    ]
    return _row(task, template, data_source, triples, None, [t[2] for t in triples])


def _row(task, template, data_source, ids, kwargs, texts) -> dict:
    prompt = render(task, [{"text": t} for t in texts], template)
    ground_truth = {"instruction_id_list": ids}
    if kwargs is not None:
        ground_truth["kwargs"] = kwargs
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": prompt}],
        "ability": "instruction_following",
        "reward_model": {"style": "rule", "ground_truth": json.dumps(ground_truth)},
        "extra_info": {"question": task, "criteria": json.dumps(texts)},
    }


def hir16k_rows() -> list[dict]:
    """12 rows: 4 per family, spelt both ways, over the templates; one verbatim row each."""
    makers = (
        (_ifeval_row, "type1", "ifeval"),
        (_ifbench_row, "type2", "ifbench"),
        (_muldimif_row, "type3", "muldimif"),
    )
    rows = []
    for make, short, name in makers:
        for index, (task, template) in enumerate(
            zip(TASKS, ("numbered", "dashed", "lines", "sentences"))
        ):
            row = make(task, template, short if index % 2 == 0 else name)
            if index == 3:  # a question that does not render into the prompt: stored verbatim
                row["extra_info"] = {"question": "Something else.", "criteria": None}
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def hir16k(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "hir16k_mixed.parquet"
    pq.write_table(pa.Table.from_pylist(hir16k_rows()), path)
    return path


def test_the_mixed_file_loads_with_each_rows_family(hir16k):
    table = load_verl_parquet(hir16k)
    families = [
        constraints.family_label([c["id"] for c in row]) for row in table["constraints"].to_list()
    ]
    assert families == ["ifeval"] * 4 + ["ifbench"] * 4 + ["muldimif"] * 4
    templates = table["template"].to_list()
    assert templates == ["numbered", "dashed", "lines", "ifeval"] * 3
    first = table.row(0, named=True)["constraints"]
    assert json.loads(first[0]["kwargs_json"]) == {"num_words": 300, "relation": "less than"}
    muldimif_row = table.row(8, named=True)["constraints"]
    assert [c["id"] for c in muldimif_row] == ["muldimif:Length_Words", "muldimif:Content_Keywords"]
    assert muldimif_row[1]["text"] == "The response must include the keyword 'zyzzyva'"


@pytest.fixture(scope="module")
def mixed_run(hir16k, tmp_path_factory, prefect_harness) -> Path:
    run_dir = tmp_path_factory.mktemp("mixed") / "run"
    base = run_dir.parent
    args = [
        "train", str(TINY), "--run-dir", str(run_dir),
        "data.source=verl_parquet", f"data.path={hir16k}", "data.n_heldout=0",
        "data.prompts_per_iteration=6", "iterations=2",
        f"tracking.mlflow_tracking_uri={mlflow_uri(base)}",
    ]  # fmt: skip
    with single_thread():
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return run_dir


def _tables(run_dir: Path, stage: str) -> list[dict]:
    rundir = RunDir(run_dir)
    return [
        row for k in (0, 1) for row in read_table(rundir.table_path(k, stage), stage).to_dicts()
    ]


def test_every_family_is_verified_as_the_registry_verifies_it(mixed_run):
    rollouts = {r["rollout_id"]: r for r in _tables(mixed_run, "rollouts")}
    prompts = {p["prompt_id"]: p for p in _tables(mixed_run, "prompts")}
    seen = set()
    for verdict in _tables(mixed_run, "verdicts"):
        prompt = prompts[verdict["prompt_id"]]
        specs = [
            {"id": c["id"], "kwargs": json.loads(c["kwargs_json"])} for c in prompt["constraints"]
        ]
        response = rollouts[verdict["rollout_id"]]["response"]
        assert verdict["verdicts"] == constraints.verify(response, specs, prompt=prompt["prompt"])
        assert verdict["errors"] == [""] * len(specs)
        seen.add(constraints.family_label(verdict["constraint_ids"]))
    assert seen == {"ifeval", "ifbench", "muldimif"}  # 12 prompts over 2 iterations: each once


def test_hir_rewrites_each_family_keeping_the_met_constraint(mixed_run):
    replays = _tables(mixed_run, "replays")
    by_family = {}
    for replay in replays:
        by_family.setdefault(constraints.family_label(replay["kept_ids"]), []).append(replay)
        # The length bound always holds and the rare keyword never appears: the replay keeps the
        # first constraint and drops the second, and its prompt is the task with the kept text
        # alone, by the row's own template.
        assert replay["keep_mask"] == [True, False]
        kept = replay["rewritten_constraints"]
        assert len(kept) == 1 and kept[0]["id"] == replay["kept_ids"][0]
        assert "zyzzyva" not in replay["rewritten_prompt"]
        assert replay["rewritten_prompt"].endswith(kept[0]["text"])
    assert set(by_family) == {"ifeval", "ifbench", "muldimif"}
    (muldimif,) = {r["rewritten_constraints"][0]["text"] for r in by_family["muldimif"]}
    assert muldimif == "The response must contain no more than 300 words"


def test_audit_shows_the_family_of_each_replay(mixed_run):
    result = runner.invoke(
        app, ["audit", str(mixed_run), "--stage", "replays", "--csv", str(mixed_run / "r.csv")]
    )
    assert result.exit_code == 0, result.output
    import csv

    with open(mixed_run / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["family"] for r in rows} == {"ifeval", "ifbench", "muldimif"}
    for row in rows:
        assert row["family"] == constraints.family_label(json.loads(row["kept_ids"]))


def test_data_build_draws_the_families_asked_for(tmp_path):
    out = tmp_path / "prompts.parquet"
    args = ["data", "build", str(out), "--n-train", "30", "--n-heldout", "0", "--seed", "3"]
    result = runner.invoke(app, [*args, "--families", "ifbench=1,muldimif=1"])
    assert result.exit_code == 0, result.output
    table = read_table(out, "prompts")
    labels = [constraints.family_label([c["id"] for c in row]) for row in table["constraints"]]
    assert set(labels) == {"ifbench", "muldimif"}  # one family a prompt, never mixed
    for row in table.to_dicts():
        specs = [
            {"id": c["id"], "kwargs": json.loads(c["kwargs_json"])} for c in row["constraints"]
        ]
        ids = [s["id"] for s in specs]
        assert not any(constraints.conflicts(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
        # every sampled constraint validates and can be checked
        assert len(constraints.verify("A short answer.", specs, prompt=row["prompt"])) == len(ids)
    bad = runner.invoke(app, [*args, "--families", "ifbench=x"])
    assert bad.exit_code == 2 and "--families" in bad.output
    unknown = runner.invoke(app, [*args, "--families", "nope=1"])
    assert unknown.exit_code == 2 and "nope" in unknown.output


def test_replay_artifact_leads_with_what_an_auditor_reads(mixed_run):
    from tasks.report import EXCERPT_CHARS, markdown_text, replay_rows

    replays = read_table(RunDir(mixed_run).table_path(0, "replays"), "replays")
    rows = replay_rows(replays)
    assert rows and list(rows[0])[:6] == [
        "replay_id",
        "family",
        "dropped_constraints",
        "kept_constraints",
        "rewritten_instruction",
        "response_excerpt",
    ]
    assert list(rows[0])[-1] == "original_instruction"
    for row, source in zip(rows, replays.to_dicts()):
        # Text cells are escaped for Prefect's markdown rendering (tasks/report.py).
        assert row["family"] == markdown_text(constraints.family_label(source["kept_ids"]))
        assert row["kept_constraints"] == markdown_text(", ".join(source["kept_ids"]))
        original = source["original_prompt"]
        if len(original) > EXCERPT_CHARS:
            original = original[: EXCERPT_CHARS - 1] + "…"
        assert row["original_instruction"] == markdown_text(original)
