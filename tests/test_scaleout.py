"""Scale-out without Prefect: the rank-aware worker under torchrun, the dry run, the config
import that loads no torch, the evaluation settings during training.

Real parts throughout: torchrun with 2 CPU processes (gloo), DeepSpeed, the tiny-random model,
the run directory and its manifest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hir_core.config import load_config
from hir_core.engines.inprocess import InProcessEngines
from hir_core.rundir import STAGES, Manifest, RunDir
from hir_core.stages import run_stage
from hir_core.storage import read_table
from tests._helpers_flows import single_thread, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
PAPER = ROOT / "configs" / "paper.yaml"
OVERRIDES = ["iterations=2", "rollout.max_new_tokens=12"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


def _run(rundir: RunDir, cfg, stages, k: int, engines) -> None:
    for stage in stages:
        run_stage(rundir, cfg, k, stage, engines)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(file))
    return tensors


@pytest.fixture(scope="module")
def inprocess_run(tmp_path_factory):
    """Iteration 0 and iteration 1 up to its verdicts, in process; and a copy of the run
    taken before iteration 0's train stage."""
    base = tmp_path_factory.mktemp("scaleout")
    rundir = RunDir(base / "inprocess")
    cfg = rundir.init(load_config(TINY, OVERRIDES))
    engines = InProcessEngines(cfg, rundir)
    _run(rundir, cfg, STAGES[:-1], 0, engines)
    before_train = base / "before-train"
    shutil.copytree(rundir.root, before_train)
    _run(rundir, cfg, STAGES[-1:], 0, engines)
    _run(rundir, cfg, ("prompts", "rollouts"), 1, engines)
    engines.close()
    return rundir, before_train


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        # A local rendezvous on a free port. (`--master_port=0` does not pick one: both
        # ranks then waited forever in the rendezvous.)
        "--standalone",
        "-m",
        "flows.cli",
        "worker",
        *args,
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=subprocess_env(HIR_ALLOCATOR="system"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def test_worker_under_torchrun_trains_like_in_process(inprocess_run, tmp_path):
    """`hir worker RUN 0 train` on 2 ranks (gloo): the same weights as the in-process train
    stage within 1e-6 (the 2-rank all-reduce sums gradients in another order), recorded in
    the manifest by rank 0 as backend worker, world size 2; no partial checkpoint left.
    Then `hir worker RUN 1 rollouts` (rank 0 generates) gives the in-process table."""
    rundir, before_train = inprocess_run
    run = tmp_path / "worker"
    shutil.copytree(before_train, run)
    proc = _torchrun(str(run), "0", "train")
    assert "iteration 0 stage train: computed" in proc.stdout
    assert proc.stdout.count("iteration 0 stage train") == 1  # rank 0 alone reports

    want = _weights(rundir.checkpoint_dir(0))
    got = _weights(RunDir(run).checkpoint_dir(0))
    assert sorted(got) == sorted(want)
    worst = max(float((got[n] - want[n]).abs().max()) for n in want)
    assert worst <= 1e-6, worst
    base = _weights_of_base(rundir)
    assert any(not torch.equal(base[n], want[n]) for n in want)  # the step moved the policy
    entry = Manifest.load(RunDir(run)).stage(0, "train")
    assert entry["status"] == "done"
    assert entry["engine"] == {"backend": "worker", "world_size": 2}
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []

    # Rollouts of iteration 1 from the in-process checkpoint 0, by the worker's rank 0.
    again = tmp_path / "rollouts"
    shutil.copytree(rundir.root, again)
    (again / "iter-0001" / "rollouts.parquet").unlink()
    proc = _torchrun(str(again), "1", "rollouts")
    assert "iteration 1 stage rollouts: computed" in proc.stdout
    table = read_table(RunDir(again).table_path(1, "rollouts"), "rollouts")
    assert table.equals(read_table(rundir.table_path(1, "rollouts"), "rollouts"))
    entry = Manifest.load(RunDir(again)).stage(1, "rollouts")
    assert entry["engine"] == {"backend": "worker", "world_size": 1}


def _weights_of_base(rundir: RunDir) -> dict[str, torch.Tensor]:
    from hir_core.models import load_model

    model, _ = load_model(rundir.load_config().model)
    return {k: v.detach() for k, v in model.state_dict().items()}


def test_worker_refuses_a_locked_run(inprocess_run, tmp_path):
    """In one process (a group of one): a run another process holds is refused at once."""
    from hir_core.rundir import RunLockedError
    from hir_core.worker import run_worker

    rundir, _ = inprocess_run
    with rundir.lock(holder="a training flow"), pytest.raises(RunLockedError, match="a training"):
        run_worker(rundir.root, 0, "verdicts")


def test_evaluation_batch_size_applies_during_training():
    """``evaluation.batch_size`` reaches the generator in the training flow's evaluation
    (it used to be the rollout batch size); the rollout settings are restored after."""
    from hir_core import pipeline

    cfg = load_config(
        TINY,
        [
            *OVERRIDES,
            "evaluation.every=1",
            "evaluation.heldout_prompts=3",
            "evaluation.batch_size=2",
        ],
    )
    generator = pipeline.make_generator(cfg)
    seen = []
    original = generator.generate

    def spy(prompts):
        seen.append((len(prompts), generator.cfg.batch_size, generator.cfg.n))
        return original(prompts)

    generator.generate = spy
    pipeline.evaluate_heldout(cfg, generator)
    assert seen == [(3, 2, 1)]  # 3 prompts, one sample each, decoded 2 at a time
    assert generator.cfg.batch_size == cfg.rollout.batch_size == 16


def test_one_helper_builds_generators_one_gives_eval_settings_one_makes_the_chat():
    """Issue 14's tidy: a generator is built in one place (generation.make_generator, which
    pipeline.make_generator feeds), the evaluation settings come from one function
    (evaluation.eval_generation_config, which pipeline's applies to a run's config), and the
    one-message chat is one function (generation_config.chat). A second copy is what let
    evaluation.batch_size be ignored during training."""
    import re

    root = Path(__file__).resolve().parent.parent
    sources = [
        p
        for folder in ("hir_core", "tasks", "flows", "benchmarks")
        for p in (root / folder).rglob("*.py")
    ]
    built, chats = [], []
    for path in sources:
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        if rel != "hir_core/engines/generation.py" and re.search(
            r"\b(TransformersGenerator|VllmGenerator)\(", text
        ):
            built.append(rel)
        if rel != "hir_core/engines/generation_config.py" and re.search(
            r"""\{\s*["']role["']\s*:\s*["']user["']""", text
        ):
            chats.append(rel)
    # benchmarks/engines.py and vs_trl.py time the generator classes themselves.
    assert set(built) <= {"benchmarks/engines.py", "benchmarks/vs_trl.py"}, built
    assert set(chats) <= {"benchmarks/engines.py"}, chats

    from hir_core import evaluation, pipeline
    from hir_core.config import PipelineConfig

    cfg = PipelineConfig.model_validate(
        {"evaluation": {"batch_size": 5, "max_new_tokens": 7}, "rollout": {"top_p": 0.9}}
    )
    settings = pipeline.eval_generation_config(cfg)
    assert settings == evaluation.eval_generation_config(
        cfg.rollout,
        temperature=cfg.evaluation.temperature,
        max_new_tokens=7,
        batch_size=5,
        seed=settings.seed,
    )
    assert (settings.n, settings.top_p) == (1, 0.9)
