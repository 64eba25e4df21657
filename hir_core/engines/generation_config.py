"""What the generation engines take: sampling settings and the chat (torch-free: the
pipeline config imports it). :mod:`hir_core.engines.generation` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GenerationConfig", "Messages", "chat"]

Messages = Sequence[dict]  # one chat: [{"role": "user", "content": "..."}, ...]


def chat(prompt: str) -> list[dict]:
    """A prompt as the one-message chat every stage, evaluation and HeRL's revision send (and
    tokenise) it as: one user turn, rendered by the model's chat template."""
    return [{"role": "user", "content": prompt}]


class GenerationConfig(BaseModel):
    """Sampling parameters; defaults are the HiR paper's rollout settings where it has one."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="transformers (batched, CPU or GPU) or vllm (the optional 'vllm' extra).",
    )
    n: int = Field(6, ge=1, description="Samples per prompt (paper: n_gen = 6).")
    temperature: float = Field(
        1.0, ge=0.0, description="Sampling temperature (paper: 1.0); 0 is greedy."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus mass kept (paper: 1.0).")
    max_new_tokens: int = Field(
        1024, ge=1, description="Most response tokens per sample (ours; the paper is silent)."
    )
    seed: int = Field(
        0, description="Sampling seed; same seed, prompts and batch size, same samples."
    )
    stop: list[str] = Field(
        default_factory=list, description="Extra stop strings besides the end-of-sequence token."
    )
    batch_size: int = Field(
        32, ge=1, description="Sequences decoded together by the transformers backend."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallel degree.")
    vllm_kwargs: dict = Field(
        default_factory=dict,
        description=(
            "Extra keyword arguments for vllm.LLM (e.g. gpu_memory_utilization, "
            "enforce_eager, max_model_len); ignored by the transformers backend."
        ),
    )
    progress: bool = Field(True, description="Show a progress bar (sequences done) on stderr.")
    decoder: Literal["lean", "hf"] = Field(
        "lean",
        description=(
            "transformers backend's forward pass: 'lean' (hir_core.engines.decoding: fused, "
            "pre-packed weights and a preallocated KV cache; Llama-family models, others fall "
            "back to 'hf'; the same tokens and log-probs as 'hf', bit for bit on CPU: the same "
            "operations on the same shapes; ~1.7-1.9x a plain model.generate for SmolLM2 bf16 "
            "on CPU, BENCHMARKS.md Engines) or 'hf' (the model's own forward)."
        ),
    )
    dtype: Literal["model", "bfloat16"] = Field(
        "model",
        description=(
            "transformers backend, lean decoder: precision of decoding (prefill and steps). "
            "'model': the weights' own dtype; 'bfloat16': a bf16 copy of float32 weights, "
            "made per generate call (half the memory traffic; fast on CPUs with AMX or "
            "AVX512-BF16, and on GPUs). Log-probs and entropies are then those of the bf16 "
            "model (close to, not equal to, training's bf16 autocast, which keeps norms in "
            "float32; the batch stage recomputes old log-probs with the training engine)."
        ),
    )
    compile: bool = Field(
        False,
        description=(
            "transformers backend, lean decoder: torch.compile the decoding step (inductor; "
            "compiled code cached under $TORCHINDUCTOR_CACHE_DIR, default .cache/inductor; "
            "a failure falls back to eager with one warning). Off by default: on CPU in bf16 "
            "inductor cannot lower the oneDNN-packed weights (the step falls back to eager), "
            "and compiling the 30-layer step with plain weights took over 4 minutes on 2 "
            "shared cores (BENCHMARKS.md Engines)."
        ),
    )
