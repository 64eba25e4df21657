"""``hir train --dry-run``: what would run where, and nothing started or written (issue 14)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from hir_core.config import load_config
from hir_core.launch_plan import launch_plan

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "configs" / "paper.yaml"
TINY = ROOT / "configs" / "tiny.yaml"
runner = CliRunner()


def _stage_line(text: str, stage: str) -> str:
    (line,) = [x for x in text.splitlines() if re.match(rf"\s+{stage}\s", x)]
    return line


def test_paper_dry_run_prints_the_one_node_recipe_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "paper"
    result = runner.invoke(app, ["train", str(PAPER), "--run-dir", str(run_dir), "--dry-run"])
    assert result.exit_code == 0, result.output
    text = result.output
    cfg = load_config(PAPER)
    d = cfg.distributed
    assert d.backend == "ray"
    # Rollouts on the vLLM actors, the policy update on the DeepSpeed train actors (NCCL).
    assert f"{d.rollout_workers} rollout actors" in _stage_line(text, "rollouts")
    assert "vLLM (tensor parallel 1)" in _stage_line(text, "rollouts")
    for stage in ("batch", "train"):
        line = _stage_line(text, stage)
        assert f"{d.train_ranks} train actors" in line and "NCCL" in line and "ZeRO-2" in line
    for stage in ("prompts", "verdicts", "replays"):
        assert "in the flow's process" in _stage_line(text, stage)
    gpus = d.train_ranks * d.train_actor.num_gpus + d.rollout_workers * d.rollout_actor.num_gpus
    assert gpus == 8  # one 8-GPU node
    assert f"{gpus:g} GPU" in text
    assert f"hir train {PAPER}" in text and "--run-dir" in text
    assert f"torchrun --nproc_per_node {d.train_ranks}" in text
    assert not run_dir.exists()  # nothing written, no run directory made


def test_two_node_overrides_plan_sixteen_gpus_on_an_existing_cluster(tmp_path):
    overrides = [
        "distributed.ray_address=auto",
        "distributed.train_ranks=8",
        "distributed.rollout_workers=8",
    ]
    cfg = load_config(PAPER, overrides)
    plan = launch_plan(cfg, tmp_path / "p", PAPER, overrides)
    assert (plan.train_ranks, plan.rollout_workers, plan.gpus) == (8, 8, 16)
    assert "ray start --head" in plan.text and "ray start --address" in plan.text
    assert "the Ray cluster this machine belongs to" in plan.text
    assert "distributed.train_ranks=8" in plan.text  # the launch command repeats the overrides


def test_inprocess_plan_has_no_actors_and_shows_a_resume(tmp_path):
    cfg = load_config(TINY)
    plan = launch_plan(cfg, tmp_path / "tiny", TINY, [], completed_iterations=1)
    assert plan.backend == "inprocess" and plan.gpus == 0
    assert "actor" not in _stage_line(plan.text, "rollouts")
    assert "in process: DeepSpeed ZeRO-0" in _stage_line(plan.text, "train")
    assert f"resume: 1 of {cfg.iterations} iterations recorded" in plan.text


def test_a_mistyped_override_in_a_dry_run_names_the_field(tmp_path):
    result = runner.invoke(
        app,
        ["train", str(TINY), "distributed.train_rank=2", "--dry-run", "--run-dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "distributed.train_rank" in result.output


def test_config_and_dry_run_do_not_import_torch():
    """A dry run, a mistyped override and `hir audit` answer without loading torch or
    transformers (seconds, not the ~5 s their import costs)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from flows.cli import app\n"
        f"r = CliRunner().invoke(app, ['train', {str(PAPER)!r}, '--dry-run', '--run-dir', '/nonexistent/x'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['train', {str(TINY)!r}, 'trainig.lr=1', '--run-dir', '/nonexistent/x'])\n"
        "assert r.exit_code == 2 and 'trainig' in r.output, r.output\n"
        "r = CliRunner().invoke(app, ['audit', '/nonexistent/run'])\n"
        "assert r.exit_code == 2, r.output\n"
        "loaded = [m for m in ('torch', 'transformers', 'deepspeed') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout, out.stdout
