"""Policy losses as plain torch functions over [B, T] token tensors (METHOD.md, step 7).

Conventions: ``mask`` is 1 on response tokens and 0 on padding; every per-token function
returns a [B, T] tensor that is meaningful where ``mask`` is 1; ``aggregate`` reduces it.
The KL penalty "in the reward" lives in ``hir_core.advantages`` (REINFORCE++ token rewards);
here it is either a loss term or only measured.
"""

from __future__ import annotations

from typing import Literal

import torch

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
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, gamma: float
) -> torch.Tensor:
    """HeRL's loss on guided (``is_hindsight``) tokens: no clipping, ``-A r / (r + gamma)``.

    The gradient ``-A gamma / (r + gamma)^2 dr`` fades as the ratio grows, a soft bound in
    place of the clip (HeRL: gamma = 1 for instruction following).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    return -advantages * ratio / (ratio + gamma)


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
    normalizer: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training objective of one micro-batch and its (detached, same-normalised) parts.

    ``clip_eps`` is per sample, [B, 1]; ``kl_coef`` 0 leaves KL as a measurement only (the
    KL-in-reward setting). Samples flagged ``is_hindsight`` use ``hindsight_shaped_loss``.
    Returns ``loss`` and ``{"pg_loss", "kl", "clip_frac"}`` aggregated like the loss.
    """
    pg, clipped = ppo_clip_loss(logprobs, old_logprobs, advantages, clip_eps, dual_clip)
    if is_hindsight is not None and bool(is_hindsight.any()):
        shaped = hindsight_shaped_loss(logprobs, old_logprobs, advantages, hindsight_gamma)
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
