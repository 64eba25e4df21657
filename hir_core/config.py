"""One pydantic config tree for a training run, YAML in and out, dotted overrides.

    cfg = load_config("configs/tiny.yaml", ["iterations=3", "hindsight.strategy=hir"])

Every sub-config is the one its stage already defines (``GenerationConfig`` for rollouts,
``HindsightConfig``, ``AdvantageConfig``, ``TrainingConfig``, ...); this module only adds the
run-level fields (name, seed, iterations, data, evaluation, tracking) and the checks that
span two sub-configs. Defaults are the HiR paper's where it has one (METHOD.md), and say so.

Errors are :class:`ConfigError` naming the dotted field and pydantic's reason, e.g.
``hindsight.strategy: Input should be 'none', 'hir', 'herl' or 'hir+herl'``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hir_core.advantages import AdvantageConfig
from hir_core.engines.generation_config import GenerationConfig
from hir_core.engines.host_memory import HostMemoryConfig
from hir_core.engines.training_config import TrainingConfig
from hir_core.hindsight.config import HindsightConfig
from hir_core.model_config import SMOLLM2, ModelConfig
from hir_core.rewards import RewardConfig
from hir_core.storage import atomic_write

__all__ = [
    "ConfigError",
    "DataConfig",
    "DistributedConfig",
    "EvalConfig",
    "PipelineConfig",
    "TrackingConfig",
    "config_diff",
    "config_hash",
    "dump_config",
    "load_config",
    "parse_overrides",
]


class ConfigError(ValueError):
    """A config that cannot be used; the message names the dotted field (or file) and why."""


class DataConfig(BaseModel):
    """Where the training prompts come from and how many each iteration uses."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["synthetic", "ifeval_jsonl", "verl_parquet"] = Field(
        "synthetic",
        description=(
            "synthetic: prompts built from the shipped base tasks and sampled constraints "
            "(hir_core.data.build_synthetic); ifeval_jsonl: an IFEval-format file (its prompts "
            "are verbatim, so HiR cannot rewrite them); verl_parquet: verl-style rows, the "
            "layout of the published HiR data."
        ),
    )
    path: str | None = Field(
        None, description="File to load for ifeval_jsonl / verl_parquet; unused for synthetic."
    )
    heldout_path: str | None = Field(
        None,
        description=(
            "File (same format as `path`) holding the held-out prompts. None: n_heldout prompts "
            "are split off the loaded file by a seeded shuffle (synthetic: disjoint base tasks)."
        ),
    )
    n_train: int = Field(
        512,
        ge=1,
        description="Synthetic training prompts to build (ours; the paper trains on ~16K).",
    )
    n_heldout: int = Field(
        64, ge=0, description="Held-out prompts (synthetic: built on base tasks never trained on)."
    )
    prompts_per_iteration: int = Field(
        64, ge=1, description="B, the prompts of one iteration (paper: 64)."
    )
    min_constraints: int = Field(
        1, ge=1, description="Fewest constraints of a synthetic prompt (reference data: 1)."
    )
    max_constraints: int = Field(
        6, ge=1, description="Most constraints of a synthetic prompt (reference data: 6)."
    )
    seed: int = Field(0, description="Seed of the synthetic builder and of the held-out split.")
    families: dict[str, float] = Field(
        default_factory=lambda: {"ifeval": 1.0},
        description=(
            "Synthetic only: verifier family -> weight. Each prompt draws one family by weight "
            "and takes all its constraints from it (ifeval: 25 IFEval types; ifbench: IFBench's "
            "samplable types; muldimif: MulDimIF requirement texts), as each row of the paper's "
            "HIR-16K is one family. Default {'ifeval': 1.0}, the prompts built before families "
            "existed. Example: {'ifeval': 0.5, 'ifbench': 0.25, 'muldimif': 0.25}."
        ),
    )
    types: list[str] | None = Field(
        None,
        description=(
            "Synthetic only: allow-list of constraint type ids the builder samples, e.g. "
            "['punctuation:no_comma', 'detectable_format:title'] (a training distribution "
            "where the base model's success is low but not zero). None: every samplable type "
            "of the weighted families, the prompts built before this field existed. Each id "
            "must be a samplable type of a family with weight > 0, and each such family needs "
            "at least one listed id. Applies to both splits."
        ),
    )

    @field_validator("families")
    @classmethod
    def _check_families(cls, families: dict[str, float]) -> dict[str, float]:
        known = ("ifeval", "ifbench", "muldimif")  # hir_core.constraints.FAMILIES, without torch
        unknown = sorted(set(families) - set(known))
        if unknown:
            raise ValueError(f"unknown verifier families {unknown}; known: {list(known)}")
        if any(not weight >= 0 for weight in families.values()):
            raise ValueError(f"family weights must be >= 0, got {families}")
        if not any(weight > 0 for weight in families.values()):
            raise ValueError("at least one family needs a weight > 0")
        return families

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.min_constraints > self.max_constraints:
            raise ValueError(
                f"data.min_constraints ({self.min_constraints}) > data.max_constraints "
                f"({self.max_constraints})"
            )
        if self.source != "synthetic" and not self.path:
            raise ValueError(f"data.path is required for data.source={self.source!r}")
        if self.source == "synthetic" and self.prompts_per_iteration > self.n_train:
            raise ValueError(
                f"data.prompts_per_iteration ({self.prompts_per_iteration}) > data.n_train "
                f"({self.n_train}): an iteration would repeat a prompt"
            )
        self._check_types()
        return self

    def _check_types(self) -> None:
        """Every id of ``types`` samplable and every weighted family given one, checked here
        so that a typo fails at load time, naming the field, not when the prompts are built."""
        if self.types is None:
            return
        if self.source != "synthetic":
            raise ValueError(
                f"data.types applies to data.source=synthetic only, got source={self.source!r}"
            )
        if not self.types:
            raise ValueError("data.types is empty: list constraint type ids, or null for all")
        # Lazy: hir_core.data needs the constraint registry (no torch), config loading does not.
        from hir_core.data import synthetic_constraint_ids

        weighted = [family for family, weight in self.families.items() if weight > 0]
        samplable = {family: set(synthetic_constraint_ids(family=family)) for family in weighted}
        known = set().union(*samplable.values())
        for cid in self.types:
            if cid not in known:
                raise ValueError(
                    f"data.types: {cid!r} is not a samplable constraint type of data.families "
                    f"{weighted}; samplable: {sorted(known)}"
                )
        for family, ids in samplable.items():
            if not ids & set(self.types):
                raise ValueError(
                    f"data.types names no type of family {family!r} (data.families weight "
                    f"{self.families[family]}): its prompts would have no constraint; add one "
                    "of its types or set its weight to 0"
                )


class EvalConfig(BaseModel):
    """Held-out evaluation during training (greedy decoding on the held-out split)."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(
        0, ge=0, description="Evaluate after every `every` iterations and at the end; 0: never."
    )
    heldout_prompts: int = Field(
        64, ge=0, description="Held-out prompts scored (the first ones of the held-out split)."
    )
    benchmark: str = Field(
        "heldout", description="Benchmark name recorded in the EVAL table for the held-out split."
    )
    temperature: float = Field(
        0.0,
        ge=0.0,
        description="Decoding temperature for evaluation (0: greedy, IFEval's).",
    )
    max_new_tokens: int = Field(
        512, ge=1, description="Most response tokens per evaluation prompt (ours)."
    )
    batch_size: int = Field(32, ge=1, description="Sequences decoded together in evaluation.")


class TrackingConfig(BaseModel):
    """Where runs are logged (MLflow; read by the orchestration layer, not by hir_core)."""

    model_config = ConfigDict(extra="forbid")

    mlflow_tracking_uri: str | None = Field(
        None,
        description=(
            "MLflow tracking URI; None: a sqlite store and artifact folder under the "
            "project's mlruns/."
        ),
    )
    experiment: str = Field("hir-pipeline", description="MLflow experiment name.")


class ActorResources(BaseModel):
    """What Ray reserves for one actor (a placement-group bundle)."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(1.0, ge=0.0, description="CPU cores reserved per actor.")
    num_gpus: float = Field(
        0.0,
        ge=0.0,
        description="GPUs per actor: 1 for a train rank; a vLLM rollout actor with "
        "rollout.tensor_parallel_size = T needs T.",
    )
    memory_gb: float | None = Field(
        None, ge=0.0, description="Host memory reserved per actor (GiB); None: no reservation."
    )


class DistributedConfig(BaseModel):
    """Where the engines run (docs: README "Scale-out"). The flow is the single controller in
    every case; only the engines move.

    Left out of every stage's input hash and free to change when a run is resumed: the same
    stage gives the same tables on any backend (the train step up to the reduction order of
    its gradient all-reduce, BENCHMARKS.md "Scale-out")."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["inprocess", "ray"] = Field(
        "inprocess",
        description="inprocess: engines in the flow's process (the CPU default, one rank); "
        "ray: DeepSpeed train actors forming one torch.distributed group and rollout actors, "
        "placed by Ray (the `ray` extra).",
    )
    train_ranks: int = Field(
        1, ge=1, description="ray: train actors (data-parallel ranks of one DeepSpeed group)."
    )
    rollout_workers: int = Field(
        1,
        ge=1,
        description="ray: rollout actors, each with a whole engine; a stage's prompts are "
        "split between them in order, in whole decoding chunks that keep their seeds "
        "(hir_core.pipeline.generation_chunks): the table does not depend on the number of "
        "workers.",
    )
    train_actor: ActorResources = Field(
        default_factory=ActorResources, description="ray: resources of each train actor."
    )
    rollout_actor: ActorResources = Field(
        default_factory=ActorResources, description="ray: resources of each rollout actor."
    )
    ray_address: str | None = Field(
        None,
        description="ray: 'auto' joins the cluster this machine is part of (`ray start`, "
        "KubeRay, a SLURM job), 'ray://HOST:PORT' a remote one; None starts a local cluster "
        "for the run and stops it at the end.",
    )
    local_num_cpus: int | None = Field(
        None, ge=1, description="ray, local cluster only: CPUs it offers (None: all)."
    )
    local_object_store_gb: float = Field(
        0.5, gt=0.0, description="ray, local cluster only: object store size (GiB)."
    )
    call_timeout_s: float = Field(
        900.0,
        gt=0.0,
        description="ray: the most seconds any call into an actor may take (a step, a "
        "generation, a checkpoint save); past it the stage fails naming the actor.",
    )
    collective_timeout_s: float = Field(
        900.0,
        gt=0.0,
        description="ray: timeout of the train actors' torch.distributed group (a "
        "collective waiting on a dead or hung rank fails after it instead of hanging).",
    )
    start_timeout_s: float = Field(
        300.0, gt=0.0, description="ray: the most seconds for the actors to start and load."
    )
    weight_checksum: bool = Field(
        True,
        description="ray: after each weight sync, compare a checksum of every rollout "
        "actor's parameters with the trainer's saved policy (one pass over the weights).",
    )


class PipelineConfig(BaseModel):
    """Everything a training run needs; frozen into the run directory at start."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("hir", description="Run name (default run directory: runs/<name>).")
    seed: int = Field(
        0,
        description=(
            "Run seed. Each stage's seed is derived from (seed, iteration, stage) "
            "(hir_core.rundir.stage_seed), so a resumed run reproduces an uninterrupted one."
        ),
    )
    iterations: int = Field(
        3, ge=1, description="Training iterations (rollout -> ... -> one policy update each)."
    )
    keep_optimizer_states: int | None = Field(
        None,
        ge=1,
        description=(
            "Keep the optimizer state (checkpoints/iter-K/deepspeed/, about 3x the weights' "
            "size with AdamW) of only the newest N checkpoints; older ones keep their policy "
            "weights. Resuming needs only the newest. None keeps every one (rerunning the "
            "train stage of any iteration needs the state of the one before). Can change "
            "when a run is resumed."
        ),
    )
    model: ModelConfig = Field(
        default_factory=lambda: ModelConfig(spec=SMOLLM2),
        description="Policy (and reference) model; the paper used 3B-7B instruct models.",
    )
    data: DataConfig = Field(default_factory=DataConfig, description="Training prompts.")
    rollout: GenerationConfig = Field(
        default_factory=GenerationConfig,
        description=(
            "Rollout sampling. `n` is set from hindsight.n_gen (set one, or both equal); "
            "`seed` is replaced by the stage seed of each iteration."
        ),
    )
    reward: RewardConfig = Field(
        default_factory=RewardConfig, description="Scalar reward of a verdict vector."
    )
    hindsight: HindsightConfig = Field(
        default_factory=HindsightConfig, description="Hindsight strategy (none, hir)."
    )
    advantages: AdvantageConfig = Field(
        default_factory=AdvantageConfig, description="Advantage estimator and replay weighting."
    )
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="DeepSpeed optimisation and loss settings."
    )
    evaluation: EvalConfig = Field(
        default_factory=EvalConfig, description="Held-out evaluation during training."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Experiment tracking (MLflow)."
    )
    host_memory: HostMemoryConfig = Field(
        default_factory=HostMemoryConfig,
        description="CPU host-memory measures of the train engine (no effect on results).",
    )
    distributed: DistributedConfig = Field(
        default_factory=DistributedConfig,
        description="Where the engines run: in process (default) or Ray actors.",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_host_memory_fields(cls, data: Any) -> Any:
        """Configs frozen before the host_memory section held its two fields under training:
        read them there (a resumed run keeps its settings)."""
        if isinstance(data, dict) and isinstance(data.get("training"), dict):
            moved = {
                "reference_offload": "reference_offload",
                "cpu_return_freed_memory": "return_freed_memory",
            }
            if any(old in data["training"] for old in moved):
                data = dict(data)
                training, host = dict(data["training"]), dict(data.get("host_memory") or {})
                for old, new in moved.items():
                    if old in training:
                        host.setdefault(new, training.pop(old))
                data["training"], data["host_memory"] = training, host
        return data

    @model_validator(mode="after")
    def _cross_field_checks(self) -> PipelineConfig:
        self._tie_group_size()
        self._tie_replay_clip()
        self._herl_reward_default()
        problems = []
        if self.training.kl == "reward" and self.advantages.estimator != "reinforce_pp":
            problems.append(
                "training.kl='reward' puts the KL penalty in the token rewards, which only "
                f"advantages.estimator='reinforce_pp' computes (got {self.advantages.estimator!r}); "
                "set training.kl=loss for a KL term with grpo"
            )
        samples = self.data.prompts_per_iteration * self.hindsight.n_gen
        if samples < self.training.mini_batches:
            problems.append(
                f"data.prompts_per_iteration * hindsight.n_gen = {samples} samples cannot fill "
                f"training.mini_batches = {self.training.mini_batches}"
            )
        if self.evaluation.every and self.evaluation.heldout_prompts > self.data.n_heldout:
            problems.append(
                f"evaluation.heldout_prompts ({self.evaluation.heldout_prompts}) > "
                f"data.n_heldout ({self.data.n_heldout})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _tie_group_size(self) -> None:
        """rollout.n and hindsight.n_gen are one quantity: set either, or both equal."""
        n_gen = self.hindsight.n_gen
        if "n" in self.rollout.model_fields_set and self.rollout.n != n_gen:
            if "n_gen" in self.hindsight.model_fields_set:
                raise ValueError(
                    f"rollout.n ({self.rollout.n}) != hindsight.n_gen ({n_gen}): both name the "
                    "responses generated per prompt; set one of them"
                )
            # Only rollout.n was given: it is the group size.
            self.hindsight = self.hindsight.model_copy(update={"n_gen": self.rollout.n})
            HindsightConfig.model_validate(self.hindsight.model_dump())  # n_total >= n_gen
        else:
            self.rollout = self.rollout.model_copy(update={"n": n_gen})

    def _herl_reward_default(self) -> None:
        """HeRL's reward is the fraction of constraints met (METHOD.md, HeRL step 1), HiR's and
        the baseline's the binary ILA: an unset reward.kind follows the strategy. An explicit
        reward.kind=ila with herl is honoured (HeRL then only revises groups with no success
        and its bonus is alpha * r_guided)."""
        if self.hindsight.strategy == "herl" and "kind" not in self.reward.model_fields_set:
            self.reward = self.reward.model_copy(update={"kind": "cla"})

    def _tie_replay_clip(self) -> None:
        """The replay clip range lives in advantages (algorithm) and training (loss)."""
        a, t = self.advantages.replay_clip_eps, self.training.replay_clip_eps
        if a is not None and t is not None and a != t:
            raise ValueError(
                f"advantages.replay_clip_eps ({a}) != training.replay_clip_eps ({t}); set one"
            )
        if a is not None and t is None:
            self.training = self.training.model_copy(update={"replay_clip_eps": a})


# --------------------------------------------------------------------------------- loading


def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_error(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for item in err.errors():
        field = _dotted(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (not in the config schema)"
        # A cross-field check (empty loc) names its fields in the message itself.
        lines.append(f"{field}: {message}" if field else message)
    return ConfigError(f"{source}: " + "; ".join(lines))


def parse_overrides(overrides: Sequence[str]) -> list[tuple[list[str], Any]]:
    """``"a.b=value"`` strings -> (path, value) pairs; the value is parsed as YAML
    (``3`` is an int, ``null`` None, ``[a, b]`` a list, anything else a string)."""
    parsed = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected dotted.field=value")
        path = key.split(".")
        if any(not part for part in path):
            raise ConfigError(f"override {item!r}: empty field name in {key!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"{key}: value {text!r} is not valid YAML: {err}") from err
        parsed.append((path, value))
    return parsed


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """``data`` (a nested dict, modified in place) with the overrides applied."""
    for path, value in parse_overrides(overrides):
        node = data
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{_dotted(path)}: {_dotted(path[: depth + 1])} is {child!r}, not a section"
                )
            node = child
        node[path[-1]] = value
    return data


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields")
    return data


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """A YAML file (None: every default) with dotted ``a.b=value`` overrides, validated."""
    data = _read_yaml(Path(path)) if path is not None else {}
    apply_overrides(data, overrides)
    source = str(path) if path is not None else "config"
    if overrides:
        source += " with overrides " + " ".join(overrides)
    return validate_config(data, source)


def validate_config(data: dict, source: str = "config") -> PipelineConfig:
    """A nested dict as a validated PipelineConfig, or a ConfigError naming the fields."""
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise _validation_error(err, source) from None


def config_dict(cfg: PipelineConfig) -> dict:
    """The config as plain JSON-able data (every field, defaults included)."""
    return cfg.model_dump(mode="json")


def dump_config(cfg: PipelineConfig, path: str | Path) -> None:
    """Write the full resolved config as YAML, atomically (what load_config reads back)."""
    text = yaml.safe_dump(config_dict(cfg), sort_keys=False, allow_unicode=True)
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def config_hash(cfg: PipelineConfig, exclude: Sequence[str] = ()) -> str:
    """sha256 of the resolved config (canonical JSON), without the dotted fields in
    ``exclude`` (e.g. ``iterations``, ``tracking``)."""
    data = config_dict(cfg)
    for dotted in exclude:
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def config_diff(old: PipelineConfig, new: PipelineConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted field -> (old value, new value) for every leaf that differs."""
    diff: dict[str, tuple[Any, Any]] = {}

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        elif a != b:
            diff[prefix] = (a, b)

    walk(config_dict(old), config_dict(new), "")
    return diff
