"""hir_core.models: tiny-random, local folders, the packaged SmolLM2 GGUF, and clear errors."""

from __future__ import annotations

import json

import gguf
import pytest
import torch
from _tiny_model import build_tiny, save_tiny
from pydantic import ValidationError

from hir_core.engines.generation import GenerationConfig, TransformersGenerator
from hir_core.models import (
    SMOLLM2,
    ModelConfig,
    ModelSpecError,
    build_tiny_random,
    load_model,
    resolve_folder,
    smollm2_gguf_path,
)

CHAT = [{"role": "user", "content": "What is 2+2?"}]


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- tiny-random


def test_tiny_random_is_deterministic_per_seed():
    model_a, tok_a = build_tiny_random(seed=3)
    model_b, tok_b = build_tiny_random(seed=3)
    model_c, _ = build_tiny_random(seed=4)
    assert _same_weights(model_a, model_b)
    assert tok_a.get_vocab() == tok_b.get_vocab()
    assert not _same_weights(model_a, model_c)


def test_tiny_random_is_tiny_and_chat_ready():
    model, tok = build_tiny()
    n_params = sum(p.numel() for p in model.parameters())
    assert 50_000 < n_params < 1_000_000
    text = tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id


def test_tiny_tokenizer_round_trips_any_text():
    _, tok = build_tiny()
    text = 'Ünïcödé, 日本語 & emoji 🙂 — "quotes"\n\ttabs  and   spaces'
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_tiny_random_forward_is_not_degenerate():
    model, tok = build_tiny()
    ids = torch.tensor([tok.encode("Write a poem about tea.")])
    logits = model(ids).logits[0, -1]
    assert torch.isfinite(logits).all()
    assert logits.std() > 0.5  # peaked enough that greedy decoding rarely meets a near-tie


# ----------------------------------------------------------------------------- local folder


def test_local_folder_round_trip(tmp_path):
    folder = save_tiny(tmp_path / "tiny")
    model, tok = load_model(str(folder))
    reference, _ = build_tiny()
    assert _same_weights(model, reference)
    assert tok.chat_template == reference_chat_template()
    assert tok.padding_side == "left"


def reference_chat_template() -> str:
    return build_tiny()[1].chat_template


def test_local_folder_dtype(tmp_path):
    folder = save_tiny(tmp_path / "tiny")
    model, _ = load_model(ModelConfig(spec=str(folder), dtype="bfloat16"))
    assert next(model.parameters()).dtype == torch.bfloat16


def test_remote_code_is_off_unless_asked(tmp_path):
    folder = save_tiny(tmp_path / "tiny")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text("raise RuntimeError('remote code ran')\n")
    model, _ = load_model(str(folder))  # auto_map ignored: the built-in Llama class loads
    assert type(model).__name__ == "LlamaForCausalLM"
    assert ModelConfig(spec=str(folder)).trust_remote_code is False


# ----------------------------------------------------------------------------- errors


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelSpecError, match="no such file or folder"):
        load_model(str(tmp_path / "nope"))


def test_hub_id_is_refused_offline():
    with pytest.raises(ModelSpecError, match="offline"):
        load_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelSpecError, match="no config.json"):
        load_model(str(tmp_path))


def test_non_gguf_file_is_refused(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0")
    with pytest.raises(ModelSpecError, match="not a .gguf file"):
        load_model(str(path))


def test_model_without_chat_template_is_refused(tmp_path):
    folder = save_tiny(tmp_path / "tiny")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    tok_cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    with pytest.raises(ModelSpecError, match="no chat template"):
        load_model(str(folder))


def test_config_rejects_unknown_fields():
    with pytest.raises(ValidationError, match="trust_remote"):
        ModelConfig(spec="tiny-random", trust_remote=True)


# ----------------------------------------------------------------------------- SmolLM2 (GGUF)


@pytest.fixture(scope="module")
def smollm2():
    """Converts the packaged GGUF once into $HIR_CACHE_DIR (about a minute the first time)."""
    return load_model(SMOLLM2)


def _gguf_chat_template() -> str:
    field = gguf.GGUFReader(smollm2_gguf_path()).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode()


def test_smollm2_keeps_its_chat_template(smollm2):
    _, tok = smollm2
    assert tok.chat_template == _gguf_chat_template()
    text = tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")


def test_smollm2_is_dequantized_fp32_and_answers(smollm2):
    model, tok = smollm2
    assert next(model.parameters()).dtype == torch.float32
    assert not hasattr(model.config, "quantization_config")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    cfg = GenerationConfig(n=1, temperature=0.0, max_new_tokens=24)
    ((sample,),) = TransformersGenerator(model, tok, cfg).generate([CHAT])
    assert "4" in sample.response
    assert sample.finish_reason == "stop"  # the instruct model ends its turn with <|im_end|>


def test_smollm2_conversion_is_cached(smollm2):
    folder = resolve_folder(SMOLLM2)
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    load_model(SMOLLM2)
    assert weights.stat().st_mtime_ns == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_gguf_path_spec_shares_the_conversion(smollm2):
    assert resolve_folder(str(smollm2_gguf_path())) == resolve_folder(SMOLLM2)
    model, _ = load_model(str(smollm2_gguf_path()))
    assert _same_weights(model, smollm2[0])
