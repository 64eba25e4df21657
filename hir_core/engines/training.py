"""The training engine: DeepSpeed forward, loss, backward and step on a BATCH table.

One ``step(batch)`` is one policy update of METHOD.md step 7: the batch is cut into
``mini_batches`` contiguous mini-batches (one optimizer step each, ``epochs`` passes), each
mini-batch is sharded over the data-parallel ranks and run in micro-batches whose gradients
accumulate. The loss of every micro-batch is normalised by the token (or sequence) count of
the whole mini-batch across all ranks, so the update does not depend on how the mini-batch
is split into micro-batches or processes.

Runs in one process on CPU (gloo) or under the ``deepspeed`` launcher / ``torchrun`` with
several processes (NCCL on GPU). Every rank receives the full batch table and takes its share.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hir_core.engines.host_memory import HostMemoryConfig, ParkedWeights, return_freed_memory_to_os
from hir_core.engines.logprobs import compute_logprobs, pad_prompt_response, token_logprobs
from hir_core.engines.training_config import OPTIMIZER_STATE_DIR, TrainingConfig
from hir_core.losses import policy_loss
from hir_core.models import ModelConfig, load_model
from hir_core.storage import PRUNED_SUFFIX, conform

__all__ = ["TrainingConfig", "TrainingEngine", "compute_logprobs"]

_TOKEN_COLUMNS = ("advantages", "old_logprobs", "ref_logprobs")
# A checkpoint folder's subfolder with DeepSpeed's state (optimizer moments, step counts).
_DS_TAG = "state"


def bf16_available() -> bool:
    """Whether this machine runs bf16 matmuls natively (CUDA bf16, or CPU AMX/AVX512-BF16)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


class _ClippingAdamW(torch.optim.AdamW):
    """torch AdamW that clips gradients and records their norm before stepping.

    Used without ZeRO, where DeepSpeed clips but does not report the norm; at ``step`` the
    gradients are already averaged over ranks, so the norm is the global one. (With ZeRO,
    DeepSpeed's optimizer wrapper clips and reports the norm itself.)
    """

    def __init__(self, params, max_norm: float, **kwargs):
        super().__init__(params, **kwargs)
        self.max_norm = max_norm
        self.grad_norm: float | None = None

    def step(self, closure=None):
        grads = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        self.grad_norm = float(torch.nn.utils.clip_grad_norm_(grads, self.max_norm))
        return super().step(closure)


def _fused_adamw_ok(model: torch.nn.Module) -> bool:
    """torch's fused AdamW runs on CPU and CUDA floating-point parameters."""
    return all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters()
    )


def _store_linear_weights_in_bf16(model: torch.nn.Module) -> None:
    """Keep a frozen model's Linear weights in bf16, for use under bf16 autocast only.

    Autocast runs every Linear in bf16 and casts an fp32 weight down first: a weight stored
    in bf16 gives bit-identical outputs at half the memory (SmolLM2's reference: ~0.2 GiB
    less). Embeddings, norms and any Linear sharing its weight with an embedding (a tied
    output head) stay fp32: autocast does not cast those, so their dtype would change the
    results.
    """
    embedding_weights = {
        m.weight.data_ptr() for m in model.modules() if isinstance(m, torch.nn.Embedding)
    }
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and (
            module.weight.data_ptr() not in embedding_weights
        ):
            module.to(torch.bfloat16)


# Set to MASTER_PORT when init_distributed made a one-process group itself (no launcher).
OWN_PORT_ENV = "HIR_OWN_MASTER_PORT"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(timeout_s: float | None = None) -> None:
    """Join the launcher's process group, or make a one-process group (gloo on CPU).

    ``timeout_s``: how long a collective waits for the other ranks before failing (the
    ``ray`` backend's train actors pass ``distributed.collective_timeout_s``, so a rank
    waiting on a dead one errors out instead of hanging); None: torch's default."""
    import datetime

    import torch.distributed as dist

    if not torch.cuda.is_available():
        _skip_shared_memory_comm_op()
    if dist.is_initialized():
        return
    # A launcher (torchrun, deepspeed) sets MASTER_PORT. Ours is marked with OWN_PORT_ENV: a
    # subprocess inheriting it is not a rank of our group (the port is taken by the parent),
    # so it makes its own one-process group on a fresh port.
    launched = "MASTER_PORT" in os.environ and os.environ["MASTER_PORT"] != os.environ.get(
        OWN_PORT_ENV
    )
    if not launched:
        port = str(_free_port())
        os.environ.update(
            RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=port
        )
        os.environ[OWN_PORT_ENV] = port
    kwargs = {} if timeout_s is None else {"timeout": datetime.timedelta(seconds=timeout_s)}
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    try:
        import deepspeed
    except ImportError:
        # A worker running a stage without a train engine (e.g. rollouts in a vLLM-only
        # environment) needs the group, not DeepSpeed: torch's own initialisation is the same.
        dist.init_process_group(backend=backend, init_method="env://", **kwargs)
        return
    deepspeed.init_distributed(dist_backend=backend, **kwargs)


def _skip_shared_memory_comm_op() -> None:
    """Keep DeepSpeed's CPU backend from JIT-compiling its shared-memory all-reduce.

    That C++ op serves only DeepSpeed's inference all-reduce (tensor-parallel inference);
    training collectives go through gloo either way. Building it costs a minute on a fresh
    machine (several under load), needs a compiler, and processes sharing one
    TORCH_EXTENSIONS_DIR with different build settings rebuild it in turn.
    """
    try:
        import deepspeed.comm.torch  # noqa: F401  (the module; the attribute is torch itself)
    except ImportError:
        return  # no DeepSpeed here: nothing would build it
    module = sys.modules["deepspeed.comm.torch"]
    if hasattr(module, "build_shm_op"):
        module.build_shm_op = lambda: None


class TrainingEngine:
    """Policy (trained by DeepSpeed) and frozen reference model."""

    def __init__(
        self,
        model: ModelConfig | str | PreTrainedModel,
        cfg: TrainingConfig | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        host_memory: HostMemoryConfig | None = None,
    ):
        import deepspeed
        import torch.distributed as dist

        self.cfg = cfg or TrainingConfig()
        self.host_memory = host_memory or HostMemoryConfig()
        if isinstance(model, (ModelConfig, str)):
            model, tokenizer = load_model(model)
        self.tokenizer = tokenizer
        self.pad_id = (
            int(tokenizer.pad_token_id)
            if tokenizer is not None and tokenizer.pad_token_id is not None
            else 0
        )
        init_distributed()
        if self.host_memory.return_freed_memory and not torch.cuda.is_available():
            return_freed_memory_to_os()
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.bf16 = bf16_available() if self.cfg.bf16 == "auto" else self.cfg.bf16

        self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        model.train()
        adamw = {"lr": self.cfg.lr, "weight_decay": self.cfg.weight_decay}
        if self.cfg.zero_stage == 0:
            # The fused kernel: one pass over each parameter's four tensors per step, where
            # the default (foreach) implementation makes ~10 (memory-bound on CPU).
            optimizer = _ClippingAdamW(
                model.parameters(), self.cfg.grad_clip, fused=_fused_adamw_ok(model), **adamw
            )
        else:
            optimizer = torch.optim.AdamW(model.parameters(), **adamw)
        self._client_optimizer = optimizer
        self.engine, self.optimizer, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=self._deepspeed_config()
        )
        self.device = self.engine.device
        if self.world_size == 1 and self.cfg.zero_stage == 0:
            # Nothing to average over: DeepSpeed's all-reduce would only flatten every
            # gradient into a bucket and copy it back (time and a transient copy of them all).
            self.engine.enable_backward_allreduce = False
        # The response-only, chunked output head (hir_core.engines.logprobs.token_logprobs)
        # saves most of a step's logit memory; ZeRO-3 needs the engine's own forward.
        self._chunked_head = self.cfg.zero_stage != 3
        self.reference.to(self.device)
        if self.bf16:
            _store_linear_weights_in_bf16(self.reference)
        offload = self.host_memory.reference_offload
        if offload == "auto":
            offload = self.device.type == "cpu"
        self._parked_reference = (
            ParkedWeights(self.reference, self.device, prefix="hir-reference-") if offload else None
        )
        self.steps = 0
        # True from the start of a step() until it completes: an exception in between may
        # leave some mini-batches applied while `steps` is unchanged, so the weights are
        # neither those of step `steps` nor of the next. Whoever reuses the engine must
        # restore a checkpoint first (load_checkpoint clears it).
        self.interrupted_step = False

    def _deepspeed_config(self) -> dict:
        return {
            "train_micro_batch_size_per_gpu": self.cfg.micro_batch_size,
            "gradient_accumulation_steps": 1,
            # We own the accumulation boundary: mini-batches vary in size (replay shortfall).
            "managed_gradient_accumulation": False,
            # Without ZeRO the client optimizer clips (and reports the norm): see _ClippingAdamW.
            "gradient_clipping": self.cfg.grad_clip if self.cfg.zero_stage > 0 else 0.0,
            "zero_optimization": {"stage": self.cfg.zero_stage},
            "zero_allow_untested_optimizer": True,  # the client torch AdamW: no compiled ops
            "steps_per_print": 2**62,
            "wall_clock_breakdown": False,
        }

    @property
    def model(self) -> PreTrainedModel:
        return self.engine.module

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    # ------------------------------------------------------------------------- log-probs

    def policy_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """Teacher-forced log-probs under the current policy (old log-probs), computed like
        the step's own (bf16 autocast where it is on: an on-policy ratio is then 1 up to
        rounding, not off by the bf16-vs-fp32 gap), returned as fp32 arrays."""
        return self._logprobs(self.engine, prompt_ids, response_ids)

    def ref_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """Teacher-forced log-probs under the frozen reference model, computed like
        ``policy_logprobs`` (so KL is 0 while the policy has not moved)."""
        with self.reference_model() as reference:
            return self._logprobs(reference, prompt_ids, response_ids)

    @contextlib.contextmanager
    def reference_model(self) -> Iterator[PreTrainedModel]:
        """The frozen reference model with its weights in place, for a ``with`` block
        (with ``host_memory.reference_offload`` they are parked in a file outside it)."""
        if self._parked_reference is None:
            yield self.reference
        else:
            with self._parked_reference.loaded() as reference:
                yield reference

    def _logprobs(self, model, prompt_ids, response_ids) -> list[np.ndarray]:
        was_training = self.engine.module.training
        self.engine.module.eval()
        try:
            with self._autocast():
                return compute_logprobs(
                    model,
                    prompt_ids,
                    response_ids,
                    self.cfg.micro_batch_size,
                    self.pad_id,
                    chunked_head=self._chunked_head,
                )
        finally:
            self.engine.module.train(was_training)

    # ------------------------------------------------------------------------- step

    def step(self, batch: pl.DataFrame) -> dict[str, float]:
        """One policy update on ``batch`` (BATCH schema); metrics averaged over mini-batches."""
        rows = _check_batch(batch)
        n_mini = self.cfg.mini_batches
        if len(rows) < n_mini * self.world_size:
            raise ValueError(
                f"batch of {len(rows)} samples cannot fill {n_mini} mini-batches on "
                f"{self.world_size} ranks (mini_batches * ranks samples at least)"
            )
        start = time.perf_counter()
        history: list[dict[str, float]] = []
        tokens = 0
        self.interrupted_step = True
        for _ in range(self.cfg.epochs):
            for mini in np.array_split(np.arange(len(rows)), n_mini):
                metrics, mini_tokens = self._mini_batch_step([rows[i] for i in mini])
                history.append(metrics)
                tokens += mini_tokens
        elapsed = time.perf_counter() - start
        self.steps += 1
        self.interrupted_step = False
        summary = {key: float(np.mean([m[key] for m in history])) for key in history[0]}
        summary.update(
            tokens_per_s=tokens / elapsed, lr=float(self.optimizer.param_groups[0]["lr"])
        )
        return summary

    def _mini_batch_step(self, rows: list[dict]) -> tuple[dict[str, float], int]:
        cfg = self.cfg
        if cfg.aggregation == "token_mean":
            count = sum(len(r["response_token_ids"]) for r in rows)
        else:
            count = len(rows)
        # Ranks' gradients are averaged by DeepSpeed: scale so that they sum instead.
        normalizer = max(count, 1) / self.world_size
        mine = rows[self.rank :: self.world_size]
        totals = torch.zeros(4, dtype=torch.float64)  # loss, pg_loss... summed over micro-batches
        for start in range(0, len(mine), cfg.micro_batch_size):
            loss, parts = self._micro_batch_loss(
                mine[start : start + cfg.micro_batch_size], normalizer
            )
            self.engine.backward(loss, scale_wrt_gas=False)
            totals += torch.tensor(
                [
                    loss.item(),
                    parts["pg_loss"].item(),
                    parts["kl"].item(),
                    parts["clip_frac"].item(),
                ],
                dtype=torch.float64,
            )
        self.engine.step()
        totals = self._sum_over_ranks(totals) / self.world_size
        tokens = sum(len(r["prompt_token_ids"]) + len(r["response_token_ids"]) for r in rows)
        if self.cfg.zero_stage == 0:
            grad_norm = self._client_optimizer.grad_norm
        else:
            grad_norm = self.engine.get_global_grad_norm()
        metrics = {
            "loss": totals[0].item(),
            "pg_loss": totals[1].item(),
            "kl": totals[2].item(),
            "clip_frac": totals[3].item(),
            "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
        }
        return metrics, tokens

    def _micro_batch_loss(self, rows: list[dict], normalizer: float):
        cfg = self.cfg
        input_ids, attention_mask, response_mask = pad_prompt_response(
            [r["prompt_token_ids"] for r in rows],
            [r["response_token_ids"] for r in rows],
            self.pad_id,
            self.device,
        )
        with self._autocast():
            logprobs = token_logprobs(
                self.engine, input_ids, attention_mask, response_mask, self._chunked_head
            )
        per_token = {name: self._scatter(rows, name, response_mask) for name in _TOKEN_COLUMNS}
        is_replay = torch.tensor([r["is_replay"] for r in rows], device=self.device)
        replay_eps = cfg.replay_clip_eps if cfg.replay_clip_eps is not None else cfg.clip_eps
        clip_eps = torch.where(is_replay, replay_eps, cfg.clip_eps)[:, None].to(torch.float32)
        return policy_loss(
            logprobs,
            per_token["old_logprobs"],
            per_token["ref_logprobs"],
            per_token["advantages"],
            response_mask,
            sample_weights=torch.tensor([r["loss_weight"] for r in rows], device=self.device),
            clip_eps=clip_eps,
            dual_clip=cfg.dual_clip,
            aggregation=cfg.aggregation,
            kl_coef=cfg.kl_coef if cfg.kl == "loss" else 0.0,
            kl_estimator=cfg.kl_estimator,
            is_hindsight=torch.tensor([r["is_hindsight"] for r in rows], device=self.device),
            hindsight_gamma=cfg.hindsight_gamma,
            hindsight_weight=cfg.hindsight_weight,
            normalizer=normalizer,
        )

    def _scatter(self, rows: list[dict], column: str, response_mask: torch.Tensor) -> torch.Tensor:
        """A per-token column laid out like the logits: values at the response positions."""
        out = torch.zeros(response_mask.shape, dtype=torch.float32)
        flat = np.concatenate([np.asarray(r[column], dtype=np.float32) for r in rows])
        out[response_mask.cpu()] = torch.from_numpy(flat)
        return out.to(self.device)

    def _sum_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if self.world_size > 1:
            values = values.to(self.device)
            dist.all_reduce(values)
        return values.cpu()

    # ------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, folder: str | Path) -> Path:
        """A Hugging Face safetensors folder of the policy (what generation loads) plus
        ``deepspeed/`` with the optimizer state needed to resume. Every rank must call it."""
        import torch.distributed as dist

        folder = Path(folder)
        self.export_policy(folder)
        if self.rank == 0:
            (folder / "trainer_state.json").write_text(json.dumps({"steps": self.steps}))
        dist.barrier()
        self.engine.save_checkpoint(str(folder / OPTIMIZER_STATE_DIR), tag=_DS_TAG)
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        """Restore policy weights and optimizer state saved by ``save_checkpoint``."""
        folder = Path(folder)
        if not (folder / OPTIMIZER_STATE_DIR / _DS_TAG).is_dir():
            why = ""
            if (folder / (OPTIMIZER_STATE_DIR + PRUNED_SUFFIX)).exists():
                why = (
                    ": it was removed to save disk (keep_optimizer_states); only the newest "
                    "checkpoints keep it. Continue from a later checkpoint, or rerun the "
                    "iterations after the newest one that has it"
                )
            raise FileNotFoundError(
                f"{folder} holds no training state ({OPTIMIZER_STATE_DIR}/{_DS_TAG}){why}"
            )
        path, _ = self.engine.load_checkpoint(
            str(folder / OPTIMIZER_STATE_DIR),
            tag=_DS_TAG,
            load_optimizer_states=True,
            load_lr_scheduler_states=False,
        )
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load the checkpoint in {folder}")
        self.steps = json.loads((folder / "trainer_state.json").read_text())["steps"]
        self.interrupted_step = False

    def export_policy(self, folder: str | Path) -> Path:
        """The Hugging Face policy alone (safetensors, config, tokenizer; no optimizer
        state) into ``folder``, what generation engines and MLflow load. Every rank must
        call it (ZeRO-3 gathers the weights); rank 0 writes."""
        import deepspeed

        folder = Path(folder)
        params = list(self.model.parameters())
        # ZeRO-3 shards parameters: gather them for the full-weight save (no-op below stage 3).
        with deepspeed.zero.GatheredParameters(
            params, modifier_rank=None, enabled=self.cfg.zero_stage == 3
        ):
            if self.rank == 0:
                state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                self.model.save_pretrained(folder, state_dict=state, safe_serialization=True)
                if self.tokenizer is not None:
                    self.tokenizer.save_pretrained(folder)
        return folder


def _check_batch(batch: pl.DataFrame) -> list[dict]:
    """Rows of a schema-checked batch; per-token columns must match the response length."""
    conform(batch, "batch", source="training batch")
    rows = batch.to_dicts()
    for i, row in enumerate(rows):
        n = len(row["response_token_ids"])
        if n == 0:
            raise ValueError(f"training batch row {i} ({row['sample_id']}): empty response")
        for column in _TOKEN_COLUMNS:
            if len(row[column]) != n:
                raise ValueError(
                    f"training batch row {i} ({row['sample_id']}): {column} has "
                    f"{len(row[column])} values for {n} response tokens"
                )
            # One NaN would turn every weight into NaN at the first optimizer step.
            if not np.isfinite(np.asarray(row[column], dtype=np.float64)).all():
                raise ValueError(
                    f"training batch row {i} ({row['sample_id']}): {column} is not finite"
                )
        if not (np.isfinite(row["loss_weight"]) and row["loss_weight"] >= 0):
            raise ValueError(
                f"training batch row {i} ({row['sample_id']}): loss_weight "
                f"{row['loss_weight']} must be finite and >= 0"
            )
    return rows
