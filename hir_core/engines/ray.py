"""Backend ``ray``: the engines live in Ray actors; the flow (the driver) stays the controller.

    distributed: {backend: ray, train_ranks: 2, rollout_workers: 2}

- **Train**: ``distributed.train_ranks`` actors in one placement group
  (``distributed.train_actor`` per bundle), each holding a
  :class:`~hir_core.engines.training.TrainingEngine` of one torch.distributed group (gloo on
  CPU, NCCL on GPU). Rank 0's actor picks the rendezvous address (its node's IP and a free
  port); every actor sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_*`` before
  joining, with ``distributed.collective_timeout_s`` on the group's collectives. Every actor
  gets the full batch table (the engine takes its share), saves and exports (rank 0 writes):
  the checkpoint folder must be on a filesystem the driver and every actor see (the run
  directory). Optimizer state stays in the actors between iterations; a checkpoint is read
  only when the live group is not at the iteration's step (a rerun stage, a failed step).
- **Rollout**: ``distributed.rollout_workers`` actors, each with a whole generator built by
  :func:`hir_core.pipeline.make_generator` from the checkpoint folder (transformers on CPU,
  vLLM inside the actor on GPU). They follow the trainer through that folder: a reload only
  when :func:`~hir_core.engines.api.checkpoint_signature` changed, then a
  :func:`~hir_core.engines.api.parameter_checksum` of what the actor holds, compared with
  the saved policy's (``distributed.weight_checksum``). A stage's prompts are split between
  the actors in order, in whole decoding chunks (:func:`hir_core.pipeline.generation_chunks`:
  each chunk keeps its seed), so the table is the same for any number of workers.

Every call into an actor waits at most ``distributed.call_timeout_s`` (starting:
``start_timeout_s``); a dead, failed or hung actor raises :class:`ActorFailure` naming the
actor and the call, and its group is killed (its state is unknown). The next
``train_engine(k)`` / ``rollout_engine(k)`` (or the next flow run) builds a new group from
the last recorded checkpoint. :meth:`RayEngines.close` kills every actor and stops the local
cluster if this backend started it (``distributed.ray_address: null``); a cluster already
connected to (a test's, ``ray start``) is left running.

Actor processes import ``hir_core`` (not Prefect, not MLflow); the package must be installed
on every node of a cluster, with the same Ray version (constraints.txt).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
except ImportError as err:  # the optional extra
    raise ImportError(
        "distributed.backend: ray needs the `ray` extra: pip install -c constraints.txt '.[ray]'"
    ) from err

from hir_core.config import ActorResources, PipelineConfig
from hir_core.engines.api import EngineInfo, WeightSync, checkpoint_signature, parameter_checksum
from hir_core.rundir import RunDir
from hir_core.stages import ALL_RANK_STAGES

__all__ = ["RAY_FAULT_ENV", "ActorFailure", "RayEngines", "RayRolloutEngine", "RayTrainEngine"]

# Crash drill (tests, a manual check that a lost rank fails the stage): "K:train:R" makes the
# train actor of rank R exit (os._exit, no cleanup) after the first mini-batch of iteration
# K's step, with the other ranks inside the step. Read by the driver, sent with the call.
RAY_FAULT_ENV = "HIR_RAY_FAULT"

# Environment the actors get from the driver (on a remote cluster they do not inherit it):
# offline switches and where caches live.
_FORWARDED_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HOME",
    "HIR_CACHE_DIR",
    "HIR_ALLOCATOR",
    "TORCH_EXTENSIONS_DIR",
    "DS_BUILD_OPS",
)


class ActorFailure(RuntimeError):
    """A call into a Ray actor failed: the actor died, raised, or did not answer in time.

    Not retried by Prefect (``tasks.context.retry_transient``): the group's state is
    unknown; the next engines request or flow run rebuilds it from the last checkpoint."""


# ------------------------------------------------------------------------------ calls


def _wait_all(calls: Sequence[tuple[str, Any]], what: str, timeout_s: float) -> list:
    """The results of ``calls`` ((actor name, object ref) pairs) in order, or ActorFailure
    at the first failure or when ``timeout_s`` passes (naming the actors that did not answer).

    Waits for the first one to finish, then the next: a rank that died is reported at once,
    not after its peers time out on a collective."""
    refs = [ref for _, ref in calls]
    name_of = {ref: name for name, ref in calls}
    deadline = time.monotonic() + timeout_s
    pending = list(refs)
    results: dict = {}
    while pending:
        ready, pending = ray.wait(
            pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic())
        )
        if not ready:
            late = ", ".join(name_of[r] for r in pending)
            raise ActorFailure(f"{late}: no answer to {what} within {timeout_s:g} s (timed out)")
        for ref in ready:
            name = name_of[ref]
            try:
                results[ref] = ray.get(ref, timeout=max(1.0, deadline - time.monotonic()))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if exc.cause is not None else exc
                raise ActorFailure(
                    f"{name} failed in {what}: {type(cause).__name__}: {cause}"
                ) from cause
            except ray.exceptions.RayActorError as exc:
                raise ActorFailure(f"{name} died during {what}: {_first_line(exc)}") from exc
            except ray.exceptions.RayError as exc:
                raise ActorFailure(f"{name}: {what} failed: {_first_line(exc)}") from exc
    return [results[r] for r in refs]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _bundle(resources: ActorResources, field: str) -> dict[str, float]:
    bundle = {"CPU": resources.num_cpus, "GPU": resources.num_gpus}
    if resources.memory_gb:
        bundle["memory"] = resources.memory_gb * 2**30
    bundle = {k: v for k, v in bundle.items() if v}
    if not bundle:
        raise ValueError(f"distributed.{field}: reserve num_cpus or num_gpus (both are 0)")
    return bundle


def _threads(resources: ActorResources) -> int:
    """torch threads of an actor: its reserved cores (at least one), as Ray's OMP default."""
    return max(1, int(resources.num_cpus))


# Packages an actor must never load: the orchestration layer's. DeepSpeed's autotuner (unused
# here) imports mlflow when it is installed: 1.5 s and ~180 MB per actor for nothing. A None
# in sys.modules makes their import fail, which DeepSpeed expects.
_NOT_IN_ACTORS = ("mlflow", "prefect")


def _actor_setup(threads: int) -> None:
    import torch

    for name in _NOT_IN_ACTORS:
        sys.modules.setdefault(name, None)
    torch.set_num_threads(threads)


def _free_address() -> tuple[str, int]:
    """This node's IP (as Ray sees it) and a port free on it: rank 0's rendezvous."""
    host = ray.util.get_node_ip_address()
    with socket.socket() as s:
        s.bind(("", 0))
        return host, s.getsockname()[1]


def _loaded(prefixes: Sequence[str]) -> list[str]:
    return sorted(
        m for m, mod in sys.modules.items() if mod is not None and m.split(".")[0] in prefixes
    )


# ------------------------------------------------------------------------------ the actors


class TrainActor:
    """One rank of the train group (a Ray actor; methods are called by :class:`_TrainGroup`)."""

    def __init__(self, rank: int, world_size: int, threads: int):
        _actor_setup(threads)
        self.rank, self.world_size = rank, world_size
        self.cfg: PipelineConfig | None = None
        self.engine = None

    def address(self) -> tuple[str, int]:
        return _free_address()

    def start(
        self,
        master: tuple[str, int],
        cfg: PipelineConfig,
        iteration: int,
        previous: str | None,
        collective_timeout_s: float,
    ) -> tuple[int, bool]:
        """Join the group at ``master`` and build the engine of ``iteration``."""
        from hir_core.engines.training import OWN_PORT_ENV, init_distributed

        # A worker process may inherit a driver's one-process group settings: ours rule.
        os.environ.pop(OWN_PORT_ENV, None)
        os.environ.update(
            MASTER_ADDR=master[0],
            MASTER_PORT=str(master[1]),
            RANK=str(self.rank),
            WORLD_SIZE=str(self.world_size),
            # Ray gives each actor its own CUDA_VISIBLE_DEVICES: its GPU is device 0.
            LOCAL_RANK="0",
        )
        init_distributed(collective_timeout_s)
        self.cfg = cfg
        return self.prepare(iteration, previous)

    def prepare(self, iteration: int, previous: str | None) -> tuple[int, bool]:
        """The engine at the policy ``iteration`` starts from (live, or ``previous`` loaded:
        ``pipeline.engine_for_iteration``); returns (its steps, whether it read a checkpoint)."""
        from hir_core import pipeline

        live = self.engine is not None and (
            self.engine.steps == iteration and not self.engine.interrupted_step
        )
        folder = Path(previous) if previous is not None else None
        self.engine = pipeline.engine_for_iteration(self.cfg, iteration, folder, self.engine)
        return self.engine.steps, not live and folder is not None

    def tokenizer(self):
        return self.engine.tokenizer

    def policy_logprobs(self, prompt_ids, response_ids):
        return self.engine.policy_logprobs(prompt_ids, response_ids)

    def ref_logprobs(self, prompt_ids, response_ids):
        return self.engine.ref_logprobs(prompt_ids, response_ids)

    def step(self, batch, exit_mid_step: bool = False) -> dict[str, float]:
        if exit_mid_step:  # RAY_FAULT_ENV: the crash drill
            mini_batch_step = self.engine._mini_batch_step

            def first_then_exit(rows):
                mini_batch_step(rows)
                os._exit(1)

            self.engine._mini_batch_step = first_then_exit
        return self.engine.step(batch)

    def save_checkpoint(self, folder: str) -> str:
        return str(self.engine.save_checkpoint(folder))

    def export_policy(self, folder: str) -> str:
        return str(self.engine.export_policy(folder))

    def loaded_modules(self, prefixes: Sequence[str]) -> list[str]:
        return _loaded(prefixes)

    def pid(self) -> int:
        return os.getpid()


class RolloutActor:
    """One rollout worker: a whole generator on the policy of a checkpoint folder."""

    def __init__(self, threads: int):
        _actor_setup(threads)
        self.cfg: PipelineConfig | None = None
        self.generator = None
        self.signature: str | None = None
        self.checksum: str | None = None

    def start(self, cfg: PipelineConfig, folder: str | None) -> str | None:
        from hir_core import pipeline

        self.cfg = cfg
        path = Path(folder) if folder is not None else None
        self.generator = pipeline.make_generator(cfg, path)
        self.signature = checkpoint_signature(path)
        self.checksum = self._checksum()
        return self.checksum

    def _weights(self):
        model = getattr(self.generator, "model", None)
        if model is None:  # vLLM: the transformers copy it loads from the same folder
            model = self.generator.hf_model
        return model.state_dict()

    def _checksum(self) -> str | None:
        return parameter_checksum(self._weights()) if self.cfg.distributed.weight_checksum else None

    def sync(self, folder: str | None) -> tuple[bool, str | None, float]:
        """Hold the policy of ``folder`` (None: the base model); read it only when its
        signature changed. Returns (reloaded, checksum of the weights held, seconds)."""
        from hir_core import pipeline

        start = time.perf_counter()
        path = Path(folder) if folder is not None else None
        signature = checkpoint_signature(path)
        if signature == self.signature:
            return False, self.checksum, time.perf_counter() - start
        if path is None:  # back to the base model (an iteration 0 rerun): a new generator
            close = getattr(self.generator, "close", None)
            if close is not None:
                close()
            self.generator = pipeline.make_generator(self.cfg, None)
        else:
            pipeline.refresh_generator(self.generator, path)
        self.signature = signature
        self.checksum = self._checksum()
        return True, self.checksum, time.perf_counter() - start

    def generate(self, prompts, cfg: PipelineConfig, seed: int, first_chunk: int):
        """Rollouts of ``prompts`` (a run of whole chunks of the stage's table) -> (table,
        seconds)."""
        from hir_core import pipeline

        start = time.perf_counter()
        table, _ = pipeline.generate_rollouts(prompts, self.generator, cfg, seed, first_chunk)
        return table, time.perf_counter() - start

    def generate_samples(self, prompts, generation):
        """``Generator.generate`` with the caller's settings (``generation``) for this call."""
        old = self.generator.cfg
        self.generator.cfg = generation
        try:
            return self.generator.generate(prompts)
        finally:
            self.generator.cfg = old

    def release_memory(self) -> None:
        """vLLM: sleep (weights and KV cache off the GPU); transformers: nothing to free."""
        llm = getattr(self.generator, "llm", None)
        if llm is not None and hasattr(llm, "sleep"):
            llm.sleep(level=1)

    def resume_memory(self) -> None:
        llm = getattr(self.generator, "llm", None)
        if llm is not None and hasattr(llm, "wake_up"):
            llm.wake_up()

    def loaded_modules(self, prefixes: Sequence[str]) -> list[str]:
        return _loaded(prefixes)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        close = getattr(self.generator, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------------------ groups


class _Group:
    """Actors of one kind in one placement group; every call through :meth:`call`."""

    kind = ""

    def __init__(self, engines: RayEngines, actors: list, names: list[str], pg):
        self.engines = engines
        self.actors = actors
        self.names = names
        self.pg = pg
        self.alive = True

    def call(self, method: str, *args, what: str, timeout_s: float | None = None, only=None):
        """``method(*args)`` on every actor (or those at indices ``only``), waited for with
        the call timeout (``timeout_s``, default ``distributed.call_timeout_s``); on any
        failure the whole group is killed and ActorFailure raised. Results in actor order."""
        indices = range(len(self.actors)) if only is None else only
        return self.call_each(
            method, [args for _ in indices], what=what, timeout_s=timeout_s, only=indices
        )

    def call_each(self, method: str, per_actor_args, *, what: str, timeout_s=None, only=None):
        """As :meth:`call`, with its own arguments for each actor called."""
        if not self.alive:
            raise ActorFailure(
                f"the ray {self.kind} actors were stopped after a failure; ask the engines "
                "for a new one"
            )
        indices = list(range(len(self.actors)) if only is None else only)
        timeout_s = timeout_s if timeout_s is not None else self.engines.d.call_timeout_s
        calls = [
            (self.names[i], getattr(self.actors[i], method).remote(*args))
            for i, args in zip(indices, per_actor_args)
        ]
        try:
            return _wait_all(calls, what, timeout_s)
        except ActorFailure:
            self.kill()
            raise

    def kill(self) -> None:
        self.alive = False
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)
        if self.pg is not None:
            with contextlib.suppress(Exception):  # already removed
                remove_placement_group(self.pg)
            self.pg = None


class _TrainGroup(_Group):
    kind = "train"


class _RolloutGroup(_Group):
    kind = "rollout"


def _reserve(bundles: list[dict], what: str, timeout_s: float):
    """A placement group of ``bundles``, ready, or ActorFailure naming what is missing."""
    pg = placement_group(bundles, strategy="PACK")
    try:
        ray.get(pg.ready(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError as err:
        remove_placement_group(pg)
        raise ActorFailure(
            f"{what}: could not reserve {len(bundles)} x {bundles[0]} within {timeout_s:g} s "
            f"(distributed.start_timeout_s); the cluster has {ray.available_resources()} free "
            f"of {ray.cluster_resources()}"
        ) from err
    return pg


# ------------------------------------------------------------------------------ the engines


class RayTrainEngine:
    """The driver's handle on the train group: the :class:`~hir_core.engines.api.TrainEngine`
    methods, each a call into every rank (log-probs: rank 0 alone below ZeRO-3, where a
    forward needs no collective; results are rank 0's)."""

    rank = 0  # the driver acts as the writer (pipeline.save_checkpoint renames on rank 0)

    def __init__(self, group: _TrainGroup, steps: int, zero_stage: int):
        self._group = group
        self.steps = steps
        self.world_size = len(group.actors)
        self.interrupted_step = False
        self._zero_stage = zero_stage
        self._tokenizer = None

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            (self._tokenizer,) = self._group.call("tokenizer", what="tokenizer", only=[0])
        return self._tokenizer

    def _logprobs(self, method: str, prompt_ids, response_ids):
        only = None if self._zero_stage == 3 else [0]
        args = ([list(p) for p in prompt_ids], [list(r) for r in response_ids])
        results = self._group.call(
            method, *args, what=f"{method} ({len(prompt_ids)} seqs)", only=only
        )
        return results[0]

    def policy_logprobs(self, prompt_ids, response_ids):
        return self._logprobs("policy_logprobs", prompt_ids, response_ids)

    def ref_logprobs(self, prompt_ids, response_ids):
        return self._logprobs("ref_logprobs", prompt_ids, response_ids)

    def step(self, batch) -> dict[str, float]:
        crash = _fault_rank(self.steps)
        table = ray.put(batch)  # one copy in the object store, read by every rank
        per_actor = [(table, rank == crash) for rank in range(self.world_size)]
        self.interrupted_step = True
        results = self._group.call_each("step", per_actor, what=f"step of iteration {self.steps}")
        self.steps += 1
        self.interrupted_step = False
        return results[0]

    def save_checkpoint(self, folder: Path) -> Path:
        self._group.call("save_checkpoint", str(folder), what=f"save_checkpoint to {folder}")
        return Path(folder)

    def export_policy(self, folder: Path) -> Path:
        self._group.call("export_policy", str(folder), what=f"export_policy to {folder}")
        return Path(folder)


def _fault_rank(iteration: int) -> int | None:
    spec = os.environ.get(RAY_FAULT_ENV, "").split(":")
    if len(spec) == 3 and spec[0] == str(iteration) and spec[1] == "train":
        return int(spec[2])
    return None


class RemoteGenerator:
    """A :class:`~hir_core.engines.generation.Generator` whose ``generate`` runs on rollout
    actor 0 with this object's ``cfg`` (HeRL's guided pass and evaluation set seed, n, ...
    on it, as on a local generator)."""

    def __init__(self, group: _RolloutGroup, cfg):
        self._group = group
        self.cfg = cfg

    def generate(self, prompts):
        (groups,) = self._group.call(
            "generate_samples",
            [list(p) for p in prompts],
            self.cfg,
            what=f"generate ({len(prompts)} prompts)",
            only=[0],
        )
        return groups

    def load(self, model_dir) -> str:
        self._group.call("sync", str(model_dir), what=f"sync_weights from {model_dir}")
        return "synced"


class RayRolloutEngine:
    """The driver's handle on the rollout actors (:class:`~hir_core.engines.api.RolloutEngine`)."""

    def __init__(self, group: _RolloutGroup, cfg: PipelineConfig):
        self._group = group
        self.cfg = cfg
        self.last_sync: WeightSync | None = None

    @property
    def workers(self) -> int:
        return len(self._group.actors)

    def split(self, n_prompts: int, cfg: PipelineConfig) -> list[tuple[int, int, int]]:
        """(lo, hi, first chunk) of each worker's share of a stage's prompts: runs of whole
        decoding chunks in order (vLLM: of prompts, each sampled from its own stream)."""
        from hir_core import pipeline

        chunks = pipeline.generation_chunks(n_prompts, cfg.rollout, cfg.hindsight.n_gen)
        if cfg.rollout.backend == "vllm":
            chunks = [(i, i + 1) for i in range(n_prompts)]
        shares, start = [], 0
        for w in range(self.workers):
            count = len(chunks) // self.workers + (w < len(chunks) % self.workers)
            if count:
                part = chunks[start : start + count]
                shares.append((part[0][0], part[-1][1], start))
            start += count
        return shares

    def generate(self, prompts, cfg: PipelineConfig, seed: int):
        import polars as pl

        from hir_core import pipeline

        if prompts.height == 0:
            raise ValueError("rollouts: the prompts table is empty")
        start = time.perf_counter()
        shares = self.split(prompts.height, cfg)
        args = [(prompts[lo:hi], cfg, int(seed), first) for lo, hi, first in shares]
        parts = self._group.call_each(
            "generate",
            args,
            what=f"generate ({prompts.height} prompts)",
            only=list(range(len(shares))),
        )
        table = pl.concat([table for table, _ in parts], how="vertical")
        metrics = pipeline.rollouts_metrics(table, time.perf_counter() - start)
        metrics["rollout/workers"] = float(len(shares))
        metrics["rollout/worker_max_s"] = max(seconds for _, seconds in parts)
        return table, metrics

    def sync_weights(self, checkpoint: Path | None) -> WeightSync:
        start = time.perf_counter()
        folder = str(checkpoint) if checkpoint is not None else None
        results = self._group.call("sync", folder, what=f"sync_weights from {folder or 'base'}")
        checksums = {checksum for _, checksum, _ in results}
        if len(checksums) > 1:
            self._group.kill()
            raise ActorFailure(f"rollout actors hold different weights after syncing {folder}")
        self.last_sync = WeightSync(
            folder,
            reloaded=any(reloaded for reloaded, _, _ in results),
            checksum=checksums.pop(),
            seconds=time.perf_counter() - start,
        )
        return self.last_sync

    def generator(self) -> RemoteGenerator:
        return RemoteGenerator(self._group, self.cfg.rollout.model_copy())

    def release_memory(self) -> None:
        self._group.call("release_memory", what="release_memory")

    def resume_memory(self) -> None:
        self._group.call("resume_memory", what="resume_memory")


class RayEngines:
    """The run's engines as Ray actors (:class:`~hir_core.engines.api.Engines`; module
    docstring). Nothing starts until a stage asks for an engine."""

    backend = "ray"

    def __init__(self, cfg: PipelineConfig, rundir: RunDir):
        self.cfg = cfg
        self.rundir = rundir
        self.d = cfg.distributed
        self._connected = False  # whether this object called ray.init (and shuts it down)
        self._train: _TrainGroup | None = None
        self._train_engine: RayTrainEngine | None = None
        self._rollout: _RolloutGroup | None = None
        self._rollout_engine: RayRolloutEngine | None = None
        # (what, seconds) of each actor start, checkpoint reload and weight sync: the
        # per-iteration cost of the backend (benchmarks/scaleout.py).
        self.timings: list[tuple[str, float]] = []

    # ---------------------------------------------------------------------- cluster

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.d.ray_address is None:
            ray.init(
                num_cpus=self.d.local_num_cpus,
                object_store_memory=int(self.d.local_object_store_gb * 2**30),
                include_dashboard=False,
                log_to_driver=True,
            )
        else:
            ray.init(address=self.d.ray_address, log_to_driver=True)
        self._connected = True

    def _actor_options(self, resources: ActorResources, pg, index: int) -> dict:
        env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
        options = {
            "num_cpus": resources.num_cpus,
            "num_gpus": resources.num_gpus,
            "max_restarts": 0,
            "max_task_retries": 0,
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                pg, placement_group_bundle_index=index
            ),
            "runtime_env": {"env_vars": env},
        }
        if resources.memory_gb:
            options["memory"] = int(resources.memory_gb * 2**30)
        return options

    def _previous(self, iteration: int) -> Path | None:
        from hir_core.engines.inprocess import previous_checkpoint

        return previous_checkpoint(self.rundir, iteration)

    # ---------------------------------------------------------------------- train

    def _start_train(self, iteration: int, previous: Path | None) -> _TrainGroup:
        self._connect()
        started = time.perf_counter()
        d, n = self.d, self.d.train_ranks
        bundle = _bundle(d.train_actor, "train_actor")
        pg = _reserve([bundle] * n, "ray train actors", d.start_timeout_s)
        remote = ray.remote(TrainActor)
        actors = [
            remote.options(**self._actor_options(d.train_actor, pg, rank)).remote(
                rank, n, _threads(d.train_actor)
            )
            for rank in range(n)
        ]
        names = [f"ray train actor rank {rank} of {n}" for rank in range(n)]
        group = _TrainGroup(self, actors, names, pg)
        (master,) = group.call("address", what="address", only=[0], timeout_s=d.start_timeout_s)
        folder = str(previous) if previous is not None else None
        results = group.call(
            "start",
            master,
            self.cfg,
            iteration,
            folder,
            d.collective_timeout_s,
            what=f"start (iteration {iteration}, checkpoint {folder or 'base model'})",
            timeout_s=d.start_timeout_s,
        )
        self._check_steps(group, results, iteration)
        self.timings.append(("train_start_s", time.perf_counter() - started))
        return group

    @staticmethod
    def _check_steps(group: _TrainGroup, results, iteration: int) -> None:
        steps = {s for s, _ in results}
        if steps != {iteration}:
            group.kill()  # ranks that disagree on the policy cannot step together
            raise ActorFailure(f"train actors hold steps {sorted(steps)}, iteration {iteration}")

    def train_engine(self, iteration: int) -> RayTrainEngine:
        """The train group holding the policy ``iteration`` starts from: the live one
        (optimizer state in the actors), the checkpoint of iteration - 1 loaded into it, or a
        new group (the first call, or after a failure)."""
        previous = self._previous(iteration)
        if self._train is not None and not self._train.alive:
            self._train = self._train_engine = None
        if self._train is None:
            self._train = self._start_train(iteration, previous)
        else:
            started = time.perf_counter()
            folder = str(previous) if previous is not None else None
            results = self._train.call(
                "prepare", iteration, folder, what=f"prepare (iteration {iteration})"
            )
            self._check_steps(self._train, results, iteration)
            if any(reloaded for _, reloaded in results):
                self.timings.append(("checkpoint_load_s", time.perf_counter() - started))
        if self._train_engine is None or self._train_engine._group is not self._train:
            self._train_engine = RayTrainEngine(
                self._train, iteration, self.cfg.training.zero_stage
            )
        self._train_engine.steps = iteration
        self._train_engine.interrupted_step = False
        return self._train_engine

    # ---------------------------------------------------------------------- rollout

    def _start_rollout(self, folder: Path | None) -> tuple[_RolloutGroup, str | None]:
        self._connect()
        started = time.perf_counter()
        d, n = self.d, self.d.rollout_workers
        bundle = _bundle(d.rollout_actor, "rollout_actor")
        pg = _reserve([bundle] * n, "ray rollout actors", d.start_timeout_s)
        remote = ray.remote(RolloutActor)
        actors = [
            remote.options(**self._actor_options(d.rollout_actor, pg, i)).remote(
                _threads(d.rollout_actor)
            )
            for i in range(n)
        ]
        names = [f"ray rollout actor {i} of {n}" for i in range(n)]
        group = _RolloutGroup(self, actors, names, pg)
        path = str(folder) if folder is not None else None
        checksums = group.call(
            "start",
            self.cfg,
            path,
            what=f"start (checkpoint {path or 'base model'})",
            timeout_s=d.start_timeout_s,
        )
        self.timings.append(("rollout_start_s", time.perf_counter() - started))
        self._check_checksums(group, folder, set(checksums))
        return group, checksums[0]

    def rollout_engine(self, iteration: int) -> RayRolloutEngine:
        """The rollout actors synced to the policy ``iteration`` starts from (the checkpoint
        of iteration - 1; the base model for iteration 0)."""
        folder = self._previous(iteration)
        if self._rollout is not None and not self._rollout.alive:
            self._rollout = self._rollout_engine = None
        if self._rollout is None:
            self._rollout, checksum = self._start_rollout(folder)
            self._rollout_engine = RayRolloutEngine(self._rollout, self.cfg)
            self._rollout_engine.last_sync = WeightSync(
                str(folder) if folder else None, reloaded=True, checksum=checksum
            )
        else:
            sync = self._rollout_engine.sync_weights(folder)
            if sync.reloaded:
                self.timings.append(("weight_sync_s", sync.seconds))
                self._check_checksums(self._rollout, folder, {sync.checksum})
        return self._rollout_engine

    def _check_checksums(self, group: _RolloutGroup, folder: Path | None, got: set) -> None:
        """Every rollout actor holds the trainer's saved policy (``weight_checksum``)."""
        if not self.d.weight_checksum:
            return
        if len(got) != 1:
            group.kill()
            raise ActorFailure(f"rollout actors hold different weights after loading {folder}")
        if folder is None:
            return
        want = saved_policy_checksum(folder)
        if got != {want}:
            group.kill()
            raise ActorFailure(
                f"rollout actors' weights (checksum {next(iter(got))}) differ from the saved "
                f"policy in {folder} ({want})"
            )

    # ---------------------------------------------------------------------- the rest

    def info(self, stage: str) -> EngineInfo:
        """Train ranks for batch and train; rollout workers for rollouts; 1 for a
        generating replays stage (HeRL's guided pass runs on rollout actor 0)."""
        if stage in ALL_RANK_STAGES:
            return EngineInfo(self.backend, self.d.train_ranks)
        if stage == "rollouts":
            return EngineInfo(self.backend, self.d.rollout_workers)
        return EngineInfo(self.backend, 1)

    def actors(self) -> dict[str, list]:
        """The live actor handles by kind (tests, diagnostics)."""
        return {
            "train": list(self._train.actors) if self._train is not None else [],
            "rollout": list(self._rollout.actors) if self._rollout is not None else [],
        }

    def close(self) -> None:
        """Kill every actor; stop (disconnect from) the cluster if this object started
        (connected to) it. A later request starts new actors."""
        if self._rollout is not None and self._rollout.alive:
            try:
                self._rollout.call("close", what="close", timeout_s=30.0)
            except ActorFailure:
                pass  # killed below either way
        for group in (self._train, self._rollout):
            if group is not None:
                group.kill()
        self._train = self._train_engine = None
        self._rollout = self._rollout_engine = None
        if self._connected and ray.is_initialized():
            ray.shutdown()
        self._connected = False


_CHECKSUMS: dict[str, str] = {}


def saved_policy_checksum(folder: Path) -> str:
    """:func:`parameter_checksum` of the policy weights saved in ``folder`` (cached by the
    folder's signature: one read per checkpoint)."""
    from safetensors.torch import load_file

    signature = checkpoint_signature(folder)
    if signature not in _CHECKSUMS:
        tensors = {}
        for file in sorted(Path(folder).glob("*.safetensors")):
            tensors.update(load_file(file))
        _CHECKSUMS[signature] = parameter_checksum(tensors)
    return _CHECKSUMS[signature]
