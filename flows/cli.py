"""The ``hir`` command line: train, rerun a stage, evaluate, audit, build data.

    hir train configs/tiny.yaml --run-dir runs/tiny iterations=3 hindsight.strategy=hir
    hir stage runs/tiny 1 rollouts --force
    hir eval runs/tiny/checkpoints/iter-0002
    hir audit runs/tiny --iteration 1 --stage replays --constraint punctuation:no_comma --csv r.csv
    hir data build prompts.parquet --n-train 512 --n-heldout 64

A bad config or override prints the field and the reason and exits with status 2 (no
traceback); a run locked by another process exits with status 3, naming the holder; a full
disk exits with status 4, naming the file (nothing half-written is kept: rerun when there is
space). SIGTERM (what a scheduler sends) stops ``hir train`` and ``hir stage`` once the
stage they are computing is recorded (a second SIGTERM stops it at once;
hir_core/termination.py): its lock is released, its MLflow run marked FAILED, and the same
command resumes it; the exit status is 143. A Prefect API that stops answering in the middle
of a run (a server stopped or restarted) does not stop the stage that is computing: the run
goes on until a call that needs the API (a Prefect artifact, the flow run's state) has
exhausted Prefect's client retries (``PREFECT_CLIENT_MAX_RETRIES``, default 5, about a
minute per call); a server back within that window is not noticed. Past it the command stops
with one line naming the API and exits with status 5; every stage recorded before is kept,
and the same command, rerun once the server is back, resumes to the weights of an
uninterrupted run.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer

# hir_core, prefect and mlflow import torch and friends (seconds): imported inside the
# commands, so `hir --help` and a bad override answer at once.

EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_NO_SPACE = 4
EXIT_API_DOWN = 5
EXIT_TERMINATED = 128 + 15  # SIGTERM, as a shell reports a process it ended

app = typer.Typer(
    name="hir",
    help="RL for instruction following with Hindsight instruction Replay, as a Prefect pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build and inspect prompt sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _user_error_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    from flows.audit import AuditError
    from hir_core.config import ConfigError
    from hir_core.data import DataError
    from hir_core.model_config import ModelSpecError
    from hir_core.rundir import DamagedInputError, ManifestError, RunLockedError
    from hir_core.stages import MissingInputError
    from hir_core.storage import SchemaError

    bad_input = (
        ConfigError,
        DataError,
        SchemaError,
        AuditError,
        MissingInputError,
        ModelSpecError,  # and CheckpointError: a truncated or mismatched checkpoint
        DamagedInputError,
        ManifestError,
    )
    return (RunLockedError,), bad_input


def user_errors(fn: Callable) -> Callable:
    """Bad input (config, data, tables, missing files, a damaged checkpoint or model folder)
    -> one line and exit 2, no traceback; a locked run -> one line naming the holder and
    exit 3; a full disk -> exit 4; the Prefect API gone -> exit 5; SIGTERM -> exit 143
    (module docstring)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        from hir_core.termination import Terminated, defer_sigterm, requested

        try:
            with defer_sigterm():
                return fn(*args, **kwargs)
        except Terminated:
            raise _fail(TERMINATED, EXIT_TERMINATED) from None
        except Exception as err:
            from hir_core.storage import is_disk_full

            locked, bad_input = _user_error_types()
            if isinstance(err, locked):
                raise _fail(str(err), EXIT_LOCKED) from None
            if isinstance(err, bad_input):
                raise _fail(str(err), EXIT_BAD_INPUT) from None
            if is_disk_full(err):
                raise _fail(_disk_full_message(err), EXIT_NO_SPACE) from None
            unreachable = _prefect_unreachable(err)
            if unreachable:
                raise _fail(unreachable, EXIT_API_DOWN) from None
            raise
        except BaseException as err:
            # Prefect's own SIGTERM handler (``hir eval``: a flow that does not put ours
            # back) raises its TerminationSignal, then passes the signal on to ours.
            if requested() and not isinstance(err, SystemExit):
                raise _fail(TERMINATED, EXIT_TERMINATED) from None
            raise

    return wrapper


TERMINATED = "terminated (SIGTERM) after the last recorded stage; rerun the same command to resume"


def _prefect_unreachable(err: BaseException) -> str | None:
    """The message for an error that is the Prefect API not answering (a connection refused
    or cut, a timeout: httpx's transport errors, after Prefect's retries), else None. MLflow
    outages never get here (tasks/tracking.py keeps what it could not log)."""
    import httpx

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, httpx.TransportError):
            from prefect.settings import PREFECT_API_URL

            url = PREFECT_API_URL.value() or "the temporary Prefect server"
            return (
                f"the Prefect API {url} did not answer ({type(err).__name__}: {err}); the "
                "stages recorded so far are kept: rerun the same command once it is back, to "
                "resume"
            )
        err = err.__cause__ or err.__context__
    return None


def _disk_full_message(err: BaseException) -> str:
    from hir_core.storage import DiskFullError, disk_full_cause

    cause = disk_full_cause(err)
    if isinstance(cause, DiskFullError):
        return str(cause)  # names the file, says nothing was published
    if isinstance(cause, OSError) and cause.filename:
        where = f"{cause.filename}: {cause.strerror}"
    else:  # torch and tokenizers name no file: the stage that failed is the one not recorded
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        where = f"a file could not be written ({type(cause).__name__}: {first})"
    return (
        f"no space left on the device: {where}. Nothing half-written is trusted; free some "
        "space and rerun the same command to resume"
    )


# ------------------------------------------------------------------------------ train


def check_config(config: Path | None, overrides: list[str], run_dir: Path | None):
    """Validate config + overrides, and their fit with an existing run, before any flow
    starts (so a typo costs no Prefect or DeepSpeed start-up). Writes nothing."""
    from hir_core.config import ConfigError, load_config
    from hir_core.rundir import RunDir

    cfg = load_config(config, overrides)
    root = run_dir if run_dir is not None else Path("runs") / cfg.name
    frozen = RunDir(root).config_path
    if frozen.is_file():
        # RunDir.init checks a resume (and may rewrite config.yaml): run it on a copy.
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copy(frozen, Path(scratch) / "config.yaml")
            try:
                RunDir(scratch).init(cfg)
            except ConfigError as err:
                message = str(err).replace(str(Path(scratch) / "config.yaml"), str(frozen))
                raise ConfigError(message) from None
    return cfg, root


@app.command()
@user_errors
def train(
    config: Annotated[Path, typer.Argument(help="YAML config (configs/tiny.yaml, ...).")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Dotted overrides: iterations=3 hindsight.strategy=hir ..."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Run directory (default runs/<name>).")
    ] = None,
    track: Annotated[bool, typer.Option(help="Log to MLflow.")] = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what would run where (processes, actors and their resources, launch "
            "commands) and stop; starts and writes nothing.",
        ),
    ] = False,
) -> None:
    """Train, or resume the run in --run-dir (finished stages are skipped)."""
    overrides = list(overrides or [])
    cfg, root = check_config(config, overrides, run_dir)
    if dry_run:
        from hir_core.launch_plan import launch_plan
        from hir_core.rundir import Manifest, RunDir

        rundir = RunDir(root)
        done = Manifest.load(rundir).completed_iterations() if rundir.manifest_path.is_file() else 0
        typer.echo(launch_plan(cfg, root, config, overrides, done).text)
        return
    from flows.train import train as train_flow

    summary = train_flow(
        config=str(config), run_dir=str(root), overrides=overrides, track=track, progress=True
    )
    typer.echo(format_summary(summary))


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


# (header, metric key, decimals); "s" is the iteration's summed stage time.
SUMMARY_COLUMNS = (
    ("iter", None, 0),
    ("ILA", "ila", 3),
    ("CLA", "cla", 3),
    ("replays", "hindsight/replays", 0),
    ("signal w/o replays", "hindsight/signal_fraction_without", 3),
    ("signal with replays", "hindsight/signal_fraction_with", 3),
    ("loss", "train/loss", 4),
    ("s", None, 1),
)


def summary_rows(summary: dict) -> list[list[str]]:
    rows = []
    for k, metrics in enumerate(summary["iterations"]):
        seconds = sum(v for key, v in metrics.items() if key.startswith("time/"))
        row = [str(k)]
        for label, key, digits in SUMMARY_COLUMNS[1:]:
            row.append(_num(seconds if label == "s" else metrics.get(key), digits))
        rows.append(row)
    return rows


def format_summary(summary: dict) -> str:
    """The end-of-run report: where the run lives, a per-iteration table (originals-only
    ILA/CLA, replays, fraction of prompt groups with a learning signal without / with the
    replays), and the commands to look further."""
    header = [label for label, _, _ in SUMMARY_COLUMNS]
    rows = summary_rows(summary)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = [
        f"run: {summary['run_dir']} ({summary['completed_iterations']} iterations done)",
        "originals-only metrics (replays never count toward ILA/CLA):",
        "  ".join(h.rjust(w) for h, w in zip(header, widths)),
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    uri = summary.get("mlflow_tracking_uri")
    if uri:
        lines += [
            "",
            f"MLflow run {summary['mlflow_run_id']}:",
            f"  mlflow ui --backend-store-uri {uri}",
        ]
        from tasks.tracking import PENDING_FILE, pending_count

        waiting = pending_count(summary["run_dir"])
        if waiting:
            lines.append(
                f"  NOT LOGGED: {waiting} records (metrics, artifacts, the final policy) could "
                f"not reach the store; kept in {Path(summary['run_dir']) / PENDING_FILE}, "
                "logged by the next hir train of this run"
            )
    lines += [
        "Prefect (flow runs, per-iteration replay tables and summaries):",
        "  prefect server start   # then open http://127.0.0.1:4200",
        f"Audit: hir audit {summary['run_dir']} --stage replays",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ stage


@app.command()
@user_errors
def stage(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    iteration: Annotated[int, typer.Argument(help="Iteration (0-based).")],
    stage: Annotated[
        str,
        typer.Argument(help="prompts, rollouts, verdicts, replays, batch, train, eval, report."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Recompute even if up to date; later stages go stale.")
    ] = False,
    track: Annotated[bool, typer.Option(help="Log to the run's MLflow run.")] = True,
) -> None:
    """Rerun one stage of one iteration from its stored inputs."""
    from flows.run_stage import RERUNNABLE, run_stage
    from hir_core.config import ConfigError
    from hir_core.rundir import STAGES, DamagedInputError, RunDir, damaged_inputs

    if stage not in RERUNNABLE:
        raise ConfigError(f"stage: unknown stage {stage!r}; stages: {', '.join(RERUNNABLE)}")
    RunDir(run).load_config()  # a clear error before Prefect starts when RUN is not a run
    if stage in STAGES and iteration >= 0:
        # A single stage would compute from an input cut short or edited since its stage
        # recorded it (the train flow recomputes such an input first): refused, named.
        damaged = damaged_inputs(RunDir(run), iteration, stage)
        if damaged:
            raise DamagedInputError("; ".join(damaged))
    result = run_stage(str(run), iteration, stage, force=force, track=track)
    if result["skipped"]:
        typer.echo(f"iteration {iteration} stage {stage}: up to date (use --force to recompute)")
    else:
        typer.echo(
            f"iteration {iteration} stage {stage}: recomputed in {result['duration_s']:.1f} s"
        )
        for name, path in result["outputs"].items():
            typer.echo(f"  {name}: {path}")
    if result["stale"]:
        typer.echo(f"  marked stale: {', '.join(result['stale'])}")


# ------------------------------------------------------------------------------ worker


@app.command()
@user_errors
def worker(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    iteration: Annotated[int, typer.Argument(help="Iteration (0-based).")],
    stage: Annotated[
        str, typer.Argument(help="prompts, rollouts, verdicts, replays, batch or train.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Recompute even if up to date; later stages go stale.")
    ] = False,
) -> None:
    """Run one stage on this rank of a launched group, without Prefect or Ray:
    `torchrun --nproc_per_node N -m flows.cli worker RUN K train`. Batch and train compute on
    every rank (one DeepSpeed group); rank 0 alone writes tables, checkpoint and manifest."""
    from hir_core.config import ConfigError
    from hir_core.rundir import STAGES, RunDir
    from hir_core.worker import run_worker

    if stage not in STAGES:
        raise ConfigError(f"stage: unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    RunDir(run).load_config()  # a clear error before any process group forms
    outcome = run_worker(run, iteration, stage, force=force)
    if os.environ.get("RANK", "0") == "0":
        state = "up to date" if outcome.skipped else f"computed in {outcome.duration_s:.1f} s"
        typer.echo(f"iteration {iteration} stage {stage}: {state} ({outcome.engine})")


# ------------------------------------------------------------------------------ eval


@app.command("eval")
@user_errors
def eval_(
    checkpoint: Annotated[
        str, typer.Argument(help="Checkpoint folder (runs/x/checkpoints/iter-0002) or 'base'.")
    ],
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted config overrides.")] = None,
    benchmark: Annotated[
        str, typer.Option(help="heldout, ifeval (541), ifbench (300) or muldimif (1,200).")
    ] = "heldout",
    config: Annotated[
        Path | None, typer.Option(help="Config (default: the checkpoint's run config).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="EVAL table (Parquet) to write.")] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(
            help="A file in the benchmark's format instead of its shipped prompts: "
            "IFEval-format JSONL (ifeval, ifbench) or MulDimIF's JSON list (muldimif)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N prompts.")] = None,
    track: Annotated[bool, typer.Option(help="Log to the run's MLflow run.")] = True,
    revise_rounds: Annotated[
        int,
        typer.Option(
            "--revise-rounds",
            min=0,
            help="Then let the model revise failed answers with the verifier's feedback, "
            "N rounds; prints accuracy per round.",
        ),
    ] = 0,
) -> None:
    """Evaluate a checkpoint on the held-out split, IFEval, IFBench or MulDimIF.

    Prints IFEval's accuracies (prompt- and instruction-level, strict and loose) for every
    benchmark; for MulDimIF (no loose mode: loose = strict) also its overall, macro and micro
    scores and a table by difficulty level, constraint pattern and category.
    """
    from flows.evaluate import BASE, run_of
    from flows.evaluate import evaluate as evaluate_flow
    from hir_core.config import ConfigError, load_config
    from hir_core.evaluation import breakdown_rows, check_benchmark, load_benchmark

    try:
        check_benchmark(benchmark, prompts)
    except ValueError as err:
        raise ConfigError(f"--benchmark: {err}") from None
    if checkpoint != BASE and not Path(checkpoint).is_dir():
        raise ConfigError(f"checkpoint: {checkpoint} is not a folder")
    if config is None and (checkpoint == BASE or run_of(Path(checkpoint)) is None):
        raise ConfigError(f"{checkpoint}: not inside a run directory; pass --config")
    if config is not None:
        load_config(config, list(overrides or []))
    if prompts is not None:
        load_benchmark(benchmark, prompts)  # a malformed file: DataError naming file and row
    result = evaluate_flow(
        checkpoint,
        benchmark=benchmark,
        config=str(config) if config else None,
        overrides=list(overrides or []),
        out=str(out) if out else None,
        prompts_path=str(prompts) if prompts else None,
        limit=limit,
        track=track,
        revise_rounds=revise_rounds,
    )
    typer.echo(f"EVAL table: {result['out']}")
    hidden = ("/type/", "/count/", "/revise/", "/level/", "/pattern/", "/category/")
    for key, value in sorted(result["metrics"].items()):
        if not any(part in key for part in hidden):
            typer.echo(f"  {key}: {value:.4f}")
    metrics = result["metrics"]
    rows = breakdown_rows(metrics, f"eval/{benchmark}/")
    if rows:
        width = max(len(row[0]) for row in rows)
        typer.echo(f"  {'group':<{width}}  items  constraints  overall   macro   micro")
        for group, items, constraints, overall, macro, micro in rows:
            typer.echo(
                f"  {group:<{width}}  {items:>5}  {constraints:>11}  "
                f"{overall:>7.4f}  {macro:>6.4f}  {micro:>6.4f}"
            )
    for k in range(revise_rounds + 1 if revise_rounds else 0):
        prefix = f"eval/{benchmark}/revise/round_{k}"
        typer.echo(
            f"  revision round {k}: ila {metrics[f'{prefix}/ila']:.4f}  "
            f"cla {metrics[f'{prefix}/cla']:.4f}  revised {int(metrics[f'{prefix}/revised'])}"
        )


# ------------------------------------------------------------------------------ audit


@app.command()
@user_errors
def audit(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    iteration: Annotated[
        int | None, typer.Option("--iteration", "-k", help="One iteration (default: all).")
    ] = None,
    stage: Annotated[
        str, typer.Option(help="prompts, rollouts, verdicts, replays, batch or eval.")
    ] = "replays",
    constraint: Annotated[
        str | None, typer.Option(help="Only prompts with this verifier id.")
    ] = None,
    replays_only: Annotated[
        bool, typer.Option("--replays-only", help="Only replayed samples and their sources.")
    ] = False,
    group: Annotated[
        str | None, typer.Option(help="Only this group (batch group_id; else prompt_id).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the rows to this CSV.")] = None,
    rows: Annotated[int, typer.Option(help="Rows to print.")] = 20,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns to print.")] = None,
    all_columns: Annotated[
        bool, typer.Option("--all-columns", help="Print every column (but token/log-prob lists).")
    ] = False,
) -> None:
    """Print a run's stored tables (polars), filtered; export them to CSV."""
    from flows.audit import audit_table, display_frame, format_table, write_csv
    from hir_core.config import ConfigError

    table = audit_table(run, stage, iteration, constraint, replays_only, group)
    selected = [c.strip() for c in columns.split(",")] if columns else None
    if selected:
        unknown = [c for c in selected if c not in table.columns]
        if unknown:
            raise ConfigError(f"--columns: {unknown} not in {stage} ({', '.join(table.columns)})")
    shown = table if selected else display_frame(table, stage, all_columns)
    typer.echo(format_table(shown, rows, selected))
    if csv is not None:
        write_csv(table, csv)
        typer.echo(f"{table.height} rows written to {csv}")


# ------------------------------------------------------------------------------ data


@data_app.command("build")
@user_errors
def data_build(
    out: Annotated[Path, typer.Argument(help="PROMPTS Parquet file to write.")],
    config: Annotated[
        Path | None, typer.Option(help="Take the defaults below from this config's data section.")
    ] = None,
    n_train: Annotated[int | None, typer.Option(help="Training prompts.")] = None,
    n_heldout: Annotated[int | None, typer.Option(help="Held-out prompts.")] = None,
    min_constraints: Annotated[int | None, typer.Option(help="Fewest constraints.")] = None,
    max_constraints: Annotated[int | None, typer.Option(help="Most constraints.")] = None,
    seed: Annotated[int | None, typer.Option(help="Builder seed.")] = None,
    families: Annotated[
        str | None,
        typer.Option(
            help="Verifier families and weights, e.g. 'ifeval=2,ifbench=1,muldimif=1' "
            "(default: the config's data.families, else ifeval only)."
        ),
    ] = None,
) -> None:
    """Build the synthetic prompt set (train and held-out splits) into one Parquet table."""
    from tqdm.auto import tqdm

    from hir_core.config import ConfigError, DataConfig, load_config
    from hir_core.data import build_synthetic
    from hir_core.storage import write_table

    data = load_config(config).data if config is not None else DataConfig()
    given = {
        "n_train": n_train,
        "n_heldout": n_heldout,
        "min_constraints": min_constraints,
        "max_constraints": max_constraints,
        "seed": seed,
    }
    params = {k: getattr(data, k) for k in given} | {
        k: v for k, v in given.items() if v is not None
    }
    params["families"] = _family_weights(families) if families is not None else data.families
    params["constraint_ids"] = data.types  # the config's allow-list (None: every type)
    with tqdm(total=1, desc="build prompts", disable=not sys.stderr.isatty()) as bar:
        try:
            table = build_synthetic(**params)
        except ValueError as err:  # the builder names the bad argument
            raise ConfigError(f"data build: {err}") from None
        bar.update()
    write_table(table, out, "prompts")
    counts = table.group_by("split").len().sort("split").iter_rows()
    typer.echo(f"{out}: " + ", ".join(f"{n} {split}" for split, n in counts))


def _family_weights(text: str) -> dict[str, float]:
    """``'ifeval=2,ifbench=1'`` -> ``{'ifeval': 2.0, 'ifbench': 1.0}`` (a bare name weighs 1)."""
    from hir_core.config import ConfigError

    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(
                f"--families: weight of {name!r} is not a number: {weight!r}"
            ) from None
    return weights


@app.command()
def info() -> None:
    """Versions, the memory allocator, bf16 and the accelerator this process runs with."""
    import importlib.metadata as md

    import torch

    from hir_core.allocator import ENV, active_allocator
    from hir_core.engines.training import bf16_available

    versions = []
    for package in ("hir-pipeline", "torch", "transformers", "deepspeed", "prefect", "mlflow"):
        try:
            versions.append(f"{package} {md.version(package)}")
        except md.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    try:
        versions.append(f"vllm {md.version('vllm')}")
    except md.PackageNotFoundError:
        versions.append("vllm (not installed: generation.backend=transformers only)")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    lines = [
        *versions,
        f"allocator: {active_allocator()} ({ENV}={os.environ.get(ENV, 'auto')})",
        f"device: {device}, threads: {torch.get_num_threads()}, bf16: {bf16_available()}",
    ]
    typer.echo("\n".join(lines))


def main() -> None:
    """The ``hir`` console script: re-executes itself once under tcmalloc on Linux CPU
    machines (hir_core/allocator.py; HIR_ALLOCATOR=system keeps the system allocator)."""
    from hir_core.allocator import AllocatorError, exec_with_allocator

    try:
        exec_with_allocator()
    except AllocatorError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_BAD_INPUT)
    # Without a server, each command starts a temporary one; on a fresh PREFECT_HOME it first
    # creates its database, which took longer than Prefect's 20 s default on a 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    try:
        app()
    except SystemExit as done:
        if done.code == EXIT_API_DOWN:
            # At exit Prefect's event worker would try to send each pending task-run event
            # to the server that is gone, ~7 s apiece (a minute and more after the error
            # line); they are lost either way, and the rerun's flow run records its own.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_API_DOWN)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
