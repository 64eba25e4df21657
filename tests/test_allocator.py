"""hir_core.allocator: which malloc library HIR_ALLOCATOR asks for, and the real re-execution
of a process under it (subprocesses; what the `hir` command does first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hir_core import allocator
from hir_core.allocator import AllocatorError, find_tcmalloc, requested_library

TCMALLOC = find_tcmalloc()
needs_tcmalloc = pytest.mark.skipif(
    TCMALLOC is None or not sys.platform.startswith("linux"),
    reason="no tcmalloc library here (`make install` unpacks Debian's into the venv)",
)
# A child that asks for its allocator, then reports the one it runs on and its pid.
CHILD = (
    "import os; from hir_core.allocator import exec_with_allocator, active_allocator; "
    "exec_with_allocator(); print(active_allocator(), os.getpid())"
)


def _child(env_overrides: dict[str, str], code: str = CHILD) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_PRELOAD", allocator.ENV, allocator.REEXEC_MARKER)
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fake_libs(monkeypatch, tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(allocator, "_search_dirs", lambda env: [tmp_path / "none", tmp_path])
    return tmp_path


def test_requested_library_follows_the_setting(monkeypatch, tmp_path):
    folder = _fake_libs(monkeypatch, tmp_path, ["libtcmalloc.so.4", "libtcmalloc_minimal.so.4"])
    # The minimal build (no heap profiler) is preferred; the first folder that has one wins.
    assert requested_library({}) == folder / "libtcmalloc_minimal.so.4"
    assert requested_library({"HIR_ALLOCATOR": "auto"}) == folder / "libtcmalloc_minimal.so.4"
    assert requested_library({"HIR_ALLOCATOR": "tcmalloc"}) == folder / "libtcmalloc_minimal.so.4"
    assert requested_library({"HIR_ALLOCATOR": "system"}) is None
    other = tmp_path / "libjemalloc.so.2"
    other.write_bytes(b"")
    assert requested_library({"HIR_ALLOCATOR": str(other)}) == other


def test_missing_allocator_is_a_clear_error(monkeypatch, tmp_path):
    _fake_libs(monkeypatch, tmp_path, [])
    assert requested_library({}) is None  # auto: the system allocator, silently
    with pytest.raises(AllocatorError, match="HIR_ALLOCATOR=tcmalloc but no libtcmalloc"):
        requested_library({"HIR_ALLOCATOR": "tcmalloc"})
    with pytest.raises(AllocatorError, match="HIR_ALLOCATOR='/no/such.so'.*does not exist"):
        requested_library({"HIR_ALLOCATOR": "/no/such.so"})


def test_find_tcmalloc_looks_in_ld_library_path(monkeypatch, tmp_path):
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    found = find_tcmalloc({"LD_LIBRARY_PATH": f"/nonexistent:{tmp_path}"})
    # A system-wide library may come later in the search, never before LD_LIBRARY_PATH.
    assert found == tmp_path / "libtcmalloc_minimal.so.4"


@needs_tcmalloc
def test_process_reexecutes_once_under_tcmalloc():
    # The code before exec_with_allocator runs twice (the process and its re-execution,
    # same pid: execve), then never again; the re-executed process has tcmalloc mapped.
    done = _child({}, "import os; print(os.getpid()); " + CHILD)
    assert done.returncode == 0, done.stderr
    pid = done.stdout.split()[0]
    assert done.stdout.splitlines() == [pid, pid, f"tcmalloc {pid}"]


def test_system_setting_keeps_the_system_allocator():
    done = _child({"HIR_ALLOCATOR": "system"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "system"


@needs_tcmalloc
def test_library_the_loader_refuses_does_not_loop(tmp_path):
    """A file that is no library: the loader ignores the preload, and the re-executed
    process does not try again (it would re-execute forever)."""
    bogus = tmp_path / "libbogus.so"
    bogus.write_text("not an ELF file")
    done = _child({"HIR_ALLOCATOR": str(bogus)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "system"
    assert "cannot be preloaded" in done.stderr


@needs_tcmalloc
def test_hir_command_runs_on_tcmalloc_and_reports_it():
    hir = Path(sys.executable).parent / "hir"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", allocator.ENV)}
    done = subprocess.run(
        [str(hir), "info"], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "allocator: tcmalloc (HIR_ALLOCATOR=auto)" in done.stdout
    bad = subprocess.run(
        [str(hir), "info"],
        check=False,
        env={**env, "HIR_ALLOCATOR": "/no/such.so"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "HIR_ALLOCATOR='/no/such.so'" in bad.stderr


def test_module_prints_the_library_for_ld_preload():
    """`LD_PRELOAD=$(python -m hir_core.allocator) prefect worker start ...` (README)."""
    run_module = "import runpy; runpy.run_module('hir_core.allocator', run_name='__main__')"
    done = _child({}, run_module)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(TCMALLOC or "")
    system = _child({"HIR_ALLOCATOR": "system"}, run_module)
    assert system.stdout.strip() == ""
    bad = _child({"HIR_ALLOCATOR": "/no/such.so"}, run_module)
    assert bad.returncode == 2
    assert "HIR_ALLOCATOR='/no/such.so'" in bad.stderr


@needs_tcmalloc
def test_hir_train_under_tcmalloc_gives_the_system_allocators_numbers(tmp_path, prefect_harness):
    """The product path: `hir train` re-executed under tcmalloc runs every stage, and its
    tables and trained weights equal those of the same run on the system allocator."""
    from prefect.settings import PREFECT_API_URL
    from safetensors.torch import load_file

    from hir_core.storage import read_table

    hir = Path(sys.executable).parent / "hir"
    config = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", allocator.ENV)}
    # Both runs report to the session's test server, as `hir train` does against a user's
    # server; without one each would start its own temporary server, and on a loaded 2-core
    # CI machine that start timed out (a Prefect start-up limit, not what this test checks).
    env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    runs = {}
    for choice in ("tcmalloc", "system"):
        run_dir = tmp_path / choice
        done = subprocess.run(
            [str(hir), "train", str(config), "--run-dir", str(run_dir), "--no-track"],
            check=False,
            cwd=tmp_path,
            env={**env, allocator.ENV: choice},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "(2 iterations done)" in done.stdout
        runs[choice] = run_dir
    for stage in ("rollouts", "batch"):
        tables = [
            read_table(run / "iter-0001" / f"{stage}.parquet", stage) for run in runs.values()
        ]
        assert tables[0].equals(tables[1]), stage
    weights = [
        load_file(run / "checkpoints" / "iter-0001" / "model.safetensors") for run in runs.values()
    ]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert weights[0][name].equal(weights[1][name]), name


# Benchmarks that choose their allocators themselves or do not measure speed.
_OWN_ALLOCATOR = {
    "engines.py": "runs each measurement in a worker on the allocator it names (both)",
    "reference_timing.py": "runs in the reference scorers' own venv, without hir_core",
    "disk_full_drill.py": "a fault drill (root, tmpfs), no timings",
}


def test_every_benchmark_runs_on_the_hir_allocator():
    """Each benchmark script re-executes itself under the allocator the `hir` command uses
    (issue 15: absolute figures comparable across BENCHMARKS.md), before any work: its
    `__main__` block, or its main(), calls exec_with_allocator first."""
    import ast

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    missing = []
    for path in sorted(root.glob("*.py")):
        if path.name in _OWN_ALLOCATOR:
            continue
        tree = ast.parse(path.read_text())
        main_block = [
            node
            for node in tree.body
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        ]
        main_fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        calls = []
        for block in main_block + main_fn:
            calls += [
                ast.unparse(n.func)
                for stmt in block.body
                for n in ast.walk(stmt)
                if isinstance(n, ast.Call)
            ]
        if "exec_with_allocator" not in calls:
            missing.append(path.name)
            continue
        # Before the work: in a __main__ block that calls it, exec_with_allocator comes first.
        block_calls = [
            ast.unparse(n.func)
            for block in main_block
            for stmt in block.body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call)
        ]
        if "exec_with_allocator" in block_calls and "main" in block_calls:
            assert block_calls.index("exec_with_allocator") < block_calls.index("main"), path.name
    assert not missing, f"benchmarks not on the hir allocator: {missing}"
