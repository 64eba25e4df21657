"""The memory allocator of CPU runs: tcmalloc, preloaded by re-executing the command once.

A training step on CPU allocates and frees hundreds of MiB of tensors per micro-batch.
glibc's malloc serves them from a heap it keeps fragmented, or by fresh mmap calls whose
pages must be faulted in again; tcmalloc keeps freed memory in size classes ready for the
next micro-batch. Measured on SmolLM2-135M (16 x 256 tokens, bf16, BENCHMARKS.md "Engines"):
the same step runs about 1.4x as fast and peaks 0.3 GiB lower under tcmalloc.

An allocator has to be in place before the process's first malloc, so it is chosen at
process start through LD_PRELOAD: ``exec_with_allocator`` re-executes the current command
line with it, once (what ``python -m torch.backends.xeon.run_cpu --enable-tcmalloc`` does).
The ``hir`` command calls it first thing. Other launchers (a Prefect worker, torchrun) pass
it on by starting under ``LD_PRELOAD=$(python -m hir_core.allocator)``.

``HIR_ALLOCATOR`` picks it: ``auto`` (default: tcmalloc where one is found, else the system
allocator), ``system``, ``tcmalloc`` (an error where none is found), or the path of a malloc
library to preload. ``make install`` unpacks Debian's libtcmalloc-minimal4 into the venv.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ENV = "HIR_ALLOCATOR"
# Set on the re-executed process: never re-execute twice (a library the loader refused
# to preload would otherwise loop).
REEXEC_MARKER = "HIR_ALLOCATOR_REEXEC"
TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
# tcmalloc reports every allocation above 1 GiB on stderr; a 1B model's logits exceed it.
_QUIET_TCMALLOC = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}


class AllocatorError(ValueError):
    """HIR_ALLOCATOR names an allocator that is not there."""


def _search_dirs(env: Mapping[str, str]) -> list[Path]:
    dirs = [Path(sys.prefix) / "lib"]  # where `make install` puts it
    dirs += [Path(d) for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += [Path(d) for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")]
    dirs += [Path(d) for d in ("/usr/lib64", "/usr/lib", "/usr/local/lib")]
    return dirs


def find_tcmalloc(env: Mapping[str, str] | None = None) -> Path | None:
    """The first tcmalloc library in the venv, LD_LIBRARY_PATH or the system's lib folders."""
    env = os.environ if env is None else env
    for folder in _search_dirs(env):
        for name in TCMALLOC_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def requested_library(env: Mapping[str, str] | None = None) -> Path | None:
    """The malloc library HIR_ALLOCATOR asks to preload (None: the system allocator)."""
    env = os.environ if env is None else env
    choice = env.get(ENV, "auto").strip() or "auto"
    if choice == "system" or not sys.platform.startswith("linux"):
        return None
    if choice in ("auto", "tcmalloc"):
        found = find_tcmalloc(env)
        if found is None and choice == "tcmalloc":
            raise AllocatorError(
                f"{ENV}=tcmalloc but no {' or '.join(TCMALLOC_NAMES)} in "
                f"{', '.join(str(d) for d in _search_dirs(env))} (`make install` puts one in "
                f"the venv; or set {ENV}=system)"
            )
        return found
    path = Path(choice)
    if not path.is_file():
        raise AllocatorError(
            f"{ENV}={choice!r}: expected auto, system, tcmalloc or the path of a malloc "
            "library, and that file does not exist"
        )
    return path


def active_allocator() -> str:
    """Which malloc this process runs on: 'tcmalloc', 'jemalloc' or 'system'."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in maps:
            return name
    return "system"


def exec_with_allocator(argv: list[str] | None = None) -> None:
    """Re-execute this process with the requested allocator preloaded; return when none is
    requested, it is already loaded, or this process is the re-execution."""
    if os.environ.get(REEXEC_MARKER):
        return
    library = requested_library()
    if library is None or active_allocator() != "system":
        return
    env = dict(os.environ)
    preload = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = f"{library}:{preload}" if preload else str(library)
    env[REEXEC_MARKER] = "1"
    for key, value in _QUIET_TCMALLOC.items():
        env.setdefault(key, value)
    argv = list(sys.orig_argv if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


if __name__ == "__main__":
    # `LD_PRELOAD=$(python -m hir_core.allocator) prefect worker start ...`: the library
    # HIR_ALLOCATOR asks for, or nothing for the system allocator.
    try:
        found = requested_library()
    except AllocatorError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(found or "")
