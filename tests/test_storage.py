"""hir_core.storage: schema-checked atomic Parquet, on real files in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hir_core import storage
from hir_core.storage import SchemaError, file_sha256, read_table, write_table
from schemas import SCHEMA_VERSION, TABLES


def _prompts_df(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "prompt_id": [f"p{i}" for i in range(n)],
            "base_task_id": [f"t{i}" for i in range(n)],
            "split": ["train"] * n,
            "task": [f"Explain thing {i}." for i in range(n)],
            "constraints": [
                [{"id": "punctuation:no_comma", "kwargs_json": "{}", "text": "No commas."}]
                * (i + 1)
                for i in range(n)
            ],
            "template": ["lines"] * n,
            "prompt": [f"Explain thing {i}.\nNo commas." for i in range(n)],
        }
    )


def _rollouts_df() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rollout_id": ["p0/0", "p0/1"],
            "prompt_id": ["p0", "p0"],
            "sample_idx": [0, 1],  # int64 in polars: cast to int32 on write
            "response": ["a", "b"],
            "prompt_token_ids": [[1, 2], [1, 2]],
            "response_token_ids": [[3], [4, 5]],
            "logprobs": [[-0.5], [-0.25, -1.0]],  # float64: cast to float32
            "mean_entropy": [0.5, 0.75],
            "finish_reason": ["stop", "length"],
        }
    )


def test_roundtrip_preserves_values_and_schema(tmp_path):
    path = tmp_path / "iter-0000" / "prompts.parquet"
    df = _prompts_df()
    digest = write_table(df, path, "prompts")
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    back = read_table(path, "prompts")
    assert back.to_dicts() == df.to_dicts()
    found = pq.read_schema(path)
    assert found.metadata[b"hir.schema_version"] == str(SCHEMA_VERSION).encode()
    assert found.metadata[b"hir.table"] == b"prompts"
    for field in TABLES["prompts"]:
        assert found.field(field.name).type.equals(field.type)


def test_write_casts_numeric_widths_and_reads_back_equal_values(tmp_path):
    path = tmp_path / "rollouts.parquet"
    write_table(_rollouts_df(), path, "rollouts")
    found = pq.read_schema(path)
    assert found.field("sample_idx").type == pa.int32()
    assert found.field("logprobs").type.value_type == pa.float32()
    back = read_table(path, "rollouts")
    assert back["sample_idx"].to_list() == [0, 1]
    # -0.5, -0.25 and -1.0 are exact in float32
    assert back["logprobs"].to_list() == [[-0.5], [-0.25, -1.0]]


def test_write_accepts_pyarrow_table_and_reorders_columns(tmp_path):
    df = _prompts_df()
    reordered = df.select(list(reversed(df.columns))).to_arrow()
    path = tmp_path / "prompts.parquet"
    write_table(reordered, path, "prompts")
    assert pq.read_schema(path).names == TABLES["prompts"].names


def test_file_sha256_matches_hashlib_on_multichunk_file(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom((1 << 20) * 2 + 123)  # spans three read chunks
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_write_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "prompts.parquet"
    with pytest.raises(SchemaError, match=r"prompts\.parquet.*'template'"):
        write_table(_prompts_df().drop("template"), path, "prompts")
    assert not path.exists()


def test_write_extra_column_is_an_error(tmp_path):
    with pytest.raises(SchemaError, match="surprise"):
        write_table(
            _prompts_df().with_columns(surprise=pl.lit(1)), tmp_path / "p.parquet", "prompts"
        )


def test_write_wrong_type_names_column(tmp_path):
    bad = _rollouts_df().with_columns(sample_idx=pl.col("sample_idx").cast(pl.String))
    with pytest.raises(SchemaError, match=r"'sample_idx' has type"):
        write_table(bad, tmp_path / "r.parquet", "rollouts")


def test_write_null_in_non_nullable_nested_field_names_it(tmp_path):
    df = _prompts_df(1).with_columns(
        constraints=pl.Series(
            [
                [
                    {"id": "punctuation:no_comma", "kwargs_json": "{}", "text": "x"},
                    {"id": None, "kwargs_json": "{}", "text": "y"},
                ]
            ]
        )
    )
    with pytest.raises(SchemaError, match=r"constraints\[\]\.id"):
        write_table(df, tmp_path / "p.parquet", "prompts")


def test_write_int32_overflow_is_an_error(tmp_path):
    bad = _rollouts_df().with_columns(sample_idx=pl.Series([0, 2**40]))
    with pytest.raises(SchemaError, match="sample_idx"):
        write_table(bad, tmp_path / "r.parquet", "rollouts")


def test_unknown_table_name_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="unknown table"):
        write_table(_prompts_df(), tmp_path / "p.parquet", "promptz")


def _write_raw(path, arrow: pa.Table, table: str = "prompts", version: int = SCHEMA_VERSION):
    metadata = {b"hir.schema_version": str(version).encode(), b"hir.table": table.encode()}
    pq.write_table(arrow.replace_schema_metadata(metadata), path)


def test_read_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "prompts.parquet"
    _write_raw(path, storage.conform(_prompts_df(), "prompts").drop_columns(["task"]))
    with pytest.raises(SchemaError, match=r"prompts\.parquet.*'task'.*missing"):
        read_table(path, "prompts")


def test_read_wrong_type_names_file_and_column(tmp_path):
    path = tmp_path / "rollouts.parquet"
    arrow = storage.conform(_rollouts_df(), "rollouts")
    arrow = arrow.set_column(2, "sample_idx", arrow.column("sample_idx").cast(pa.int64()))
    _write_raw(path, arrow, table="rollouts")
    with pytest.raises(SchemaError, match=r"rollouts\.parquet.*'sample_idx' has type int64"):
        read_table(path, "rollouts")


def test_read_other_schema_version_is_an_error(tmp_path):
    path = tmp_path / "prompts.parquet"
    _write_raw(path, storage.conform(_prompts_df(), "prompts"), version=SCHEMA_VERSION + 1)
    with pytest.raises(SchemaError, match="schema version"):
        read_table(path, "prompts")


def test_read_file_without_metadata_is_an_error(tmp_path):
    path = tmp_path / "prompts.parquet"
    pq.write_table(storage.conform(_prompts_df(), "prompts"), path)
    with pytest.raises(SchemaError, match="not written by hir storage"):
        read_table(path, "prompts")


def test_read_as_another_table_is_an_error(tmp_path):
    path = tmp_path / "prompts.parquet"
    write_table(_prompts_df(), path, "prompts")
    with pytest.raises(SchemaError, match="holds table 'prompts'"):
        read_table(path, "eval")


def test_read_truncated_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "prompts.parquet"
    write_table(_prompts_df(), path, "prompts")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SchemaError, match=r"prompts\.parquet.*not a readable Parquet"):
        read_table(path, "prompts")


def test_failure_mid_write_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "prompts.parquet"
    real_write = pq.write_table

    def write_half_then_fail(table, where, **kwargs):
        where.write(b"PAR1 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(storage.pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_table(_prompts_df(), path, "prompts")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(storage.pq, "write_table", real_write)


def test_failure_mid_write_keeps_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "prompts.parquet"
    write_table(_prompts_df(2), path, "prompts")
    before = path.read_bytes()

    def fail(table, where, **kwargs):
        where.write(b"garbage")
        raise RuntimeError("killed")

    monkeypatch.setattr(storage.pq, "write_table", fail)
    with pytest.raises(RuntimeError, match="killed"):
        write_table(_prompts_df(5), path, "prompts")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts.parquet"]


def test_atomic_write_publishes_bytes_for_json(tmp_path):
    path = tmp_path / "sub" / "manifest.json"
    with storage.atomic_write(path) as handle:
        handle.write(json.dumps({"a": 1}).encode())
        assert not path.exists()  # nothing under the trusted name until the block ends
    assert json.loads(path.read_text()) == {"a": 1}
