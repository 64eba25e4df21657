"""CPU host-memory measures of the train engine, apart from the algorithm's settings.

On CPU the policy, its reference, the optimizer state and the step's activations share the
host's memory, and the allocator decides how much of what was freed the process keeps
(BENCHMARKS.md, Engines). Two measures, each a field of the ``host_memory`` config section:

- ``reference_offload``: the frozen reference model is parked in a file between its
  log-prob passes (:class:`ParkedWeights`), so the training step runs without it;
- ``return_freed_memory``: glibc's mmap threshold pinned low, so freed tensors go back to
  the OS (:func:`return_freed_memory_to_os`); superseded by tcmalloc (hir_core/allocator.py,
  chosen at process start, not here).

Neither changes a result: the stage hashes leave this section out. torch is imported only
where weights are parked (the config imports this module).
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch

__all__ = ["HostMemoryConfig", "ParkedWeights", "return_freed_memory_to_os"]


class HostMemoryConfig(BaseModel):
    """CPU host-memory measures of the train engine (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    return_freed_memory: bool = Field(
        False,
        description="On Linux CPU runs on glibc's malloc, pin its mmap threshold at 128 KiB so "
        "that freed tensors go back to the OS (process-wide): lower peak RSS, but every large "
        "tensor is then freshly page-faulted and the step takes up to twice as long "
        "(BENCHMARKS.md, Engines; was training.cpu_return_freed_memory). No effect under tcmalloc, which the `hir` command runs on "
        "where it is installed (hir_core/allocator.py). For memory-bound CPU runs only.",
    )
    reference_offload: Literal["auto"] | bool = Field(
        "auto",
        description="Keep the frozen reference model's weights in a file between reference "
        "log-prob passes (read back for each pass) instead of in memory, so the "
        "training step runs without them: SmolLM2's 16x256 step peaks 0.3 GiB lower "
        "(BENCHMARKS.md, Engines). 'auto': on for CPU training, where the reference competes "
        "with the step for host memory; off on GPU. The file (the reference's size) lives in "
        "a temporary folder under TMPDIR, removed with the engine.",
    )


class ParkedWeights:
    """A frozen model whose parameters live in a file between uses.

    On construction it writes the parameters to a file (tied ones once) and leaves meta
    tensors of the same shape and dtype in their place; ``loaded()`` reads them
    back for the duration of a ``with`` block and parks them again after. Between uses the
    weights cost no memory. A read is a copy from the page cache (the file was just written
    or read; ~0.1 s for SmolLM2's 0.3 GiB), not a memory map: the copy lands in memory the
    allocator freed after the last training step, where mapped file pages would add to the
    process's peak (measured: 0.26 GiB more under tcmalloc). Buffers (e.g. rotary tables)
    are small and stay in memory.
    """

    FILE = "weights.pt"

    def __init__(self, model: torch.nn.Module, device: torch.device, prefix: str = "hir-"):
        import torch

        self.model = model
        self.device = device
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        # One entry per parameter, with every (module, attribute) holding it: tied weights
        # (an output head sharing the embedding) stay one Parameter when put back.
        self._holders: dict[str, list[tuple[torch.nn.Module, str]]] = {}
        first_name: dict[int, str] = {}
        for module_name, module in model.named_modules(remove_duplicate=False):
            for name, param in module._parameters.items():
                if param is not None:
                    key = first_name.setdefault(
                        id(param), f"{module_name}.{name}" if module_name else name
                    )
                    self._holders.setdefault(key, []).append((module, name))
        state = {key: self._get(key).detach() for key in self._holders}
        partial = self.folder / f"{self.FILE}.partial"
        torch.save(state, partial)
        partial.rename(self.folder / self.FILE)
        del state
        self._park()

    def _get(self, key: str) -> torch.nn.Parameter:
        module, name = self._holders[key][0]
        return module._parameters[name]

    @property
    def parked(self) -> bool:
        return all(self._get(key).is_meta for key in self._holders)

    def _set(self, tensors: dict[str, torch.Tensor]) -> None:
        import torch

        for key, holders in self._holders.items():
            param = torch.nn.Parameter(tensors[key], requires_grad=False)
            for module, name in holders:
                module._parameters[name] = param

    def _park(self) -> None:
        import torch

        self._set({key: torch.empty_like(self._get(key), device="meta") for key in self._holders})

    @contextlib.contextmanager
    def loaded(self) -> Iterator[torch.nn.Module]:
        import torch

        state = torch.load(self.folder / self.FILE, map_location=self.device, weights_only=True)
        self._set(state)
        del state
        try:
            yield self.model
        finally:
            self._park()


def return_freed_memory_to_os() -> bool:
    """Pin glibc malloc's mmap threshold (128 KiB): big blocks are then mmap-ed and unmapped
    on free. By default glibc raises the threshold after each big free and serves later big
    tensors from its heap, which it keeps: across a training step's micro-batches (graphs of
    hundreds of MiB freed and re-made) the resident set grew ~1 GiB above what was live.
    Returns whether it was applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_mmap_threshold = -3  # from malloc.h
    return bool(libc.mallopt(m_mmap_threshold, 128 * 1024))
