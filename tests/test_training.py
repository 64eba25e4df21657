"""DeepSpeed training engine on the real tiny model: update vs a plain torch loop, ZeRO
stages, checkpoint resume to the bit, multi-process equivalence, batch validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from _helpers_engines import WORKER_BATCH, WORKER_LR, make_batch, run_step
from _tiny_model import build_tiny
from safetensors.torch import load_file

from hir_core.engines.generation import GenerationConfig, TransformersGenerator
from hir_core.engines.host_memory import HostMemoryConfig
from hir_core.engines.training import (
    OWN_PORT_ENV,
    TrainingConfig,
    TrainingEngine,
    compute_logprobs,
)
from hir_core.losses import policy_loss
from hir_core.models import load_model

ROOT = Path(__file__).resolve().parents[1]
LR = 1e-3  # large enough that one step moves the tiny model visibly


@pytest.fixture(scope="module")
def batch() -> pl.DataFrame:
    model, tok = build_tiny()
    batch = make_batch(model, tok, **WORKER_BATCH)
    assert batch["is_replay"].sum() == 2 and batch["is_hindsight"].sum() == 2
    return batch


def _engine(reference_offload="auto", **overrides) -> TrainingEngine:
    model, tok = build_tiny()
    cfg = TrainingConfig(**{"lr": LR, "micro_batch_size": 3, "bf16": False, **overrides})
    return TrainingEngine(model, cfg, tok, HostMemoryConfig(reference_offload=reference_offload))


def _params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _reference_update(batch: pl.DataFrame, cfg: TrainingConfig) -> tuple[dict, list[float]]:
    """The same step as a plain torch loop: each mini-batch in ONE forward pass, torch AdamW,
    clip_grad_norm_; per-token tensors laid out by explicit loops."""
    model, _ = build_tiny()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rows = batch.to_dicts()
    grad_norms = []
    for mini in np.array_split(np.arange(len(rows)), cfg.mini_batches):
        rs = [rows[i] for i in mini]
        width = max(len(r["prompt_token_ids"]) + len(r["response_token_ids"]) for r in rs)
        ids = torch.zeros(len(rs), width, dtype=torch.long)
        attn = torch.zeros(len(rs), width, dtype=torch.long)
        cols = {
            c: torch.zeros(len(rs), width - 1)
            for c in ("advantages", "old_logprobs", "ref_logprobs")
        }
        mask = torch.zeros(len(rs), width - 1)
        for b, r in enumerate(rs):
            seq = r["prompt_token_ids"] + r["response_token_ids"]
            ids[b, : len(seq)] = torch.tensor(seq)
            attn[b, : len(seq)] = 1
            for t in range(len(r["response_token_ids"])):
                pos = len(r["prompt_token_ids"]) - 1 + t  # logits at pos predict token pos+1
                mask[b, pos] = 1
                for name, column in cols.items():
                    column[b, pos] = r[name][t]
        logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]
        logp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        replay_eps = cfg.replay_clip_eps or cfg.clip_eps
        loss, _ = policy_loss(
            logp,
            cols["old_logprobs"],
            cols["ref_logprobs"],
            cols["advantages"],
            mask,
            sample_weights=torch.tensor([r["loss_weight"] for r in rs]),
            clip_eps=torch.tensor([[replay_eps if r["is_replay"] else cfg.clip_eps] for r in rs]),
            dual_clip=cfg.dual_clip,
            aggregation=cfg.aggregation,
            kl_coef=cfg.kl_coef if cfg.kl == "loss" else 0.0,
            kl_estimator=cfg.kl_estimator,
            is_hindsight=torch.tensor([r["is_hindsight"] for r in rs]),
            hindsight_gamma=cfg.hindsight_gamma,
            hindsight_weight=cfg.hindsight_weight,
        )
        opt.zero_grad()
        loss.backward()
        grad_norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)))
        opt.step()
    return _params(model), grad_norms


def _assert_close_params(a: dict, b: dict, lr: float = LR):
    """Equal up to 1% of a step's size, except on a few elements (at most 1 in 10^4).

    Adam's first steps are ~lr * sign(grad): where a gradient element is ~0 (an embedding row
    barely used), float rounding alone can move that element by up to 2 lr.
    """
    assert a.keys() == b.keys()
    for k, value in a.items():
        diff = (value - b[k]).abs()
        assert diff.max() <= 2 * lr + 1e-7, k
        assert int((diff > lr * 1e-2).sum()) <= max(1, diff.numel() // 10_000), k


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "aggregation": "seq_mean",
            "kl": "loss",
            "kl_estimator": "k3",
            "kl_coef": 0.1,
            "replay_clip_eps": 0.05,
            "hindsight_weight": "prob",
            "hindsight_gamma": 0.5,
            "micro_batch_size": 1,
        },
        {"zero_stage": 2},
        {"zero_stage": 3, "micro_batch_size": 2},
    ],
    ids=["default", "seqmean-klloss-replayclip-hindsightprob", "zero2", "zero3"],
)
def test_step_equals_a_plain_torch_loop(batch, overrides):
    engine = _engine(**overrides)
    before = _params(engine.model)
    metrics = engine.step(batch)
    after = _params(engine.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    reference, grad_norms = _reference_update(batch, engine.cfg)
    _assert_close_params(after, reference)
    assert metrics["grad_norm"] == pytest.approx(np.mean(grad_norms), rel=1e-4)
    assert set(metrics) >= {"loss", "kl", "clip_frac", "grad_norm", "tokens_per_s", "lr"}
    assert metrics["lr"] == LR and metrics["tokens_per_s"] > 0
    assert np.isfinite(metrics["grad_norm"]) and metrics["grad_norm"] > 0


def test_without_zero_the_optimizer_is_torchs_fused_adamw(batch):
    """One fused pass per parameter per step (a fifth of the default's time for SmolLM2 on
    CPU, BENCHMARKS.md Engines); its update is the plain loop's (the test above, default)."""
    assert _engine()._client_optimizer.defaults["fused"] is True
    assert not _engine(zero_stage=2)._client_optimizer.defaults.get("fused")


def test_first_mini_batch_is_on_policy(batch):
    """Old log-probs from the rollout = current policy: ratio 1, nothing clipped, KL 0."""
    engine = _engine(mini_batches=1, grad_clip=1e-12, hindsight_gamma=3.0)  # barely moves
    metrics = engine.step(batch)
    assert metrics["clip_frac"] == 0.0
    assert abs(metrics["kl"]) < 1e-5
    # Loss at ratio 1, by hand: -(token-mean of weighted advantages), where a HeRL row's
    # advantage counts with f/(f+gamma) = 1/(1+3), its loss weight once.
    rows = batch.to_dicts()
    shaped = {True: 1 / (1 + 3.0), False: 1.0}
    total = sum(r["loss_weight"] * shaped[r["is_hindsight"]] * sum(r["advantages"]) for r in rows)
    count = sum(len(r["advantages"]) for r in rows)
    assert metrics["loss"] == pytest.approx(-total / count, abs=1e-5)


def test_bf16_old_logprobs_match_the_step(batch):
    """With bf16 autocast, old log-probs from policy_logprobs are the step's own: at the
    first mini-batch the ratio is 1 up to rounding, where fp32 old log-probs are off by the
    bf16 gap (and would clip or count as KL spuriously)."""
    engine = _engine(bf16=True, mini_batches=1, grad_clip=1e-12)
    prompts = batch["prompt_token_ids"].to_list()
    responses = batch["response_token_ids"].to_list()
    old = engine.policy_logprobs(prompts, responses)
    fp32 = compute_logprobs(build_tiny()[0], prompts, responses, micro_batch_size=8)
    gap = max(np.abs(a - b).max() for a, b in zip(old, fp32))
    assert gap > 1e-3  # bf16 really differs from fp32 here
    on_policy = batch.with_columns(
        pl.Series("old_logprobs", [a.tolist() for a in old], dtype=pl.List(pl.Float32)),
        pl.Series("ref_logprobs", [a.tolist() for a in old], dtype=pl.List(pl.Float32)),
    )
    metrics = engine.step(on_policy)
    assert metrics["clip_frac"] == 0.0
    assert abs(metrics["kl"]) < gap / 10


def test_bf16_reference_stores_linear_weights_in_bf16_with_identical_logprobs(batch):
    """Under bf16 autocast the reference keeps its Linear weights in bf16 (half the memory)
    and still gives exactly the policy's log-probs before the policy moves."""
    engine = _engine(bf16=True)
    linears = [m for m in engine.reference.modules() if isinstance(m, torch.nn.Linear)]
    assert any(m.weight.dtype == torch.bfloat16 for m in linears)
    embeddings = [m for m in engine.reference.modules() if isinstance(m, torch.nn.Embedding)]
    assert all(m.weight.dtype == torch.float32 for m in embeddings)
    prompts = batch["prompt_token_ids"].to_list()
    responses = batch["response_token_ids"].to_list()
    ref = engine.ref_logprobs(prompts, responses)
    for got, want in zip(ref, engine.policy_logprobs(prompts, responses)):
        np.testing.assert_array_equal(got, want)
    assert all(p.dtype == torch.float32 for p in engine.model.parameters())


def test_reference_is_frozen_and_policy_logprobs_move(batch):
    engine = _engine()
    prompts = batch["prompt_token_ids"].to_list()
    responses = batch["response_token_ids"].to_list()
    model, _ = build_tiny()
    initial = compute_logprobs(model, prompts, responses, micro_batch_size=5)
    engine.step(batch)
    for got, want in zip(engine.ref_logprobs(prompts, responses), initial):
        np.testing.assert_array_equal(got, want)
    moved = engine.policy_logprobs(prompts, responses)
    assert max(np.abs(a - b).max() for a, b in zip(moved, initial)) > 1e-3
    assert all(not p.requires_grad for p in engine.reference.parameters())


@pytest.mark.parametrize("bf16", [False, True])
def test_offloaded_reference_gives_identical_logprobs_and_holds_no_weights(batch, bf16):
    """reference_offload parks the reference's weights in a file between passes: its
    log-probs are bit-identical to a resident reference's, before and after the policy
    moves, the module holds only meta tensors outside a pass, and the file goes with the
    engine."""
    import gc

    prompts = batch["prompt_token_ids"].to_list()
    responses = batch["response_token_ids"].to_list()
    resident = _engine(bf16=bf16, reference_offload=False)
    offloaded = _engine(bf16=bf16, reference_offload=True)
    assert resident._parked_reference is None
    parked = offloaded._parked_reference
    assert parked.parked and all(p.is_meta for p in offloaded.reference.parameters())
    # Shapes and dtypes (bf16 Linear weights included) survive parking.
    assert [(p.shape, p.dtype) for p in offloaded.reference.parameters()] == [
        (p.shape, p.dtype) for p in resident.reference.parameters()
    ]
    for engine in (resident, offloaded):
        engine.step(batch)
    for got, want in zip(
        offloaded.ref_logprobs(prompts, responses), resident.ref_logprobs(prompts, responses)
    ):
        np.testing.assert_array_equal(got, want)
    assert parked.parked  # parked again after the pass
    with offloaded.reference_model() as reference:
        assert not any(p.is_meta for p in reference.parameters())
        # The tied output head is the embedding again, one Parameter.
        assert reference.get_output_embeddings().weight is reference.get_input_embeddings().weight
    # The policy's update did not depend on where the reference lived.
    for (name, a), b in zip(resident.model.named_parameters(), offloaded.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    folder = parked.folder
    assert (folder / parked.FILE).is_file()
    del offloaded, parked, engine
    gc.collect()
    assert not folder.exists()


def test_reference_offload_auto_is_on_for_cpu():
    assert _engine()._parked_reference is not None


@pytest.mark.parametrize("bf16", [False, True])
def test_resume_is_bit_exact(batch, tmp_path, bf16):
    straight = _engine(bf16=bf16)
    for _ in range(3):
        straight.step(batch)

    first = _engine(bf16=bf16)
    first.step(batch)
    first.save_checkpoint(tmp_path / "ckpt")
    resumed = _engine(bf16=bf16)
    resumed.load_checkpoint(tmp_path / "ckpt")
    assert resumed.steps == 1
    for _ in range(2):
        resumed.step(batch)

    a, b = _params(straight.model), _params(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_checkpoint_is_a_loadable_hf_folder(batch, tmp_path):
    engine = _engine()
    engine.step(batch)
    folder = engine.save_checkpoint(tmp_path / "ckpt")
    model, tok = load_model(str(folder))
    trained = _params(engine.model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, trained[k])
    cfg = GenerationConfig(n=1, temperature=0.0, max_new_tokens=4)
    ((sample,),) = TransformersGenerator(model, tok, cfg).generate(
        [[{"role": "user", "content": "Hi"}]]
    )
    assert len(sample.response_token_ids) == 4


def test_load_checkpoint_without_state_is_an_error(tmp_path):
    engine = _engine()
    with pytest.raises(FileNotFoundError, match="no training state"):
        engine.load_checkpoint(tmp_path)


def test_bad_batches_are_rejected(batch):
    engine = _engine()
    short = batch.with_columns(
        pl.when(pl.col("sample_id") == "s2")
        .then(pl.col("advantages").list.slice(1))
        .otherwise(pl.col("advantages"))
        .alias("advantages")
    )
    with pytest.raises(ValueError, match=r"row 2 \(s2\): advantages has"):
        engine.step(short)
    nan = batch.with_columns(
        pl.when(pl.col("sample_id") == "s3")
        .then(pl.col("old_logprobs").list.eval(pl.element() * float("nan")))
        .otherwise(pl.col("old_logprobs"))
        .alias("old_logprobs")
    )
    with pytest.raises(ValueError, match=r"row 3 \(s3\): old_logprobs is not finite"):
        engine.step(nan)
    negative = batch.with_columns(pl.lit(-1.0, dtype=pl.Float32).alias("loss_weight"))
    with pytest.raises(ValueError, match=r"row 0 \(s0\): loss_weight -1.0 must be"):
        engine.step(negative)
    with pytest.raises(ValueError, match="cannot fill 2 mini-batches"):
        engine.step(batch.head(1))
    with pytest.raises(Exception, match="loss_weight"):
        engine.step(batch.drop("loss_weight"))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """One torchrun launch of 2 CPU processes, one step per ZeRO stage (0 and 2)."""
    out = tmp_path_factory.mktemp("two-processes")
    # A fresh extensions folder: training on CPU must not JIT-compile DeepSpeed ops.
    extensions = out / "torch_extensions"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "TORCH_EXTENSIONS_DIR": str(extensions),
    }
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "tests" / "_helpers_engines.py"),
        str(out),
        "0,2",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not extensions.exists() or not any(extensions.iterdir()), "an op was compiled"
    return out


def test_subprocess_inheriting_our_group_env_makes_its_own(tmp_path):
    """A child of a process that made its own one-process group inherits RANK, MASTER_PORT...
    but not the port itself (the parent's store holds it): it must make a group of its own
    instead of failing with "address already in use"."""
    _engine()  # this process now holds a one-process group on MASTER_PORT
    port = os.environ["MASTER_PORT"]
    assert os.environ[OWN_PORT_ENV] == port
    code = (
        "import os, torch.distributed as dist\n"
        "from hir_core.engines.training import init_distributed\n"
        "init_distributed()\n"
        "print(dist.get_world_size(), os.environ['MASTER_PORT'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    world_size, child_port = done.stdout.split()[-2:]
    assert world_size == "1" and child_port != port


@pytest.mark.parametrize("zero_stage", [0, 2])
def test_two_processes_match_one(two_processes, tmp_path, zero_stage):
    """The 2-process step (each rank takes half of every mini-batch) gives the 1-process
    update, here run in the test's own one-process group."""
    two = json.loads((two_processes / f"zero{zero_stage}.json").read_text())
    b = load_file(two_processes / f"zero{zero_stage}.safetensors")
    a, one, world_size = run_step(zero_stage, tmp_path / "ckpt")
    assert (world_size, two["world_size"]) == (1, 2)
    initial = _params(build_tiny()[0])
    assert any(not torch.equal(a[k], initial[k]) for k in a)  # the step did move the weights
    _assert_close_params(a, b, lr=WORKER_LR)
    for key in ("loss", "kl", "clip_frac", "grad_norm"):
        assert one[key] == pytest.approx(two[key], rel=1e-4, abs=1e-6)
