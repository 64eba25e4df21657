"""Evaluate a checkpoint: greedy decoding on the held-out split, IFEval, IFBench or MulDimIF.

    evaluate("runs/tiny/checkpoints/iter-0001")                        # the run's held-out split
    evaluate("runs/demo/checkpoints/iter-0002", benchmark="ifeval")    # the 541 IFEval prompts
    evaluate("runs/demo/checkpoints/iter-0002", benchmark="ifbench")   # the 300 IFBench prompts
    evaluate("runs/demo/checkpoints/iter-0002", benchmark="muldimif")  # the 1,200 MulDimIF items

The config is the run's (``<run>/config.yaml``, found from a checkpoint inside a run) unless
``config`` is given. The EVAL table goes to ``<run>/eval/<checkpoint>-<benchmark>.parquet``
(never inside the checkpoint folder: its hash is an input of the run's later stages).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from hir_core.config import ConfigError, load_config
from hir_core.evaluation import check_benchmark
from hir_core.rundir import RunDir
from tasks import evaluate_checkpoint
from tasks.evaluate import log_evaluation

BASE = "base"  # checkpoint name that means: the config's base model


def run_of(checkpoint: Path) -> RunDir | None:
    """The run directory a checkpoint folder belongs to (``<run>/checkpoints/<name>``)."""
    root = checkpoint.resolve().parent.parent
    if checkpoint.resolve().parent.name == "checkpoints" and (root / "config.yaml").is_file():
        return RunDir(root)
    return None


def _iteration_of(checkpoint: Path) -> int | None:
    name = checkpoint.name
    if name.startswith("iter-") and name[5:].isdigit():
        return int(name[5:])
    return None


@flow(name="hir-evaluate", log_prints=True)
def evaluate(
    checkpoint: str,
    benchmark: str = "heldout",
    config: str | None = None,
    overrides: list[str] | None = None,
    out: str | None = None,
    prompts_path: str | None = None,
    limit: int | None = None,
    track: bool = True,
    revise_rounds: int = 0,
) -> dict:
    """Score ``checkpoint`` (a Hugging Face folder, or ``base``) on ``benchmark``.

    Args:
        checkpoint: checkpoint folder (e.g. ``runs/x/checkpoints/iter-0002``) or ``base``.
        benchmark: ``heldout`` (the config's held-out split), ``ifeval``, ``ifbench`` or
            ``muldimif`` (shipped with the project; nothing is downloaded).
        config: config file; default: the run's frozen config.
        overrides: dotted overrides of the config (e.g. ``evaluation.max_new_tokens=256``).
        out: where the EVAL table goes (default: beside the run, see module doc).
        prompts_path: a file in the benchmark's format instead of its shipped prompts
            (IFEval-format JSONL for ``ifeval`` and ``ifbench``, MulDimIF's JSON list for
            ``muldimif``); not for ``heldout``.
        limit: score only the first ``limit`` prompts.
        track: when the checkpoint belongs to a tracked run, log the metrics to its MLflow
            run (step = the checkpoint's iteration).
        revise_rounds: after scoring, let the model revise its answers with the verifier's
            feedback this many rounds; accuracy per round joins the metrics.
    """
    try:
        check_benchmark(benchmark, prompts_path)
    except ValueError as err:
        raise ConfigError(f"benchmark: {err}") from None
    folder = None if checkpoint == BASE else Path(checkpoint)
    run = run_of(folder) if folder is not None else None
    if config is None and run is None:
        raise ConfigError(
            f"{checkpoint}: not inside a run directory; pass a config (--config) to evaluate it"
        )
    cfg = load_config(config if config is not None else run.config_path, overrides or [])
    name = folder.name if folder is not None else BASE
    if out is None:
        base = run.root / "eval" if run is not None else Path("runs") / cfg.name / "eval"
        out = str(base / f"{name}-{benchmark}.parquet")
    metrics = evaluate_checkpoint(
        cfg, folder, benchmark, Path(out), prompts_path, limit, revise_rounds
    )
    step = _iteration_of(folder) if folder is not None else None
    if track and run is not None and step is not None:
        log_evaluation(cfg, run, metrics, Path(out), step)
    return {"checkpoint": checkpoint, "benchmark": benchmark, "out": out, "metrics": metrics}
