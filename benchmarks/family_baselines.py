"""IFBench and MulDimIF baselines: a model as shipped, greedy, scored by hir_core as `hir eval` scores.

    .venv/bin/python benchmarks/family_baselines.py             # SmolLM2-135M-Instruct, recorded
    .venv/bin/python benchmarks/family_baselines.py --generate  # generate them again (GPU: ~2 min)
    .venv/bin/python benchmarks/family_baselines.py --generate --model tiny-random --limit 4 \\
        --max-new-tokens 8 --out /tmp/smoke                          # smoke run (seconds)

Default mode: the SmolLM2-135M-Instruct responses committed as ``tests/fixtures/
ifbench_smollm2.jsonl`` (rows with ``"mode": "greedy"``) and ``tests/fixtures/
muldimif_smollm2.jsonl`` (how they were made: ``tests/fixtures/make_family_smollm2.py``:
greedy, 512 new tokens, fp32 weights under bf16 autocast, on an H200 GPU, because the same on
this project's 2-core CPU takes about 80 minutes) are scored with this project's verifiers
through ``hir_core.evaluation.score_responses``, the code ``hir eval`` runs after generating
(``evaluate`` = generate + ``score_responses``), so the outputs are the same in form as an
``hir eval`` of the model. ``--generate`` runs the generation itself, with the project's
generator (``TransformersGenerator`` via ``hir_core.evaluation.evaluate``), on ``--device``.

Writes, under ``--out`` (default benchmarks/results/), for each benchmark B in ifbench, muldimif:
- ``B_<model>.parquet``: the EVAL table (every prompt, response, strict and loose verdicts;
  MulDimIF has no loose mode, its loose verdicts are the strict ones);
- ``B_<model>.json``: settings, where the responses came from, metrics (those of ``hir eval``);
- ``B_<model>.md``: the tables pasted into BENCHMARKS.md, "## IFBench and MulDimIF baselines";
and ``baselines_<model>.md``: the headline table of IFEval (from ``ifeval_<model>.json`` of
``benchmarks/ifeval_baseline.py``, when there), IFBench and MulDimIF.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hir_core.evaluation import (
    Response,
    breakdown_rows,
    eval_generation_config,
    evaluate,
    load_benchmark,
    score_responses,
)
from hir_core.storage import write_table

RESULTS = ROOT / "benchmarks" / "results"
FIXTURES = ROOT / "tests" / "fixtures"
BENCHMARKS = ("ifbench", "muldimif")
SHIPPED_MODEL = "smollm2-135m-instruct"

# How the committed responses were made (tests/fixtures/make_family_smollm2.py, its docstring).
RECORDED = {
    "ifbench": FIXTURES / "ifbench_smollm2.jsonl",
    "muldimif": FIXTURES / "muldimif_smollm2.jsonl",
}
RECORDED_SETTINGS = {
    "model": SHIPPED_MODEL,
    "temperature": 0.0,
    "max_new_tokens": 512,
    "batch_size": 96,
    "bf16_autocast": True,
    "machine": "NVIDIA H200 GPU (torch 2.11, transformers 5.17), 4 Dec 2026",
    "generator": "tests/fixtures/make_family_smollm2.py (transformers generate, left padding)",
}


def recorded_responses(benchmark: str, prompts, limit: int | None) -> list[list[Response]]:
    """The committed greedy responses, in the order of ``prompts``; an IFBench response's
    prompt must be the loaded prompt, character for character."""
    rows = [json.loads(line) for line in RECORDED[benchmark].read_text("utf-8").splitlines()]
    rows = [r for r in rows if r.get("mode", "greedy") == "greedy"]
    field = "key" if benchmark == "ifbench" else "id"
    by_id = {f"{benchmark}-{r[field]}": r for r in rows}
    responses = []
    for prompt_id, prompt in zip(prompts["prompt_id"], prompts["prompt"]):
        row = by_id.get(prompt_id)
        if row is None:
            raise SystemExit(f"{RECORDED[benchmark]}: no response to {prompt_id}")
        if "prompt" in row and row["prompt"] != prompt:
            raise SystemExit(f"{RECORDED[benchmark]}: {prompt_id} answers another prompt text")
        responses.append([Response(row["response"], row["response_tokens"], row["finish_reason"])])
    if limit is None and len(responses) != len(rows):
        raise SystemExit(f"{RECORDED[benchmark]}: {len(rows)} responses, {len(responses)} prompts")
    return responses


def per_type_rows(metrics: dict) -> list[tuple[str, int, float, float]]:
    types = sorted(k.removeprefix("count/") for k in metrics if k.startswith("count/"))
    return [
        (t, int(metrics[f"count/{t}"]), metrics[f"type/{t}/strict"], metrics[f"type/{t}/loose"])
        for t in types
    ]


def _settings_line(report: dict) -> str:
    s, m = report["settings"], report["metrics"]
    at_limit = round(m["length_limit_fraction"] * m["n_responses"])
    return (
        f"Model `{s['model']}`, {s['n_prompts']} prompts, greedy, max {s['max_new_tokens']} new "
        f"tokens, batch {s['batch_size']}, bf16 autocast: {s['bf16_autocast']}; responses "
        f"{report['source']} on {s['machine']}. Responses that hit the {s['max_new_tokens']}-token "
        f"limit: {at_limit} of {int(m['n_responses'])} ({100 * m['length_limit_fraction']:.0f}%); "
        f"mean response length {m['mean_response_tokens']:.0f} tokens; checker errors: "
        f"{int(m['checker_errors'])}."
    )


def markdown(benchmark: str, report: dict) -> str:
    m = report["metrics"]
    lines = [_settings_line(report), ""]
    if benchmark == "muldimif":
        lines += [
            "| metric | score |",
            "|---|---|",
            f"| overall (all constraints of an item pass) | {100 * m['overall']:.1f} |",
            f"| macro (mean per-item fraction passed) | {100 * m['macro']:.1f} |",
            f"| micro (constraints passed) | {100 * m['micro']:.1f} |",
            "",
            (
                "By difficulty, constraint pattern and category (%; a category restricts each item "
                "to its constraints of that category):"
            ),
            "",
            "| group | items | constraints | overall | macro | micro |",
            "|---|---|---|---|---|---|",
        ]
        for group, items, constraints, overall, macro, micro in breakdown_rows(m):
            lines.append(
                f"| {group} | {items} | {constraints} | {100 * overall:.1f} | "
                f"{100 * macro:.1f} | {100 * micro:.1f} |"
            )
        lines += [
            "",
            "Per constraint key (instruction-level accuracy, %; no loose mode):",
            "",
            "| key | n | accuracy |",
            "|---|---|---|",
        ]
        for t, n, strict, _ in per_type_rows(m):
            lines.append(f"| `{t}` | {n} | {100 * strict:.1f} |")
    else:
        lines += ["| metric | strict | loose |", "|---|---|---|"]
        for label, level in (("prompt-level", "prompt_level"), ("instruction-level", "inst_level")):
            strict, loose = m[f"{level}_strict_acc"], m[f"{level}_loose_acc"]
            lines.append(f"| {label} accuracy | {100 * strict:.1f} | {100 * loose:.1f} |")
        lines += [
            "",
            "Per constraint type (instruction-level accuracy, %):",
            "",
            "| type | n | strict | loose |",
            "|---|---|---|---|",
        ]
        for t, n, strict, loose in per_type_rows(m):
            lines.append(f"| `{t}` | {n} | {100 * strict:.1f} | {100 * loose:.1f} |")
    return "\n".join(lines) + "\n"


def headline(reports: dict[str, dict]) -> str:
    """IFEval, IFBench and MulDimIF side by side (MulDimIF: overall = prompt level, micro =
    instruction level; no loose mode)."""
    lines = [
        (
            "| benchmark | prompts | at token limit | prompt-level strict | inst-level strict "
            "| prompt-level loose | inst-level loose | MulDimIF macro |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, report in reports.items():
        m = report["metrics"]
        loose = ("n/a", "n/a")
        if name != "muldimif":
            loose = tuple(
                f"{100 * m[k]:.1f}" for k in ("prompt_level_loose_acc", "inst_level_loose_acc")
            )
        macro = f"{100 * m['macro']:.1f}" if "macro" in m else ""
        lines.append(
            f"| {name} | {int(m['n_responses'])} | {100 * m['length_limit_fraction']:.0f}% "
            f"| {100 * m['prompt_level_strict_acc']:.1f} | {100 * m['inst_level_strict_acc']:.1f} "
            f"| {loose[0]} | {loose[1]} | {macro} |"
        )
    return "\n".join(lines) + "\n"


def _generate(args, benchmark: str, prompts, info) -> tuple:
    import torch

    from hir_core.engines.generation import make_generator
    from hir_core.models import ModelConfig, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model(ModelConfig(spec=args.model))
    model = model.to(args.device)
    cfg = eval_generation_config(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    generator = make_generator(cfg, model=model, tokenizer=tokenizer)
    device_type = torch.device(args.device).type
    bf16 = not args.no_bf16 and (device_type == "cuda" or _cpu_has_bf16())
    autocast = torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else nullcontext()
    start = time.perf_counter()
    with autocast:
        table, metrics = evaluate(generator, prompts, benchmark, info)
    machine = (
        torch.cuda.get_device_name(args.device)
        if device_type == "cuda"
        else f"{platform.machine()}, {torch.get_num_threads()} torch threads"
    )
    settings = {
        "model": args.model,
        "temperature": 0.0,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "bf16_autocast": bf16,
        "machine": machine,
        "generator": "hir_core TransformersGenerator (hir_core.evaluation.evaluate)",
    }
    return table, metrics, settings, time.perf_counter() - start


def _cpu_has_bf16() -> bool:
    """bf16 autocast on CPU is fast only with native bf16 (AVX512-BF16 / AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def run(args) -> dict[str, dict]:
    model = args.model if args.generate else SHIPPED_MODEL
    if not args.generate and args.model != SHIPPED_MODEL:
        raise SystemExit(f"recorded responses are {SHIPPED_MODEL}'s; --model needs --generate")
    name = model.replace("/", "_")
    args.out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, dict] = {}
    ifeval = args.out / f"ifeval_{name}.json"
    if not ifeval.is_file():
        ifeval = RESULTS / f"ifeval_{name}.json"
    if ifeval.is_file():
        reports["ifeval"] = json.loads(ifeval.read_text())
    for benchmark in args.benchmarks:
        prompts, info = load_benchmark(benchmark)
        if args.limit:
            prompts = prompts.head(args.limit)
        if args.generate:
            table, metrics, settings, seconds = _generate(args, benchmark, prompts, info)
            source = "generated by this script"
        else:
            start = time.perf_counter()
            responses = recorded_responses(benchmark, prompts, args.limit)
            table, metrics = score_responses(prompts, responses, benchmark, info)
            settings, seconds = dict(RECORDED_SETTINGS), None
            source = f"recorded in `{RECORDED[benchmark].relative_to(ROOT)}`, generated"
            scoring_seconds = time.perf_counter() - start
        settings["n_prompts"] = prompts.height
        report = {
            "benchmark": benchmark,
            "settings": settings,
            "source": source,
            "generation_seconds": seconds,
            "metrics": metrics,
        }
        if not args.generate:
            report["scoring_seconds"] = scoring_seconds
        write_table(table, args.out / f"{benchmark}_{name}.parquet", "eval")
        (args.out / f"{benchmark}_{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        (args.out / f"{benchmark}_{name}.md").write_text(markdown(benchmark, report))
        reports[benchmark] = report
    (args.out / f"baselines_{name}.md").write_text(headline(reports))
    return reports


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", action="store_true", help="generate, do not replay")
    parser.add_argument("--model", default=SHIPPED_MODEL, help="with --generate")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS), type=lambda s: s.split(","))
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only (smoke)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="default: cuda when there is one")
    parser.add_argument("--no-bf16", action="store_true", help="plain fp32 decoding")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on CPU")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    unknown = set(args.benchmarks) - set(BENCHMARKS)
    if unknown:
        parser.error(f"--benchmarks: unknown {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    if args.generate and args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    reports = run(args)
    for benchmark in args.benchmarks:
        print(f"## {benchmark}\n")
        print(markdown(benchmark, reports[benchmark]))
    print(headline(reports))
    return reports


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
