"""HeRL: hindsight-experience-guided re-generation (METHOD.md, "HeRL", steps 2-6).

For every group (the responses to one prompt) whose best reward is below 1, each response
tied at the best score is shown back to the current policy with what it met and missed
(:func:`hir_core.revision.revision_prompt`); the policy writes one guided response per
candidate, which is verified against the ORIGINAL constraints and scored with the run's
reward. Each candidate's reward gets the bonus ``alpha * (r_guided - r)``; the group's best
guided response joins the batch flagged ``is_hindsight``, trained under its guidance prompt,
in the group's advantage group (``hir_core.advantages.assemble_batch`` does the placing).

One REPLAYS row per guided response (``strategy = "herl"``); ``used`` marks the one per
group that joins the batch. HiR's columns are filled so a row reads on its own: ``kept_ids``
and ``dropped_ids`` are the constraints the draft met and missed, ``rewritten_prompt`` and
``rewritten_constraints`` the original instruction (HeRL relabels nothing), ``score`` the
guided reward, ``score_cla`` and ``score_entropy`` the draft's, ``lambda_t`` NaN.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np
import polars as pl

from hir_core import constraints
from hir_core.data import constraint_records, instruction_from_row
from hir_core.engines.generation_config import chat
from hir_core.hindsight.base import HindsightInputs, empty_stats, replays_frame
from hir_core.hindsight.config import HindsightConfig
from hir_core.instructions import Instruction
from hir_core.revision import revision_prompt, with_sampling
from hir_core.rewards import RewardConfig, cla, reward

STRATEGY = "herl"
# Rewards are recomputed in float64 from the verdicts (the table stores float32); the
# tolerance guards ties and the "below 1" test against a weighted fraction's rounding.
TIE_TOL = 1e-6


def run(inputs: HindsightInputs, cfg: HindsightConfig) -> tuple[pl.DataFrame, dict]:
    """Guided revisions of the best responses of every group without a full success."""
    return guided_revisions(inputs, cfg)


def guided_revisions(
    inputs: HindsightInputs, cfg: HindsightConfig, protected: Collection[str] = ()
) -> tuple[pl.DataFrame, dict]:
    """HeRL on one iteration -> (REPLAYS rows of strategy "herl", stats).

    `protected` rollout ids are never overwritten by placement "replace" (the sources of HiR
    replays, whose log-probs those replays copy).
    """
    if inputs.generator is None or inputs.reward is None:
        raise ValueError("hindsight strategy 'herl' needs inputs.generator and inputs.reward")
    instructions = {
        row["prompt_id"]: (row, instruction_from_row(row))
        for row in inputs.prompts.iter_rows(named=True)
    }
    scored = _scored_rollouts(inputs, instructions, inputs.reward)
    groups = _groups(scored)
    triggered = {pid: members for pid, members in groups.items() if _best(members) < 1 - TIE_TOL}
    candidates = [m for members in triggered.values() for m in _tied_at_best(members)]

    guidance = [_guidance(cand, instructions[cand["prompt_id"]][1]) for cand in candidates]
    seed = _generation_seed(inputs.generator, cfg, inputs.step)
    generator = with_sampling(
        inputs.generator,
        n=1,
        temperature=cfg.herl.temperature,
        max_new_tokens=cfg.herl.max_new_tokens,
        seed=seed,
    )
    started = time.perf_counter()
    outputs = generator.generate([chat(text) for text in guidance]) if guidance else []
    generation_s = time.perf_counter() - started
    if len(outputs) != len(guidance):
        raise ValueError(f"generator returned {len(outputs)} results for {len(guidance)} prompts")

    started = time.perf_counter()
    rows = []
    for cand, text, samples in zip(candidates, guidance, outputs):
        prompt_row, instruction = instructions[cand["prompt_id"]]
        rows.append(_guided_row(cand, prompt_row, instruction, text, samples[0], inputs, cfg))
    verify_s = time.perf_counter() - started

    rng = np.random.default_rng([cfg.seed, inputs.step])
    fallback = _mark_used(rows, triggered, cfg.herl.placement, set(protected), rng)
    stats = empty_stats()
    stats.update(
        n_candidates=len(candidates),
        n_selected=len(candidates),
        n_replays=len(rows),
        herl_groups=len(groups),
        herl_triggered=len(triggered),
        herl_guided=len(rows),
        herl_guided_success=sum(r["guided_reward"] > r["_best"] + TIE_TOL for r in rows),
        herl_used=sum(r["used"] for r in rows),
        herl_replace_fallback=fallback,
        herl_generation_s=generation_s,
        herl_verify_s=verify_s,
    )
    return replays_frame(
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    ), stats


def bonus(source_reward: float, guided_reward: float, alpha: float) -> float:
    """The reward added to a source response: alpha * (r_guided - r) (METHOD.md, HeRL step 5)."""
    return alpha * (guided_reward - source_reward)


def _scored_rollouts(
    inputs: HindsightInputs, instructions: dict[str, tuple[dict, Instruction]], cfg: RewardConfig
) -> pl.DataFrame:
    """Rollouts joined 1:1 with their verdicts; every row checked against its prompt.

    A verdict vector for other constraints than its prompt's, or a ``reward`` that the run's
    reward config does not give for its verdicts (the bonus would mix two reward scales), is
    an error naming the row.
    """
    rollouts = inputs.rollouts.select("rollout_id", "prompt_id", "response", "mean_entropy")
    verdicts = inputs.verdicts.select("rollout_id", "constraint_ids", "verdicts", "reward")
    joined = rollouts.join(verdicts, on="rollout_id", how="inner", maintain_order="left")
    for side, table in (("rollouts", rollouts), ("verdicts", verdicts)):
        missing = table.filter(~pl.col("rollout_id").is_in(joined["rollout_id"].implode()))
        if missing.height:
            raise ValueError(
                f"hindsight: {side} rows without a match in the other table: "
                f"{missing['rollout_id'].head(5).to_list()}"
            )
    exact: list[float] = []
    for row in joined.iter_rows(named=True):
        rid, pid = row["rollout_id"], row["prompt_id"]
        if pid not in instructions:
            raise ValueError(
                f"hindsight: rollout {rid!r}: prompt {pid!r} is not in the prompts table"
            )
        ids = instructions[pid][1].constraint_ids
        if list(row["constraint_ids"]) != ids or len(row["verdicts"]) != len(ids):
            raise ValueError(
                f"hindsight: verdict row {rid!r}: {len(row['verdicts'])} verdicts for constraint "
                f"ids {row['constraint_ids']}, its prompt has {ids}"
            )
        exact.append(reward(row["verdicts"], ids, cfg))
        if abs(exact[-1] - row["reward"]) > TIE_TOL:
            raise ValueError(
                f"hindsight: verdict row {rid!r}: reward {row['reward']} but the reward config "
                f"(kind={cfg.kind!r}) gives {exact[-1]} for its verdicts; pass the RewardConfig "
                "that scored the verdicts"
            )
    # The stored reward is float32; the bonus compares it with a guided reward computed in
    # float64, so both come from the same function at the same precision.
    return joined.with_columns(pl.Series("reward", exact, dtype=pl.Float64))


def _groups(scored: pl.DataFrame) -> dict[str, list[dict]]:
    """Rows per prompt, prompts in order of first appearance, rows in rollout order."""
    groups: dict[str, list[dict]] = {}
    for row in scored.iter_rows(named=True):
        groups.setdefault(row["prompt_id"], []).append(row)
    return groups


def _best(members: list[dict]) -> float:
    return max(m["reward"] for m in members)


def _tied_at_best(members: list[dict]) -> list[dict]:
    """The responses scoring the group's best reward (METHOD.md, HeRL step 2)."""
    best = _best(members)
    return [{**m, "_best": best} for m in members if m["reward"] >= best - TIE_TOL]


def _guidance(cand: dict, instruction: Instruction) -> str:
    texts = [c["text"] for c in instruction.constraints]
    return revision_prompt(instruction.prompt, cand["response"], texts, list(cand["verdicts"]))


def _generation_seed(generator, cfg: HindsightConfig, step: int) -> int:
    # Reproducible per (generator seed, hindsight seed, step), and unlike the rollout stream.
    base = int(getattr(getattr(generator, "cfg", None), "seed", 0))
    entropy = [abs(base), abs(cfg.seed), abs(step), 1]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


def _guided_row(
    cand: dict,
    prompt_row: dict,
    instruction: Instruction,
    guidance: str,
    sample,
    inputs: HindsightInputs,
    cfg: HindsightConfig,
) -> dict:
    # Scored against the ORIGINAL instruction: the guidance only helps; it is not the task.
    guided_verdicts = constraints.verify(
        sample.response, list(instruction.constraints), prompt=instruction.prompt
    )
    guided_reward = reward(guided_verdicts, instruction.constraint_ids, inputs.reward)
    ids, mask = instruction.constraint_ids, list(cand["verdicts"])
    return {
        "replay_id": f"{cand['rollout_id']}/{STRATEGY}",
        "strategy": STRATEGY,
        "source_rollout_id": cand["rollout_id"],
        "prompt_id": cand["prompt_id"],
        "original_prompt": prompt_row["prompt"],
        "kept_ids": [cid for cid, ok in zip(ids, mask) if ok],
        "dropped_ids": [cid for cid, ok in zip(ids, mask) if not ok],
        "keep_mask": mask,
        "rewritten_constraints": constraint_records(instruction.constraints),
        "rewritten_prompt": prompt_row["prompt"],
        "response": cand["response"],
        "score": guided_reward,
        "score_cla": cla(mask),
        "score_entropy": cand["mean_entropy"],
        "lambda_t": float("nan"),
        "reverified": None,
        "guidance_prompt": guidance,
        "guided_response": sample.response,
        "guided_verdicts": guided_verdicts,
        "bonus": bonus(cand["reward"], guided_reward, cfg.herl.alpha),
        "used": False,
        "guided_reward": guided_reward,
        "guided_response_token_ids": list(sample.response_token_ids),
        "replaces_rollout_id": None,
        "_best": cand["_best"],
    }


def _mark_used(
    rows: list[dict],
    triggered: dict[str, list[dict]],
    placement: str,
    protected: set[str],
    rng: np.random.Generator,
) -> int:
    """Mark each triggered group's best guided response used; for placement "replace", pick
    the original it overwrites. Returns how many groups had no slot free to overwrite."""
    fallback = 0
    for pid, members in triggered.items():
        own = [r for r in rows if r["prompt_id"] == pid]
        if not own:
            continue
        # The highest guided reward; ties go to the earliest candidate (rollout order).
        best = own[max(range(len(own)), key=lambda i: (own[i]["guided_reward"], -i))]
        best["used"] = True
        if placement == "replace":
            slots = sorted(m["rollout_id"] for m in members if m["rollout_id"] not in protected)
            if slots:
                best["replaces_rollout_id"] = slots[int(rng.integers(len(slots)))]
            else:
                fallback += 1
    return fallback
