"""Disk-full drill on a real filesystem: ``hir train`` with its run directory on a small tmpfs.

The suite injects ENOSPC (tests/test_reliability.py: mounting needs root). This drill
mounts a real tmpfs too small for the run (``--size-kib``, default 1 and 4 MiB: one iteration
of configs/tiny.yaml takes ~3 MiB), runs ``hir train configs/tiny.yaml`` on it in a
subprocess, and checks that the command exits 4 with one line naming the file, that no
stage recorded in the manifest has an output that fails its sha256 (nothing half-written is
trusted), then grows the tmpfs (``mount -o remount``), reruns the same command, and checks
that the run ends with the tables and weights of the same run on an ordinary disk.

    sudo .venv/bin/python benchmarks/disk_full_drill.py        # root: it mounts a tmpfs

Results: ``benchmarks/results/disk_full_drill.json`` (BENCHMARKS.md, Reliability).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hir_core.rundir import Manifest, RunDir
from hir_core.storage import file_sha256
from tests._helpers_flows import ITERATIONS, TINY, output_files, subprocess_env

RESULTS = ROOT / "benchmarks" / "results"
EXIT_NO_SPACE = 4  # flows/cli.py (not imported: it would import typer's app here)


def hir_train(run_dir: Path) -> tuple[int, str, float]:
    cmd = [sys.executable, "-m", "flows.cli", "train", str(TINY), "--run-dir", str(run_dir)]
    cmd += [f"iterations={ITERATIONS}", "hindsight.strategy=hir", "--no-track"]
    start = time.time()
    proc = subprocess.run(
        cmd,
        env=subprocess_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.time() - start


def _manifest(run_dir: Path) -> dict:
    """The manifest as written (Manifest.load also checks it: a bad one would raise)."""
    Manifest.load(RunDir(run_dir))
    return json.loads(RunDir(run_dir).manifest_path.read_text())


def untrusted_outputs(run_dir: Path) -> list[str]:
    """Outputs the manifest records as done whose bytes are not the recorded ones."""
    bad = []
    for k, stages in _manifest(run_dir)["iterations"].items():
        for stage, entry in stages.items():
            if entry["status"] != "done":
                continue
            for output in entry["outputs"].values():
                target = run_dir / output["path"]
                if target.is_file() and file_sha256(target) != output["sha256"]:
                    bad.append(f"{k}/{stage}: {output['path']}")
                elif not target.exists():
                    bad.append(f"{k}/{stage}: {output['path']} missing")
    return bad


def drill(reference: Path, base: Path, size_kib: int, grown_kib: int) -> dict:
    """One run on a tmpfs of ``size_kib``, then the rerun once it is grown to ``grown_kib``."""
    mount = base / f"tmpfs-{size_kib}k"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mount)], check=True
    )
    try:
        run_dir = mount / "run"
        rc_full, out_full, full_s = hir_train(run_dir)
        errors = [line for line in out_full.splitlines() if line.startswith("error: ")]
        iterations = (
            _manifest(run_dir)["iterations"] if RunDir(run_dir).manifest_path.exists() else {}
        )
        recorded = sorted(f"{k}/{stage}" for k, stages in iterations.items() for stage in stages)
        untrusted = untrusted_outputs(run_dir) if iterations else []
        subprocess.run(["mount", "-o", f"remount,size={grown_kib}k", str(mount)], check=True)
        rc_rerun, _, rerun_s = hir_train(run_dir)
        same = rc_rerun == 0 and output_files(run_dir) == output_files(reference)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    ok = rc_full == EXIT_NO_SPACE and len(errors) == 1 and not untrusted and same
    return {
        "tmpfs_kib": size_kib,
        "grown_kib": grown_kib,
        "full_exit_status": rc_full,
        "full_error_lines": errors,
        "full_output_tail": None if ok else out_full[-3000:],
        "stages_recorded_when_full": recorded,
        "recorded_outputs_not_matching_sha256": untrusted,
        "rerun_exit_status": rc_rerun,
        "rerun_same_tables_and_weights_as_reference": same,
        "seconds": {"full": full_s, "rerun": rerun_s},
        "ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--size-kib", type=int, nargs="+", default=[1024, 4096], help="the full tmpfs sizes"
    )
    parser.add_argument("--grown-kib", type=int, default=65536, help="after the remount")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("disk_full_drill.py mounts a tmpfs: run it as root (or skip it)")
    with tempfile.TemporaryDirectory(prefix="hir-drill-") as base:
        base = Path(base)
        reference = base / "reference"
        rc, out, ref_s = hir_train(reference)
        assert rc == 0, out[-3000:]
        drills = [drill(reference, base, size, args.grown_kib) for size in args.size_kib]
    result = {"reference_seconds": ref_s, "drills": drills}
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "disk_full_drill.json").write_text(json.dumps(result, indent=1) + "\n")
    sys.exit(0 if all(d["ok"] for d in drills) else 1)


if __name__ == "__main__":
    main()
