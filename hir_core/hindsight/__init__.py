"""Hindsight strategies: none (baseline), hir (select-then-rewrite), herl (guided
re-generation) and hir+herl (both).

Use :func:`run_hindsight` with a :class:`HindsightConfig`; :func:`get_strategy` looks a
strategy up by name. Each strategy lives in its own module with a ``run(inputs, cfg)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import polars as pl

from hir_core.hindsight.base import HindsightInputs
from hir_core.hindsight.config import HerlConfig, HindsightConfig
from hir_core.rewards import RewardConfig

Strategy = Callable[[HindsightInputs, HindsightConfig], tuple[pl.DataFrame, dict]]

# Name -> module with a `run` function. Imported on first use: the config (read by every
# stage) must not pull in the verifiers, nor a later strategy's model-side dependencies.
_STRATEGIES = {
    "none": "hir_core.hindsight.none",
    "hir": "hir_core.hindsight.hir",
    "herl": "hir_core.hindsight.herl",
    "hir+herl": "hir_core.hindsight.combined",
}
# Strategies that run the policy (a guided generation pass) and re-score with the reward.
NEEDS_GENERATOR = frozenset({"herl", "hir+herl"})


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
    generator=None,
    reward: RewardConfig | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Run the configured strategy on one iteration's scored rollouts -> (REPLAYS table, stats).

    `generator` (a ``hir_core.engines.generation.Generator`` holding the current policy) and
    `reward` (the run's RewardConfig, the one that filled the verdicts' ``reward`` column) are
    needed by the strategies in :data:`NEEDS_GENERATOR` and ignored by the others.
    """
    strategy = get_strategy(cfg.strategy)
    if cfg.strategy in NEEDS_GENERATOR:
        missing = [name for name, v in (("generator", generator), ("reward", reward)) if v is None]
        if missing:
            raise ValueError(
                f"hindsight strategy {cfg.strategy!r} generates and scores guided responses with "
                f"the current policy: pass {' and '.join(f'{m}=' for m in missing)} to "
                "run_hindsight (a hir_core.engines.generation Generator and the run's RewardConfig)"
            )
    inputs = HindsightInputs(
        prompts,
        rollouts,
        verdicts,
        step=step,
        progress=progress,
        generator=generator,
        reward=reward,
    )
    return strategy(inputs, cfg)


__all__ = [
    "NEEDS_GENERATOR",
    "HerlConfig",
    "HindsightConfig",
    "HindsightInputs",
    "get_strategy",
    "run_hindsight",
]
