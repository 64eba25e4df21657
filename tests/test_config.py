"""The pipeline config tree: YAML in/out, dotted overrides, field-naming errors, cross-field
checks, and the presets in configs/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from hir_core.config import (
    ConfigError,
    PipelineConfig,
    config_diff,
    config_hash,
    dump_config,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_overrides_of_the_contract_command():
    cfg = load_config(CONFIGS / "tiny.yaml", ["iterations=3", "hindsight.strategy=none"])
    assert cfg.iterations == 3
    assert cfg.hindsight.strategy == "none"
    # Untouched fields keep the file's values.
    assert cfg.model.spec == "tiny-random"
    assert (
        cfg.data.prompts_per_iteration
        == yaml.safe_load((CONFIGS / "tiny.yaml").read_text())["data"]["prompts_per_iteration"]
    )


def test_override_values_are_parsed_as_yaml():
    cfg = load_config(
        None, ["hindsight.k=null", "rollout.stop=[END, '###']", "training.dual_clip=null", "seed=7"]
    )
    assert cfg.hindsight.k is None
    assert cfg.rollout.stop == ["END", "###"]
    assert cfg.training.dual_clip is None
    assert cfg.seed == 7


def test_defaults_are_the_papers_recipe():
    # METHOD.md, HiR steps 1, 3, 6, 7: B=64, n_gen 6, n_total 8, temperature 1.0, top_p 1.0,
    # lambda_t = 2.0 * 1.05**t, copy log-probs, REINFORCE++, KL-in-reward 0.001, lr 1e-6,
    # weight decay 0.01, grad clip 1.0, 1 epoch, 2 mini-batches, PPO eps 0.2, dual clip 3.
    cfg = load_config(None)
    assert cfg.data.prompts_per_iteration == 64
    assert (cfg.hindsight.n_gen, cfg.hindsight.n_total, cfg.rollout.n) == (6, 8, 6)
    assert (cfg.rollout.temperature, cfg.rollout.top_p) == (1.0, 1.0)
    assert (cfg.hindsight.lambda0, cfg.hindsight.eta) == (2.0, 0.05)
    assert cfg.hindsight.replay_logprobs == "copy"
    assert cfg.reward.kind == "ila"
    assert cfg.advantages.estimator == "reinforce_pp"
    assert cfg.advantages.kl_beta == 0.001 and cfg.training.kl == "reward"
    t = cfg.training
    assert (t.lr, t.weight_decay, t.grad_clip, t.epochs, t.mini_batches) == (
        1e-6,
        0.01,
        1.0,
        1,
        2,
    )
    assert (t.clip_eps, t.dual_clip) == (0.2, 3.0)


def _all_fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _all_fields(annotation, f"{prefix}{name}.")


def test_every_field_is_documented():
    undocumented = [name for name, field in _all_fields(PipelineConfig) if not field.description]
    assert undocumented == []


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ("hindsight.strategy=magic", "hindsight.strategy", "Input should be"),
        ("hindsight.colour=red", "hindsight.colour", "unknown field"),
        ("colour=red", "colour", "unknown field"),
        ("iterations=-1", "iterations", "greater than or equal to 1"),
        ("training.lr=fast", "training.lr", "valid number"),
        ("rollout.top_p=1.5", "rollout.top_p", "less than or equal to 1"),
    ],
)
def test_bad_override_names_the_dotted_field_and_why(override, field, reason):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / "tiny.yaml", [override])
    message = str(err.value)
    assert f"{field}: " in message
    assert reason in message


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected dotted.field=value"):
        load_config(None, ["iterations"])
    with pytest.raises(ConfigError, match="empty field name"):
        load_config(None, ["hindsight..k=3"])
    with pytest.raises(ConfigError, match=r"iterations\.x: iterations is 2, not a section"):
        load_config(_write_tmp({"iterations": 2}), ["iterations.x=1"])


def _write_tmp(data: dict) -> Path:
    import tempfile

    return _write(Path(tempfile.mkdtemp()) / "c.yaml", data)


def test_file_errors_name_the_file(tmp_path):
    bad_field = _write(tmp_path / "bad.yaml", {"hindsight": {"stratgy": "hir"}})
    with pytest.raises(ConfigError, match=r"bad\.yaml.*hindsight\.stratgy: unknown field"):
        load_config(bad_field)
    broken = tmp_path / "broken.yaml"
    broken.write_text("iterations: [1,\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be a mapping"):
        load_config(listing)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_group_size_is_one_quantity():
    assert load_config(None, ["hindsight.n_gen=4"]).rollout.n == 4
    from_rollout = load_config(None, ["rollout.n=5"])
    assert from_rollout.hindsight.n_gen == 5
    assert load_config(None, ["rollout.n=4", "hindsight.n_gen=4"]).rollout.n == 4
    with pytest.raises(ConfigError, match=r"rollout\.n \(4\) != hindsight\.n_gen \(6\)"):
        load_config(None, ["rollout.n=4", "hindsight.n_gen=6"])
    # The group size may not exceed the batch slots per prompt, whichever field set it.
    with pytest.raises(ConfigError, match=r"n_total \(8\) must be >= n_gen \(9\)"):
        load_config(None, ["rollout.n=9"])


def test_cross_field_checks_name_their_fields():
    with pytest.raises(ConfigError, match=r"training\.kl='reward'.*advantages\.estimator"):
        load_config(None, ["advantages.estimator=grpo"])
    assert load_config(None, ["advantages.estimator=grpo", "training.kl=loss"])
    with pytest.raises(ConfigError, match=r"advantages\.replay_clip_eps .* training\.replay_clip"):
        load_config(None, ["advantages.replay_clip_eps=0.1", "training.replay_clip_eps=0.3"])
    # Set in one place, the loss sees it.
    assert load_config(None, ["advantages.replay_clip_eps=0.1"]).training.replay_clip_eps == 0.1
    with pytest.raises(ConfigError, match=r"training\.mini_batches"):
        load_config(
            None, ["data.prompts_per_iteration=1", "hindsight.n_gen=1", "training.mini_batches=2"]
        )
    with pytest.raises(ConfigError, match=r"evaluation\.heldout_prompts \(9\) > data\.n_heldout"):
        load_config(
            None, ["evaluation.every=1", "evaluation.heldout_prompts=9", "data.n_heldout=8"]
        )
    with pytest.raises(ConfigError, match=r"data\.path is required"):
        load_config(None, ["data.source=verl_parquet"])
    with pytest.raises(ConfigError, match=r"data\.prompts_per_iteration \(65\) > data\.n_train"):
        load_config(None, ["data.n_train=64", "data.prompts_per_iteration=65"])
    with pytest.raises(ConfigError, match=r"data\.min_constraints \(5\) > data\.max_constraints"):
        load_config(None, ["data.min_constraints=5", "data.max_constraints=3"])


def test_yaml_round_trip(tmp_path):
    cfg = load_config(CONFIGS / "demo.yaml", ["iterations=5", "hindsight.selection=random"])
    path = tmp_path / "sub" / "config.yaml"
    path.parent.mkdir()
    dump_config(cfg, path)
    assert load_config(path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left
    # The dump is complete: every field, defaults included.
    assert set(yaml.safe_load(path.read_text())) == set(PipelineConfig.model_fields)


def test_config_hash_and_diff():
    a = load_config(CONFIGS / "tiny.yaml")
    b = load_config(CONFIGS / "tiny.yaml", ["iterations=9", "hindsight.n_total=5"])
    assert config_hash(a) == config_hash(load_config(CONFIGS / "tiny.yaml"))
    assert config_hash(a) != config_hash(b)
    c = load_config(CONFIGS / "tiny.yaml", ["iterations=9"])
    assert config_hash(a, exclude=["iterations"]) == config_hash(c, exclude=["iterations"])
    assert config_diff(a, b) == {"iterations": (2, 9), "hindsight.n_total": (6, 5)}


@pytest.mark.parametrize("name", ["tiny", "demo", "paper"])
def test_presets_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    # Every preset can fill its batch and has room for replays when it runs HiR.
    if cfg.hindsight.strategy == "hir":
        assert cfg.hindsight.n_total > cfg.hindsight.n_gen
        assert cfg.data.min_constraints >= 2 or cfg.data.source != "synthetic"


def test_paper_preset_is_the_published_recipe():
    cfg = load_config(CONFIGS / "paper.yaml")
    assert cfg.data.prompts_per_iteration == 64
    assert (cfg.hindsight.n_gen, cfg.hindsight.n_total) == (6, 8)
    assert cfg.rollout.temperature == 1.0 and cfg.rollout.backend == "vllm"
    assert cfg.training.lr == 1e-6 and cfg.training.zero_stage == 2
    assert cfg.training.mini_batches == 2 and cfg.training.kl == "reward"
    assert cfg.advantages.estimator == "reinforce_pp" and cfg.advantages.kl_beta == 0.001


def test_herl_reward_follows_the_strategy_unless_set():
    # HeRL's reward is the constraint fraction (METHOD.md); HiR and the baseline keep ILA.
    assert load_config(None, ["hindsight.strategy=herl"]).reward.kind == "cla"
    assert load_config(None, ["hindsight.strategy=hir"]).reward.kind == "ila"
    assert load_config(None, ["hindsight.strategy=hir+herl"]).reward.kind == "ila"
    explicit = load_config(None, ["hindsight.strategy=herl", "reward.kind=ila"])
    assert explicit.reward.kind == "ila"


def test_host_memory_section_is_its_own_and_leaves_the_stage_hashes(tmp_path):
    """The CPU host-memory measures are the `host_memory` section (not the algorithm's
    `training` fields); they change no result, so no stage's input hash; a config frozen
    with them under `training` (before the section existed) still loads, with its values."""
    from hir_core.config import PipelineConfig
    from hir_core.rundir import input_hash

    assert (
        "reference_offload" not in PipelineConfig.model_fields["training"].annotation.model_fields
    )
    base = PipelineConfig()
    other = base.model_copy(
        update={"host_memory": base.host_memory.model_copy(update={"reference_offload": False})}
    )
    assert base != other
    for stage in ("rollouts", "batch", "train"):
        assert input_hash(base, 1, stage, []) == input_hash(other, 1, stage, [])
    lr_changed = base.model_copy(update={"training": base.training.model_copy(update={"lr": 2e-6})})
    assert input_hash(base, 1, "train", []) != input_hash(lr_changed, 1, "train", [])

    legacy = PipelineConfig.model_validate(
        {"training": {"reference_offload": False, "cpu_return_freed_memory": True, "lr": 3e-6}}
    )
    assert legacy.host_memory.reference_offload is False
    assert legacy.host_memory.return_freed_memory is True
    assert legacy.training.lr == 3e-6
