"""The ``ray`` engine backend (hir_core/engines/ray.py) on a real local Ray cluster.

One cluster for the module (2 CPUs, a small object store, no dashboard); actors reserve a
quarter CPU each so that the runs below fit side by side. Real parts throughout: DeepSpeed
train actors forming one gloo group, transformers rollout actors, the tiny-random model, the
run directory and its manifest, and (last test) the Prefect flow. One in-process run and one
ray run (2 train actors, 2 rollout actors) of 2 iterations are shared by every test.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch
from safetensors.torch import load_file

from hir_core.config import load_config
from hir_core.engines.api import parameter_checksum
from hir_core.engines.generation import TransformersGenerator, chat_prompt_ids
from hir_core.engines.inprocess import InProcessEngines
from hir_core.engines.ray import RAY_FAULT_ENV, ActorFailure, RayEngines, saved_policy_checksum
from hir_core.models import ModelConfig, load_model
from hir_core.rundir import STAGES, Manifest, RunDir, stage_seed
from hir_core.stages import read_input, run_stage
from hir_core.storage import read_table, write_table
from tests._helpers_flows import single_thread

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
# rollout.batch_size 8: two decoding chunks of 2 prompts x 4 samples, one per rollout actor.
OVERRIDES = [
    "iterations=2",
    "rollout.max_new_tokens=12",
    "rollout.batch_size=8",
    "rollout.progress=false",
]
CALL_TIMEOUT_S = 120
RAY = [
    "distributed.backend=ray",
    "distributed.train_actor.num_cpus=0.25",
    "distributed.rollout_actor.num_cpus=0.25",
    f"distributed.call_timeout_s={CALL_TIMEOUT_S}",
    "distributed.collective_timeout_s=60",
    "distributed.start_timeout_s=300",
]


def _ray_overrides(train_ranks: int, rollout_workers: int) -> list[str]:
    return [
        *OVERRIDES,
        *RAY,
        f"distributed.train_ranks={train_ranks}",
        f"distributed.rollout_workers={rollout_workers}",
    ]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, object_store_memory=300 * 2**20, include_dashboard=False)
    yield
    ray.shutdown()


def _run_all(rundir: RunDir, cfg, engines) -> None:
    for k in range(cfg.iterations):
        for stage in STAGES:
            run_stage(rundir, cfg, k, stage, engines)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(file))
    return tensors


def _worst(got: dict, want: dict) -> float:
    assert sorted(got) == sorted(want)
    return max(float((got[n] - want[n]).abs().max()) for n in want)


@pytest.fixture(scope="module")
def inprocess(tmp_path_factory) -> RunDir:
    """The reference: 2 iterations in this process (one rank, one generator)."""
    rundir = RunDir(tmp_path_factory.mktemp("ray-backend") / "inprocess")
    cfg = rundir.init(load_config(TINY, OVERRIDES))
    engines = InProcessEngines(cfg, rundir)
    try:
        _run_all(rundir, cfg, engines)
    finally:
        engines.close()
    return rundir


@pytest.fixture(scope="module")
def ray_run(cluster, tmp_path_factory):
    """2 iterations with 2 train actors and 2 rollout actors; the engines stay up for the
    weight-sync test and are closed at the end of the module."""
    rundir = RunDir(tmp_path_factory.mktemp("ray-backend") / "ray")
    cfg = rundir.init(load_config(TINY, _ray_overrides(2, 2)))
    engines = RayEngines(cfg, rundir)
    try:
        _run_all(rundir, cfg, engines)
        yield rundir, engines
    finally:
        engines.close()


def test_two_train_actors_train_like_in_process(inprocess, ray_run):
    """2 gloo train ranks in Ray actors end with the in-process run's final weights within
    1e-6 (the all-reduce sums the two ranks' gradients in another order than one process
    does: not bit-identical), after the same rollouts of iteration 0 (identical table);
    the manifest records backend and world size of each stage; the actors load no
    Prefect or MLflow; no half-written checkpoint is left."""
    rundir, engines = ray_run
    want = _weights(inprocess.checkpoint_dir(1))
    got = _weights(rundir.checkpoint_dir(1))
    worst = _worst(got, want)
    assert worst <= 1e-6, worst
    base, _ = load_model(rundir.load_config().model)
    base_weights = {k: v.detach() for k, v in base.state_dict().items()}
    assert any(not torch.equal(base_weights[n], got[n]) for n in got)  # the steps moved the policy

    # Same base weights, same decoding chunks and seeds: the same samples.
    assert read_table(rundir.table_path(0, "rollouts"), "rollouts").equals(
        read_table(inprocess.table_path(0, "rollouts"), "rollouts")
    )

    manifest = Manifest.load(rundir)
    for k in range(2):
        engine_of = {s: (manifest.stage(k, s) or {}).get("engine") for s in STAGES}
        assert engine_of == {
            "prompts": None,
            "rollouts": {"backend": "ray", "world_size": 2},
            "verdicts": None,
            "replays": None,  # HiR's replays run no model
            "batch": {"backend": "ray", "world_size": 2},
            "train": {"backend": "ray", "world_size": 2},
        }, k
        assert manifest.stage(k, "rollouts")["metrics"]["rollout/workers"] == 2.0
    in_process = Manifest.load(inprocess).stage(0, "train")["engine"]
    assert in_process == {"backend": "inprocess", "world_size": 1}

    actors = engines.actors()
    assert len(actors["train"]) == 2 and len(actors["rollout"]) == 2
    for actor in actors["train"] + actors["rollout"]:
        assert ray.get(actor.loaded_modules.remote(["prefect", "mlflow"]), timeout=60) == []
    leftovers = [p.name for p in (rundir.root / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_one_rollout_actor_gives_the_table_of_two(ray_run, tmp_path):
    """Iteration 1's rollouts (from the ray run's checkpoint 0) by 1 rollout actor: the
    table the 2 actors wrote, byte for byte through the schema. Then a call that outlasts
    the call timeout (a hung actor, as far as the driver can tell) fails at the timeout
    naming the actor and the call, and its group is killed."""
    rundir, engines = ray_run
    cfg = load_config(TINY, _ray_overrides(2, 1))
    two = engines.rollout_engine(1)
    assert len(two.split(4, cfg)) == 2  # the 4 prompts were split: (0, 2), (2, 4)
    one = RayEngines(cfg, rundir)
    try:
        prompts = read_input(rundir, 1, "prompts")
        seed = stage_seed(cfg.seed, 1, "rollouts")
        rollout = one.rollout_engine(1)
        table, metrics = rollout.generate(prompts, cfg, seed)
        assert metrics["rollout/workers"] == 1.0
        path = tmp_path / "rollouts.parquet"
        write_table(table, path, "rollouts")
        assert read_table(path, "rollouts").equals(
            read_table(rundir.table_path(1, "rollouts"), "rollouts")
        )

        # A hung actor: its process stopped (SIGSTOP), as a deadlock or a stuck device looks
        # from the driver. The call gives up at the call timeout (2 s here).
        (actor,) = one.actors()["rollout"]
        pid = ray.get(actor.pid.remote(), timeout=60)
        one.d = one.d.model_copy(update={"call_timeout_s": 2.0})
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(ActorFailure) as failure:
            rollout.generate(prompts, cfg, seed)
        assert 2.0 <= time.monotonic() - started < 10.0
        assert str(failure.value) == (
            "ray rollout actor 0 of 1: no answer to generate (4 prompts) within 2 s (timed out)"
        )
        assert not one._rollout.alive  # the group was killed, not left hanging
        with pytest.raises(ActorFailure, match="stopped after a failure"):
            rollout.generate(prompts, cfg, seed)
    finally:
        one.close()


def test_actors_that_cannot_be_placed_fail_naming_the_resources(cluster, tmp_path):
    """A train actor asking for more CPUs than the cluster has: the start fails after
    distributed.start_timeout_s, saying what was asked and what the cluster has."""
    rundir = RunDir(tmp_path / "run")
    overrides = [*_ray_overrides(1, 1), "distributed.train_actor.num_cpus=64"]
    cfg = rundir.init(load_config(TINY, [*overrides, "distributed.start_timeout_s=1"]))
    engines = RayEngines(cfg, rundir)
    free = ray.available_resources().get("CPU", 0.0)
    try:
        with pytest.raises(ActorFailure) as failure:
            engines.train_engine(0)
    finally:
        engines.close()
    message = str(failure.value)
    assert message.startswith("ray train actors: could not reserve 1 x {'CPU': 64.0} within 1 s")
    assert "distributed.start_timeout_s" in message and "the cluster has" in message
    # The reservation withdrawn (>=: an earlier test's actors may still be releasing theirs).
    assert ray.available_resources().get("CPU", 0.0) >= free


def test_weight_sync_rollout_actors_hold_the_exported_policy(ray_run):
    """After iteration 1's train stage the rollout actors sync to its checkpoint (a reload,
    its parameter checksum = the saved policy's) and decode greedily the tokens and
    log-probs of that exported policy loaded here; the trainer's live policy scores those
    responses with the same log-probs."""
    rundir, engines = ray_run
    folder = rundir.checkpoint_dir(1)
    rollout = engines.rollout_engine(2)
    sync = rollout.last_sync
    assert sync.reloaded and sync.source == str(folder)
    model, tokenizer = load_model(ModelConfig(spec=str(folder), dtype="float32"))
    assert sync.checksum == saved_policy_checksum(folder) == parameter_checksum(model.state_dict())
    assert rollout.sync_weights(folder).reloaded is False  # unchanged folder: nothing read

    cfg = rundir.load_config()
    greedy = cfg.rollout.model_copy(update={"temperature": 0.0, "n": 1, "seed": 0})
    remote = rollout.generator()
    remote.cfg = greedy
    prompts = [[{"role": "user", "content": p}] for p in read_input(rundir, 1, "prompts")["prompt"]]
    got = [group[0] for group in remote.generate(prompts)]
    want = [group[0] for group in TransformersGenerator(model, tokenizer, greedy).generate(prompts)]
    assert [s.response_token_ids for s in got] == [s.response_token_ids for s in want]
    assert [s.logprobs for s in got] == [s.logprobs for s in want]

    trainer = engines.train_engine(2)
    assert trainer.steps == 2
    prompt_ids = chat_prompt_ids(trainer.tokenizer, prompts)
    scored = trainer.policy_logprobs(prompt_ids, [s.response_token_ids for s in got])
    for sample, logprobs in zip(got, scored):
        np.testing.assert_allclose(logprobs, sample.logprobs, atol=1e-5)


def test_killed_train_actor_fails_the_stage_and_the_rerun_resumes(
    prefect_harness, ray_run, inprocess, tmp_path, monkeypatch
):
    """The flow with the ray backend; train actor rank 1 exits half-way through iteration
    1's step (after its first mini-batch): the stage fails well within the call timeout
    naming the actor and the call, every actor of the run is gone, no checkpoint of
    iteration 1 (complete or partial) is left. Rerunning the flow skips what was recorded
    and ends with the uninterrupted ray run's weights, bit for bit (same ranks, same
    reduction order), and the in-process run's within 1e-6."""
    from flows.train import train

    run_dir = tmp_path / "flow"
    overrides = _ray_overrides(2, 1)
    free_before = ray.available_resources().get("CPU", 0.0)
    monkeypatch.setenv(RAY_FAULT_ENV, "1:train:1")
    started = time.monotonic()
    with pytest.raises(ActorFailure) as failure:
        train(config=str(TINY), run_dir=str(run_dir), overrides=overrides, track=False)
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "ray train actor rank 1 of 2 died during step of iteration 1" in message, message
    from tasks.context import is_transient

    assert not is_transient(failure.value)  # not retried by Prefect: the next run rebuilds
    rundir = RunDir(run_dir)
    stage_took = Manifest.load(rundir)  # the run up to the failure
    assert stage_took.stage(1, "batch")["status"] == "done"
    assert (stage_took.stage(1, "train") or {}).get("status") != "done"
    assert elapsed < CALL_TIMEOUT_S + 120, elapsed  # the start of 3 actors, 1.5 iterations
    assert sorted(p.name for p in (rundir.root / "checkpoints").iterdir()) == ["iter-0000"]
    assert not rundir.train_json_path(1).exists()
    # Every actor of the flow killed, their placement groups removed.
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0.0) < free_before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("CPU", 0.0) == free_before

    monkeypatch.delenv(RAY_FAULT_ENV)
    finished = {s: stage_took.stage(0, s)["finished"] for s in STAGES}
    train(config=str(TINY), run_dir=str(run_dir), overrides=overrides, track=False)
    manifest = Manifest.load(rundir)
    assert {s: manifest.stage(0, s)["finished"] for s in STAGES} == finished  # not recomputed
    assert manifest.stage(1, "train")["engine"] == {"backend": "ray", "world_size": 2}
    got = _weights(rundir.checkpoint_dir(1))
    uninterrupted = _weights(ray_run[0].checkpoint_dir(1))
    assert all(torch.equal(got[n], uninterrupted[n]) for n in uninterrupted)
    assert _worst(got, _weights(inprocess.checkpoint_dir(1))) <= 1e-6
