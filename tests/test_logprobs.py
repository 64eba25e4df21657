"""token_logprobs' response-only, chunked output head against a full log-softmax reference."""

from __future__ import annotations

import pytest
import torch
from _tiny_model import build_tiny

from hir_core.engines import logprobs as lp


def _rows():
    """Ragged prompt + response rows (right-padded), with the response mask."""
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, 200, (n,), generator=g).tolist() for n in (4, 9, 6)]
    responses = [torch.randint(3, 200, (n,), generator=g).tolist() for n in (7, 3, 11)]
    return lp.pad_prompt_response(prompts, responses, pad_id=0)


def _reference(model, ids, attn):
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)


@pytest.mark.parametrize("plain_head", [True, False], ids=["chunked-head", "full-forward"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_masked_logprobs_and_gradients_match_full_log_softmax(monkeypatch, plain_head, bf16):
    monkeypatch.setattr(lp, "HEAD_CHUNK_TOKENS", 5)  # 21 response tokens: 5 chunks, one ragged
    if not plain_head:
        monkeypatch.setattr(lp, "PLAIN_HEAD_MODEL_TYPES", frozenset())
    ids, attn, mask = _rows()
    weights = torch.randn(mask.shape, generator=torch.Generator().manual_seed(1))
    results = []
    for compute in (
        lambda m: lp.token_logprobs(m, ids, attn, mask),
        lambda m: _reference(m, ids, attn),
    ):
        model, _ = build_tiny()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            values = compute(model)
        (values * weights * mask).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((values, grads))
    (mine, my_grads), (ref, ref_grads) = results
    tol = 1e-4 if bf16 else 1e-5
    assert torch.allclose(mine[mask], ref[mask], atol=tol, rtol=0)
    assert (mine[~mask] == 0).all()
    assert my_grads.keys() == ref_grads.keys()
    # bf16 matmuls of a chunk and of the whole sequence round their sums differently.
    grad_tol = 3e-3 if bf16 else 1e-5
    for name, grad in ref_grads.items():
        scale = grad.abs().max().item() + 1e-12
        assert (my_grads[name] - grad).abs().max().item() <= grad_tol * scale, name


def test_no_grad_path_and_unmasked_call_agree():
    model, _ = build_tiny()
    ids, attn, mask = _rows()
    with torch.no_grad():
        masked = lp.token_logprobs(model, ids, attn, mask)
        full = lp.token_logprobs(model, ids, attn)
    assert full.shape == mask.shape
    assert torch.allclose(masked[mask], full[mask], atol=1e-5, rtol=0)
