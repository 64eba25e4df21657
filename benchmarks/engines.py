"""Engine benchmarks: generation and training throughput, DeepSpeed overhead, peak memory.

    .venv/bin/python benchmarks/engines.py           # all; writes "## Engines" in BENCHMARKS.md
    .venv/bin/python benchmarks/engines.py --quick   # tiny-random only, fewer steps, no write

Each measurement runs in a fresh subprocess (``worker`` sub-command) that writes its result
as JSON to a file: peak RSS is then that of the measured work alone, and vLLM runs from its
own venv (.venv-vllm, built by `make test-vllm`). Before each measurement the driver waits
(up to ``--wait`` seconds) for the 1-minute load average to drop below ``--max-load``, and
records the load it started under: this machine's 2 cores are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
SECTION = "## Engines"
TINY, SMOLLM2 = "tiny-random", "smollm2-135m-instruct"

# Generation workload: 8 prompts x n=4 = 32 sequences decoded together, up to 64 new tokens,
# sampling at temperature 1 (the rollout setting).
GEN_PROMPTS = 8
GEN_N = 4
GEN_NEW_TOKENS = 64
# Training workload: 16 samples x 256 tokens (64 prompt + 192 response); one step = 2
# mini-batches of 8 (METHOD.md), micro-batches of 2 (peak memory: BENCHMARKS.md, Engines).
TRAIN_ROWS = 16
TRAIN_PROMPT = 64
TRAIN_RESPONSE = 192
TRAIN_MICRO = 2

# Instruction-style prompts, fixed (the vLLM worker's venv has no data stack).
_TASKS = [
    "Write a short poem about tea. Do not use any commas.",
    "List three reasons to travel. Use exactly 3 bullet points.",
    "Explain the rules of chess to a child in fewer than 100 words.",
    "Write an email to a manager asking for a day off. End with a question.",
    "Summarize the history of bread in all lowercase letters.",
    "Describe the weather today. Wrap your answer in double quotation marks.",
    "Give a recipe for pancakes with a title in double angular brackets, like <<title>>.",
    "Write a story about a robot in two paragraphs separated by ***.",
]


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _allocator() -> str:
    """The malloc this worker runs on (its /proc/self/maps): the driver's LD_PRELOAD took."""
    maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
    return next((name for name in ("tcmalloc", "jemalloc") if f"lib{name}" in maps), "system")


def _prompts() -> list[list[dict]]:
    return [[{"role": "user", "content": task}] for task in _TASKS[:GEN_PROMPTS]]


# ----------------------------------------------------------------------------- generation


def work_generate(spec: str, dtype: str, backend: str, repeats: str) -> dict:
    """Generated tokens/s of one backend: the best of ``repeats`` identical calls after a
    warm-up call (the best: the least disturbed by other work on the machine)."""
    import torch

    from hir_core.engines.generation import GenerationConfig, TransformersGenerator
    from hir_core.models import ModelConfig, load_model

    torch.manual_seed(0)
    cfg = GenerationConfig(
        n=GEN_N,
        max_new_tokens=GEN_NEW_TOKENS,
        batch_size=GEN_PROMPTS * GEN_N,
        progress=False,
    )
    if backend == "vllm":
        from hir_core.engines.generation import VllmGenerator

        folder = spec if Path(spec).is_dir() else _model_dir(spec)
        generator = VllmGenerator(folder, cfg, dtype=dtype)
    else:
        model, tokenizer = load_model(ModelConfig(spec=spec, dtype=dtype))
        if backend == "transformers":
            generator = TransformersGenerator(model, tokenizer, cfg)
        else:
            generator = _PlainGenerate(model, tokenizer, cfg)
    generator.generate(_prompts())  # warm-up
    runs = []
    for _ in range(int(repeats)):
        start = time.perf_counter()
        out = generator.generate(_prompts())
        elapsed = time.perf_counter() - start
        tokens = sum(len(s.response_token_ids) for group in out for s in group)
        run = {"tokens": tokens, "seconds": elapsed, "tokens_per_s": tokens / elapsed}
        if backend == "vllm":
            run["sampling_tokens_per_s"] = tokens / generator.last_timings["sampling_s"]
        runs.append(run)
    if backend == "vllm":
        generator.close()
    best = max(runs, key=lambda r: r["tokens_per_s"])
    return {
        **best,
        "all_tokens_per_s": [r["tokens_per_s"] for r in runs],
        "peak_rss_gib": _peak_rss_gib(),
        "threads": torch.get_num_threads(),
        "allocator": _allocator(),
    }


def work_generate_pair(spec: str, dtype: str, repeats: str) -> dict:
    """Our backend and the plain ``model.generate`` baseline side by side in one process on
    one model, in interleaved repetitions (the order alternating), after a warm-up call of
    each: on a shared machine the ratio of the two is what a change of load disturbs least.
    Then the check that the lean decoder gives the Hugging Face forward's outputs: greedy
    tokens, and the log-probs of the same sampled tokens (same seed)."""
    import torch

    from hir_core.engines.generation import GenerationConfig, TransformersGenerator
    from hir_core.models import ModelConfig, load_model

    torch.manual_seed(0)
    cfg = GenerationConfig(
        n=GEN_N, max_new_tokens=GEN_NEW_TOKENS, batch_size=GEN_PROMPTS * GEN_N, progress=False
    )
    model, tokenizer = load_model(ModelConfig(spec=spec, dtype=dtype))
    sides = {
        "hf_generate": _PlainGenerate(model, tokenizer, cfg),
        "transformers": TransformersGenerator(model, tokenizer, cfg),
    }
    for generator in sides.values():
        generator.generate(_prompts())  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for rep in range(int(repeats)):
        order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
        for name in order:
            start = time.perf_counter()
            out = sides[name].generate(_prompts())
            elapsed = time.perf_counter() - start
            tokens = sum(len(s.response_token_ids) for group in out for s in group)
            runs[name].append(tokens / elapsed)
    pairs = [ours / base for ours, base in zip(runs["transformers"], runs["hf_generate"])]
    result = {
        name: {"tokens_per_s": max(rates), "all_tokens_per_s": rates}
        for name, rates in runs.items()
    }
    result.update(
        ratio_best=max(runs["transformers"]) / max(runs["hf_generate"]),
        ratio_pairs=pairs,
        same_outputs=_lean_vs_hf_forward(model, tokenizer, cfg),
        peak_rss_gib=_peak_rss_gib(),
        threads=torch.get_num_threads(),
        allocator=_allocator(),
    )
    return result


def _lean_vs_hf_forward(model, tokenizer, cfg) -> dict:
    """The lean decoder against the Hugging Face forward (``decoder: hf``) on the workload:
    how many greedy sequences are identical, and for sampling with the same seed (the same
    uniform draws) how many are identical and the largest log-prob difference over them."""
    import numpy as np

    from hir_core.engines.generation import TransformersGenerator

    out = {}
    for label, temperature in (("greedy", 0.0), ("sampled", 1.0)):
        flat = {}
        for decoder in ("lean", "hf"):
            settings = cfg.model_copy(update={"decoder": decoder, "temperature": temperature})
            groups = TransformersGenerator(model, tokenizer, settings).generate(_prompts())
            flat[decoder] = [s for group in groups for s in group]
        same = [
            (a, b)
            for a, b in zip(flat["lean"], flat["hf"])
            if a.response_token_ids == b.response_token_ids
        ]
        out[f"{label}_identical"] = f"{len(same)}/{len(flat['lean'])}"
        out[f"{label}_max_logprob_diff"] = max(
            (float(np.max(np.abs(np.subtract(a.logprobs, b.logprobs)))) for a, b in same),
            default=float("nan"),
        )
    return out


class _PlainGenerate:
    """The baseline: one plain batched ``model.generate`` call with the same sampling
    (temperature 1, no top-k, top-p 1), left-padded chat prompts."""

    def __init__(self, model, tokenizer, cfg):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg

    def generate(self, prompts):
        from types import SimpleNamespace

        import torch

        texts = [
            self.tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
            for p in prompts
            for _ in range(self.cfg.n)
        ]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=self.cfg.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        eos = self.tokenizer.eos_token_id
        # Tokens up to and including the first end-of-sequence (padding after it not counted).
        lengths = [
            int((row != eos).cumprod(0).sum()) + int(bool((row == eos).any())) for row in new
        ]
        return [[SimpleNamespace(response_token_ids=[0] * n)] for n in lengths]


def _model_dir(spec: str) -> str:
    from hir_core.models import (
        TINY_RANDOM,
        build_tiny_random,
        cache_dir,
        resolve_folder,
        save_model,
    )

    if spec == TINY_RANDOM:
        folder = cache_dir() / "bench" / "tiny-random"
        if not (folder / "config.json").is_file():
            save_model(*build_tiny_random(0), folder)
        return str(folder)
    return str(resolve_folder(spec))


# ----------------------------------------------------------------------------- training


def _train_batch(vocab: int):
    """TRAIN_ROWS rows of TRAIN_PROMPT + TRAIN_RESPONSE random tokens (BATCH schema)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from schemas import BATCH

    rng = np.random.default_rng(0)
    rows = []
    for i in range(TRAIN_ROWS):
        rows.append(
            {
                "sample_id": f"s{i}",
                "group_id": f"g{i // 8}",
                "prompt_id": f"p{i // 8}",
                "source_rollout_id": f"p{i // 8}/{i % 8}",
                "is_replay": False,
                "is_hindsight": False,
                "prompt": "",
                "prompt_token_ids": rng.integers(0, vocab, TRAIN_PROMPT).tolist(),
                "response_token_ids": rng.integers(0, vocab, TRAIN_RESPONSE).tolist(),
                "reward": 1.0,
                "advantages": rng.normal(size=TRAIN_RESPONSE).tolist(),
                # Near a typical log-prob of random tokens: some ratios leave the clip range.
                "old_logprobs": (rng.normal(size=TRAIN_RESPONSE) - 11).tolist(),
                "ref_logprobs": (rng.normal(size=TRAIN_RESPONSE) - 11).tolist(),
                "logprob_source": "rollout",
                "loss_weight": 1.0,
            }
        )
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=BATCH))


def work_train(spec: str, impl: str, bf16: str, steps: str, free_memory: str = "False") -> dict:
    """Tokens/s of TrainingEngine.step ("deepspeed") or of the same step as a plain torch
    loop ("torch"); best of ``steps`` steps after one warm-up step."""
    import torch

    from hir_core.engines.training import TrainingConfig, TrainingEngine
    from hir_core.models import load_model

    model, tokenizer = load_model(spec)
    batch = _train_batch(model.config.vocab_size)
    from hir_core.engines.host_memory import HostMemoryConfig

    cfg = TrainingConfig(micro_batch_size=TRAIN_MICRO, bf16=bf16 == "True")
    host = HostMemoryConfig(return_freed_memory=free_memory == "True")
    engine = TrainingEngine(model, cfg, tokenizer, host) if impl == "deepspeed" else None
    step = engine.step if engine is not None else _plain_step(model, cfg)
    prompts = batch["prompt_token_ids"].to_list()
    responses = batch["response_token_ids"].to_list()
    step(batch)  # warm-up
    times = []
    for _ in range(int(steps)):
        if engine is not None:
            # As in the pipeline's batch stage: old and reference log-probs before each step
            # (untimed), so the peak RSS covers the reference's weights being in use.
            engine.policy_logprobs(prompts, responses)
            engine.ref_logprobs(prompts, responses)
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
    tokens = TRAIN_ROWS * (TRAIN_PROMPT + TRAIN_RESPONSE)
    return {
        "step_seconds": min(times),
        "all_step_seconds": times,
        "tokens_per_s": tokens / min(times),
        "peak_rss_gib": _peak_rss_gib(),
        "threads": torch.get_num_threads(),
        "allocator": _allocator(),
    }


def _plain_step(model, cfg):
    """The same step without DeepSpeed: same mini- and micro-batches, loss, normalisation,
    bf16 autocast, torch AdamW and gradient clipping; tensors laid out directly."""
    import numpy as np
    import torch

    from hir_core.engines.logprobs import pad_prompt_response, token_logprobs
    from hir_core.losses import policy_loss

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(batch):
        rows = batch.to_dicts()
        for mini in np.array_split(np.arange(len(rows)), cfg.mini_batches):
            rs = [rows[i] for i in mini]
            count = sum(len(r["response_token_ids"]) for r in rs)
            for start in range(0, len(rs), cfg.micro_batch_size):
                micro = rs[start : start + cfg.micro_batch_size]
                ids, attn, mask = pad_prompt_response(
                    [r["prompt_token_ids"] for r in micro],
                    [r["response_token_ids"] for r in micro],
                    0,
                )
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16 is True):
                    logp = token_logprobs(model, ids, attn, mask)
                cols = {}
                for c in ("advantages", "old_logprobs", "ref_logprobs"):
                    cols[c] = torch.zeros(mask.shape)
                    cols[c][mask] = torch.tensor(np.concatenate([r[c] for r in micro])).float()
                loss, _ = policy_loss(
                    logp,
                    cols["old_logprobs"],
                    cols["ref_logprobs"],
                    cols["advantages"],
                    mask,
                    sample_weights=torch.ones(len(micro)),
                    clip_eps=torch.full((len(micro), 1), cfg.clip_eps),
                    dual_clip=cfg.dual_clip,
                    aggregation=cfg.aggregation,
                    kl_coef=0.0,
                    kl_estimator=cfg.kl_estimator,
                    normalizer=count,
                )
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)

    return step


# ----------------------------------------------------------------------------- driver


def _wait_for_quiet(max_load: float, wait_s: float) -> float:
    deadline = time.time() + wait_s
    while os.getloadavg()[0] > max_load and time.time() < deadline:
        time.sleep(15)
    return os.getloadavg()[0]


def _allocator_env(allocator: str) -> dict[str, str]:
    """The environment of a worker on ``allocator``: 'tcmalloc' preloads the library the
    ``hir`` command would (hir_core/allocator.py), 'system' preloads nothing."""
    from hir_core.allocator import REEXEC_MARKER, find_tcmalloc

    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", REEXEC_MARKER)}
    if allocator == "tcmalloc":
        env["LD_PRELOAD"] = str(find_tcmalloc())
        env["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"] = str(1 << 40)
    return env


def _run_worker(
    args: list[str], opts, python: str = sys.executable, allocator: str = "system"
) -> dict:
    load = _wait_for_quiet(opts.max_load, opts.wait)
    env = {**_allocator_env(allocator), "PYTHONPATH": str(ROOT), "VLLM_CPU_KVCACHE_SPACE": "2"}
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [python, str(Path(__file__).resolve()), "worker", out.name, *args]
        done = subprocess.run(
            cmd, check=False, env=env, capture_output=True, text=True, timeout=3600
        )
        text = Path(out.name).read_text()
    if done.returncode != 0 or not text:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        result = {"error": lines[-1][:300]}
    else:
        result = json.loads(text)
    result.update(load_before=load, load_after=os.getloadavg()[0])
    print(allocator, " ".join(args), json.dumps(result), flush=True)
    return result


def _fmt(result: dict, key: str = "tokens_per_s", digits: int = 0) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    return f"{result[key]:.{digits}f}"


def _loads(results: list[dict]) -> str:
    values = [r[k] for r in results for k in ("load_before", "load_after")]
    return f"{min(values):.1f}-{max(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny-random only; no write")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-vllm", action="store_true", help="no vllm-cpu rows")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait below this load")
    parser.add_argument("--wait", type=float, default=300, help="most seconds to wait for it")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--repeats", type=int, default=3, help="timed generation calls")
    parser.add_argument("--gen-models", default=f"{TINY},{SMOLLM2}", help="comma-separated")
    parser.add_argument("--gen-dtypes", default="float32,bfloat16", help="comma-separated")
    parser.add_argument("--train-precisions", default="bf16,fp32", help="bf16 and/or fp32")
    parser.add_argument(
        "--allocators",
        default="tcmalloc,system",
        help="malloc of the workers, comma-separated: tcmalloc (what `hir` runs on where "
        "found; hir_core/allocator.py) and/or system (glibc). Generation runs every model on "
        "the first, and SmolLM2 bf16 on the others",
    )
    opts = parser.parse_args()
    from hir_core.allocator import find_tcmalloc

    specs = [TINY] if opts.quick else [TINY, SMOLLM2]
    allocators = opts.allocators.split(",")
    if "tcmalloc" in allocators and find_tcmalloc() is None:
        print("no tcmalloc found (`make install` fetches it): system allocator only")
        allocators = [a for a in allocators if a != "tcmalloc"] or ["system"]

    train_spec = specs[-1]
    train = {}
    precisions = [p == "bf16" for p in opts.train_precisions.split(",")]
    for allocator in [] if opts.skip_training else allocators:
        for bf16 in precisions:
            for impl in ("torch", "deepspeed"):
                args = ["train", train_spec, impl, str(bf16), str(opts.steps)]
                train[(allocator, impl, bf16)] = _run_worker(args, opts, allocator=allocator)
    if not opts.skip_training and "system" in allocators:
        # glibc's memory-bound setting: freed tensors returned to the OS (slower, smaller).
        args = ["train", train_spec, "deepspeed", "True", str(opts.steps), "True"]
        train["system-free-memory"] = _run_worker(args, opts, allocator="system")

    gen_rows = []
    gen_specs = [TINY] if opts.quick else opts.gen_models.split(",")
    for allocator in [] if opts.skip_generation else allocators:
        for spec in gen_specs:
            for dtype in opts.gen_dtypes.split(","):
                if allocator != allocators[0] and (spec, dtype) != (SMOLLM2, "bfloat16"):
                    continue
                gen_rows.append(_generation_row(spec, dtype, allocator, opts))

    section = _section(gen_rows, train, train_spec, opts)
    print(section)
    if not opts.quick and (gen_rows or train):
        _write_section(ROOT / "BENCHMARKS.md", section)
    print(_summary(gen_rows, train, allocators[0]))


def _summary(gen_rows: list[dict], train: dict, allocator: str) -> str:
    """The headline figures of issue 15, one line: the generation ratio of SmolLM2 bf16 (the
    last model measured in bf16 where SmolLM2 was not) and the engine's bf16 training rate."""
    bf16 = [r for r in gen_rows if r["dtype"] == "bfloat16" and "error" not in r["pair"]]
    preferred = [r for r in bf16 if r["model"] == SMOLLM2 and r["allocator"] == allocator]
    row = (preferred or bf16 or [None])[-1]
    ratio = f"{row['pair']['ratio_best']:.2f}" if row is not None else "n/a"
    run = train.get((allocator, "deepspeed", True), {"error": "not run"})
    rate = f"{run['tokens_per_s']:.0f}" if "error" not in run else "n/a"
    return f"generation ours/hf_generate: {ratio}, train tok/s: {rate}"


def _generation_row(spec: str, dtype: str, allocator: str, opts) -> dict:
    reps = str(opts.repeats)
    row = {"model": spec, "dtype": dtype, "allocator": allocator}
    pair = _run_worker(["generate_pair", spec, dtype, reps], opts, allocator=allocator)
    row["pair"] = pair
    for backend in ("hf_generate", "transformers"):
        row[backend] = pair[backend] if "error" not in pair else pair
    if dtype != "float32":
        row["vllm"] = {"error": "n/a (vllm-cpu runs float32 here)"}
    elif opts.skip_vllm:
        row["vllm"] = {"error": "not measured (--skip-vllm)"}
    elif VLLM_PYTHON.exists():
        # The vLLM venv lacks the model packages: give it the resolved folder.
        args = ["generate", _model_dir(spec), dtype, "vllm", reps]
        row["vllm"] = _run_worker(args, opts, python=str(VLLM_PYTHON), allocator=allocator)
    else:
        row["vllm"] = {"error": "no .venv-vllm (make test-vllm builds it)"}
    return row


def _section(gen_rows: list[dict], train: dict, train_spec: str, opts) -> str:
    lines = [
        SECTION,
        "",
        (
            "Command: `.venv/bin/python benchmarks/engines.py` (each measurement in a fresh "
            f"process; {platform.machine()}, {os.cpu_count()} cores shared with other work; "
            f"each waits up to {opts.wait:.0f} s for a 1-minute load average below "
            f"{opts.max_load}, and the load it ran under is shown). CPU only: no GPU was lent."
        ),
        "",
    ]
    if gen_rows:
        lines += [
            (
                f"Generation: {GEN_PROMPTS} prompts x n={GEN_N} = {GEN_PROMPTS * GEN_N} sequences "
                f"decoded together, up to {GEN_NEW_TOKENS} new tokens, temperature 1; generated "
                f"tokens/s, the best of {opts.repeats} calls. `hf_generate` (one plain batched "
                "`model.generate` call, the baseline) and `transformers` (our backend: the lean "
                "decoder of hir_core/engines/decoding.py, also returning log-probs and entropies) "
                "run in one process on one model, in interleaved repetitions after a warm-up "
                "each; `ours / baseline` is the ratio of the best calls, with the range of the "
                "per-repetition ratios in brackets. `same outputs`: lean decoder against the "
                "Hugging Face forward (`generation.decoder: hf`) on this workload: identical "
                "greedy sequences, identical sampled sequences (same seed) and the largest "
                "log-prob difference over those. `vllm`: vllm-cpu 0.32.0 from .venv-vllm, "
                "float32, including the teacher-forced entropy pass (sampling alone in brackets)."
            ),
            "",
            (
                "| model | dtype | malloc | threads | hf_generate tok/s | transformers backend "
                "tok/s | ours / baseline | same outputs | vllm-cpu tok/s | load |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in gen_rows:
            pair, vllm = row["pair"], row["vllm"]
            if "error" in pair:
                lines.append(
                    f"| {row['model']} | {row['dtype']} | {row['allocator']} | | "
                    f"error: {pair['error']} | | | | | {_loads([pair])} |"
                )
                continue
            base, ours = pair["hf_generate"], pair["transformers"]
            pairs = pair["ratio_pairs"]
            ratio = f"{pair['ratio_best']:.2f} ({min(pairs):.2f}-{max(pairs):.2f})"
            same = pair["same_outputs"]
            same_text = (
                f"greedy {same['greedy_identical']}, sampled {same['sampled_identical']}, "
                f"max diff {same['sampled_max_logprob_diff']:.1e}"
            )
            if "error" in vllm:
                vllm_text = vllm["error"]
            else:
                vllm_text = f"{_fmt(vllm)} ({_fmt(vllm, 'sampling_tokens_per_s')})"
            measured = [r for r in (pair, vllm) if "load_before" in r]
            lines.append(
                f"| {row['model']} | {row['dtype']} | {_ran_on(row['allocator'], measured)} "
                f"| {pair['threads']} | {_fmt(base)} | {_fmt(ours)} | {ratio} | {same_text} "
                f"| {vllm_text} | {_loads(measured)} |"
            )
        lines.append("")
    if train:
        lines += [
            (
                f"Training: `{train_spec}`, {TRAIN_ROWS} samples x {TRAIN_PROMPT + TRAIN_RESPONSE} "
                f"tokens ({TRAIN_PROMPT} prompt + {TRAIN_RESPONSE} response), one step = 2 "
                f"mini-batches (2 optimizer steps), micro-batches of {TRAIN_MICRO}, AdamW, clip "
                f"1.0; tokens/s of the best of {opts.steps} steps after a warm-up. `torch`: a plain "
                "loop doing the same work the way the engine did before issue 15 (autocast "
                "entered per micro-batch, so the weights are cast to bf16 per micro-batch; "
                "torch's default AdamW); `DeepSpeed`: `TrainingEngine.step` (ZeRO 0), with the "
                "pipeline's old and reference log-prob passes between steps (untimed, inside the "
                "peak). Peak RSS of the whole process. malloc: tcmalloc (what the `hir` command "
                "runs on, hir_core/allocator.py) or system (glibc)."
            ),
            "",
            (
                "| precision | malloc | plain torch tok/s | DeepSpeed tok/s | DeepSpeed / torch "
                "| peak RSS torch | peak RSS DeepSpeed | load |"
            ),
            "|---|---|---|---|---|---|---|---|",
        ]
        for allocator in dict.fromkeys(key[0] for key in train if isinstance(key, tuple)):
            for label, bf16 in (("fp32", False), ("bf16 autocast", True)):
                if (allocator, "torch", bf16) not in train:
                    continue
                torch_run = train[(allocator, "torch", bf16)]
                engine_run = train[(allocator, "deepspeed", bf16)]
                lines.append(_train_row(label, allocator, torch_run, engine_run))
        if "system-free-memory" in train:
            label = "bf16 autocast, `host_memory.return_freed_memory=true`"
            torch_run = train[("system", "torch", True)]
            lines.append(_train_row(label, "system", torch_run, train["system-free-memory"]))
    return "\n".join(lines) + "\n"


def _ran_on(allocator: str, runs: list[dict]) -> str:
    """The allocator asked for, flagged where a worker reports another (a preload refused)."""
    seen = {r["allocator"] for r in runs if "allocator" in r}
    return allocator if seen <= {allocator} else f"{allocator} (ran on {', '.join(sorted(seen))})"


def _train_row(label: str, allocator: str, torch_run: dict, engine_run: dict) -> str:
    """One training-table row: the plain loop against the engine."""
    t, d = torch_run, engine_run
    ok = "error" not in t and "error" not in d
    ratio = f"{d['tokens_per_s'] / t['tokens_per_s']:.2f}" if ok else "-"
    return (
        f"| {label} | {_ran_on(allocator, [t, d])} | {_fmt(t)} | {_fmt(d)} | {ratio} "
        f"| {_fmt(t, 'peak_rss_gib', 2)} GiB "
        f"| {_fmt(d, 'peak_rss_gib', 2)} GiB | {_loads([t, d])} |"
    )


def _write_section(path: Path, section: str) -> None:
    """Replace (or append) our section, leaving the others untouched; atomic."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def worker(out_path: str, kind: str, *args: str) -> None:
    works = {"generate": work_generate, "generate_pair": work_generate_pair, "train": work_train}
    result = works[kind](*args)
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(*sys.argv[2:])
    else:
        main()
