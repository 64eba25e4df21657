"""Configuration of the hindsight stage (METHOD.md, "HiR", steps 1-6, and "HeRL")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HerlConfig(BaseModel):
    """HeRL's guided re-generation (METHOD.md, "HeRL", steps 2-6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(
        default=0.05,
        ge=0.0,
        description=(
            "Bonus weight: a source response's reward becomes r + alpha * (r_guided - r), "
            "with r_guided the reward of its guided revision (paper: 0.05)."
        ),
    )
    temperature: float = Field(
        default=1.0,
        ge=0.0,
        description=(
            "Sampling temperature of the guided generation pass, independent of the rollout's "
            "(ours: 1.0, the rollout temperature of the reference recipe; METHOD.md gives no "
            "value for the guided pass). 0 is greedy."
        ),
    )
    max_new_tokens: int = Field(
        default=1024,
        ge=1,
        description=(
            "Most tokens of a guided response (ours: 1024, the rollout default; METHOD.md "
            "gives no value)."
        ),
    )
    placement: Literal["append", "replace"] = Field(
        default="append",
        description=(
            "Where a group's best guided response goes. append (default, the cleaner option "
            "METHOD.md names): one extra sample at the end of its group. replace (the "
            "reference code): it overwrites a uniformly random original of its group, which "
            "leaves the batch; an original that HiR replays copy log-probs from is never "
            "overwritten (if no other is left the guided sample is appended and counted)."
        ),
    )


class HindsightConfig(BaseModel):
    """Which hindsight strategy runs and how it selects, rewrites and groups replays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["none", "hir", "herl", "hir+herl"] = Field(
        default="hir",
        description=(
            "none: the baseline, nothing replayed; hir: select-then-rewrite (HiR paper); herl: "
            "guided re-generation for groups without a full success (HeRL paper; needs a "
            "generator; the paper's reward is the fraction, reward.kind cla or weighted); hir+herl: both in one iteration, HiR replays "
            "for partial successes and HeRL revisions for groups with no success (ours)."
        ),
    )
    selection: Literal["score", "random", "per_prompt"] = Field(
        default="score",
        description=(
            "score: global top-K by lambda_t * CLA + H (the paper's default); random: K "
            "candidates uniformly at random; per_prompt: balanced across prompts (round-robin, "
            "each prompt's candidates best score first). The last two are the paper's ablations."
        ),
    )
    lambda0: float = Field(default=2.0, ge=0.0, description="lambda_t at step 0 (paper: 2.0).")
    eta: float = Field(
        default=0.05,
        ge=0.0,
        description="Growth rate of lambda_t = lambda0 * (1 + eta) ** t (paper: 0.05).",
    )
    schedule: Literal["step", "progress"] = Field(
        default="step",
        description=(
            "step: t is the raw training step (paper). progress: t = progress * "
            "progress_horizon, with progress in [0, 1], so the curriculum has the same shape "
            "whatever the run length (our option)."
        ),
    )
    progress_horizon: float = Field(
        default=100.0,
        gt=0.0,
        description=(
            "schedule=progress only: the step count that progress 1.0 stands for. Not in the "
            "paper (our choice): at 100, lambda_t ends at 2.0 * 1.05**100 ~ 263, where CLA "
            "dominates the entropy term completely."
        ),
    )
    k: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Replays per iteration. None (the paper): (n_total - n_gen) * B, the free batch "
            "slots, with B the number of prompts in the iteration."
        ),
    )
    n_gen: int = Field(default=6, ge=1, description="Responses generated per prompt (paper: 6).")
    n_total: int = Field(
        default=8, ge=1, description="Training slots per prompt, generated + replayed (paper: 8)."
    )
    reverify: bool = Field(
        default=False,
        description=(
            "Re-run the verifiers on each replayed response under its rewritten instruction and "
            "drop (and count) any that fail: a cheap safety check for prompt-dependent "
            "verifiers. The paper does not (reward 1 by construction)."
        ),
    )
    replay_logprobs: Literal["copy", "recompute"] = Field(
        default="copy",
        description=(
            "copy (paper): a replay reuses the old and reference log-probs of its response under "
            "the ORIGINAL prompt; recompute: one extra forward pass under the rewritten prompt."
        ),
    )
    group: Literal["source", "own_group"] = Field(
        default="source",
        description=(
            "source (paper): a replay joins its source prompt's advantage group; own_group: the "
            "replays of a prompt form a group of their own (all rewards 1, so GRPO gives them "
            "zero advantage; REINFORCE++ whitens over the batch and ignores groups)."
        ),
    )
    seed: int = Field(
        default=0,
        description=(
            "Seed of the random choices (HiR's random selection, HeRL's guided sampling and "
            "replaced slot), combined with the step."
        ),
    )
    herl: HerlConfig = Field(
        default_factory=HerlConfig,
        description="HeRL settings (strategies herl and hir+herl; ignored otherwise).",
    )

    @model_validator(mode="after")
    def _slots_hold_generations(self) -> HindsightConfig:
        if self.n_total < self.n_gen:
            raise ValueError(
                f"n_total ({self.n_total}) must be >= n_gen ({self.n_gen}): the batch holds "
                "every generated response plus the replays"
            )
        return self

    def lambda_t(self, step: int, progress: float | None = None) -> float:
        """The selection curriculum weight lambda0 * (1 + eta) ** t for this step."""
        if self.schedule == "step":
            t = float(step)
        else:
            if progress is None or not 0.0 <= progress <= 1.0:
                raise ValueError(f"schedule='progress' needs progress in [0, 1], got {progress!r}")
            t = progress * self.progress_horizon
        return self.lambda0 * (1.0 + self.eta) ** t

    def replay_budget(self, n_prompts: int) -> int:
        """K: the explicit `k`, else the free slots (n_total - n_gen) * B."""
        return self.k if self.k is not None else (self.n_total - self.n_gen) * n_prompts
