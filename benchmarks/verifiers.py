"""Constraint checks per second on one core: hir_core.constraints vs the IFEval reference scorer.

Workload: the 541 IFEval prompts (834 instructions) with the committed SmolLM2-135M-Instruct
responses, scored strict and loose. Every row is scored cold: all of our per-text caches are
cleared before each row (their clearing is timed separately and subtracted), so no text or
part of one benefits from an earlier row; within a row, the constraints and loose variants
share work as they do in use. Models are loaded before timing (a one-off cost, reported
separately). Times are CPU seconds of this process (``time.process_time``), pinned to one
core: on a shared machine, wall time also counts the time other processes hold the core.
The best of ``--passes`` passes is reported; the machine's load average is printed with it.

    .venv/bin/python benchmarks/verifiers.py            # print the table
    .venv/bin/python benchmarks/verifiers.py --append   # also write it to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the offline reference harness lives with the tests

import _reference_ifeval as reference

from hir_core import constraints
from hir_core.constraints import text

RESPONSES = ROOT / "tests" / "fixtures" / "ifeval_smollm2.jsonl"
BENCHMARKS = ROOT / "BENCHMARKS.md"
SECTION = "## Verifiers"
COMMAND = ".venv/bin/python benchmarks/verifiers.py --append"
# A recorded measurement, for comparison: this script run on the code before the speed work
# of 2026-11-23 (commit 7af0f68), on this machine, minutes apart from the table's run.
BEFORE = (
    "Before the speed work (commit 7af0f68's verifiers, this script, same machine, load "
    "average 5.6): strict 13,297, loose 5,514 checks/s CPU (6,916 and 2,793 wall). This "
    "section's previous figures (4,837 strict, 2,806 loose) were wall time of a single pass "
    "with caches cleared once per pass, on a loaded machine."
)


def load_workload(path: Path) -> list[tuple[dict, str]]:
    if not path.exists():
        raise SystemExit(f"{path}: missing; see tests/fixtures/make_ifeval_smollm2.py")
    responses = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                responses[record["key"]] = record["response"]
            except (ValueError, KeyError) as error:
                raise SystemExit(f"{path}: line {number}: {error}") from None
    return [(row, responses[row["key"]]) for row in reference.ifeval_rows()]


def clear_caches() -> None:
    text.clear_caches()


def _no_scoring(prompt, response, pairs, loose) -> None:
    pass


def _ours(prompt, response, pairs, loose) -> None:
    constraints.verify(response, pairs, prompt, loose=loose)


def _reference(prompt, response, pairs, loose) -> None:
    reference.score(prompt, response, pairs, loose=loose)


def time_pass(workload, score: Callable, loose: bool, clear: bool) -> tuple[float, float]:
    """CPU and wall seconds for one pass over the workload (caches cleared before each row
    when ``clear``)."""
    rows = [(row["prompt"], response, reference.constraints_of(row)) for row, response in workload]
    cpu, wall = time.process_time(), time.perf_counter()
    for prompt, response, pairs in rows:
        if clear:
            clear_caches()
        score(prompt, response, pairs, loose)
    return time.process_time() - cpu, time.perf_counter() - wall


def best_time(workload, score: Callable, loose: bool, passes: int) -> tuple[float, float]:
    """Least CPU and least wall seconds over the passes, less the cache clearing (ours)."""
    ours = score is _ours
    clearing = [time_pass(workload, _no_scoring, loose, True) for _ in range(passes if ours else 0)]
    scoring = [time_pass(workload, score, loose, ours) for _ in range(passes)]
    return tuple(
        min(t[i] for t in scoring) - (min(t[i] for t in clearing) if ours else 0.0) for i in (0, 1)
    )


def time_per_type(workload, passes: int) -> dict[str, tuple[int, float]]:
    """Strict checks of ours, timed one by one, each row cold: type -> (checks, seconds).
    Wall time per check (CPU clocks cost too much per call for microsecond checks), the
    least over the passes."""
    best: dict[tuple[int, int], float] = {}
    for _ in range(passes):
        for index, (row, response) in enumerate(workload):
            clear_caches()
            for position, pair in enumerate(reference.constraints_of(row)):
                ctype = constraints.get(pair["id"])
                kwargs = ctype.bind_prompt(ctype.validate(pair["kwargs"]), row["prompt"])
                start = time.perf_counter()
                ctype.check_validated(response, kwargs)
                elapsed = time.perf_counter() - start
                key = (index, position)
                best[key] = min(best.get(key, elapsed), elapsed)
    timings: dict[str, list] = {}
    for (index, position), seconds in best.items():
        entry = timings.setdefault(workload[index][0]["instruction_id_list"][position], [0, 0.0])
        entry[0] += 1
        entry[1] += seconds
    return {cid: (n, seconds) for cid, (n, seconds) in timings.items()}


def language_work(workload) -> dict[str, float]:
    """How much langdetect work the language checks take: detections per check, strict and
    loose, trials per detection, blocks of five draws per trial (counted by wrapping the
    detector's methods for one untimed pass per mode)."""
    detector = text._language_detector()
    counts: dict[str, int] = {"detections": 0, "trials": 0, "blocks": 0}
    trial, detect = detector._trial, detector.detect_occurrences

    def counted_trial(draws, first, weight):
        result = trial(draws, first, weight)
        counts["trials"] += 1
        counts["blocks"] += (result[1] - 1) // 5 + 1
        return result

    def counted_detect(occurrences):
        counts["detections"] += 1
        return detect(occurrences)

    detector._trial, detector.detect_occurrences = counted_trial, counted_detect
    work = {}
    try:
        for loose in (False, True):
            counts.update(detections=0, trials=0, blocks=0)
            checks = 0
            for row, response in workload:
                clear_caches()
                pairs = [
                    pair
                    for pair in reference.constraints_of(row)
                    if pair["id"] == "language:response_language"
                ]
                checks += len(pairs)
                constraints.verify(response, pairs, row["prompt"], loose=loose)
            mode = "loose" if loose else "strict"
            work[f"{mode} detections per check"] = counts["detections"] / checks
            if not loose:
                work["trials per detection"] = counts["trials"] / counts["detections"]
                work["blocks per trial"] = counts["blocks"] / counts["trials"]
    finally:
        del detector._trial, detector.detect_occurrences
    return work


def warm_up() -> dict[str, float]:
    """Load every model once (Punkt, Treebank, langdetect profiles) for both scorers."""
    sample = "Dr. Smith went home. He was TIRED."
    start = time.perf_counter()
    text.count_sentences(sample)
    text.count_all_capital_words(sample + " I'm U.S. based.")  # one that needs the tokenizer
    text.detect_language(sample)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    reference.score(
        "p",
        sample,
        [
            {
                "id": "change_case:capital_word_frequency",
                "kwargs": {"capital_frequency": 1, "capital_relation": "at least"},
            },
            {"id": "language:response_language", "kwargs": {"language": "en"}},
            {
                "id": "length_constraints:number_sentences",
                "kwargs": {"num_sentences": 1, "relation": "at least"},
            },
        ],
    )
    return {"ours": ours, "reference": time.perf_counter() - start}


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run(path: Path, passes: int) -> str:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    workload = load_workload(path)
    checks = sum(len(row["instruction_id_list"]) for row, _ in workload)
    chars = sum(len(response) for _, response in workload)
    load = warm_up()
    load_before = os.getloadavg()[0]
    rates = []
    for loose in (False, True):
        ours = best_time(workload, _ours, loose, passes)
        ref = best_time(workload, _reference, loose, passes)
        rates.append((loose, ours, ref))
    per_type = time_per_type(workload, passes)
    work = language_work(workload)
    load_after = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        f"Command: `{COMMAND}`",
        "",
        (
            f"Workload: {len(workload)} IFEval prompts, {checks} constraint checks per pass, "
            f"responses from `{_shown(path)}` (mean {chars / len(workload):.0f} characters). "
            "One core, every row from cold caches (all per-text caches cleared before each "
            f"row), CPU time of the process, best of {passes} passes. "
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs "
            f"(1-minute load average {load_before:.1f} before, {load_after:.1f} after), "
            f"Python {platform.python_version()}."
        ),
        "",
        "| mode | ours (checks/s) | reference (checks/s) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for loose, ours, ref in rates:
        lines.append(
            f"| {'loose' if loose else 'strict'} | {checks / ours[0]:,.0f} | "
            f"{checks / ref[0]:,.0f} | {ref[0] / ours[0]:.1f}x |"
        )
    walls = ", ".join(
        f"{'loose' if loose else 'strict'} ours {checks / ours[1]:,.0f}, reference "
        f"{checks / ref[1]:,.0f}"
        for loose, ours, ref in rates
    )
    lines += [
        "",
        (
            "The same passes in wall-clock time (least of the passes; includes waiting for "
            f"the shared CPUs): {walls} checks/s."
        ),
        "",
        (
            "Target of issue 2, over 20,000 checks/s on one core: strict "
            f"{checks / rates[0][1][0]:,.0f} checks per CPU-second of one core "
            f"({'met' if checks / rates[0][1][0] > 20_000 else 'not met'}); in wall time "
            "that holds when the core is not shared (here other jobs kept the load at "
            f"{max(load_before, load_after):.1f} on {os.cpu_count()} CPUs, and this process "
            f"got {rates[0][1][0] / rates[0][1][1]:.0%} of its core during the strict passes)."
        ),
        "",
        BEFORE,
    ]
    lines += [
        "",
        (
            "What bounds the rate: language detection, which reproduces langdetect exactly "
            "(`hir_core.constraints.langid`; answers and probabilities identical, tested). "
            "langdetect's procedure is a chain: each trial multiplies 55 per-language "
            "probabilities draw by draw and normalises and tests convergence every fifth draw, "
            "and each block of five needs the previous block's normalised result to the last "
            f"bit. On this workload a detection runs {work['trials per detection']:.2f} trials "
            "(7, cut to 4 when the first 4 agree, since 3 more cannot change the answer) of "
            f"{work['blocks per trial']:.1f} blocks; a block is a few numpy calls on a "
            "55-vector, a few microseconds of call overhead rather than arithmetic, so the "
            "trials cost about 250 µs per text and extracting and looking up the n-grams "
            "50-100 µs more. Sentence counts (Punkt, `punkt_spans`) and all-capital words "
            "(counted from whitespace chunks where the tokenizer's cuts cannot matter) take "
            "tens of microseconds; the other 22 types a few. Loose mode re-checks a failing "
            "constraint on up to 8 variants of the response: a failing language check "
            "detects every variant whose n-grams differ "
            f"({work['loose detections per check']:.2f} detections per language check loose, "
            f"{work['strict detections per check']:.2f} strict), which is what keeps loose "
            "below strict. Shared across variants: lines (capital words), Punkt decisions, "
            "detections of identical n-gram sequences."
        ),
    ]
    total = sum(seconds for _, seconds in per_type.values())
    lines += [
        "",
        "Where our strict time goes (each check timed alone, wall time, least of the passes):",
        "",
        "| type | checks | µs/check | share of time |",
        "|---|---:|---:|---:|",
    ]
    for cid, (n, seconds) in sorted(per_type.items(), key=lambda item: -item[1][1]):
        lines.append(f"| {cid} | {n} | {seconds / n * 1e6:,.0f} | {seconds / total:.0%} |")
    lines += [
        "",
        (
            f"Model loading, once per process (not in the rates): ours {load['ours']:.2f} s, "
            f"reference {load['reference']:.2f} s."
        ),
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace (or add) this benchmark's section of BENCHMARKS.md, leaving the others alone."""
    current = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    start = current.find(f"\n{SECTION}\n")
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + section
    else:
        end = current.find("\n## ", start + 1)
        tail = "" if end == -1 else current[end:]
        updated = current[: start + 1] + section + tail
    BENCHMARKS.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=Path, default=RESPONSES)
    parser.add_argument("--append", action="store_true", help="write the section to BENCHMARKS.md")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per scorer and mode")
    args = parser.parse_args()
    section = run(args.responses, args.passes)
    print(section)
    if args.append:
        write_section(section)


if __name__ == "__main__":
    main()
