"""The run's engines for ``distributed.backend`` (hir_core.engines.api.Engines)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hir_core.config import PipelineConfig
    from hir_core.engines.api import Engines
    from hir_core.rundir import RunDir


def make_engines(cfg: PipelineConfig, rundir: RunDir) -> Engines:
    """``inprocess``: engines in this process; ``ray``: actors placed by Ray (started
    lazily, on the first stage that runs the policy)."""
    backend = cfg.distributed.backend
    if backend == "inprocess":
        from hir_core.engines.inprocess import InProcessEngines

        return InProcessEngines(cfg, rundir)
    if backend == "ray":
        from hir_core.engines.ray import RayEngines

        return RayEngines(cfg, rundir)
    raise ValueError(f"distributed.backend: unknown backend {backend!r}")
