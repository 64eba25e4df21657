"""The run directory: layout, manifest (verified outputs), lock, frozen config, seeds, hashes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hir_core.config import ConfigError, load_config
from hir_core.rundir import (
    STAGES,
    Manifest,
    RunDir,
    RunLockedError,
    input_hash,
    path_sha256,
    prune_subfolder,
    stage_seed,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture()
def cfg():
    return load_config(TINY)


@pytest.fixture()
def rundir(tmp_path, cfg):
    rd = RunDir(tmp_path / "run")
    rd.init(cfg)
    return rd


def _record(manifest: Manifest, rd: RunDir, k: int, stage: str, h: str, content=b"x") -> None:
    outputs = rd.stage_outputs(k, stage)
    for path in outputs.values():
        if path.suffix:  # a file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:  # a checkpoint folder
            (path / "deepspeed").mkdir(parents=True, exist_ok=True)
            (path / "model.safetensors").write_bytes(content)
            (path / "deepspeed" / "state.pt").write_bytes(content + b"opt")
    now = time.time()
    manifest.record(
        k, stage, outputs=outputs, input_hash=h, started=now - 1.5, finished=now, metrics={"m": 1}
    )


# ------------------------------------------------------------------------------ layout


def test_layout_matches_the_architecture(rundir):
    root = rundir.root
    assert rundir.config_path == root / "config.yaml" and rundir.config_path.is_file()
    assert rundir.manifest_path == root / "manifest.json"
    assert rundir.table_path(0, "prompts") == root / "iter-0000" / "prompts.parquet"
    assert rundir.table_path(12, "batch") == root / "iter-0012" / "batch.parquet"
    assert rundir.checkpoint_dir(3) == root / "checkpoints" / "iter-0003"
    assert rundir.stage_outputs(1, "train") == {
        "train": root / "iter-0001" / "train.json",
        "checkpoint": root / "checkpoints" / "iter-0001",
    }
    # Policy-dependent stages read the previous checkpoint, from iteration 1 on.
    assert rundir.checkpoint_dir(0) in rundir.stage_inputs(1, "rollouts")
    assert rundir.stage_inputs(0, "rollouts") == [rundir.table_path(0, "prompts")]
    assert rundir.checkpoint_dir(1) in rundir.stage_inputs(2, "train")
    assert rundir.stage_inputs(0, "prompts") == []
    with pytest.raises(ValueError, match="unknown stage 'verdict'"):
        rundir.stage_outputs(0, "verdict")


# ------------------------------------------------------------------------------ seeds, hashes


def test_stage_seed_is_stable_across_processes_and_distinct(other_process):
    seeds = {(k, s): stage_seed(0, k, s) for k in range(4) for s in STAGES}
    assert len(set(seeds.values())) == len(seeds)
    assert all(0 <= v < 2**31 for v in seeds.values())
    assert stage_seed(1, 0, "rollouts") != stage_seed(0, 0, "rollouts")
    # A fresh interpreter with another hash seed derives the same values (no hash()).
    assert other_process.seed == seeds[(3, "rollouts")]


def test_path_sha256_of_files_and_folders(tmp_path):
    file = tmp_path / "a.bin"
    file.write_bytes(b"hello")
    assert path_sha256(file) == hashlib.sha256(b"hello").hexdigest()
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "w.safetensors").write_bytes(b"w")
    (folder / "sub" / "o.pt").write_bytes(b"o")
    before = path_sha256(folder)
    (folder / "sub" / "o.pt").write_bytes(b"O")
    assert path_sha256(folder) != before
    (folder / "sub" / "o.pt").write_bytes(b"o")
    assert path_sha256(folder) == before
    (folder / "sub" / "o.pt").rename(folder / "sub" / "p.pt")  # same bytes, other name
    assert path_sha256(folder) != before
    with pytest.raises(FileNotFoundError):
        path_sha256(tmp_path / "nope")


def test_pruned_subfolder_keeps_the_folder_hash(tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "deepspeed" / "state").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w")
    (folder / "deepspeed" / "state" / "optim.pt").write_bytes(b"adam")
    (folder / "deepspeed" / "latest").write_bytes(b"state")
    before = path_sha256(folder)
    record = prune_subfolder(folder / "deepspeed")
    assert not (folder / "deepspeed").exists()
    assert record == folder / "deepspeed.pruned.json"
    assert json.loads(record.read_text())["files"] == {
        "latest": hashlib.sha256(b"state").hexdigest(),
        "state/optim.pt": hashlib.sha256(b"adam").hexdigest(),
    }
    assert path_sha256(folder) == before
    # The weights left are still verified.
    (folder / "model.safetensors").write_bytes(b"W")
    assert path_sha256(folder) != before
    (folder / "model.safetensors").write_bytes(b"w")
    # A removal cut short (record written, some files left) hashes the same; pruning again
    # finishes it without rewriting the record.
    (folder / "deepspeed").mkdir()
    (folder / "deepspeed" / "latest").write_bytes(b"half-deleted")
    assert path_sha256(folder) == before
    listed = record.read_text()
    prune_subfolder(folder / "deepspeed")
    assert not (folder / "deepspeed").exists() and record.read_text() == listed
    assert path_sha256(folder) == before


def test_prune_optimizer_states_keeps_the_newest_and_every_record(rundir, cfg):
    manifest = Manifest.load(rundir)
    for k in range(3):
        for stage in STAGES:
            _record(manifest, rundir, k, stage, f"h{k}{stage}")
    # What the next iteration's stages would hash as input (covers checkpoint 1).
    inputs = input_hash(cfg, 2, "train", rundir.stage_inputs(2, "train"))
    with pytest.raises(ValueError, match="keep_optimizer_states must be >= 1"):
        rundir.prune_optimizer_states(0, newest=2)
    removed = rundir.prune_optimizer_states(1, newest=2)
    assert removed == [rundir.checkpoint_dir(k) / "deepspeed" for k in (0, 1)]
    assert (rundir.checkpoint_dir(2) / "deepspeed" / "state.pt").is_file()
    assert all((rundir.checkpoint_dir(k) / "model.safetensors").is_file() for k in range(3))
    fresh = Manifest.load(rundir)
    assert all(fresh.is_done(k, "train", f"h{k}train") for k in range(3))
    assert input_hash(cfg, 2, "train", rundir.stage_inputs(2, "train")) == inputs
    assert rundir.prune_optimizer_states(1, newest=2) == []  # nothing left to remove
    # A checkpoint whose train stage is not done (stale, being redone) is left alone.
    manifest.mark_stale(2, ["train"])
    assert rundir.prune_optimizer_states(1, newest=3) == []


def test_input_hash_tracks_inputs_and_outputs_relevant_config(tmp_path, cfg):
    a = tmp_path / "prompts.parquet"
    a.write_bytes(b"1")
    base = input_hash(cfg, 0, "rollouts", [a])
    assert input_hash(cfg, 0, "rollouts", [a]) == base
    assert input_hash(cfg, 1, "rollouts", [a]) != base
    assert input_hash(cfg, 0, "verdicts", [a]) != base
    a.write_bytes(b"2")
    assert input_hash(cfg, 0, "rollouts", [a]) != base
    a.write_bytes(b"1")
    changed = load_config(TINY, ["rollout.temperature=0.5"])
    assert input_hash(changed, 0, "rollouts", [a]) != base
    # Labels and the run length do not change what a stage computes.
    same = load_config(
        TINY,
        [
            "iterations=7",
            "name=other",
            "tracking.experiment=x",
            "evaluation.every=1",
            "keep_optimizer_states=2",
        ],
    )
    assert input_hash(same, 0, "rollouts", [a]) == base
    # ... but evaluation settings do change evaluation stages.
    assert input_hash(same, 0, "eval", [a]) != input_hash(cfg, 0, "eval", [a])


# ------------------------------------------------------------------------------ manifest


def test_manifest_records_and_verifies_outputs(rundir, cfg):
    manifest = Manifest.load(rundir)
    _record(manifest, rundir, 0, "prompts", "h0", b"table")
    entry = Manifest.load(rundir).stage(0, "prompts")
    assert entry["status"] == "done" and entry["input_hash"] == "h0"
    assert entry["outputs"]["prompts"] == {
        "path": "iter-0000/prompts.parquet",
        "sha256": hashlib.sha256(b"table").hexdigest(),
    }
    assert entry["duration_s"] == pytest.approx(1.5)
    assert entry["metrics"] == {"m": 1}
    assert Manifest.load(rundir).is_done(0, "prompts", "h0")
    assert not manifest.is_done(0, "prompts", "other input hash")
    assert not manifest.is_done(0, "rollouts", "h0")  # never recorded
    assert not manifest.is_done(1, "prompts", "h0")


@pytest.mark.parametrize("damage", ["edit", "truncate", "delete"])
def test_damaged_output_is_not_done(rundir, damage):
    manifest = Manifest.load(rundir)
    _record(manifest, rundir, 0, "verdicts", "h", b"0123456789")
    path = rundir.table_path(0, "verdicts")
    if damage == "edit":
        path.write_bytes(b"0123456780")  # same size, one byte differs
    elif damage == "truncate":
        path.write_bytes(b"01234")
    else:
        path.unlink()
    assert not Manifest.load(rundir).is_done(0, "verdicts", "h")


def test_checkpoint_folder_output_is_verified(rundir):
    manifest = Manifest.load(rundir)
    _record(manifest, rundir, 0, "train", "h", b"weights")
    assert manifest.is_done(0, "train", "h")
    (rundir.checkpoint_dir(0) / "deepspeed" / "state.pt").write_bytes(b"half")
    assert not manifest.is_done(0, "train", "h")


def test_mark_stale_and_completed_iterations(rundir):
    manifest = Manifest.load(rundir)
    for k in range(3):
        for stage in STAGES:
            _record(manifest, rundir, k, stage, f"h{k}{stage}")
    assert manifest.completed_iterations() == 3
    assert rundir.latest_checkpoint() == rundir.checkpoint_dir(2)
    assert rundir.latest_checkpoint(before=2) == rundir.checkpoint_dir(1)
    assert rundir.latest_checkpoint(before=0) is None
    manifest.mark_stale(1, ["batch", "train"])
    fresh = Manifest.load(rundir)
    assert fresh.is_done(1, "replays", "h1replays")
    assert not fresh.is_done(1, "batch", "h1batch")
    assert fresh.stage(1, "train")["status"] == "stale"
    assert fresh.completed_iterations() == 1
    assert rundir.latest_checkpoint() == rundir.checkpoint_dir(2)
    assert rundir.latest_checkpoint(before=2) == rundir.checkpoint_dir(0)


def test_two_manifest_objects_do_not_lose_entries(rundir):
    first, second = Manifest.load(rundir), Manifest.load(rundir)
    _record(first, rundir, 0, "prompts", "a")
    _record(second, rundir, 0, "rollouts", "b")  # `second` never saw the first entry
    merged = Manifest.load(rundir)
    assert merged.is_done(0, "prompts", "a") and merged.is_done(0, "rollouts", "b")


def test_outputs_outside_the_run_are_refused(rundir, tmp_path):
    stray = tmp_path / "elsewhere.parquet"
    stray.write_bytes(b"x")
    with pytest.raises(ValueError, match="outside the run directory"):
        Manifest.load(rundir).record(
            0, "prompts", outputs={"p": stray}, input_hash="h", started=0, finished=1, metrics={}
        )


def test_corrupt_manifest_is_an_error_naming_it(rundir):
    rundir.manifest_path.write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest\.json: not valid JSON"):
        Manifest.load(rundir)


# ------------------------------------------------------------------------------ lock


def test_second_lock_refuses_naming_the_holder(rundir):
    with rundir.lock("flow run 1234"):
        with pytest.raises(RunLockedError) as err:
            rundir.lock("flow run 5678").acquire()
        message = str(err.value)
        assert str(rundir.root) in message
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname() in message
        assert "flow run 1234" in message
    with rundir.lock("again"):  # released: free again
        pass


_CHILD = textwrap.dedent(
    """
    import sys, time
    from hir_core.rundir import RunDir, stage_seed
    print(stage_seed(0, 3, "rollouts"), flush=True)
    lock = RunDir(sys.argv[1]).lock("child holder").acquire()
    print("locked", flush=True)
    time.sleep(600)
    """
)


class _Child:
    def __init__(self, root: Path):
        self.root = root
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(root)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.seed = int(self.process.stdout.readline())
        assert self.process.stdout.readline().strip() == "locked"


@pytest.fixture(scope="module")
def other_process(tmp_path_factory):
    """A second Python process (one start for the module: imports cost seconds) that
    reports a stage seed, then holds the lock of a run directory until killed."""
    child = _Child(tmp_path_factory.mktemp("locked-run"))
    yield child
    if child.process.poll() is None:
        child.process.kill()
        child.process.wait()


def test_lock_of_a_killed_process_is_taken_over(other_process):
    rd, child = RunDir(other_process.root), other_process.process
    with pytest.raises(RunLockedError, match=rf"pid {child.pid} .*child holder"):
        rd.lock().acquire()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert json.loads(rd.lock_path.read_text())["holder"] == "child holder"  # note left over
    with rd.lock("successor") as lock:
        assert lock.holder_info()["pid"] == os.getpid()
        assert lock.holder_info()["holder"] == "successor"


# ------------------------------------------------------------------------------ frozen config


def test_init_freezes_the_config(tmp_path, cfg):
    rd = RunDir(tmp_path / "r")
    assert rd.init(cfg) == cfg
    assert rd.load_config() == cfg
    assert rd.init(load_config(TINY)) == cfg  # same config: resumes
    with pytest.raises(ConfigError) as err:
        rd.init(load_config(TINY, ["hindsight.n_total=5", "rollout.temperature=0.7"]))
    message = str(err.value)
    assert "hindsight.n_total (run has 6, given 5)" in message
    assert "rollout.temperature (run has 1.0, given 0.7)" in message
    assert rd.load_config() == cfg  # untouched


def test_iterations_may_grow_and_tracking_change(tmp_path, cfg):
    rd = RunDir(tmp_path / "r")
    rd.init(cfg)
    grown = rd.init(
        load_config(
            TINY, ["iterations=5", "tracking.experiment=elsewhere", "keep_optimizer_states=1"]
        )
    )
    assert grown.iterations == 5
    assert rd.load_config().iterations == 5
    assert rd.load_config().keep_optimizer_states == 1
    with pytest.raises(ConfigError, match=r"iterations: 3 < 5"):
        rd.init(load_config(TINY, ["iterations=3"]))


def test_progress_schedule_cannot_grow(tmp_path):
    rd = RunDir(tmp_path / "r")
    rd.init(load_config(TINY, ["hindsight.schedule=progress"]))
    with pytest.raises(ConfigError, match="hindsight.schedule=progress"):
        rd.init(load_config(TINY, ["hindsight.schedule=progress", "iterations=4"]))


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        RunDir(tmp_path).load_config()
