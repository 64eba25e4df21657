"""Hindsight strategies: none (baseline) and hir (select-then-rewrite); room for herl.

Use :func:`run_hindsight` with a :class:`HindsightConfig`; :func:`get_strategy` looks a
strategy up by name. Each strategy lives in its own module with a ``run(inputs, cfg)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import polars as pl

from hir_core.hindsight.base import HindsightInputs
from hir_core.hindsight.config import HindsightConfig

Strategy = Callable[[HindsightInputs, HindsightConfig], tuple[pl.DataFrame, dict]]

# Name -> module with a `run` function. Imported on first use: the config (read by every
# stage) must not pull in the verifiers, nor a later strategy's model-side dependencies.
_STRATEGIES = {"none": "hir_core.hindsight.none", "hir": "hir_core.hindsight.hir"}


def get_strategy(name: str) -> Strategy:
    """The strategy function registered under `name`."""
    if name not in _STRATEGIES:
        raise KeyError(f"unknown hindsight strategy {name!r}; known: {sorted(_STRATEGIES)}")
    return importlib.import_module(_STRATEGIES[name]).run


def run_hindsight(
    prompts: pl.DataFrame,
    rollouts: pl.DataFrame,
    verdicts: pl.DataFrame,
    cfg: HindsightConfig,
    step: int,
    progress: float | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Run the configured strategy on one iteration's scored rollouts -> (REPLAYS table, stats)."""
    inputs = HindsightInputs(prompts, rollouts, verdicts, step=step, progress=progress)
    return get_strategy(cfg.strategy)(inputs, cfg)


__all__ = ["HindsightConfig", "HindsightInputs", "get_strategy", "run_hindsight"]
