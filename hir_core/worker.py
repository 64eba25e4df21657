"""``hir worker RUN_DIR K STAGE``: one stage of a run under a launcher, rank-aware (no Ray).

    torchrun --nproc_per_node 8 -m flows.cli worker runs/paper 12 train
    deepspeed --num_gpus 8 --module flows.cli worker runs/paper 12 train

Every rank runs :func:`run_worker`. The batch and train stages compute on every rank: each
rank holds a DeepSpeed engine of one torch.distributed group (the launcher's), takes its
share of the batch, and saves its part of the checkpoint. The other stages compute on rank 0
alone (the rollout generator loads the previous checkpoint folder; the train engine's group
spans every rank, so generation cannot share it). Rank 0 alone takes the run lock and writes
tables, train.json and the manifest, after a barrier; the others wait. One process (no
launcher) is a group of one.

It is how a user reruns one stage of a run on a GPU node, and the fallback where no Ray
cluster is available: a driver script runs the iterations as a sequence of these commands
(each start pays the process start, model load and checkpoint restore: BENCHMARKS.md,
"Scale-out"). Nothing here imports Prefect or MLflow; the stage is recorded in the manifest
as the flow records it, so a later ``hir train`` on the run skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hir_core.engines.api import EngineInfo, checkpoint_signature
from hir_core.engines.inprocess import InProcessEngines, InProcessRolloutEngine
from hir_core.rundir import STAGES, Manifest, RunDir, RunLockedError
from hir_core.stages import ALL_RANK_STAGES, StageOutcome, run_stage


@dataclass(frozen=True)
class Ranks:
    """This process's place in the launched group (torchrun / deepspeed environment)."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Ranks:
        return cls(
            int(os.environ.get("RANK", "0")),
            int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")),
        )


class WorkerEngines(InProcessEngines):
    """In-process engines of one rank: the train engine joins the launcher's group; the
    rollout generator is rank 0's own, loaded from the checkpoint folder."""

    backend = "worker"

    def __init__(self, cfg, rundir: RunDir, ranks: Ranks):
        super().__init__(cfg, rundir)
        self.ranks = ranks
        self._rollout_signature: str | None = None

    def rollout_engine(self, iteration: int) -> InProcessRolloutEngine:
        from hir_core import pipeline

        folder = self._previous(iteration)
        signature = checkpoint_signature(folder)
        if self._rollout is None or self._rollout_signature != signature:
            if self._rollout is not None:
                self._rollout.close()
            self._rollout = InProcessRolloutEngine(pipeline.make_generator(self.cfg, folder))
            self._rollout_signature = signature
        return self._rollout

    def info(self, stage: str) -> EngineInfo:
        return EngineInfo(self.backend, self.ranks.world_size if stage in ALL_RANK_STAGES else 1)


def _group() -> None:
    """Join the launcher's process group (or make a group of one)."""
    from hir_core.engines.training import init_distributed

    init_distributed()


def _agree(ok: bool, message: str) -> None:
    """Rank 0's ``ok`` to every rank; all raise ``message`` together when it is False."""
    import torch.distributed as dist

    flag = [ok, message]
    if dist.get_world_size() > 1:
        dist.broadcast_object_list(flag, src=0)
    if not flag[0]:
        raise RunLockedError(flag[1])


def run_worker(
    run_dir: str | Path, iteration: int, stage: str, force: bool = False
) -> StageOutcome:
    """Run ``stage`` of ``iteration`` of the run in ``run_dir`` on this rank (module
    docstring). Returns the stage's outcome (on ranks > 0 without the recorded hashes)."""
    import torch.distributed as dist

    rundir = RunDir(run_dir)
    cfg = rundir.load_config()
    ranks = Ranks.from_env()
    _group()
    writer = dist.get_rank() == 0
    lock = rundir.lock(holder=f"hir worker {iteration} {stage} (rank 0 of {ranks.world_size})")
    message = ""
    if writer:
        try:
            lock.acquire()
        except RunLockedError as err:
            message = str(err)
    _agree(not message, message)
    engines = WorkerEngines(cfg, rundir, ranks)
    try:
        outcome = run_stage(
            rundir, cfg, iteration, stage, engines, force=force, writer=writer, barrier=dist.barrier
        )
        if force and writer:
            # As `hir stage --force`: the later stages of the iteration are recomputed next.
            later = list(STAGES[STAGES.index(stage) + 1 :])
            Manifest.load(rundir).mark_stale(iteration, later)
        return outcome
    finally:
        engines.close()
        if writer:
            lock.release()
