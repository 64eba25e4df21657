"""hir_core.losses against per-token python reference computations, values and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hir_core.losses import (
    aggregate,
    hindsight_shaped_loss,
    kl_estimate,
    policy_loss,
    ppo_clip_loss,
)

B, T = 4, 6


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g, dtype=torch.float64) * 3).requires_grad_()
    old = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
    ref = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
    adv = torch.randn(B, T, generator=g, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.float64)
    mask[1, 4:] = 0
    mask[3, 2:] = 0
    return logp, old, ref, adv, mask


def _ref_ppo_token(lp, olp, a, eps, c):
    """One token: (loss, d loss / d logp, clipped?) by cases."""
    r = math.exp(lp - olp)
    unclipped, clipped = -a * r, -a * min(max(r, 1 - eps), 1 + eps)
    if clipped > unclipped:
        loss, grad, was_clipped = clipped, 0.0, True  # clamped ratio: constant
    else:
        loss, grad, was_clipped = unclipped, -a * r, False
    if c is not None and a < 0 and loss > -a * c:
        loss, grad, was_clipped = -a * c, 0.0, True
    return loss, grad, was_clipped


@pytest.mark.parametrize("dual_clip", [None, 3.0, 1.5])
def test_ppo_clip_values_and_gradients(dual_clip):
    logp, old, _, adv, _ = _inputs()
    with torch.no_grad():  # push some ratios far out so every branch is exercised
        logp[0] = old[0] + torch.linspace(-3, 3, T, dtype=torch.float64)
    loss, clipped = ppo_clip_loss(logp, old, adv, 0.2, dual_clip)
    loss.sum().backward()
    branches = set()
    for b in range(B):
        for t in range(T):
            ref_loss, ref_grad, ref_clipped = _ref_ppo_token(
                logp[b, t].item(), old[b, t].item(), adv[b, t].item(), 0.2, dual_clip
            )
            assert loss[b, t].item() == pytest.approx(ref_loss, abs=1e-12)
            assert logp.grad[b, t].item() == pytest.approx(ref_grad, abs=1e-12)
            assert bool(clipped[b, t]) == ref_clipped
            branches.add((ref_clipped, adv[b, t].item() > 0))
    assert len(branches) == 4  # clipped and unclipped, for both advantage signs


def test_per_sample_clip_range():
    logp, old, _, adv, _ = _inputs(1)
    eps = torch.tensor([[0.2], [0.05], [0.2], [0.5]], dtype=torch.float64)
    loss, _ = ppo_clip_loss(logp, old, adv, eps)
    for b in range(B):
        expected, _ = ppo_clip_loss(logp[b], old[b], adv[b], float(eps[b, 0]))
        torch.testing.assert_close(loss[b], expected)


def test_dual_clip_must_exceed_one():
    logp, old, _, adv, _ = _inputs()
    with pytest.raises(ValueError, match="dual_clip"):
        ppo_clip_loss(logp, old, adv, 0.2, dual_clip=0.9)


def test_kl_estimators():
    logp, _, ref, _, _ = _inputs(2)
    k1 = kl_estimate(logp, ref, "k1")
    k3 = kl_estimate(logp, ref, "k3")
    k3.sum().backward()
    for b in range(B):
        for t in range(T):
            lp, rp = logp[b, t].item(), ref[b, t].item()
            assert k1[b, t].item() == pytest.approx(lp - rp)
            assert k3[b, t].item() == pytest.approx(math.exp(rp - lp) - (rp - lp) - 1)
            assert k3[b, t].item() >= 0
            # d/dlp [e^(rp-lp) - (rp-lp) - 1] = 1 - e^(rp-lp)
            assert logp.grad[b, t].item() == pytest.approx(1 - math.exp(rp - lp))
    with pytest.raises(ValueError, match="k2"):
        kl_estimate(logp, ref, "k2")


def test_k3_averages_to_the_true_kl():
    """Sampling tokens from p, both estimators average to KL(p || q)."""
    rng = np.random.default_rng(0)
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    tokens = rng.choice(3, size=200_000, p=p)
    lp, lq = torch.tensor(np.log(p[tokens])), torch.tensor(np.log(q[tokens]))
    true_kl = float((p * np.log(p / q)).sum())
    assert kl_estimate(lp, lq, "k1").mean().item() == pytest.approx(true_kl, abs=5e-3)
    assert kl_estimate(lp, lq, "k3").mean().item() == pytest.approx(true_kl, abs=5e-3)


def test_aggregation_modes():
    values = torch.arange(B * T, dtype=torch.float64).reshape(B, T)
    _, _, _, _, mask = _inputs()
    weights = torch.tensor([1.0, 0.5, 2.0, 0.0], dtype=torch.float64)
    token_total, token_count, seq_total = 0.0, 0, 0.0
    for b in range(B):
        row = [values[b, t].item() for t in range(T) if mask[b, t]]
        token_total += weights[b].item() * sum(row)
        token_count += len(row)
        seq_total += weights[b].item() * sum(row) / len(row)
    assert aggregate(values, mask, "token_mean", weights).item() == pytest.approx(
        token_total / token_count
    )
    assert aggregate(values, mask, "seq_mean", weights).item() == pytest.approx(seq_total / B)
    assert aggregate(values, mask, "token_mean", weights, normalizer=100).item() == pytest.approx(
        token_total / 100
    )
    with pytest.raises(ValueError, match="aggregation"):
        aggregate(values, mask, "sum")


def test_micro_batches_with_a_shared_normalizer_add_up():
    logp, old, ref, adv, mask = _inputs(3)
    kwargs = {
        "clip_eps": torch.full((B, 1), 0.2, dtype=torch.float64),
        "dual_clip": 3.0,
        "aggregation": "token_mean",
        "kl_coef": 0.1,
        "kl_estimator": "k3",
    }
    w = torch.ones(B, dtype=torch.float64)
    full, _ = policy_loss(logp, old, ref, adv, mask, sample_weights=w, **kwargs)
    (full_grad,) = torch.autograd.grad(full, logp)
    n = mask.sum()
    parts = [
        policy_loss(
            logp[s],
            old[s],
            ref[s],
            adv[s],
            mask[s],
            sample_weights=w[s],
            normalizer=n,
            **{**kwargs, "clip_eps": kwargs["clip_eps"][s]},
        )[0]
        for s in (slice(0, 1), slice(1, 4))
    ]
    (split_grad,) = torch.autograd.grad(sum(parts), logp)
    torch.testing.assert_close(sum(parts), full)
    torch.testing.assert_close(split_grad, full_grad)


@pytest.mark.parametrize(("hindsight_weight", "gamma"), [("ratio", 1.0), ("prob", 0.1)])
def test_policy_loss_combines_its_parts(hindsight_weight, gamma):
    logp, old, ref, adv, mask = _inputs(4)
    with torch.no_grad():  # a hindsight row with ratios far outside any clip range
        logp[3, :2] = old[3, :2] + torch.tensor([-2.0, 2.0], dtype=torch.float64)
    weights = torch.tensor([1.0, 2.0, 0.5, 0.25], dtype=torch.float64)
    eps = torch.tensor([[0.2], [0.2], [0.1], [0.2]], dtype=torch.float64)
    is_hindsight = torch.tensor([False, True, False, True])
    loss, parts = policy_loss(
        logp,
        old,
        ref,
        adv,
        mask,
        sample_weights=weights,
        clip_eps=eps,
        dual_clip=3.0,
        aggregation="seq_mean",
        kl_coef=0.05,
        kl_estimator="k1",
        is_hindsight=is_hindsight,
        hindsight_gamma=gamma,
        hindsight_weight=hindsight_weight,
    )
    loss.backward()
    # Reference: per sequence, by hand.
    total, grads, clip_total = 0.0, np.zeros((B, T)), 0.0
    for b in range(B):
        n = int(mask[b].sum())
        seq = 0.0
        for t in range(n):
            lp, olp, rp, a = logp[b, t].item(), old[b, t].item(), ref[b, t].item(), adv[b, t].item()
            if is_hindsight[b]:
                # f = ratio or probability; d f / d logp = f for both.
                f = math.exp(lp - olp) if hindsight_weight == "ratio" else math.exp(lp)
                pg, dpg = -a * f / (f + gamma), -a * f * gamma / (f + gamma) ** 2
            else:
                pg, dpg, was_clipped = _ref_ppo_token(lp, olp, a, eps[b, 0].item(), 3.0)
                clip_total += was_clipped / n / B
            seq += weights[b].item() * pg / n + 0.05 * (lp - rp) / n
            grads[b, t] = (weights[b].item() * dpg + 0.05) / n / B
        total += seq / B
    assert loss.item() == pytest.approx(total, abs=1e-12)
    np.testing.assert_allclose(logp.grad.numpy(), grads, atol=1e-12)
    assert set(parts) == {"pg_loss", "kl", "clip_frac"}
    assert parts["clip_frac"].item() == pytest.approx(clip_total, abs=1e-12)
    assert (logp.grad[3, :2].abs() > 1e-3).all()  # no clipping on hindsight tokens


@pytest.mark.parametrize("weight", ["ratio", "prob"])
def test_hindsight_shaped_loss_values(weight):
    old = torch.log(torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64))
    logp = torch.log(torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64))
    adv = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64)
    f = [0.5, 1.0, 2.0] if weight == "ratio" else [0.25, 0.5, 1.0]
    expected = [-a * x / (x + 1.0) for a, x in zip(adv.tolist(), f)]
    loss = hindsight_shaped_loss(logp, old, adv, gamma=1.0, weight=weight)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64))


def test_hindsight_shaped_loss_is_finite_at_extreme_ratios():
    """f/(f+gamma) saturates at 1: no inf/nan however far the ratio overflows exp."""
    logp = torch.tensor([0.0, -1.0], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([-1000.0, 1000.0], dtype=torch.float64)
    loss = hindsight_shaped_loss(logp, old, torch.ones(2, dtype=torch.float64), gamma=1.0)
    loss.sum().backward()
    torch.testing.assert_close(loss, torch.tensor([-1.0, 0.0], dtype=torch.float64))
    assert torch.isfinite(logp.grad).all()


def test_hindsight_shaped_loss_rejects_bad_settings():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="gamma"):
        hindsight_shaped_loss(x, x, x, gamma=0.0)
    with pytest.raises(ValueError, match="hindsight weight"):
        hindsight_shaped_loss(x, x, x, gamma=1.0, weight="logit")
