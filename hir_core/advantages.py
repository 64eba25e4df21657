"""Training batch assembly and advantages: GRPO and REINFORCE++ (METHOD.md, HiR steps 5-7).

The batch is built in three model-free steps:

1. :func:`assemble_batch`: originals plus replays (each right after its source), HeRL's
   guided samples (at the end of their group, or in place of an original), group ids,
   flags, rewards (with HeRL's bonus), token ids, loss weights and where each sample's
   log-probs come from.
2. :func:`gather_logprobs`: old or reference log-probs per sample from an injected
   ``logprobs_fn`` (one call for the whole batch); a ``copy`` replay reuses its source's array.
3. :func:`compute_advantages`: per-token advantages from the rewards and those log-probs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from hir_core.hindsight.config import HindsightConfig
from hir_core.storage import conform
from schemas import BATCH

# Every reward kind gives 1.0 to an all-pass verdict vector, and a replay passes every kept
# constraint by construction (METHOD.md, HiR step 4).
REPLAY_REWARD = 1.0
HERL = "herl"  # the strategy name of HeRL's rows in the REPLAYS table

TokenizePrompt = Callable[[str], list[int]]
LogprobsFn = Callable[[list[tuple[list[int], list[int]]]], list[np.ndarray]]


class AdvantageConfig(BaseModel):
    """Advantage estimator and how replays enter the loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimator: Literal["grpo", "reinforce_pp"] = Field(
        default="reinforce_pp",
        description=(
            "reinforce_pp (HiR paper): token returns with KL-in-reward, whitened over the batch; "
            "grpo: (r - group mean) / (group std + eps), the same value on every token."
        ),
    )
    scale_std: bool = Field(
        default=True,
        description="grpo only: divide by the group std (standard GRPO); False keeps r - mean.",
    )
    kl_beta: float = Field(
        default=0.001,
        ge=0.0,
        description="reinforce_pp only: beta of the per-token reward -beta * (logp_old - logp_ref) "
        "(paper: 0.001).",
    )
    gamma: float = Field(
        default=1.0, gt=0.0, le=1.0, description="reinforce_pp only: return discount (paper: 1.0)."
    )
    eps: float = Field(
        default=1e-6,
        gt=0.0,
        description="Added to the std in both normalisations (verl's value; the paper's code).",
    )
    replay_weight: float = Field(
        default=1.0,
        ge=0.0,
        description="Loss weight of a replayed sample relative to an original (paper: 1.0).",
    )
    replay_clip_eps: float | None = Field(
        default=None,
        gt=0.0,
        description="PPO clip range for replayed samples (read by the loss); None: the same as "
        "originals (paper).",
    )


def assemble_batch(
    prompts: pl.DataFrame,
    rollouts: pl.DataFrame,
    verdicts: pl.DataFrame,
    replays: pl.DataFrame,
    hindsight: HindsightConfig,
    cfg: AdvantageConfig,
    tokenize_prompt: TokenizePrompt,
) -> pl.DataFrame:
    """The BATCH table of one iteration, with empty advantage and log-prob lists.

    Originals in rollout order, each followed by its HiR replays. A replay trains its
    source's response under the rewritten prompt (tokenised with `tokenize_prompt`, the chat
    template applied), with reward 1, in its source's group (or its prompt's replay group, for
    `hindsight.group == "own_group"`), marked with where its log-probs come from.

    HeRL rows (strategy "herl"): every source's reward gets its row's ``bonus``; each ``used``
    row becomes an ``is_hindsight`` sample: its guided response tokens under its guidance
    prompt, reward ``guided_reward``, in its prompt's group (the same advantage baseline),
    scored for log-probs like an original. It goes after the group's last sample, or, with
    ``replaces_rollout_id`` set (placement "replace"), in that original's place.
    """
    prompt_text = dict(zip(prompts["prompt_id"], prompts["prompt"]))
    reward_of = dict(zip(verdicts["rollout_id"], verdicts["reward"]))
    rollout_ids = set(rollouts["rollout_id"])
    guided = replays.filter(pl.col("strategy") == HERL)
    bonus_of, appended, replacing = _herl_plan(guided, rollout_ids)
    replays_of: dict[str, list[dict]] = {}
    for replay in replays.filter(pl.col("strategy") != HERL).iter_rows(named=True):
        replays_of.setdefault(replay["source_rollout_id"], []).append(replay)
    unknown = set(replays_of) - rollout_ids
    if unknown:
        raise ValueError(f"replays of rollouts not in the rollouts table: {sorted(unknown)[:5]}")
    last_of_group = {pid: i for i, pid in enumerate(rollouts["prompt_id"])}

    rows = []
    for i, rollout in enumerate(rollouts.iter_rows(named=True)):
        rid, pid = rollout["rollout_id"], rollout["prompt_id"]
        if pid not in prompt_text:
            raise ValueError(f"rollout {rid!r}: prompt {pid!r} is not in the prompts table")
        if rid not in reward_of:
            raise ValueError(f"rollout {rid!r} has no verdict row")
        if rid in replacing:
            if rid in replays_of:
                raise ValueError(
                    f"guided sample {replacing[rid]['replay_id']!r} replaces rollout {rid!r}, "
                    "the source of HiR replays: they would lose their source"
                )
            rows.append(_guided_row(replacing[rid], pid, tokenize_prompt))
        else:
            reward = reward_of[rid] + bonus_of.get(rid, 0.0)
            rows.append(_original_row(rollout, prompt_text[pid], reward))
            for replay in replays_of.get(rid, []):
                rows.append(_replay_row(replay, rollout, hindsight, cfg, tokenize_prompt))
        if last_of_group[pid] == i and pid in appended:
            rows.append(_guided_row(appended[pid], pid, tokenize_prompt))
    return _batch_frame(rows)


def _herl_plan(
    guided: pl.DataFrame, rollout_ids: set[str]
) -> tuple[dict[str, float], dict[str, dict], dict[str, dict]]:
    """From HeRL rows: bonus per source rollout, the appended guided row per prompt, and the
    guided row per replaced rollout. Inconsistent rows are errors naming the replay."""
    bonus_of: dict[str, float] = {}
    appended: dict[str, dict] = {}
    replacing: dict[str, dict] = {}
    for row in guided.iter_rows(named=True):
        name, source = row["replay_id"], row["source_rollout_id"]
        if source not in rollout_ids:
            raise ValueError(f"guided row {name!r}: source {source!r} is not in the rollouts table")
        if source in bonus_of:
            raise ValueError(f"guided row {name!r}: a second HeRL row for source {source!r}")
        if row["bonus"] is None or row["used"] is None:
            raise ValueError(f"guided row {name!r}: bonus and used must be set for a HeRL row")
        bonus_of[source] = row["bonus"]
        if not row["used"]:
            continue
        if not row["guided_response_token_ids"] or row["guidance_prompt"] is None:
            raise ValueError(
                f"guided row {name!r} is used but lacks its guidance prompt or response tokens"
            )
        if row["guided_reward"] is None:
            raise ValueError(f"guided row {name!r} is used but has no guided_reward")
        pid, target = row["prompt_id"], row["replaces_rollout_id"]
        if pid in appended or any(r["prompt_id"] == pid for r in replacing.values()):
            raise ValueError(f"guided row {name!r}: a second used guided sample for {pid!r}")
        if target is None:
            appended[pid] = row
        elif target not in rollout_ids:
            raise ValueError(f"guided row {name!r} replaces {target!r}, not a rollout")
        else:
            replacing[target] = row
    return bonus_of, appended, replacing


def _guided_row(row: dict, group: str, tokenize_prompt: TokenizePrompt) -> dict:
    return {
        "sample_id": row["replay_id"],
        "group_id": group,  # HeRL: the group's advantage baseline, whatever hindsight.group says
        "prompt_id": row["prompt_id"],
        "source_rollout_id": row["source_rollout_id"],
        "is_replay": False,
        "is_hindsight": True,
        "prompt": row["guidance_prompt"],
        "prompt_token_ids": list(tokenize_prompt(row["guidance_prompt"])),
        "response_token_ids": row["guided_response_token_ids"],
        "reward": row["guided_reward"],
        "advantages": [],
        "old_logprobs": [],
        "ref_logprobs": [],
        # Sampled by the policy under exactly this prompt: scored like an original.
        "logprob_source": "rollout",
        "loss_weight": 1.0,
    }


def _original_row(rollout: dict, prompt: str, reward: float) -> dict:
    return {
        "sample_id": rollout["rollout_id"],
        "group_id": rollout["prompt_id"],
        "prompt_id": rollout["prompt_id"],
        "source_rollout_id": rollout["rollout_id"],
        "is_replay": False,
        "is_hindsight": False,
        "prompt": prompt,
        "prompt_token_ids": rollout["prompt_token_ids"],
        "response_token_ids": rollout["response_token_ids"],
        "reward": reward,
        "advantages": [],
        "old_logprobs": [],
        "ref_logprobs": [],
        "logprob_source": "rollout",
        "loss_weight": 1.0,
    }


def _replay_row(
    replay: dict,
    source: dict,
    hindsight: HindsightConfig,
    cfg: AdvantageConfig,
    tokenize_prompt: TokenizePrompt,
) -> dict:
    group = source["prompt_id"] if hindsight.group == "source" else f"{source['prompt_id']}/replays"
    return {
        "sample_id": replay["replay_id"],
        "group_id": group,
        "prompt_id": source["prompt_id"],
        "source_rollout_id": source["rollout_id"],
        "is_replay": True,
        "is_hindsight": False,
        "prompt": replay["rewritten_prompt"],
        "prompt_token_ids": list(tokenize_prompt(replay["rewritten_prompt"])),
        "response_token_ids": source["response_token_ids"],
        "reward": REPLAY_REWARD,
        "advantages": [],
        "old_logprobs": [],
        "ref_logprobs": [],
        "logprob_source": hindsight.replay_logprobs,
        "loss_weight": cfg.replay_weight,
    }


def _batch_frame(rows: list[dict]) -> pl.DataFrame:
    table = pa.Table.from_pylist(rows, schema=BATCH)
    return pl.from_arrow(conform(table, "batch", source="training batch"))


def gather_logprobs(batch: pl.DataFrame, logprobs_fn: LogprobsFn) -> list[np.ndarray]:
    """Per-token log-probs of every sample's response, aligned with the batch rows.

    Samples whose `logprob_source` is "rollout" or "recompute" are scored by one call of
    `logprobs_fn` on (prompt_token_ids, response_token_ids); a "copy" replay gets its source
    rollout's array (the paper: log-probs under the ORIGINAL prompt). Call once with the old
    policy and once with the reference model.
    """
    sources = batch["logprob_source"].to_list()
    scored = [i for i, source in enumerate(sources) if source != "copy"]
    requests = [
        (batch["prompt_token_ids"][i].to_list(), batch["response_token_ids"][i].to_list())
        for i in scored
    ]
    results = list(logprobs_fn(requests)) if requests else []
    if len(results) != len(requests):
        raise ValueError(f"logprobs_fn returned {len(results)} arrays for {len(requests)} requests")
    out: list[np.ndarray | None] = [None] * batch.height
    for i, logprobs in zip(scored, results):
        out[i] = np.asarray(logprobs, dtype=np.float64)
    row_of = {sample_id: i for i, sample_id in enumerate(batch["sample_id"])}
    for i, source in enumerate(sources):
        if source == "copy":
            source_id = batch["source_rollout_id"][i]
            if source_id not in row_of or sources[row_of[source_id]] == "copy":
                raise ValueError(
                    f"sample {batch['sample_id'][i]!r}: copies log-probs of {source_id!r}, "
                    "which is not a scored sample of this batch"
                )
            out[i] = out[row_of[source_id]]
    return out  # type: ignore[return-value]  # every slot is filled above


def grpo_advantages(
    rewards: Sequence[float], group_ids: Sequence[str], eps: float, scale_std: bool
) -> np.ndarray:
    """Sequence-level GRPO advantages (r - mean_group) / (std_group + eps).

    std is the UNBIASED sample std (ddof=1), as torch.std in verl's and TRL's GRPO. A group of
    one sample has no group-relative signal: its advantage is 0 (our choice; verl instead uses
    mean 0, std 1 there, which makes a lone sample's raw reward its advantage).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    group_ids = np.asarray(group_ids)
    advantages = np.zeros_like(rewards)
    for group in np.unique(group_ids):
        members = group_ids == group
        if members.sum() < 2:
            continue
        centred = rewards[members] - rewards[members].mean()
        if scale_std:
            centred = centred / (rewards[members].std(ddof=1) + eps)
        advantages[members] = centred
    return advantages


def reinforce_pp_advantages(
    rewards: Sequence[float],
    old_logprobs: Sequence[np.ndarray],
    ref_logprobs: Sequence[np.ndarray],
    kl_beta: float,
    gamma: float,
    eps: float,
) -> list[np.ndarray]:
    """REINFORCE++ per-token advantages, whitened over every token of the batch.

    Token reward r_t = -beta * (logp_old_t - logp_ref_t), plus the sample's scalar reward at its
    last token; return G_t = sum_{s >= t} gamma^(s - t) r_s; advantage (G - mean) / (std + eps)
    with mean and UNBIASED std (ddof=1, as verl's masked_whiten) over all tokens of the batch.
    """
    returns = []
    for reward, old, ref in zip(rewards, old_logprobs, ref_logprobs, strict=True):
        token_rewards = -kl_beta * (np.asarray(old, np.float64) - np.asarray(ref, np.float64))
        token_rewards[-1] += reward
        returns.append(_discounted_returns(token_rewards, gamma))
    flat = np.concatenate(returns)
    if flat.size < 2:
        raise ValueError(
            f"whitening needs at least 2 response tokens in the batch, got {flat.size}"
        )
    mean, std = flat.mean(), flat.std(ddof=1)
    return [(g - mean) / (std + eps) for g in returns]


def _discounted_returns(token_rewards: np.ndarray, gamma: float) -> np.ndarray:
    returns = np.empty_like(token_rewards)
    running = 0.0
    for t in range(len(token_rewards) - 1, -1, -1):
        running = token_rewards[t] + gamma * running
        returns[t] = running
    return returns


def compute_advantages(
    batch: pl.DataFrame,
    old_logprobs: Sequence[np.ndarray],
    ref_logprobs: Sequence[np.ndarray],
    cfg: AdvantageConfig,
) -> pl.DataFrame:
    """The batch with `advantages`, `old_logprobs` and `ref_logprobs` filled, per response token."""
    lengths = batch["response_token_ids"].list.len().to_list()
    for name, arrays in (("old_logprobs", old_logprobs), ("ref_logprobs", ref_logprobs)):
        _check_lengths(batch, name, arrays, lengths)
    if min(lengths, default=1) == 0:
        empty = batch["sample_id"][lengths.index(0)]
        raise ValueError(f"sample {empty!r} has an empty response: no token to put its reward on")
    rewards = batch["reward"].to_numpy().astype(np.float64)
    if cfg.estimator == "grpo":
        sequence = grpo_advantages(rewards, batch["group_id"].to_list(), cfg.eps, cfg.scale_std)
        per_token = [np.full(n, a) for a, n in zip(sequence, lengths)]
    else:
        per_token = reinforce_pp_advantages(
            rewards, old_logprobs, ref_logprobs, cfg.kl_beta, cfg.gamma, cfg.eps
        )
    return batch.with_columns(
        _float_lists("advantages", per_token),
        _float_lists("old_logprobs", old_logprobs),
        _float_lists("ref_logprobs", ref_logprobs),
    )


def _check_lengths(
    batch: pl.DataFrame, name: str, arrays: Sequence[np.ndarray], lengths: list[int]
) -> None:
    if len(arrays) != batch.height:
        raise ValueError(f"{name}: {len(arrays)} arrays for a batch of {batch.height} samples")
    for i, (array, n) in enumerate(zip(arrays, lengths)):
        if len(array) != n:
            raise ValueError(
                f"{name} of sample {batch['sample_id'][i]!r}: {len(array)} values for {n} "
                "response tokens"
            )


def _float_lists(name: str, arrays: Sequence[np.ndarray]) -> pl.Series:
    return pl.Series(
        name, [np.asarray(a, dtype=np.float32).tolist() for a in arrays], dtype=pl.List(pl.Float32)
    )
