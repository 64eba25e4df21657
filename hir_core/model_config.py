"""Which model a run loads (torch-free: the pipeline config imports it).
:mod:`hir_core.models` (the loaders) re-exports these names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SMOLLM2", "TINY_RANDOM", "CheckpointError", "ModelConfig", "ModelSpecError"]

SMOLLM2 = "smollm2-135m-instruct"
TINY_RANDOM = "tiny-random"


class ModelSpecError(ValueError):
    """A model spec that cannot be resolved offline, or a model unusable for chat."""


class CheckpointError(ModelSpecError):
    """A model folder (a checkpoint) whose files are missing, truncated, damaged or do not
    fit each other; the message names the folder or file."""


class ModelConfig(BaseModel):
    """Which model to load and how."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(
        description=(
            "Local Hugging Face folder, path to a .gguf file, 'smollm2-135m-instruct' "
            "(the packaged demo model) or 'tiny-random' (test model). Hub ids are refused: "
            "the pipeline runs offline."
        )
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32",
        description=(
            "Dtype the weights are loaded in. float32 (our default): training uses bf16 "
            "autocast on top of fp32 master weights where the hardware has bf16."
        ),
    )
    trust_remote_code: bool = Field(
        False, description="Run model code shipped inside a local folder. Off unless set here."
    )
    seed: int = Field(0, description="Seed of the random weights and tokenizer of 'tiny-random'.")
