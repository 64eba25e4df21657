"""Fuzz every verifier of the three families with 10,000 hostile responses, timing each check.

The responses are drawn by hypothesis with a fixed seed (``derandomize``) from
``tests/_helpers_fuzz.responses`` (empty, huge, deep nesting, broken and huge JSON, every
Unicode category, control characters, regex-pathological runs, mixtures), plus its pinned
worst cases. Each response is checked against every registered type of every family,
strict and loose, one check at a time with the per-text caches cleared first (each check is
timed cold; models and parsed requirements stay loaded, as in a run). The kwargs of a type
rotate over its cases (sampled and from the benchmark data) from one response to the next.

Reported per family and per type: checks, checker errors (documented decisions apart),
the worst and the 99th-percentile time of one check, and how many took over 50 ms; for all
responses and for those a configured run can produce (up to 16,000 characters, ~4K tokens;
the paper config stops at 2,048 tokens). Times are CPU seconds of the checking thread
(``time.thread_time``: on a shared machine wall time also counts other processes); the
worst wall time is printed beside. Verdicts are then checked for determinism: every
response again with all of a family's constraints in one call (warm caches), and the first
``--subprocess`` responses in a fresh Python process.

    .venv/bin/python benchmarks/fuzz_verifiers.py                    # 10,000 responses
    .venv/bin/python benchmarks/fuzz_verifiers.py --responses 500    # a quick look

Results: ``benchmarks/results/fuzz_verifiers.json`` (per type) and ``.md`` (the tables
that BENCHMARKS.md, Reliability, quotes).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the harness lives with the tests

import _helpers_fuzz as fuzz
from hypothesis import HealthCheck, given, settings

from hir_core import constraints

RESULTS = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python benchmarks/fuzz_verifiers.py"


def draw(n: int, limit: int) -> list[str]:
    """``n`` responses from the harness's strategy (fixed seed), then the pinned ones."""
    drawn: list[str] = []

    @settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=n,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz.responses(limit))
    def collect(response):
        drawn.append(response)

    collect()
    return drawn[:n] + fuzz.pinned_responses(limit)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def warm_up(cases: dict[str, tuple]) -> None:
    """Load every model a checker loads lazily (tokenizers, language profiles, tables), so
    that no timed check pays a one-off load."""
    for response in [*fuzz.pinned_responses(2_000), "Hello THERE. A test, in English!\n\n* x"]:
        for family_cases in cases.values():
            fuzz.check_all(response, family_cases)


def child_digest(responses: list[str], per_type: int) -> dict:
    path = RESULTS / ".fuzz_responses.json"
    path.write_text(json.dumps([[ord(c) for c in r] for r in responses]))
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "import _helpers_fuzz as fuzz\n"
        f"rs = [''.join(map(chr, r)) for r in json.load(open({str(path)!r}))]\n"
        "out = {}\n"
        "for family in ('ifeval', 'ifbench', 'muldimif'):\n"
        f"    cases = fuzz.cases(family, per_type={per_type})\n"
        "    out[family] = fuzz.verdict_digest((r, cases) for r in rs)\n"
        "print(json.dumps(out))\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
    finally:
        path.unlink(missing_ok=True)
    return json.loads(proc.stdout.splitlines()[-1])


def run(args) -> dict:
    start = time.time()
    responses = draw(args.responses, args.limit)
    drawn_s = time.time() - start
    cases = {f: fuzz.cases(f, per_type=args.per_type) for f in constraints.FAMILIES}
    by_type = {
        f: {cid: [c for c in cases[f] if c.cid == cid] for cid in constraints.ids(f)}
        for f in constraints.FAMILIES
    }
    warm_up(cases)
    # (family, id) -> list of (cpu, wall, realistic); errors by (id, kind) -> count, example
    times: dict[tuple[str, str], list[tuple[float, float, bool]]] = collections.defaultdict(list)
    errors: dict[tuple[str, str], list] = {}
    worst: dict[str, tuple] = {}
    nondeterministic: list[tuple[str, int]] = []
    for index, response in enumerate(responses):
        realistic = len(response) <= fuzz.REALISTIC_CHARS
        for family in constraints.FAMILIES:
            chosen = tuple(c[index % len(c)] for c in by_type[family].values())
            checked = fuzz.check_all(response, chosen, timed=True)
            for cid, _mode, wall, cpu in checked.seconds:
                times[(family, cid)].append((cpu, wall, realistic))
                if cpu > worst.get(family, (0.0,))[0]:
                    worst[family] = (cpu, wall, cid, fuzz.shape(response))
            for cid, error in checked.errors:
                kind = fuzz.error_kind(cid, error)
                entry = errors.setdefault(kind, [0, fuzz.shape(response), error[:200]])
                entry[0] += 1
            batch = [c.constraint() for c in chosen]
            for loose, expected in ((False, checked.strict), (True, checked.loose)):
                again = constraints.verify_detailed(response, batch, loose=loose).verdicts
                if again != expected:
                    nondeterministic.append((family, index))
        if args.progress and (index + 1) % 500 == 0:
            print(
                f"{index + 1}/{len(responses)} responses, {time.time() - start:.0f} s", flush=True
            )

    sample = responses[: args.subprocess]
    theirs = child_digest(sample, args.per_type) if sample else {}
    subprocess_mismatch = []
    for family, digest in theirs.items():
        ours = fuzz.verdict_digest((r, cases[family]) for r in sample)
        subprocess_mismatch += [(family, i) for i, (a, b) in enumerate(zip(ours, digest)) if a != b]

    families = {}
    for family in constraints.FAMILIES:
        rows = [t for (f, _), ts in times.items() if f == family for t in ts]
        real = [t for t in rows if t[2]]
        families[family] = {
            "types": len(constraints.ids(family)),
            "checks": len(rows),
            "worst_cpu_s": max(t[0] for t in rows),
            "worst_wall_s": max(t[1] for t in rows),
            "worst": worst.get(family),
            "p99_cpu_s": percentile([t[0] for t in rows], 0.99),
            "over_target": sum(t[0] > fuzz.TARGET_S for t in rows),
            "realistic_checks": len(real),
            "realistic_worst_cpu_s": max(t[0] for t in real),
            "realistic_p99_cpu_s": percentile([t[0] for t in real], 0.99),
            "realistic_over_target": sum(t[0] > fuzz.TARGET_S for t in real),
        }
    per_type = {
        f"{family}|{cid}": {
            "checks": len(ts),
            "worst_cpu_s": max(t[0] for t in ts),
            "p99_cpu_s": percentile([t[0] for t in ts], 0.99),
            "over_target": sum(t[0] > fuzz.TARGET_S for t in ts),
            "realistic_worst_cpu_s": max((t[0] for t in ts if t[2]), default=float("nan")),
        }
        for (family, cid), ts in sorted(times.items())
    }
    return {
        "responses": len(responses),
        "limit_chars": args.limit,
        "realistic_chars": fuzz.REALISTIC_CHARS,
        "responses_over_realistic": sum(len(r) > fuzz.REALISTIC_CHARS for r in responses),
        "per_type_cases": args.per_type,
        "draw_s": drawn_s,
        "total_s": time.time() - start,
        "families": families,
        "per_type": per_type,
        "errors": {
            f"{cid}|{kind}": {
                "count": n,
                "example": shape,
                "error": text,
                "documented": (cid, kind) in fuzz.DOCUMENTED_ERRORS,
            }
            for (cid, kind), (n, shape, text) in sorted(errors.items())
        },
        "nondeterministic": nondeterministic,
        "subprocess_checked": len(sample),
        "subprocess_mismatch": subprocess_mismatch,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg()[0],
    }


def markdown(result: dict) -> str:
    ms = 1000.0
    lines = [
        (
            f"{result['responses']:,} responses (up to {result['limit_chars']:,} characters; "
            f"{result['responses_over_realistic']:,} over {result['realistic_chars']:,}) x "
            "every type x strict and loose, each check cold; CPU ms of one check."
        ),
        "",
        (
            "| family | types | checks | checker errors | worst ms | p99 ms | over 50 ms "
            f"| worst ms, <= {result['realistic_chars'] // 1000}K chars | p99 ms, same "
            "| over 50 ms, same |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family, f in result["families"].items():
        errors = sum(
            e["count"] for k, e in result["errors"].items() if k.split("|")[0] in _ids(family)
        )
        lines.append(
            f"| {family} | {f['types']} | {f['checks']:,} | {errors:,} | "
            f"{f['worst_cpu_s'] * ms:.1f} | {f['p99_cpu_s'] * ms:.2f} | {f['over_target']:,} | "
            f"{f['realistic_worst_cpu_s'] * ms:.1f} | {f['realistic_p99_cpu_s'] * ms:.2f} | "
            f"{f['realistic_over_target']:,} |"
        )
    lines += ["", "Worst check per family (CPU ms, wall ms, type, response):", ""]
    for family, f in result["families"].items():
        cpu, wall, cid, shape = f["worst"]
        lines.append(f"- {family}: {cpu * ms:.1f} / {wall * ms:.1f}, `{cid}`, {shape}")
    slow = {k: v for k, v in result["per_type"].items() if v["over_target"]}
    lines += ["", f"Types with a check over 50 ms: {len(slow)}", ""]
    for key, v in sorted(slow.items(), key=lambda kv: -kv[1]["worst_cpu_s"]):
        family, cid = key.split("|")
        lines.append(
            f"- `{cid}` ({family}): {v['over_target']} of {v['checks']:,} checks, worst "
            f"{v['worst_cpu_s'] * ms:.0f} ms, p99 {v['p99_cpu_s'] * ms:.2f} ms, worst on "
            f"<= {result['realistic_chars'] // 1000}K chars {v['realistic_worst_cpu_s'] * ms:.1f} ms"
        )
    lines += ["", "Checker errors (caught by verify_detailed: verdict False, error recorded):", ""]
    for key, e in result["errors"].items():
        state = "documented" if e["documented"] else "UNDOCUMENTED"
        lines.append(f"- `{key}`: {e['count']:,} ({state}); e.g. {e['example']}")
    if not result["errors"]:
        lines.append("- none")
    lines += [
        "",
        (
            f"Determinism: {len(result['nondeterministic'])} responses whose verdicts changed "
            f"on a second call; {len(result['subprocess_mismatch'])} of "
            f"{result['subprocess_checked']} differing in a fresh process."
        ),
        (
            f"Took {result['total_s'] / 60:.1f} min ({result['machine']}, load average "
            f"{result['load_average']:.1f}). Command: `{COMMAND}`"
        ),
    ]
    return "\n".join(lines) + "\n"


def _ids(family: str) -> set[str]:
    return set(constraints.ids(family))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=fuzz.HUGE_CHARS, help="most characters")
    parser.add_argument("--per-type", type=int, default=3, help="sampled + data kwargs per type")
    parser.add_argument("--subprocess", type=int, default=300, help="responses re-run fresh")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    result = run(args)
    text = markdown(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fuzz_verifiers.json").write_text(json.dumps(result, indent=1) + "\n")
        (RESULTS / "fuzz_verifiers.md").write_text(text)


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
