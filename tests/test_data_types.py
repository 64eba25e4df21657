"""data.types: the synthetic builder's allow-list of constraint types (issue 16: a training
distribution in the method's regime), through the config, the prompts stage's pool and
``hir data build``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from hir_core import constraints as registry
from hir_core.config import ConfigError, DataConfig, load_config
from hir_core.data import build_synthetic
from hir_core.pipeline import _pool

TYPES = ["punctuation:no_comma", "detectable_format:title", "keywords:existence"]


def _digest(table: pl.DataFrame) -> str:
    return hashlib.sha256(table.write_ndjson().encode()).hexdigest()


def _ids(table: pl.DataFrame) -> list[str]:
    return table.explode("constraints")["constraints"].struct.field("id").to_list()


def _data(**fields) -> DataConfig:
    base = {"n_train": 64, "n_heldout": 16, "prompts_per_iteration": 4}
    return DataConfig(**(base | fields))


def test_default_builds_the_prompts_built_before_types_existed():
    # Digests of the builder's output recorded before data.types was added (same seed and
    # settings): None must leave every prompt, split and constraint as it was.
    assert DataConfig().types is None
    direct = build_synthetic(64, 16, seed=0, min_constraints=2, max_constraints=4)
    assert _digest(direct) == "946767da34fd34ee4f50d36647df3a5a91d6873ebb8d55a778cc62e6efc02174"
    train, heldout = _pool(_data(min_constraints=2, max_constraints=4).model_dump_json())
    assert _digest(train) == "ca4863094c25b3aa88c894cf5c649e5ea35025ea7d519d9d2d5fc35cc726a294"
    assert _digest(heldout) == "95e54fcdd618c0d28933fdde2330f7c11cd0f758aa307df8c835de41d1f4e7c6"


def test_prompts_use_only_the_listed_types_in_both_splits():
    data = _data(min_constraints=2, max_constraints=3, types=TYPES)
    train, heldout = _pool(data.model_dump_json())
    for split in (train, heldout):
        ids = _ids(split)
        assert set(ids) == set(TYPES)  # only these, and each of them drawn
        counts = split["constraints"].list.len()
        assert counts.min() >= 2 and counts.max() <= 3
    # Restricting types keeps the held-out split on base tasks training never sees.
    assert not set(train["base_task_id"]) & set(heldout["base_task_id"])


def test_types_across_families_keep_each_prompt_in_one_family():
    ifbench = sorted(registry.ids("ifbench"))[:3]
    data = _data(
        families={"ifeval": 1.0, "ifbench": 1.0},
        types=[*TYPES, *ifbench],
        min_constraints=1,
        max_constraints=2,
    )
    train, _ = _pool(data.model_dump_json())
    families = set()
    for constraints in train["constraints"].to_list():
        ids = [c["id"] for c in constraints]
        assert set(ids) <= set(TYPES) | set(ifbench)
        assert len({registry.family_of(cid) for cid in ids}) == 1
        families.add(registry.family_of(ids[0]))
    assert families == {"ifeval", "ifbench"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.types=[punctuation:no_coma]"],
            "data.types: 'punctuation:no_coma' is not a samplable",
        ),
        (["data.types=[]"], "data.types is empty"),
        (
            ["data.types=[punctuation:no_comma]", "data.families={ifeval: 1, ifbench: 1}"],
            "data.types names no type of family 'ifbench'",
        ),
        (
            [
                "data.types=[punctuation:no_comma]",
                "data.source=ifeval_jsonl",
                "data.path=x.jsonl",
            ],
            "data.types applies to data.source=synthetic only",
        ),
    ],
)
def test_bad_types_are_config_errors_naming_field_and_id(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config("configs/learning_smollm2.yaml", overrides)


def test_data_build_cli_honours_the_configs_types(tmp_path):
    from flows.cli import app

    raw = yaml.safe_load(Path("configs/learning_smollm2.yaml").read_text())
    raw["data"] |= {"types": TYPES[:2], "n_train": 12, "n_heldout": 4}
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "prompts.parquet"
    result = CliRunner().invoke(app, ["data", "build", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    table = pl.from_arrow(pq.read_table(out))
    assert table.height == 16 and set(_ids(table)) == set(TYPES[:2])
