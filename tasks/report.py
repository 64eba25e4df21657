"""Per-iteration Prefect artifacts: the replayed samples as a table, the metrics as markdown.

Keys are stable (``<run>-iter-0003-replays``, ``<run>-iter-0003-summary``): a resumed or
repeated run adds a new version of the same artifact in Prefect's UI instead of a new one.

Prefect's UI renders every text cell of a table artifact, the markdown artifact and each
description as markdown (with raw HTML). Model output goes into those cells, so every text
is passed through :func:`markdown_text` first: a response cannot end the table, close a
cell, or bring a link, an image (fetched on view), a heading or HTML into the page.
"""

from __future__ import annotations

import math
import re
import string

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from hir_core.constraints import family_label
from hir_core.rundir import STAGES, Manifest
from tasks._options import STAGE_TASK
from tasks.context import RunContext
from tasks.stage import StageResult, execute, read_input

REPORT_STAGE = "report"
EXCERPT_CHARS = 240
MAX_TABLE_ROWS = 200

# (label, metric key) of the markdown summary, in order. ILA/CLA are originals-only: the
# replays (reward 1 by construction) never enter the verdict table.
SUMMARY_METRICS = (
    ("ILA (originals)", "ila"),
    ("CLA (originals)", "cla"),
    ("mean reward (originals)", "reward"),
    ("zero-variance groups", "zero_variance_group_fraction"),
    ("replay candidates", "hindsight/candidates"),
    ("replays", "hindsight/replays"),
    ("replay shortfall", "hindsight/shortfall"),
    ("groups with signal, without replays", "hindsight/signal_fraction_without"),
    ("groups with signal, with replays", "hindsight/signal_fraction_with"),
    # HeRL (strategies herl and hir+herl only; absent keys are left out of the table).
    ("HeRL trigger rate (groups with best reward < 1)", "herl/trigger_rate"),
    ("HeRL guided responses", "herl/guided"),
    ("HeRL guided success rate (above the group's best)", "herl/guided_success_rate"),
    ("HeRL guided samples trained", "herl/used"),
    ("HeRL mean bonus", "herl/bonus_mean"),
    ("HeRL share of trained tokens", "herl/hindsight_token_fraction"),
    ("HeRL extra generation (s)", "herl/generation_s"),
    ("loss", "train/loss"),
    ("KL", "train/kl"),
    ("clip fraction", "train/clip_frac"),
    ("grad norm", "train/grad_norm"),
    ("train tokens/s", "train/tokens_per_s"),
    ("rollout tokens/s", "rollout/tokens_per_s"),
)


# Characters markdown gives a meaning to are written as inert text: ``&``, ``<``, ``>`` as HTML
# entities (no tag, no autolink), every other ASCII punctuation mark backslash-escaped (no
# link, image, emphasis, code, table cell, list or heading: CommonMark lets any ASCII
# punctuation be escaped, and an escaped ``:`` or ``.`` also stops the bare-URL autolinks of
# GFM). Line breaks become a visible mark (a table row is one line), other control characters
# and the bidirectional overrides (which can make text read backwards) the replacement mark.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
LINE_BREAK_MARK = "⏎"
_MARKDOWN_TABLE = str.maketrans(
    {
        **{c: "\\" + c for c in string.punctuation if c not in _ENTITIES},
        **_ENTITIES,
        **{chr(c): "\ufffd" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) != "\t"},
        **{chr(c): "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
        "\t": " ",
    }
)
_LINE_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def markdown_text(text: str) -> str:
    """``text`` (model output, a prompt, a run name) as markdown that renders as the text
    itself, on one line (see the table above)."""
    return _LINE_BREAKS.sub(LINE_BREAK_MARK, text).translate(_MARKDOWN_TABLE)


def replay_rows(replays: pl.DataFrame) -> list[dict]:
    """The replays as table-artifact rows (what a reviewer reads to audit a rewrite).

    When HeRL wrote guided rows, every row also carries the HeRL columns (strategy, guidance
    prompt and guided response excerpts, guided verdicts, guided reward, bonus, used), empty
    for HiR's rows, so the table keeps one set of columns.
    """
    herl = "strategy" in replays.columns and bool((replays["strategy"] == "herl").any())
    rows = []
    for row in replays.head(MAX_TABLE_ROWS).iter_rows(named=True):
        # What an auditor reads first leads (the UI shows the leftmost columns); the long
        # original instruction comes last, excerpted.
        out = {
            "replay_id": row["replay_id"],
            "family": family_label([*row["kept_ids"], *row["dropped_ids"]]),
            "dropped_constraints": ", ".join(row["dropped_ids"]),
            "kept_constraints": ", ".join(row["kept_ids"]),
            "rewritten_instruction": _excerpt(row["rewritten_prompt"]),
            "response_excerpt": _excerpt(row["response"]),
            "score": round(float(row["score"]), 4),
            "original_instruction": _excerpt(row["original_prompt"]),
        }
        if herl:
            out.update(_herl_columns(row))
        rows.append({k: markdown_text(v) if isinstance(v, str) else v for k, v in out.items()})
    return rows


def _herl_columns(row: dict) -> dict:
    if row["strategy"] != "herl":
        return {
            "strategy": row["strategy"],
            "guidance_prompt_excerpt": "",
            "guided_response_excerpt": "",
            "guided_verdicts": "",
            "guided_reward": None,
            "bonus": None,
            "used": None,
        }
    verdicts = row["guided_verdicts"] or []
    return {
        "strategy": row["strategy"],
        "guidance_prompt_excerpt": _excerpt(row["guidance_prompt"] or ""),
        "guided_response_excerpt": _excerpt(row["guided_response"] or ""),
        # One mark per ORIGINAL constraint, in the prompt's order (1 met, 0 missed).
        "guided_verdicts": "".join("1" if v else "0" for v in verdicts),
        "guided_reward": round(float(row["guided_reward"]), 4),
        "bonus": round(float(row["bonus"]), 6),
        "used": bool(row["used"]),
    }


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def iteration_metrics(manifest: Manifest, iteration: int) -> dict[str, float]:
    """Every stage's metrics of ``iteration`` from the manifest, merged."""
    merged: dict[str, float] = {}
    for stage in (*STAGES, "eval"):
        merged.update((manifest.stage(iteration, stage) or {}).get("metrics", {}))
    return merged


def summary_markdown(run_name: str, iteration: int, metrics: dict[str, float]) -> str:
    title = markdown_text(f"{run_name}: iteration {iteration}")
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    for label, key in SUMMARY_METRICS:
        if key in metrics:
            lines.append(f"| {label} | {_fmt(metrics[key])} |")
    durations = [(s, metrics.get(f"time/{s}_s")) for s in STAGES]
    lines += ["", "| stage | seconds |", "|---|---|"]
    lines += [f"| {s} | {_fmt(v)} |" for s, v in durations if v is not None]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _compute(ctx: RunContext, iteration: int, seed: int):
    del seed
    replays = read_input(ctx, iteration, "replays")
    metrics = iteration_metrics(Manifest.load(ctx.rundir), iteration)
    prefix = f"{ctx.run_label}-iter-{iteration:04d}"
    create_table_artifact(
        key=f"{prefix}-replays",
        table=replay_rows(replays),
        description=markdown_text(
            f"{ctx.cfg.name}, iteration {iteration}: {replays.height} replayed samples"
        ),
    )
    create_markdown_artifact(
        key=f"{prefix}-summary",
        markdown=summary_markdown(ctx.cfg.name, iteration, metrics),
        description=markdown_text(f"{ctx.cfg.name}, iteration {iteration}: metrics"),
    )
    return {}, {}


@task(name="report-iteration", task_run_name="report-iter-{iteration}", **STAGE_TASK)
def report_iteration(ctx: RunContext, iteration: int, force: bool = False) -> StageResult:
    """Publish the iteration's Prefect artifacts once (recorded in the manifest as stage
    ``report``; redone when the iteration's batch or checkpoint changes)."""
    rundir = ctx.rundir
    return execute(
        ctx,
        iteration,
        REPORT_STAGE,
        _compute,
        force=force,
        inputs=[rundir.table_path(iteration, "replays"), rundir.train_json_path(iteration)],
        outputs={},
    )
