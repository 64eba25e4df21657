"""IFEval baseline: a model as shipped on all 541 IFEval prompts, greedy, scored by hir_core.

    nice -n 10 .venv/bin/python benchmarks/ifeval_baseline.py            # SmolLM2-135M-Instruct
    .venv/bin/python benchmarks/ifeval_baseline.py --model tiny-random --limit 8 --max-new-tokens 16
                                                                          # smoke run (seconds)

Writes, under benchmarks/results/:
- ``ifeval_<model>.parquet``: the EVAL table (every prompt, response, strict and loose verdicts);
- ``ifeval_<model>.json``: settings, timings, metrics, and the metrics the same responses get
  when cut to fewer tokens (``--cut``). Greedy decoding is prefix-consistent: the first k
  tokens of a greedy response are the greedy response under a k-token limit, so one run also
  tells what a smaller limit would have scored (up to bf16 batch numerics);
- ``ifeval_<model>.md``: the tables pasted into BENCHMARKS.md, "## IFEval baseline".

Settings: greedy (temperature 0), one sample, chat template with the prompt as the only user
message (no system prompt), bf16 autocast on CPU where the hardware supports it (fp32 weights),
prompts batched by length. Token limit 512 by default, not IFEval practice's 1024-1280: the
KV-cache decoding loop's cost grows with the square of the length, and 1024 tokens for 541
prompts takes hours on a shared 2-core CPU. The report says how many responses hit the limit.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hir_core.engines.generation import Generator, Messages, Sample, make_generator
from hir_core.evaluation import (
    eval_frame,
    eval_generation_config,
    eval_metrics,
    evaluate,
    ifeval_prompts,
    score_response,
)
from hir_core.models import ModelConfig, load_model
from hir_core.storage import write_table

RESULTS = ROOT / "benchmarks" / "results"


class RecordingGenerator:
    """The wrapped generator, keeping its samples (token ids, finish reasons) for the report."""

    def __init__(self, inner: Generator):
        self.inner = inner
        self.samples: list[list[Sample]] = []
        self.seconds = 0.0

    def generate(self, prompts: Sequence[Messages]) -> list[list[Sample]]:
        start = time.perf_counter()
        self.samples = self.inner.generate(prompts)
        self.seconds = time.perf_counter() - start
        return self.samples


def bf16_autocast_supported() -> bool:
    """bf16 autocast on CPU is fast only with native bf16 (AVX512-BF16 / AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cut_metrics(prompts, samples: list[list[Sample]], tokenizer, limit: int) -> dict:
    """Metrics of the responses cut to their first ``limit`` tokens (see module docstring)."""
    records, cut = [], 0
    rows = prompts.to_dicts()
    for row, group in zip(rows, _in_prompt_order(prompts, samples)):
        sample = group[0]
        ids = sample.response_token_ids[:limit]
        cut += len(sample.response_token_ids) > limit or sample.finish_reason == "length"
        response = tokenizer.decode(ids, skip_special_tokens=True)
        records.append(score_response(row, response, "ifeval")[0])
    metrics = eval_metrics(eval_frame(records))
    metrics["length_limit_fraction"] = cut / len(records)
    return metrics


def _in_prompt_order(prompts, samples: list[list[Sample]]) -> list[list[Sample]]:
    # evaluate() sends prompts sorted by length; restore table order the same way it does.
    texts = prompts["prompt"].to_list()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    restored: list[list[Sample]] = [[] for _ in texts]
    for position, group in zip(order, samples):
        restored[position] = group
    return restored


def per_type_rows(metrics: dict) -> list[tuple[str, int, float, float]]:
    types = sorted(k.removeprefix("count/") for k in metrics if k.startswith("count/"))
    return [
        (t, int(metrics[f"count/{t}"]), metrics[f"type/{t}/strict"], metrics[f"type/{t}/loose"])
        for t in types
    ]


def _cut_row(limit: int | str, m: dict) -> str:
    order = ("prompt_level_strict_acc", "inst_level_strict_acc")
    order += ("prompt_level_loose_acc", "inst_level_loose_acc")
    cells = " | ".join(f"{100 * m[k]:.1f}" for k in order)
    return f"| {limit} | {100 * m['length_limit_fraction']:.0f}% | {cells} |"


def markdown(report: dict) -> str:
    m = report["metrics"]
    s = report["settings"]
    header = (
        f"Model `{s['model']}`, {s['n_prompts']} prompts, greedy, max {s['max_new_tokens']} new "
        f"tokens, batch {s['batch_size']}, bf16 autocast: {s['bf16_autocast']}. "
        f"Generation {report['generation_seconds'] / 60:.1f} min on {s['machine']}; "
        f"peak RSS {report['peak_rss_gib']:.1f} GiB."
    )
    at_limit = round(m["length_limit_fraction"] * s["n_prompts"])
    lengths = (
        f"Responses that hit the {s['max_new_tokens']}-token limit: {at_limit} of "
        f"{s['n_prompts']} ({100 * m['length_limit_fraction']:.0f}%); mean response length "
        f"{m['mean_response_tokens']:.0f} tokens; checker errors: {int(m['checker_errors'])}."
    )
    lines = [header, "", "| metric | strict | loose |", "|---|---|---|"]
    for label, level in (("prompt-level", "prompt_level"), ("instruction-level", "inst_level")):
        strict, loose = m[f"{level}_strict_acc"], m[f"{level}_loose_acc"]
        lines.append(f"| {label} accuracy | {100 * strict:.1f} | {100 * loose:.1f} |")
    means = [
        50 * (m[f"prompt_level_{k}_acc"] + m[f"inst_level_{k}_acc"]) for k in ("strict", "loose")
    ]
    lines += [f"| mean of the two | {means[0]:.1f} | {means[1]:.1f} |", "", lengths, ""]
    if report["cuts"]:
        lines += [
            "The same responses cut to fewer tokens (= greedy under that limit):",
            "",
            "| max new tokens | at limit | prompt strict | inst strict | prompt loose | inst loose |",
            "|---|---|---|---|---|---|",
        ]
        for limit, c in sorted(report["cuts"].items(), key=lambda kv: int(kv[0])):
            lines.append(_cut_row(limit, c))
        lines.append(_cut_row(s["max_new_tokens"], m))
        lines.append("")
    lines += [
        "Per constraint type (instruction-level accuracy, %):",
        "",
        "| type | n | strict | loose |",
        "|---|---|---|---|",
    ]
    for t, n, strict, loose in per_type_rows(m):
        lines.append(f"| `{t}` | {n} | {100 * strict:.1f} | {100 * loose:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", default=None, help="IFEval-format JSONL (default: the 541)")
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only (smoke)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cut", default="128,256", help="also score responses cut to these")
    parser.add_argument("--no-bf16", action="store_true", help="plain fp32 decoding")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's). On an oversubscribed CPU use 1: OpenMP "
        "barriers between descheduled threads made decoding ~8x slower here",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    prompts = ifeval_prompts(args.data)
    if args.limit:
        prompts = prompts.head(args.limit)
    model, tokenizer = load_model(ModelConfig(spec=args.model))
    cfg = eval_generation_config(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    generator = RecordingGenerator(make_generator(cfg, model=model, tokenizer=tokenizer))
    bf16 = not args.no_bf16 and bf16_autocast_supported()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with autocast:
        table, metrics = evaluate(generator, prompts, "ifeval")
    cuts = {
        str(limit): cut_metrics(prompts, generator.samples, tokenizer, limit)
        for limit in (int(x) for x in args.cut.split(",") if x)
        if limit < args.max_new_tokens
    }
    name = args.model.replace("/", "_")
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(table, args.out / f"ifeval_{name}.parquet", "eval")
    report = {
        "settings": {
            "model": args.model,
            "n_prompts": prompts.height,
            "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size,
            "temperature": 0.0,
            "bf16_autocast": bf16,
            "torch_threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        },
        "generation_seconds": generator.seconds,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "metrics": metrics,
        "cuts": cuts,
    }
    (args.out / f"ifeval_{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (args.out / f"ifeval_{name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
