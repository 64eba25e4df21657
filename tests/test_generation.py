"""Transformers generation backend, checked against plain reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_model import build_tiny, save_tiny

from hir_core.engines.generation import (
    GenerationConfig,
    TransformersGenerator,
    chat_prompt_ids,
    cut_at_stop,
    top_p_filter,
)
from hir_core.engines.logprobs import compute_logprobs

PROMPTS = [
    [{"role": "user", "content": "Write a poem about tea."}],
    [{"role": "user", "content": "Hi"}],
    [
        {
            "role": "user",
            "content": "List three reasons to travel, in JSON format, in under 50 words.",
        }
    ],
]


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def _generate(tiny, **overrides):
    model, tok = tiny
    cfg = GenerationConfig(**{"n": 2, "max_new_tokens": 12, "batch_size": 4, **overrides})
    return TransformersGenerator(model, tok, cfg).generate(PROMPTS)


def _reference_greedy(model, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy decoding the slow way: a full forward pass, no cache, no padding, per token."""
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        ids.append(int(logits.argmax()))
    return ids[len(prompt_ids) :]


def test_shape_of_the_output(tiny):
    out = _generate(tiny, n=3)
    _, tok = tiny
    assert [len(group) for group in out] == [3, 3, 3]
    for p, group in enumerate(out):
        assert [s.sample_idx for s in group] == [0, 1, 2]
        for s in group:
            assert s.prompt_index == p
            assert s.prompt_token_ids == chat_prompt_ids(tok, [PROMPTS[p]])[0]
            assert len(s.response_token_ids) == len(s.logprobs) == 12
            assert s.finish_reason == "length"
            assert s.response == tok.decode(s.response_token_ids, skip_special_tokens=True)


def test_greedy_matches_a_cacheless_unpadded_reference(tiny):
    model, _ = tiny
    out = _generate(tiny, n=1, temperature=0.0, max_new_tokens=10)
    for group in out:
        s = group[0]
        assert s.response_token_ids == _reference_greedy(model, s.prompt_token_ids, 10)


def test_greedy_matches_hf_generate(tiny):
    model, tok = tiny
    out = _generate(tiny, n=1, temperature=0.0, max_new_tokens=10)
    for group in out:
        s = group[0]
        hf = model.generate(
            torch.tensor([s.prompt_token_ids]),
            do_sample=False,
            max_new_tokens=10,
            min_new_tokens=10,
            pad_token_id=tok.pad_token_id,
        )
        assert hf[0, len(s.prompt_token_ids) :].tolist() == s.response_token_ids


def _assert_logprobs_match_teacher_forcing(model, tok, samples) -> None:
    recomputed = compute_logprobs(
        model,
        [s.prompt_token_ids for s in samples],
        [s.response_token_ids for s in samples],
        micro_batch_size=4,
        pad_id=tok.pad_token_id,
    )
    for s, ref in zip(samples, recomputed):
        np.testing.assert_allclose(s.logprobs, ref, atol=1e-3)


def test_sampled_logprobs_and_entropy_match_teacher_forcing(tiny):
    model, tok = tiny
    out = _generate(tiny, n=3, max_new_tokens=16)
    flat = [s for group in out for s in group]
    _assert_logprobs_match_teacher_forcing(model, tok, flat)
    # Entropy: a plain numpy computation over the full next-token distributions.
    s = flat[0]
    with torch.no_grad():
        logits = model(torch.tensor([s.prompt_token_ids + s.response_token_ids])).logits[0]
    logits = logits[len(s.prompt_token_ids) - 1 : -1].double().numpy()
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    entropy = -(p * np.log(p)).sum(-1)
    assert s.mean_entropy == pytest.approx(entropy.mean(), abs=1e-3)


def test_same_seed_same_samples_other_seed_other_samples(tiny):
    a = _generate(tiny, seed=1)
    b = _generate(tiny, seed=1)
    c = _generate(tiny, seed=2)
    tokens = lambda out: [s.response_token_ids for g in out for s in g]
    assert tokens(a) == tokens(b)
    assert tokens(a) != tokens(c)
    assert len({tuple(t) for t in tokens(a)}) == len(tokens(a))  # samples of a group differ


def test_tiny_top_p_is_greedy(tiny):
    greedy = _generate(tiny, n=1, temperature=0.0)
    nucleus = _generate(tiny, n=1, temperature=1.0, top_p=1e-6, seed=5)
    assert [g[0].response_token_ids for g in greedy] == [g[0].response_token_ids for g in nucleus]


def test_top_p_filter_against_a_loop():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 30)) * 2
    for top_p in (0.1, 0.5, 0.9, 0.999):
        got = top_p_filter(torch.tensor(logits), top_p).numpy()
        for row in range(5):
            probs = np.exp(logits[row]) / np.exp(logits[row]).sum()
            kept, mass = set(), 0.0
            for token in np.argsort(-probs):
                if mass >= top_p:
                    break
                kept.add(int(token))
                mass += probs[token]
            assert set(np.flatnonzero(np.isfinite(got[row]))) == kept
            np.testing.assert_array_equal(got[row][list(kept)], logits[row][list(kept)])


def test_stop_string(tiny):
    _, tok = tiny
    free = _generate(tiny, n=1, temperature=0.0, max_new_tokens=20)
    text = free[0][0].response
    stop = text[5:7]  # a string the greedy response is known to contain
    out = _generate(tiny, n=1, temperature=0.0, max_new_tokens=20, stop=[stop])
    s = out[0][0]
    assert s.finish_reason == "stop"
    assert stop not in s.response and text.startswith(s.response)
    assert stop in tok.decode(s.response_token_ids)
    assert stop not in tok.decode(s.response_token_ids[:-1])  # stopped at the first chance


def test_eos_ends_a_sample_and_is_kept(tiny):
    model, tok = tiny
    free = _generate(tiny, n=1, temperature=0.0, max_new_tokens=12)
    third = free[0][0].response_token_ids[2]
    model.generation_config.eos_token_id = [tok.eos_token_id, third]
    try:
        out = _generate(tiny, n=1, temperature=0.0, max_new_tokens=12)
    finally:
        model.generation_config.eos_token_id = tok.eos_token_id
    first = free[0][0].response_token_ids
    s = out[0][0]
    end = first.index(third) + 1
    assert s.response_token_ids == first[:end]
    assert s.finish_reason == "stop"
    assert len(s.logprobs) == end


def _with_extra_eos(model, tok, token_id: int):
    model.generation_config.eos_token_id = [tok.eos_token_id, token_id]


def test_rows_that_end_early_leave_the_batch_without_changing_the_others(tiny):
    """Rows ending at different steps are dropped from the batch and its KV cache; the rows
    still running decode exactly as in a batch where nobody ended."""
    model, tok = tiny
    free = _generate(tiny, n=1, temperature=0.0, max_new_tokens=12, batch_size=3)
    # An extra end token taken from the first response: some rows end early, others not.
    marker = free[0][0].response_token_ids[2]
    free_sampled = _generate(tiny, n=3, max_new_tokens=16, batch_size=9)
    _with_extra_eos(model, tok, marker)
    try:
        out = _generate(tiny, n=1, temperature=0.0, max_new_tokens=12, batch_size=3)
        # Same seed: the first sample draws the same tokens until a row ends, so an end
        # token taken from its 4th position ends it by then.
        _with_extra_eos(model, tok, free_sampled[0][0].response_token_ids[3])
        sampled = _generate(tiny, n=3, max_new_tokens=16, batch_size=9)
    finally:
        model.generation_config.eos_token_id = tok.eos_token_id
    lengths = []
    for group, ref in zip(out, free):
        full = ref[0].response_token_ids
        end = full.index(marker) + 1 if marker in full else len(full)
        assert group[0].response_token_ids == full[:end]
        np.testing.assert_allclose(group[0].logprobs, ref[0].logprobs[:end], atol=1e-4)
        lengths.append(end)
    assert len(set(lengths)) > 1  # rows really ended at different steps
    # Sampling: the log-probs of rows decoded after others left match teacher forcing.
    flat = [s for group in sampled for s in group]
    assert len({len(s.response_token_ids) for s in flat}) > 1
    _assert_logprobs_match_teacher_forcing(model, tok, flat)


def test_cut_at_stop():
    assert cut_at_stop("abc STOP def END", ["END", "STOP"]) == ("abc ", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    assert cut_at_stop("abc", []) == ("abc", False)


def test_batching_does_not_change_greedy_results(tiny):
    one_by_one = _generate(tiny, n=1, temperature=0.0, batch_size=1)
    batched = _generate(tiny, n=1, temperature=0.0, batch_size=3)
    assert [g[0].response_token_ids for g in one_by_one] == [
        g[0].response_token_ids for g in batched
    ]
    for a, b in zip(one_by_one, batched):
        np.testing.assert_allclose(a[0].logprobs, b[0].logprobs, atol=1e-4)


def test_progress_bar_counts_sequences(tiny, capfd):
    _generate(tiny, n=2, max_new_tokens=2)
    err = capfd.readouterr().err
    assert "generate" in err and "6/6" in err  # 3 prompts x n=2 sequences
    _generate(tiny, n=2, max_new_tokens=2, progress=False)
    assert "generate" not in capfd.readouterr().err


def test_load_swaps_in_a_checkpoint(tmp_path):
    """The next iteration's checkpoint replaces the weights (and tokenizer) in use."""
    cfg = GenerationConfig(n=1, temperature=0.0, max_new_tokens=8, progress=False)
    generator = TransformersGenerator(*build_tiny(), cfg)
    before = generator.generate(PROMPTS)
    assert generator.load(save_tiny(tmp_path / "other", seed=1)) == "new_model"
    after = generator.generate(PROMPTS)
    expected = TransformersGenerator(*build_tiny(seed=1), cfg).generate(PROMPTS)
    tokens = lambda out: [g[0].response_token_ids for g in out]
    assert tokens(after) == tokens(expected) != tokens(before)
    assert after[0][0].prompt_token_ids == expected[0][0].prompt_token_ids


def test_vllm_backend_without_vllm_is_a_clear_error(tmp_path):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here: tests/test_vllm.py covers the backend")
    from hir_core.engines.generation import make_generator

    with pytest.raises(ImportError, match=r"needs the vllm package.*backend: transformers"):
        make_generator(GenerationConfig(backend="vllm"), model_dir=save_tiny(tmp_path / "m"))
