"""Policy losses as plain torch functions over [B, T] token tensors (METHOD.md, step 7).

Conventions: ``mask`` is 1 on response tokens and 0 on padding; every per-token function
returns a [B, T] tensor that is meaningful where ``mask`` is 1; ``aggregate`` reduces it.
The KL penalty "in the reward" lives in ``hir_core.advantages`` (REINFORCE++ token rewards);
here it is either a loss term or only measured.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from hir_core.engines.training_config import HindsightWeight

Aggregation = Literal["token_mean", "seq_mean"]
KlEstimator = Literal["k1", "k3"]


def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_eps: float | torch.Tensor,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped surrogate per token, and where the clipped branch was taken.

    ``loss = max(-A r, -A clip(r, 1-eps, 1+eps))`` with ``r = exp(logp - logp_old)``; with
    dual clip ``c`` (> 1), tokens with ``A < 0`` are also capped at ``-A c`` so one very
    unlikely old token cannot dominate. ``clip_eps`` may be a [B, 1] or [B, T] tensor (a
    separate range for replays).
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = torch.maximum(unclipped, clipped)
    clipped_taken = clipped > unclipped
    if dual_clip is not None:
        cap = -advantages * dual_clip
        capped = (advantages < 0) & (loss > cap)
        loss = torch.where(capped, cap, loss)
        clipped_taken = clipped_taken | capped
    return loss, clipped_taken


def hindsight_shaped_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    gamma: float,
    weight: HindsightWeight = "ratio",
) -> torch.Tensor:
    """HeRL's loss on guided (``is_hindsight``) tokens: no clipping, ``-A f / (f + gamma)``.

    ``f`` is the importance ratio ``exp(logp - logp_old)`` (``weight="ratio"``, METHOD.md) or
    the token probability ``exp(logp)`` under the current policy (``"prob"``, the off-policy
    shaping of LUFFY that HeRL builds on: no old log-prob needed). The gradient
    ``-A gamma f / (f + gamma)^2`` per unit of ``logp`` fades as ``f`` grows, a soft bound in
    place of the clip (HeRL: gamma = 1 for instruction following).

    ``f / (f + gamma)`` is computed as ``sigmoid(log f - log gamma)``: the same value, but
    finite with a finite gradient however far the ratio overflows.
    """
    if gamma <= 0:
        raise ValueError(f"hindsight gamma must be > 0, got {gamma}")
    if weight == "ratio":
        log_f = logprobs - old_logprobs
    elif weight == "prob":
        log_f = logprobs
    else:
        raise ValueError(f"unknown hindsight weight {weight!r} (expected 'ratio' or 'prob')")
    return -advantages * torch.sigmoid(log_f - math.log(gamma))


def kl_estimate(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: KlEstimator
) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi.

    k1: ``logp - logp_ref`` (unbiased, high variance, can be negative);
    k3: ``exp(d) - d - 1`` with ``d = logp_ref - logp`` (unbiased, low variance, >= 0).
    """
    if estimator == "k1":
        return logprobs - ref_logprobs
    if estimator == "k3":
        delta = ref_logprobs - logprobs
        return torch.exp(delta) - delta - 1.0
    raise ValueError(f"unknown KL estimator {estimator!r} (expected 'k1' or 'k3')")


def aggregate(
    values: torch.Tensor,
    mask: torch.Tensor,
    mode: Aggregation,
    sample_weights: torch.Tensor | None = None,
    normalizer: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce per-token values to a scalar.

    token_mean: ``sum_b w_b sum_t v_bt / normalizer``, normalizer default = number of tokens;
    seq_mean: ``sum_b w_b mean_t v_bt / normalizer``, normalizer default = number of sequences.
    Pass ``normalizer`` (the count over a whole mini-batch, all ranks) when the mini-batch is
    split into micro-batches, so their gradients add up to the mini-batch's.
    """
    mask = mask.to(values.dtype)
    if sample_weights is None:
        sample_weights = torch.ones(values.shape[0], dtype=values.dtype, device=values.device)
    per_sequence_sum = (values * mask).sum(-1)
    if mode == "token_mean":
        total = (sample_weights * per_sequence_sum).sum()
        count = mask.sum()
    elif mode == "seq_mean":
        lengths = mask.sum(-1).clamp(min=1.0)
        total = (sample_weights * per_sequence_sum / lengths).sum()
        count = torch.tensor(float(values.shape[0]), device=values.device)
    else:
        raise ValueError(f"unknown aggregation {mode!r} (expected 'token_mean' or 'seq_mean')")
    if normalizer is None:
        normalizer = count.clamp(min=1.0)
    return total / normalizer


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    sample_weights: torch.Tensor,
    clip_eps: torch.Tensor,
    dual_clip: float | None,
    aggregation: Aggregation,
    kl_coef: float,
    kl_estimator: KlEstimator,
    is_hindsight: torch.Tensor | None = None,
    hindsight_gamma: float = 1.0,
    hindsight_weight: HindsightWeight = "ratio",
    normalizer: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training objective of one micro-batch and its (detached, same-normalised) parts.

    ``clip_eps`` is per sample, [B, 1]; ``kl_coef`` 0 leaves KL as a measurement only (the
    KL-in-reward setting). Samples flagged ``is_hindsight`` [B] use ``hindsight_shaped_loss``
    (with ``hindsight_gamma`` and ``hindsight_weight``) in place of the clipped surrogate;
    their tokens never count as clipped. ``sample_weights`` [B] multiply the policy-gradient
    term once (the KL term is unweighted).
    Returns ``loss`` and ``{"pg_loss", "kl", "clip_frac"}`` aggregated like the loss.
    """
    pg, clipped = ppo_clip_loss(logprobs, old_logprobs, advantages, clip_eps, dual_clip)
    if is_hindsight is not None and bool(is_hindsight.any()):
        shaped = hindsight_shaped_loss(
            logprobs, old_logprobs, advantages, hindsight_gamma, hindsight_weight
        )
        pg = torch.where(is_hindsight[:, None], shaped, pg)
        clipped = clipped & ~is_hindsight[:, None]
    kl = kl_estimate(logprobs, ref_logprobs, kl_estimator)
    pg_loss = aggregate(pg, mask, aggregation, sample_weights, normalizer)
    kl_mean = aggregate(kl, mask, aggregation, None, normalizer)
    loss = pg_loss + kl_coef * kl_mean if kl_coef else pg_loss
    parts = {
        "pg_loss": pg_loss.detach(),
        "kl": kl_mean.detach(),
        "clip_frac": aggregate(clipped.to(pg.dtype), mask, aggregation, None, normalizer).detach(),
    }
    return loss, parts
