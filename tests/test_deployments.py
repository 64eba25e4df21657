"""deployments/prefect.yaml: it parses, every entrypoint is a Prefect flow, parameters fit."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
DEPLOYMENTS = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]


def load_entrypoint(entrypoint: str):
    path, _, name = entrypoint.partition(":")
    module_name = ".".join(Path(path).with_suffix("").parts)  # flows/train.py -> flows.train
    assert (ROOT / path).is_file(), path
    return getattr(importlib.import_module(module_name), name)


def test_the_three_deployments_exist():
    assert {d["name"] for d in DEPLOYMENTS} == {"train", "stage", "evaluate"}
    assert all(d["work_pool"]["name"] == "hir-cpu" for d in DEPLOYMENTS)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_is_a_flow_accepting_the_parameters(deployment):
    flow = load_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    # Prefect's own check (what a worker does before running): names and types.
    validated = flow.validate_parameters(deployment["parameters"])
    for name, value in deployment["parameters"].items():
        assert validated[name] == value, name


def test_nightly_schedule_is_present_but_commented():
    text = PREFECT_YAML.read_text()
    assert re.search(r'^\s*#\s*- cron: "0 2 \* \* \*"', text, re.MULTILINE)
    assert all("schedules" not in d for d in DEPLOYMENTS)


def test_validate_rejects_a_wrong_parameter():
    flow = load_entrypoint("flows/run_stage.py:run_stage")
    with pytest.raises(Exception, match="iteration"):
        flow.validate_parameters({"run_dir": "x", "iteration": "not a number", "stage": "train"})
