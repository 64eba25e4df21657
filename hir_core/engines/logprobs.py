"""Teacher-forced log-probs (and entropies) of response tokens, in micro-batches.

Shared by the training engine (policy, old and reference log-probs) and by the vLLM backend
(vLLM reports log-probs but not entropies). Log-probs are under the raw model distribution
(temperature 1, no top-p), the same quantity both generation backends report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def pad_prompt_response(
    prompt_ids_list: Sequence[Sequence[int]],
    response_ids_list: Sequence[Sequence[int]],
    pad_id: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``prompt + response`` rows.

    Returns ``input_ids`` [B, L], ``attention_mask`` [B, L] and ``response_mask`` [B, L-1]:
    ``response_mask[b, t]`` is 1 where the logits at position t predict a response token
    (token t+1), so ``logits[:, :-1]`` lines up with ``input_ids[:, 1:]``.
    """
    if len(prompt_ids_list) != len(response_ids_list):
        raise ValueError(f"{len(prompt_ids_list)} prompts but {len(response_ids_list)} responses")
    lengths = [len(p) + len(r) for p, r in zip(prompt_ids_list, response_ids_list)]
    width = max(lengths)
    input_ids = torch.full((len(lengths), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(lengths), width), dtype=torch.long)
    response_mask = torch.zeros((len(lengths), width - 1), dtype=torch.bool)
    for row, (prompt, response) in enumerate(zip(prompt_ids_list, response_ids_list)):
        if len(prompt) == 0:
            raise ValueError(f"row {row}: empty prompt (the first response token needs context)")
        tokens = list(prompt) + list(response)
        input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        attention_mask[row, : len(tokens)] = 1
        response_mask[row, len(prompt) - 1 : len(tokens) - 1] = True
    return input_ids.to(device), attention_mask.to(device), response_mask.to(device)


def token_logprobs_and_entropy(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of each next token and entropy of each next-token distribution, [B, L-1]."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logprobs = logp_all.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy


# Causal LMs whose forward is exactly ``logits = lm_head(decoder(...).last_hidden_state)``
# (no logit scaling or soft-capping): for these the head can be applied to the response
# positions only, in chunks. Other architectures take the plain forward.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})

# Response tokens per chunk of the output head: [chunk, vocab] float32 logits live at a time
# (256 x 49,152 for SmolLM2: 48 MiB) instead of [batch, length, vocab].
HEAD_CHUNK_TOKENS = 256


def token_logprobs(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_mask: torch.Tensor | None = None,
    chunked_head: bool = True,
) -> torch.Tensor:
    """Log-prob of each next token, [B, L-1], without materialising a full log-softmax copy
    for the entropy (this is the training hot path: it keeps the autograd graph small).

    With ``response_mask`` ([B, L-1], from :func:`pad_prompt_response`) only the masked
    positions are computed (the rest are 0). For the architectures in
    ``PLAIN_HEAD_MODEL_TYPES`` the output head then runs on those positions alone, in chunks
    of ``HEAD_CHUNK_TOKENS`` whose logits are recomputed in backward instead of being kept:
    the full-vocabulary logits were the largest part of a training step's memory (SmolLM2:
    49,152 floats per token against 576 for a hidden state). Values equal the plain forward's
    up to float rounding. ``chunked_head=False`` forces the plain forward: DeepSpeed ZeRO-3
    gathers its partitioned parameters around the engine's own forward, and calling the
    decoder and the (tied) head as separate modules gave a different update there.
    """
    causal_lm = getattr(model, "module", model)  # a DeepSpeed engine wraps the HF model
    if response_mask is None or not chunked_head or not _has_plain_head(causal_lm):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        logits = logits[:, :-1].float()
        picked = logits.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        logprobs = picked - torch.logsumexp(logits, dim=-1)
        return logprobs if response_mask is None else logprobs * response_mask
    decoder = causal_lm.get_decoder()
    head = causal_lm.get_output_embeddings()
    hidden = decoder(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    states = hidden[:, :-1][response_mask]  # [N, H]: positions that predict a response token
    targets = input_ids[:, 1:][response_mask]
    chunks = []
    for start in range(0, states.shape[0], HEAD_CHUNK_TOKENS):
        args = (
            head,
            states[start : start + HEAD_CHUNK_TOKENS],
            targets[start : start + HEAD_CHUNK_TOKENS],
        )
        if torch.is_grad_enabled():
            chunks.append(checkpoint(_head_logprobs, *args, use_reentrant=False))
        else:
            chunks.append(_head_logprobs(*args))
    out = torch.zeros(response_mask.shape, dtype=torch.float32, device=states.device)
    return out.masked_scatter(response_mask, torch.cat(chunks)) if chunks else out


def _head_logprobs(head: nn.Module, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(states).float()
    picked = logits.gather(-1, targets[:, None]).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def _has_plain_head(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) in PLAIN_HEAD_MODEL_TYPES
        and hasattr(model, "get_decoder")
        and model.get_output_embeddings() is not None
    )


def _micro_batches(n: int, size: int) -> list[range]:
    if size < 1:
        raise ValueError(f"micro_batch_size must be >= 1, got {size}")
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


@torch.no_grad()
def _teacher_forced(
    model: nn.Module,
    prompt_ids_list: Sequence[Sequence[int]],
    response_ids_list: Sequence[Sequence[int]],
    micro_batch_size: int,
    pad_id: int,
    with_entropy: bool,
    chunked_head: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    device = next(model.parameters()).device
    all_logprobs: list[np.ndarray] = []
    all_entropies: list[np.ndarray] = []
    for rows in _micro_batches(len(prompt_ids_list), micro_batch_size):
        input_ids, attention_mask, response_mask = pad_prompt_response(
            [prompt_ids_list[i] for i in rows], [response_ids_list[i] for i in rows], pad_id, device
        )
        if with_entropy:
            logprobs, entropy = token_logprobs_and_entropy(model, input_ids, attention_mask)
        else:
            logprobs = token_logprobs(model, input_ids, attention_mask, response_mask, chunked_head)
        for row in range(len(rows)):
            mask = response_mask[row]
            all_logprobs.append(logprobs[row][mask].cpu().numpy().astype(np.float32))
            if with_entropy:
                all_entropies.append(entropy[row][mask].cpu().numpy().astype(np.float32))
    return all_logprobs, all_entropies


def compute_logprobs(
    model: nn.Module,
    prompt_ids_list: Sequence[Sequence[int]],
    response_ids_list: Sequence[Sequence[int]],
    micro_batch_size: int,
    pad_id: int = 0,
    chunked_head: bool = True,
) -> list[np.ndarray]:
    """Teacher-forced log-probs of each response's tokens (one float32 array per response);
    ``chunked_head`` as in :func:`token_logprobs`."""
    return _teacher_forced(
        model,
        prompt_ids_list,
        response_ids_list,
        micro_batch_size,
        pad_id,
        with_entropy=False,
        chunked_head=chunked_head,
    )[0]


def compute_logprobs_and_entropy(
    model: nn.Module,
    prompt_ids_list: Sequence[Sequence[int]],
    response_ids_list: Sequence[Sequence[int]],
    micro_batch_size: int,
    pad_id: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per response: float32 arrays of token log-probs and of token entropies."""
    return _teacher_forced(
        model, prompt_ids_list, response_ids_list, micro_batch_size, pad_id, with_entropy=True
    )
