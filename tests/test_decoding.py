"""The lean decoder (hir_core.engines.decoding) against the model's own forward, the
generator's two decoding paths against each other, inverse-CDF sampling, and the fallbacks
(unsupported model, failed compile)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from _tiny_model import build_tiny
from transformers import DynamicCache

from hir_core.engines import decoding
from hir_core.engines.generation import GenerationConfig, TransformersGenerator, pick_tokens

PROMPTS = [
    [{"role": "user", "content": "Write a poem about tea."}],
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "List three reasons to travel, in JSON, in under 50 words."}],
]


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def _as(tiny, dtype: torch.dtype):
    model, tok = tiny
    return copy.deepcopy(model).to(dtype), tok


def _generate(model, tok, **overrides):
    cfg = GenerationConfig(
        **{"n": 2, "max_new_tokens": 12, "batch_size": 6, "progress": False, **overrides}
    )
    return [s for group in TransformersGenerator(model, tok, cfg).generate(PROMPTS) for s in group]


def _padded_batch(tok, lengths=(9, 5, 7)):
    """Left-padded random prompts of the given lengths: ids, key mask, positions."""
    rng = np.random.default_rng(0)
    width = max(lengths)
    ids = torch.full((len(lengths), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n :] = torch.tensor(rng.integers(3, len(tok), n))
        mask[row, width - n :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_equals_the_model_forward_on_prefill_and_steps(tiny, dtype):
    """Left-padded prefill, then three single-token steps: the lean decoder's logits are the
    model's own (with a DynamicCache) up to float rounding."""
    model, tok = _as(tiny, dtype)
    ids, mask, positions = _padded_batch(tok)
    steps = 3
    with torch.inference_mode():
        weights = decoding.DecoderWeights(model, dtype, batch_hint=len(ids))
        cache = weights.new_cache(len(ids), ids.shape[1] + steps)
        key_mask = torch.zeros((len(ids), ids.shape[1] + steps), dtype=torch.bool)
        key_mask[:, : ids.shape[1]] = mask.bool()
        ours = [decoding.forward(weights, ids, positions, cache, 0, key_mask)]
        hf_cache = DynamicCache(config=model.config)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=hf_cache)
        theirs = [out.logits[:, -1].float()]
        token = theirs[0].argmax(-1)[:, None]
        position = positions[:, -1:] + 1
        for step in range(steps):
            key_mask[:, ids.shape[1] + step] = True
            mask = torch.cat([mask, mask.new_ones(len(ids), 1)], dim=1)
            ours.append(
                decoding.forward(weights, token, position, cache, ids.shape[1] + step, key_mask)
            )
            out = model(input_ids=token, attention_mask=mask, position_ids=position, cache=hf_cache)
            theirs.append(out.logits[:, -1].float())
            token = theirs[-1].argmax(-1)[:, None]
            position = position + 1
    atol = 1e-4 if dtype == torch.float32 else 5e-2
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
        assert torch.equal(a.argmax(-1), b.argmax(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lean_and_hf_decoders_give_the_same_samples(tiny, dtype):
    """Greedy: the same tokens; sampling (same seed, so the same uniform draws): the same
    tokens, log-probs within 1e-3 and the same mean entropies."""
    model, tok = _as(tiny, dtype)
    for overrides in ({"temperature": 0.0}, {"temperature": 1.0, "seed": 3}):
        lean = _generate(model, tok, decoder="lean", **overrides)
        hf = _generate(model, tok, decoder="hf", **overrides)
        assert [s.response_token_ids for s in lean] == [s.response_token_ids for s in hf]
        for a, b in zip(lean, hf):
            np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-3)
            assert a.mean_entropy == pytest.approx(b.mean_entropy, abs=1e-3)
            assert a.finish_reason == b.finish_reason


def test_bfloat16_decoding_of_a_float32_model_is_the_bf16_model(tiny):
    """``dtype: bfloat16`` decodes a float32 model as its bf16 copy would (same tokens),
    and leaves the model's own weights float32."""
    model, tok = tiny
    ours = _generate(model, tok, dtype="bfloat16", temperature=0.0)
    reference = _generate(*_as(tiny, torch.bfloat16), decoder="hf", temperature=0.0)
    assert [s.response_token_ids for s in ours] == [s.response_token_ids for s in reference]
    assert next(model.parameters()).dtype == torch.float32


def test_no_cache_deprecation_warning(tiny):
    """Neither decoding path passes transformers' deprecated ``past_key_values``."""
    model, tok = tiny
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for decoder in ("hf", "lean"):
            _generate(model, tok, decoder=decoder, max_new_tokens=4)
    deprecations = [
        str(w.message)
        for w in caught
        if issubclass(w.category, (FutureWarning, DeprecationWarning))
        and ("past_key_values" in str(w.message) or "cache" in str(w.message).lower())
    ]
    assert deprecations == []


def test_an_unsupported_model_decodes_through_the_hf_forward(tiny):
    model, tok = _as(tiny, torch.float32)
    model.config.hidden_act = "gelu"
    assert "hidden_act" in decoding.supported(model)
    with pytest.raises(ValueError, match="cannot run this model: hidden_act"):
        decoding.DecoderWeights(model, torch.float32)
    lean = _generate(model, tok, decoder="lean", temperature=0.0)
    hf = _generate(model, tok, decoder="hf", temperature=0.0)
    assert [s.response_token_ids for s in lean] == [s.response_token_ids for s in hf]


def _broken_backend(graph_module, example_inputs):
    raise RuntimeError("no compiler on this machine")


def test_a_compile_failure_falls_back_to_eager_with_one_warning(tiny, monkeypatch):
    model, tok = tiny
    monkeypatch.setattr(decoding, "COMPILE_BACKEND", _broken_backend)
    monkeypatch.setattr(decoding, "_STEP", None)
    eager = _generate(model, tok, temperature=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _generate(model, tok, temperature=0.0, compile=True)
        second = _generate(model, tok, temperature=0.0, compile=True)
    failures = [w for w in caught if "torch.compile of the decoding step failed" in str(w.message)]
    assert len(failures) == 1
    assert "no compiler on this machine" in str(failures[0].message)
    assert decoding.compiled_step().failed is not None
    tokens = [s.response_token_ids for s in eager]
    assert [s.response_token_ids for s in first] == tokens
    assert [s.response_token_ids for s in second] == tokens


def test_pick_tokens_inverse_cdf_draws_from_the_distribution():
    probs = torch.tensor([0.1, 0.0, 0.2, 0.3, 0.4])
    logits = probs.log()[None].repeat(4, 1)
    # Interval ends of the cumulative distribution [0.1, 0.1, 0.3, 0.6, 1.0].
    uniform = torch.tensor([0.0, 0.1, 0.59, 0.999999])
    token, logprob, entropy = pick_tokens(logits, uniform, 1.0, 1.0)
    assert token.tolist() == [0, 2, 3, 4]  # a zero-probability token is never drawn
    torch.testing.assert_close(logprob, probs[token].log())
    p = probs[probs > 0]
    torch.testing.assert_close(entropy, (-(p * p.log()).sum()).repeat(4))
    # Frequencies over many draws match the probabilities.
    generator = torch.Generator().manual_seed(0)
    draws = 40_000
    uniform = torch.rand(draws, generator=generator)
    token, _, _ = pick_tokens(probs.log()[None].expand(draws, -1), uniform, 1.0, 1.0)
    freq = torch.bincount(token, minlength=5).float() / draws
    torch.testing.assert_close(freq, probs, atol=0.01, rtol=0)
    # Greedy, temperature and top-p: argmax; top-p 0.5 keeps {4, 3}, renormalised.
    assert pick_tokens(logits, None, 1.0, 1.0)[0].tolist() == [4] * 4
    token, logprob, _ = pick_tokens(probs.log()[None].expand(draws, -1), uniform, 1.0, 0.5)
    freq = torch.bincount(token, minlength=5).float() / draws
    torch.testing.assert_close(freq, torch.tensor([0, 0, 0, 3 / 7, 4 / 7]), atol=0.01, rtol=0)
    # Log-probs stay those of the raw distribution, not of the filtered one.
    torch.testing.assert_close(logprob, probs[token].log())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_single_token_step_equals_the_general_forward_bit_for_bit(tiny, dtype):
    model, tok = _as(tiny, dtype)
    ids, mask, positions = _padded_batch(tok)
    width = ids.shape[1]
    key_mask = torch.zeros((len(ids), width + 1), dtype=torch.bool)
    key_mask[:, :width] = mask.bool()
    key_mask[:, width] = True
    token = torch.tensor([[5], [6], [7]])
    with torch.inference_mode():
        weights = decoding.DecoderWeights(model, dtype, batch_hint=len(ids))
        logits = []
        for step in (decoding._decode_step, decoding._forward_tokens):
            cache = weights.new_cache(len(ids), width + 1)
            decoding.forward(weights, ids, positions, cache, 0, key_mask)
            logits.append(step(weights, token, positions[:, -1:] + 1, cache, width, key_mask))
    assert torch.equal(logits[0], logits[1])


@pytest.mark.parametrize("decoder", ["lean", "hf"])
def test_samples_of_a_prompt_share_its_prefill(tiny, decoder):
    """The prefill runs once per distinct prompt and is copied to its samples: greedy
    samples of a prompt are all the one a batch without repeats gives."""
    model, tok = tiny
    single = _generate(model, tok, decoder=decoder, temperature=0.0, n=1)
    shared = _generate(model, tok, decoder=decoder, temperature=0.0, n=3, batch_size=9)
    for p, one in enumerate(single):
        group = shared[3 * p : 3 * p + 3]
        assert {s.prompt_index for s in group} == {p}
        for s in group:
            assert s.response_token_ids == one.response_token_ids
            np.testing.assert_allclose(s.logprobs, one.logprobs, atol=1e-5)
