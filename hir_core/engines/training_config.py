"""Optimisation and loss settings of the train engine (torch-free: the pipeline config
imports it). :mod:`hir_core.engines.training` re-exports :class:`TrainingConfig`; the CPU
host-memory measures have their own section (:mod:`hir_core.engines.host_memory`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OPTIMIZER_STATE_DIR", "HindsightWeight", "TrainingConfig"]

# A checkpoint folder's subfolder holding DeepSpeed's optimizer state (beside the HF policy).
OPTIMIZER_STATE_DIR = "deepspeed"

# HeRL's f in the shaped loss (hir_core.losses.policy_loss).
HindsightWeight = Literal["ratio", "prob"]


class TrainingConfig(BaseModel):
    """Optimisation and loss settings; defaults are the HiR paper's (METHOD.md, step 7)."""

    model_config = ConfigDict(extra="forbid")

    zero_stage: Literal[0, 1, 2, 3] = Field(
        0, description="DeepSpeed ZeRO stage (ours: 0 for one process; 2 or 3 for large models)."
    )
    lr: float = Field(1e-6, gt=0.0, description="Learning rate, constant (paper: 1e-6).")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay (paper: 0.01).")
    grad_clip: float = Field(1.0, gt=0.0, description="Gradient norm clip (paper: 1.0).")
    mini_batches: int = Field(2, ge=1, description="Optimizer steps per batch (paper: 2).")
    micro_batch_size: int = Field(
        4, ge=1, description="Sequences per forward/backward on one rank (memory, not maths)."
    )
    epochs: int = Field(1, ge=1, description="Passes over the batch per step (paper: 1).")
    bf16: Literal["auto"] | bool = Field(
        "auto",
        description="bf16 autocast over fp32 master weights; 'auto': where the hardware has it.",
    )
    clip_eps: float = Field(0.2, gt=0.0, description="PPO clip range (paper: 0.2).")
    dual_clip: float | None = Field(
        3.0, gt=1.0, description="Dual-clip bound c for negative advantages (paper: 3); None: off."
    )
    aggregation: Literal["token_mean", "seq_mean"] = Field(
        "token_mean", description="Loss aggregation over tokens (paper: token_mean)."
    )
    kl: Literal["reward", "loss"] = Field(
        "reward",
        description=(
            "Where the KL penalty acts (paper: reward, applied by hir_core.advantages); "
            "'loss' adds kl_coef * KL to the loss. Either way the KL is reported."
        ),
    )
    kl_estimator: Literal["k1", "k3"] = Field(
        "k1", description="KL estimator: k1 = log ratio (paper, in the reward); k3 low-variance."
    )
    kl_coef: float = Field(
        0.001, ge=0.0, description="KL coefficient when kl='loss' (paper: 0.001)."
    )
    replay_clip_eps: float | None = Field(
        None, gt=0.0, description="PPO clip range for is_replay samples; None: clip_eps (paper)."
    )
    hindsight_gamma: float = Field(
        1.0,
        gt=0.0,
        description=(
            "HeRL: is_hindsight samples use the shaped loss -A f/(f+gamma), without clipping "
            "(HeRL: gamma = 1 for instruction following)."
        ),
    )
    hindsight_weight: HindsightWeight = Field(
        "ratio",
        description=(
            "HeRL: f in the shaped loss of is_hindsight samples. 'ratio': the importance ratio "
            "pi/pi_old (METHOD.md, our default); 'prob': the token probability pi under the "
            "current policy (LUFFY-style off-policy shaping; ignores old log-probs)."
        ),
    )
    # Per-sample weights (e.g. the replay weight) arrive in the batch's loss_weight column,
    # set by hir_core.advantages.assemble_batch: one place, never applied twice.
