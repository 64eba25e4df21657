"""Read a run's stored tables back for inspection (``hir audit``): filter, print, export.

    table = audit_table("runs/demo", stage="replays", iteration=2, constraint="punctuation:no_comma")

Every table is read through its schema (``hir_core.storage.read_table``). Filters:

- ``constraint``: rows of prompts that carry that verifier id;
- ``replays_only``: replayed material only (the batch's replay/hindsight samples; the
  rollouts, verdicts and prompts that a replay was made from);
- ``group``: one advantage group (the batch's ``group_id``; elsewhere the ``prompt_id``,
  whose samples form the group).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from hir_core.constraints import family_label
from hir_core.rundir import TABLE_STAGES, RunDir
from hir_core.storage import atomic_write, read_table

AUDIT_STAGES = (*TABLE_STAGES, "eval")
# What a terminal shows of each table by default (--all-columns: everything; CSV: everything).
DISPLAY_COLUMNS = {
    "prompts": ("prompt_id", "split", "family", "template", "prompt"),
    "rollouts": ("rollout_id", "response", "mean_entropy", "finish_reason"),
    "verdicts": ("rollout_id", "family", "constraint_ids", "verdicts", "ila", "cla", "reward"),
    "replays": (
        "replay_id",
        "family",
        "dropped_ids",
        "kept_ids",
        "rewritten_prompt",
        "response",
        "score",
    ),
    "batch": ("sample_id", "group_id", "is_replay", "is_hindsight", "prompt", "reward"),
    "eval": ("prompt_id", "family", "response", "constraint_ids", "strict", "loose"),
}
# The column holding each row's constraint ids, per stage: the source of its ``family``.
_ID_COLUMNS = {"verdicts": "constraint_ids", "eval": "constraint_ids", "replays": "kept_ids"}
# Added to the replays' display when HeRL (strategy herl or hir+herl) wrote guided rows.
HERL_DISPLAY_COLUMNS = (
    "strategy",
    "guidance_prompt",
    "guided_response",
    "guided_verdicts",
    "guided_reward",
    "bonus",
    "used",
)


class AuditError(ValueError):
    """A request that names no data (unknown stage, missing iteration, not a run)."""


def iterations_with(rundir: RunDir, stage: str) -> list[int]:
    """Iterations whose folder holds the table of ``stage``, in order."""
    found = []
    for folder in sorted(rundir.root.glob("iter-*")):
        suffix = folder.name.removeprefix("iter-")
        if suffix.isdigit() and (folder / f"{stage}.parquet").is_file():
            found.append(int(suffix))
    return found


def _read(rundir: RunDir, k: int, stage: str) -> pl.DataFrame:
    frame = read_table(rundir.table_path(k, stage), stage)
    return with_family(frame.select(pl.lit(k, dtype=pl.Int32).alias("iteration"), pl.all()), stage)


def with_family(frame: pl.DataFrame, stage: str) -> pl.DataFrame:
    """``frame`` with a ``family`` column after its id column (prompts: from the constraints;
    replays: from the kept and dropped ids), for the stages whose rows carry constraint ids."""
    if stage == "prompts":
        ids = [[c["id"] for c in row] for row in frame["constraints"].to_list()]
    elif stage == "replays":
        ids = [
            [*kept, *dropped]
            for kept, dropped in zip(frame["kept_ids"].to_list(), frame["dropped_ids"].to_list())
        ]
    elif stage in _ID_COLUMNS:
        ids = frame[_ID_COLUMNS[stage]].to_list()
    else:
        return frame
    labels = {}  # rows of one prompt share their ids: label each distinct list once
    family = [labels.setdefault(tuple(row), family_label(row)) for row in ids]
    return frame.with_columns(pl.Series("family", family, dtype=pl.String))


def audit_table(
    run: str | Path,
    stage: str = "replays",
    iteration: int | None = None,
    constraint: str | None = None,
    replays_only: bool = False,
    group: str | None = None,
) -> pl.DataFrame:
    """The table of ``stage`` (one iteration, or all stacked with an ``iteration`` column),
    filtered as the module docstring says."""
    rundir = RunDir(run)
    if not rundir.config_path.is_file():
        raise AuditError(f"{rundir.root} is not a run directory (no config.yaml)")
    if stage not in AUDIT_STAGES:
        raise AuditError(f"unknown stage {stage!r}; stages with tables: {', '.join(AUDIT_STAGES)}")
    available = iterations_with(rundir, stage)
    if iteration is not None:
        if iteration not in available:
            raise AuditError(
                f"{rundir.table_path(iteration, stage)} does not exist "
                f"(iterations with {stage}: {available or 'none'})"
            )
        available = [iteration]
    if not available:
        raise AuditError(f"{rundir.root}: no iteration has a {stage} table yet")
    frames = []
    for k in available:
        frame = _read(rundir, k, stage)
        if constraint is not None:
            frame = frame.filter(pl.col("prompt_id").is_in(_prompts_with(rundir, k, constraint)))
        if replays_only:
            frame = _replayed(rundir, k, stage, frame)
        if group is not None:
            column = "group_id" if stage == "batch" else "prompt_id"
            frame = frame.filter(pl.col(column) == group)
        frames.append(frame)
    return pl.concat(frames, how="vertical")


def _prompts_with(rundir: RunDir, k: int, constraint: str) -> list[str]:
    prompts = read_table(rundir.table_path(k, "prompts"), "prompts")
    has = prompts["constraints"].list.eval(pl.element().struct.field("id") == constraint)
    return prompts.filter(has.list.any())["prompt_id"].to_list()


def _replayed(rundir: RunDir, k: int, stage: str, frame: pl.DataFrame) -> pl.DataFrame:
    if stage == "batch":
        return frame.filter(pl.col("is_replay") | pl.col("is_hindsight"))
    if stage == "replays":
        return frame
    replays_path = rundir.table_path(k, "replays")
    if not replays_path.is_file():
        return frame.clear()
    replays = read_table(replays_path, "replays")
    if stage in ("rollouts", "verdicts"):
        return frame.filter(pl.col("rollout_id").is_in(replays["source_rollout_id"].to_list()))
    return frame.filter(pl.col("prompt_id").is_in(replays["prompt_id"].to_list()))


def _is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.List, pl.Array, pl.Struct))


def _is_numeric_list(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.List, pl.Array)) and dtype.inner.is_numeric()


def has_herl_rows(replays: pl.DataFrame) -> bool:
    """Whether a replays frame holds HeRL's guided rows (strategy "herl")."""
    return "strategy" in replays.columns and bool((replays["strategy"] == "herl").any())


def display_frame(frame: pl.DataFrame, stage: str, all_columns: bool = False) -> pl.DataFrame:
    """The frame for a terminal: the stage's main columns (``DISPLAY_COLUMNS``), or with
    ``all_columns`` every column but the token-id, log-prob and advantage lists."""
    if all_columns:
        return frame.select([c for c, t in frame.schema.items() if not _is_numeric_list(t)])
    wanted = ("iteration", *DISPLAY_COLUMNS.get(stage, ()))
    if stage == "replays" and has_herl_rows(frame):
        wanted = (*wanted, *HERL_DISPLAY_COLUMNS)
    return frame.select([c for c in wanted if c in frame.columns])


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): model output such as "=HYPERLINK(...)" or "@SUM(...)" would run when an auditor
# opens the export. Such text cells get a leading single quote, OWASP's neutralisation.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = "^[=+\\-@\t\r]"


def neutralise_cell(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def flat_for_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text: CSV holds only flat values. Text cells
    that a spreadsheet would run as a formula are neutralised (:func:`neutralise_cell`);
    numbers are left as they are (a negative number is not a formula)."""
    columns = []
    for name, dtype in frame.schema.items():
        if _is_nested(dtype):
            values = [json.dumps(v, ensure_ascii=False) for v in frame[name].to_list()]
            column = pl.Series(name, values, dtype=pl.String)
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            column = frame[name].cast(pl.String)
        else:
            columns.append(frame[name])
            continue
        formula = column.str.contains(_FORMULA_START).fill_null(False)
        neutralised = pl.select(pl.when(formula).then("'" + column).otherwise(column))
        columns.append(neutralised.to_series().alias(name))
    return pl.DataFrame(columns)


def write_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write the frame (nested columns as JSON, formula-like text neutralised) to ``path``
    atomically."""
    path = Path(path)
    with atomic_write(path) as handle:
        flat_for_csv(frame).write_csv(handle)
    return path


def format_table(frame: pl.DataFrame, rows: int = 20, columns: Sequence[str] | None = None) -> str:
    """The frame as text (polars' table), at most ``rows`` rows, strings cut at 60 chars."""
    if columns:
        frame = frame.select(columns)
    with pl.Config(
        tbl_rows=rows,
        tbl_cols=-1,
        fmt_str_lengths=60,
        fmt_table_cell_list_len=6,
        tbl_width_chars=240,
        tbl_hide_dataframe_shape=False,
    ):
        return str(frame)
