"""pyarrow schemas of every table a run writes (see ARCHITECTURE.md, "One iteration as data").

This module is the contract between stages: a stage writes exactly these columns, and every
reader checks them (``hir_core.storage``). Constraint keyword arguments are heterogeneous
(ints, strings, lists), so they travel as JSON text (``kwargs_json``), never as a struct whose
type would change with the data.

Bump ``SCHEMA_VERSION`` when a column changes meaning or type; it is stored in each file's
metadata so an old run directory is recognised as such instead of misread.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

# One constraint of an instruction: verifier id, its kwargs as JSON, the sentence the model read.
CONSTRAINT = pa.struct(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kwargs_json", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)

PROMPTS = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("base_task_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # "train" | "heldout" | "ifeval" | ...
        pa.field("task", pa.string(), nullable=False),
        pa.field("constraints", pa.list_(CONSTRAINT), nullable=False),
        pa.field("template", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),  # the rendered user message
    ]
)

ROLLOUTS = pa.schema(
    [
        pa.field("rollout_id", pa.string(), nullable=False),  # f"{prompt_id}/{sample_idx}"
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
        pa.field("prompt_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("response_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field(
            "logprobs", pa.list_(pa.float32()), nullable=False
        ),  # sampled tokens, rollout policy
        pa.field("mean_entropy", pa.float32(), nullable=False),
        pa.field("finish_reason", pa.string(), nullable=False),  # "stop" | "length"
    ]
)

VERDICTS = pa.schema(
    [
        pa.field("rollout_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("constraint_ids", pa.list_(pa.string()), nullable=False),
        pa.field("verdicts", pa.list_(pa.bool_()), nullable=False),  # one per constraint, in order
        pa.field(
            "errors", pa.list_(pa.string()), nullable=False
        ),  # "" where the checker did not raise
        pa.field("ila", pa.float32(), nullable=False),
        pa.field("cla", pa.float32(), nullable=False),
        pa.field(
            "reward", pa.float32(), nullable=False
        ),  # per the configured reward (ila/cla/weighted)
    ]
)

REPLAYS = pa.schema(
    [
        pa.field("replay_id", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),  # "hir" | "herl"
        pa.field("source_rollout_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("original_prompt", pa.string(), nullable=False),
        pa.field("kept_ids", pa.list_(pa.string()), nullable=False),
        pa.field("dropped_ids", pa.list_(pa.string()), nullable=False),
        pa.field("keep_mask", pa.list_(pa.bool_()), nullable=False),
        pa.field("rewritten_constraints", pa.list_(CONSTRAINT), nullable=False),
        pa.field("rewritten_prompt", pa.string(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("score_cla", pa.float32(), nullable=False),
        pa.field("score_entropy", pa.float32(), nullable=False),
        pa.field("lambda_t", pa.float32(), nullable=False),
        pa.field("reverified", pa.bool_(), nullable=True),  # null: re-verification not run
        # HeRL (null for HiR rows): one row per guided revision of its source rollout.
        pa.field("guidance_prompt", pa.string(), nullable=True),  # the revision user message
        pa.field("guided_response", pa.string(), nullable=True),
        pa.field("guided_verdicts", pa.list_(pa.bool_()), nullable=True),  # ORIGINAL constraints
        pa.field("bonus", pa.float32(), nullable=True),  # added to the source's reward
        pa.field("used", pa.bool_(), nullable=True),  # joins the batch (its group's best)
        pa.field("guided_reward", pa.float32(), nullable=True),  # the run's reward of it
        pa.field("guided_response_token_ids", pa.list_(pa.int32()), nullable=True),  # as sampled
        pa.field("replaces_rollout_id", pa.string(), nullable=True),  # placement "replace"
    ]
)

BATCH = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("group_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("source_rollout_id", pa.string(), nullable=False),
        pa.field("is_replay", pa.bool_(), nullable=False),
        pa.field("is_hindsight", pa.bool_(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),  # the user message trained under
        pa.field("prompt_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("response_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("reward", pa.float32(), nullable=False),
        pa.field("advantages", pa.list_(pa.float32()), nullable=False),  # per response token
        pa.field("old_logprobs", pa.list_(pa.float32()), nullable=False),
        pa.field("ref_logprobs", pa.list_(pa.float32()), nullable=False),
        pa.field("logprob_source", pa.string(), nullable=False),  # "rollout" | "copy" | "recompute"
        pa.field("loss_weight", pa.float32(), nullable=False),
    ]
)

EVAL = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
        pa.field("constraint_ids", pa.list_(pa.string()), nullable=False),
        pa.field("strict", pa.list_(pa.bool_()), nullable=False),
        pa.field("loose", pa.list_(pa.bool_()), nullable=False),
    ]
)

# Table name (= file stem in an iteration folder) -> schema.
TABLES: dict[str, pa.Schema] = {
    "prompts": PROMPTS,
    "rollouts": ROLLOUTS,
    "verdicts": VERDICTS,
    "replays": REPLAYS,
    "batch": BATCH,
    "eval": EVAL,
}
