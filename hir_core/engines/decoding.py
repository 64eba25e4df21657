"""A lean forward pass for decoding Llama-family models: fused, pre-packed weights and a
preallocated KV cache, for :class:`hir_core.engines.generation.TransformersGenerator`.

Why: at rollout batch sizes (tens of sequences) a decoding step of a small model on CPU is
bound by per-step overhead, not by arithmetic (BENCHMARKS.md, Engines): Hugging Face's
forward runs ~7 matrix products and ~60 small ops per layer, builds an attention mask and
grows its cache by concatenation every step. Here, per layer:

- in a decoding step q/k/v projections are one matrix product, and gate/up another (their
  weights concatenated once per ``generate`` call; the prefill runs them apart, see
  ``_linear``); on CPU in bf16 the weights are also reordered
  into oneDNN's blocked layout (``torch.ops.mkldnn._reorder_linear_weight``), which runs a
  32-row product about 1.7x as fast as ``F.linear`` and gives bit-identical results;
- keys and values go into a buffer sized for the whole batch (prompt + new tokens) and
  attention reads a view of its filled part: no concatenation, no copies;
- norms, rotary embedding and attention are the same tensor operations as the Hugging Face
  implementation, in the same order (attention: the same ``scaled_dot_product_attention``
  call); a single-token step (``_decode_step``) does them on [B, H] states with fewer
  operations (no transposes; queries and keys rotated in one pass).

The results equal the Hugging Face forward's bit for bit on CPU in float32 and bf16
(SmolLM2 and tiny-random, tested and checked in benchmarks/engines.py), provided the
products have the same shapes: a product's rounding can depend on its number of rows
(SmolLM2 bf16: a prefill of 8 rows and the same rows within a prefill of 32 gave logits
0.65 apart), so the generator's two paths prefill the same rows (each distinct prompt once)
and drop finished rows at the same steps. A lever measured and dropped because it changes
the rounding: fusing the residual add into the o/down products (oneDNN's binary post-op:
SmolLM2 bf16 logits 0.7 apart after one step).
``torch.compile`` of the step is opt-in and does not pay here (``CompiledStep``).

The weights are derived from the model at each ``generate`` call (``DecoderWeights``,
~0.2 s for SmolLM2 in bf16) and dropped after it: a generator that shares the training engine's
live model sees every update, and the copies cost memory only while decoding.

Supported: ``model_type`` llama, mistral (no sliding window) and qwen2 (q/k/v biases, no
sliding window) with default rotary embeddings, SiLU MLPs and SDPA attention; other models
decode through the Hugging Face forward (``supported`` says why not).
"""

from __future__ import annotations

import itertools
import os
import time
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2"})


def supported(model: nn.Module) -> str | None:
    """None when :class:`DecoderWeights` can run ``model``, else the reason it cannot."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        return f"model_type {model_type!r} (supported: {', '.join(sorted(SUPPORTED_MODEL_TYPES))})"
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return f"rope_type {rope.get('rope_type')!r}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"hidden_act {config.hidden_act!r}"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention"
    if getattr(config, "pretraining_tp", 1) != 1:
        return "pretraining_tp > 1"
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return f"attention implementation {config._attn_implementation!r}"
    if getattr(config, "attention_dropout", 0.0) and model.training:
        return "attention dropout in training mode"
    return None


def _packable(dtype: torch.dtype, device: torch.device) -> bool:
    """oneDNN's blocked weights: CPU bf16 only (in fp32 oneDNN rounds differently from the
    MKL product of ``F.linear``; bf16 gives bit-identical results)."""
    return (
        device.type == "cpu"
        and dtype == torch.bfloat16
        and torch.backends.mkldnn.is_available()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


@dataclass
class _Linear:
    weight: torch.Tensor  # [out, in], or oneDNN-packed
    bias: torch.Tensor | None
    packed: bool
    # A fused product's parts (q, k, v; gate, up), each the model's own product: for the
    # prefill, where the fused product's rounding can differ from theirs (below).
    parts: list[_Linear] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)

    def separately(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The parts' outputs, each from its own product as in the model's forward."""
        return [part(x) for part in self.parts] if self.parts else [self(x)]


@dataclass
class _Layer:
    norm1: torch.Tensor
    qkv: _Linear
    o: _Linear
    norm2: torch.Tensor
    gate_up: _Linear
    down: _Linear


def _linear(modules: list[nn.Linear], dtype: torch.dtype, pack: bool, batch_hint: int) -> _Linear:
    """The modules' products as one (their weights concatenated), with the parts apart.

    A fused product and its parts give bit-identical rows only for some row counts (bf16,
    SmolLM2's q/k/v: equal for 1-64 rows, the decoding steps, but not for 360 or 720, a
    prefill's batch x prompt width): the oneDNN/MKL kernels block the work by shape. So the
    steps use the fused product and the prefill the parts. Unpacked, the parts are views of
    the fused weight; packed (oneDNN's layout cannot be sliced) they are packed copies, which
    cost as much memory again for q/k/v and gate/up (~140 MB for SmolLM2 in bf16) while a
    ``generate`` call runs."""
    weights = [m.weight.detach().to(dtype) for m in modules]
    biases = [m.bias.detach().to(dtype) if m.bias is not None else None for m in modules]
    weight = torch.cat(weights) if len(weights) > 1 else weights[0]
    bias = torch.cat(biases) if biases[0] is not None and len(biases) > 1 else biases[0]
    parts = None
    if len(modules) > 1:
        if pack:
            parts = [
                _Linear(torch.ops.mkldnn._reorder_linear_weight(w, batch_hint), b, True)
                for w, b in zip(weights, biases)
            ]
        else:
            bounds = itertools.accumulate([w.shape[0] for w in weights], initial=0)
            parts = [
                _Linear(weight[a:b], None if bias is None else bias[a:b], False)
                for a, b in itertools.pairwise(bounds)
            ]
    if pack:
        weight = torch.ops.mkldnn._reorder_linear_weight(weight, batch_hint)
    return _Linear(weight, bias, pack, parts)


class DecoderWeights:
    """The model's weights laid out for :func:`forward` (see the module docstring)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype, batch_hint: int = 32):
        why = supported(model)
        if why is not None:
            raise ValueError(f"the lean decoder cannot run this model: {why}")
        config = model.config
        decoder = model.get_decoder()
        self.dtype = dtype
        self.device = next(model.parameters()).device
        pack = _packable(dtype, self.device)
        self.packed = pack
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.scaling = self.head_dim**-0.5
        self.eps = float(config.rms_norm_eps)
        rotary = decoder.rotary_emb
        self.inv_freq = rotary.inv_freq.detach().float()
        self.rope_scaling = float(rotary.attention_scaling)
        self.embed = decoder.embed_tokens.weight.detach().to(dtype)
        self.final_norm = decoder.norm.weight.detach().to(dtype)
        self.lm_head = _linear([model.get_output_embeddings()], dtype, pack, batch_hint)
        self.layers = []
        for layer in decoder.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    norm1=layer.input_layernorm.weight.detach().to(dtype),
                    qkv=_linear([attn.q_proj, attn.k_proj, attn.v_proj], dtype, pack, batch_hint),
                    o=_linear([attn.o_proj], dtype, pack, batch_hint),
                    norm2=layer.post_attention_layernorm.weight.detach().to(dtype),
                    gate_up=_linear([mlp.gate_proj, mlp.up_proj], dtype, pack, batch_hint),
                    down=_linear([mlp.down_proj], dtype, pack, batch_hint),
                )
            )

    def new_cache(self, batch: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Key and value buffers [batch, kv_heads, length, head_dim] for every layer."""
        shape = (batch, self.n_kv_heads, length, self.head_dim)
        return [
            (
                torch.zeros(shape, dtype=self.dtype, device=self.device),
                torch.zeros(shape, dtype=self.dtype, device=self.device),
            )
            for _ in self.layers
        ]


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # LlamaRMSNorm's operations, in its order.
    input_dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return weight * x.to(input_dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rotary(w: DecoderWeights, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [B, 1, S, D] of LlamaRotaryEmbedding (default rope) at ``positions`` [B, S]."""
    freqs = positions[..., None].float() * w.inv_freq.to(positions.device)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = (emb.cos() * w.rope_scaling).to(w.dtype)
    sin = (emb.sin() * w.rope_scaling).to(w.dtype)
    return cos[:, None], sin[:, None]


def forward(
    w: DecoderWeights,
    input_ids: torch.Tensor,
    positions: torch.Tensor,
    cache: list[tuple[torch.Tensor, torch.Tensor]],
    start: int,
    key_mask: torch.Tensor,
) -> torch.Tensor:
    """Float32 next-token logits [B, V] at the last of ``input_ids`` [B, S].

    The tokens go to cache slots ``start .. start + S - 1`` (their keys and values are
    written there); they attend to the filled slots ``0 .. start + S - 1`` where
    ``key_mask`` [B, >= start + S] is true, causally among themselves. ``positions`` [B, S]
    are their rotary positions (left padding: a row's count of real tokens before them).
    """
    if input_ids.shape[1] == 1:
        return _decode_step(w, input_ids, positions, cache, start, key_mask)
    return _forward_tokens(w, input_ids, positions, cache, start, key_mask)


def _forward_tokens(
    w: DecoderWeights,
    input_ids: torch.Tensor,
    positions: torch.Tensor,
    cache: list[tuple[torch.Tensor, torch.Tensor]],
    start: int,
    key_mask: torch.Tensor,
) -> torch.Tensor:
    """:func:`forward` for any number of tokens per row (the prefill)."""
    batch, length = input_ids.shape
    end = start + length
    hidden = F.embedding(input_ids, w.embed)
    cos, sin = _rotary(w, positions)
    valid = key_mask[:, :end]
    if length == 1:
        mask = valid[:, None, None, :]  # [B, 1, 1, end]
    else:
        query_slot = torch.arange(start, end, device=input_ids.device)[:, None]
        causal = torch.arange(end, device=input_ids.device)[None, :] <= query_slot
        mask = causal[None] & valid[:, None, :]
        # A padding query sees no real key: let it see itself (its output is never used)
        # rather than nothing, which would give NaN keys and values in later layers.
        mask = mask | (torch.arange(end, device=input_ids.device)[None, :] == query_slot)[None]
        mask = mask[:, None]  # [B, 1, S, end]
    hd = w.n_heads * w.head_dim
    groups = w.n_heads // w.n_kv_heads
    for layer, (key_buffer, value_buffer) in zip(w.layers, cache):
        residual = hidden
        x = _rms_norm(hidden, layer.norm1, w.eps)
        q, k, v = layer.qkv.separately(x)
        q = q.view(batch, length, w.n_heads, w.head_dim).transpose(1, 2)
        k = k.view(batch, length, w.n_kv_heads, w.head_dim).transpose(1, 2)
        v = v.view(batch, length, w.n_kv_heads, w.head_dim).transpose(1, 2)
        q = (q * cos) + (_rotate_half(q) * sin)
        k = (k * cos) + (_rotate_half(k) * sin)
        key_buffer[:, :, start:end] = k
        value_buffer[:, :, start:end] = v
        keys, values = key_buffer[:, :, :end], value_buffer[:, :, :end]
        if length == 1 and groups > 1:
            # transformers' single-query GQA layout: a kv head's query heads as its rows.
            out = F.scaled_dot_product_attention(
                q.reshape(batch, w.n_kv_heads, groups, w.head_dim),
                keys,
                values,
                attn_mask=mask,
                scale=w.scaling,
            )
        else:
            if groups > 1:
                keys = keys.repeat_interleave(groups, dim=1)
                values = values.repeat_interleave(groups, dim=1)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=w.scaling)
        out = out.reshape(batch, w.n_heads, length, w.head_dim).transpose(1, 2)
        out = out.reshape(batch, length, hd).contiguous()
        hidden = residual + layer.o(out)
        residual = hidden
        x = _rms_norm(hidden, layer.norm2, w.eps)
        gate, up = layer.gate_up.separately(x)
        hidden = residual + layer.down(F.silu(gate) * up)
    last = _rms_norm(hidden[:, -1], w.final_norm, w.eps)
    return w.lm_head(last).float()


def _decode_step(
    w: DecoderWeights,
    input_ids: torch.Tensor,
    positions: torch.Tensor,
    cache: list[tuple[torch.Tensor, torch.Tensor]],
    start: int,
    key_mask: torch.Tensor,
) -> torch.Tensor:
    """:func:`forward` for one new token per row, with fewer tensor operations per layer
    (each costs several microseconds of dispatch, the size of its arithmetic here):
    hidden states stay [B, H]; queries and keys, adjacent in the fused q/k/v output, get
    their rotary embedding in one pass; queries are read straight in transformers'
    single-query GQA layout [B, kv_heads, groups, D] (query head h = kv * groups + g), so
    no transposes or copies. The same operations on the same values as :func:`forward`:
    the same results, bit for bit (tested)."""
    batch = input_ids.shape[0]
    end = start + 1
    n_heads, n_kv, dim = w.n_heads, w.n_kv_heads, w.head_dim
    hd, kvd, half = n_heads * dim, n_kv * dim, dim // 2
    hidden = F.embedding(input_ids[:, 0], w.embed)  # [B, H]
    freqs = positions[:, :1].float() * w.inv_freq.to(positions.device)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = (emb.cos() * w.rope_scaling).to(w.dtype)[:, None]  # [B, 1, D]
    sin = (emb.sin() * w.rope_scaling).to(w.dtype)[:, None]
    # The additive form of the key mask, made once: attention would convert a boolean mask
    # into it in every layer.
    mask = torch.zeros((batch, 1, 1, end), dtype=w.dtype, device=input_ids.device)
    mask.masked_fill_(~key_mask[:, None, None, :end], float("-inf"))
    for layer, (key_buffer, value_buffer) in zip(w.layers, cache):
        x = _rms_norm(hidden, layer.norm1, w.eps)
        qkv = layer.qkv(x)  # [B, hd + 2 kvd]
        qk = qkv[:, : hd + kvd].view(batch, n_heads + n_kv, dim)
        qk = qk * cos + torch.cat((-qk[..., half:], qk[..., :half]), dim=-1) * sin
        key_buffer[:, :, start] = qk[:, n_heads:]
        value_buffer[:, :, start] = qkv[:, hd + kvd :].view(batch, n_kv, dim)
        out = F.scaled_dot_product_attention(
            qk[:, :n_heads].view(batch, n_kv, n_heads // n_kv, dim),
            key_buffer[:, :, :end],
            value_buffer[:, :, :end],
            attn_mask=mask,
            scale=w.scaling,
        )
        hidden = hidden + layer.o(out.reshape(batch, hd))
        x = _rms_norm(hidden, layer.norm2, w.eps)
        gate, up = layer.gate_up(x).chunk(2, dim=-1)
        hidden = hidden + layer.down(F.silu(gate) * up)
    return w.lm_head(_rms_norm(hidden, w.final_norm, w.eps)).float()


# torch.compile's backend for the decoding step (a test swaps in one that fails).
COMPILE_BACKEND = "inductor"


class CompiledStep:
    """:func:`forward` under ``torch.compile`` (inductor, dynamic shapes: one graph for
    every batch size and cache length), falling back to eager :func:`forward` for good, with
    one warning, if compiling or running the compiled code fails.

    Inductor's compiled code is cached on disk (``$TORCHINDUCTOR_CACHE_DIR``, by default
    ``<HIR_CACHE_DIR>/inductor``): a new process reuses it instead of compiling again.
    ``compile_seconds`` is the time of the calls that compiled (the first, and any
    recompilation), reported apart from decoding.

    Measured on this project's CPU (SmolLM2 bf16, torch 2.13): inductor cannot lower the
    oneDNN-packed weights (``LoweringException`` on ``mkldnn._linear_pointwise``), so the
    step falls back to eager; with plain weights the compile of the 30 unrolled layers had
    not finished after 4 minutes on 2 shared cores, against ~5 s for a whole 64-token
    rollout eagerly. Hence ``generation.compile`` is off by default.
    """

    def __init__(self):
        self._compiled = None
        self.failed: str | None = None
        self.compile_seconds = 0.0

    def __call__(self, *args):
        if self.failed is not None:
            return forward(*args)
        try:
            if self._compiled is None:
                _default_inductor_cache()
                self._compiled = torch.compile(forward, dynamic=True, backend=COMPILE_BACKEND)
            frames = _compiled_frames()
            start = time.perf_counter()
            out = self._compiled(*args)
            if _compiled_frames() != frames:
                self.compile_seconds += time.perf_counter() - start
            return out
        except Exception as err:  # noqa: BLE001 (any compiler failure: decode eagerly)
            self.failed = _describe(err)
            warnings.warn(
                f"torch.compile of the decoding step failed ({self.failed}); decoding "
                "eagerly from now on (generation compile: false avoids the attempt)",
                RuntimeWarning,
                stacklevel=2,
            )
            return forward(*args)


def _describe(err: BaseException) -> str:
    """The failure and its root cause, one line each: dynamo wraps a backend's exception
    (BackendCompilerFailed, InductorError) and the cause is what says what went wrong."""
    parts, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        lines = str(err).strip().splitlines()
        parts.append(f"{type(err).__name__}: {lines[0][:200] if lines else ''}".rstrip(": "))
        err = err.__cause__ or getattr(err, "inner_exception", None)
    return " <- ".join(dict.fromkeys(parts))


_STEP: CompiledStep | None = None


def compiled_step() -> CompiledStep:
    """The process's one compiled decoding step (compiled on first use)."""
    global _STEP
    if _STEP is None:
        _STEP = CompiledStep()
    return _STEP


def _compiled_frames() -> int:
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


def _default_inductor_cache() -> None:
    """Inductor's on-disk cache under the project's cache folder unless set otherwise."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        from hir_core.models import cache_dir

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")
