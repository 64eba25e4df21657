"""Shared tiny-model fixtures: the real ``tiny-random`` Llama (~160K parameters) and its
tokenizer, in memory or saved as a Hugging Face folder (what vLLM and checkpoints load).

Use from any test module:

    from _tiny_model import tiny_model, tiny_model_dir  # noqa: F401  (pytest fixtures)

or call ``build_tiny()`` / ``save_tiny(folder)`` directly. Building takes well under a second.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import pytest

from hir_core.models import ModelConfig, load_model, save_model

TINY_SEED = 0


@lru_cache(maxsize=4)
def _cached(seed: int):
    return load_model(ModelConfig(spec="tiny-random", seed=seed))


def build_tiny(seed: int = TINY_SEED):
    """A fresh (model, tokenizer) pair: a deep copy, so a test may train or modify it."""
    model, tokenizer = _cached(seed)
    return copy.deepcopy(model), copy.deepcopy(tokenizer)


def save_tiny(folder: Path, seed: int = TINY_SEED) -> Path:
    """Save the tiny model as a safetensors folder and return it."""
    model, tokenizer = _cached(seed)
    return save_model(model, tokenizer, Path(folder))


@pytest.fixture()
def tiny_model():
    """(model, tokenizer), fresh per test."""
    return build_tiny()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny model saved once per session; treat the folder as read-only."""
    return save_tiny(tmp_path_factory.mktemp("tiny-random"))
