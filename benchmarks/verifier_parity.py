"""Agreement of hir_core.constraints with the reference scorers, per instruction type.

IFEval (the default): scores the two sets of tests/test_constraints_parity.py with both
scorers, strict and loose: the 541 IFEval prompts with the committed SmolLM2-135M-Instruct
responses, and the hand-written adversarial responses against IFEval rows covering every
type. IFBench and MulDimIF: the two sets of tests/test_family_parity.py
(``tests/_helpers_families.py``): the SmolLM2 fixture (600 IFBench responses, greedy and
sampled; 1,200 MulDimIF responses) and the union of the family modules' adversarial sets,
strict and loose (MulDimIF: strict only, it has no loose mode). Prints a markdown report per
family: per-type (IFBench) or per-key (MulDimIF) agreement, totals, and every disagreement
with its explanation.

    .venv/bin/python benchmarks/verifier_parity.py                   # IFEval report
    .venv/bin/python benchmarks/verifier_parity.py --family ifbench  # or muldimif, or all
    .venv/bin/python benchmarks/verifier_parity.py --out FILE        # also write it to FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the reference harness and the parity helpers
sys.path.append(str(ROOT))  # one family test module imports ``tests._reference_runners``

import _helpers_families as families
from _helpers_constraints import (
    Comparison,
    adversarial_pairs,
    compare,
    explained,
    smollm2_pairs,
)

from hir_core import constraints

COMMAND = ".venv/bin/python benchmarks/verifier_parity.py"
MODES = ("strict", "loose")
FAMILIES = ("ifeval", "ifbench", "muldimif")
LABELS = {"ifeval": "IFEval", "ifbench": "IFBench", "muldimif": "MulDimIF"}


def _cell(result: Comparison, mode: str, cid: str) -> str:
    total = result.total[mode, cid]
    if not total:
        return "-"
    agreed = result.agree[mode, cid]
    return f"{agreed}/{total}" if agreed == total else f"**{agreed}/{total}**"


def _totals(result: Comparison, mode: str) -> tuple[int, int]:
    agreed = sum(n for (m, _), n in result.agree.items() if m == mode)
    counted = sum(n for (m, _), n in result.total.items() if m == mode)
    return agreed, counted


def report(results: dict[str, Comparison]) -> str:
    names = list(results)
    header = " | ".join(f"{name} {mode}" for name in names for mode in MODES)
    lines = [
        "Per-type agreement (instruction verdicts equal to the reference's / verdicts):",
        "",
        f"| type | {header} |",
        "|---|" + "---:|" * (len(names) * len(MODES)),
    ]
    for cid in constraints.ids("ifeval"):
        cells = " | ".join(_cell(results[n], m, cid) for n in names for m in MODES)
        lines.append(f"| {cid} | {cells} |")
    totals = []
    for name in names:
        for mode in MODES:
            agreed, counted = _totals(results[name], mode)
            totals.append(f"{agreed}/{counted} ({agreed / counted:.2%})")
    lines += [f"| **all** | {' | '.join(totals)} |", ""]
    agreed = sum(_totals(r, m)[0] for r in results.values() for m in MODES)
    counted = sum(_totals(r, m)[1] for r in results.values() for m in MODES)
    lines += [
        f"All sets and modes: {agreed}/{counted} verdicts agree ({agreed / counted:.2%}).",
        "",
        "Disagreements:",
        "",
    ]
    for name in names:
        disagreements = results[name].disagreements
        if not disagreements:
            lines.append(f"- {name}: none.")
        for mode, key, pair, response, mine, ref in disagreements:
            why = explained(pair) or "UNEXPLAINED"
            why = why[0].upper() + why[1:]
            detail = ""
            if pair["id"] == "keywords:letter_frequency":
                letter = pair["kwargs"]["letter"]
                detail = f" The response holds {response.lower().count(letter)} {letter!r}."
            lines.append(
                f"- {name}, {mode}, IFEval key {key}, `{pair['id']}` {pair['kwargs']}: "
                f"ours {mine}, reference {ref}. {why}.{detail} Response starts "
                f"{response[:70]!r}."
            )
    return "\n".join(lines) + "\n"


def family_comparisons(family: str) -> dict[str, families.Comparison]:
    """The fixture and adversarial comparisons of IFBench or MulDimIF."""
    if family == "ifbench":
        return {
            "fixture": families.compare_ifbench("fixture", families.ifbench_fixture()),
            "adversarial": families.compare_ifbench("adversarial", families.ifbench_adversarial()),
        }
    return {
        "fixture": families.compare_muldimif("fixture", families.muldimif_fixture()),
        "adversarial": families.compare_muldimif("adversarial", families.muldimif_adversarial()),
    }


FAMILY_SETS = {
    "ifbench": (
        "Sets: `fixture`, the 300 IFBench test prompts with the SmolLM2-135M-Instruct "
        "responses of `tests/fixtures/ifbench_smollm2.jsonl` (greedy and sampled: 600 "
        "responses, 688 instructions); `adversarial`, the union of "
        "`tests/test_ifbench_counts.py::adversarial_cases()` and "
        "`tests/test_ifbench_format.py::adversarial_cases()`. Strict and loose."
    ),
    "muldimif": (
        "Sets: `fixture`, the 1,200 MulDimIF test items with the SmolLM2-135M-Instruct "
        "responses of `tests/fixtures/muldimif_smollm2.jsonl` (4,180 constraints); "
        "`adversarial`, the union of `tests/test_muldimif_length_content.py::"
        "adversarial_items()` and `tests/test_muldimif_format_language.py::"
        "adversarial_items()`. Strict only: MulDimIF has no loose mode (the loose verdict is "
        "the strict one)."
    ),
}
RULES = (
    "A cell is agreements / verdicts the reference gave; `+N null` counts verdicts the "
    "reference could not give because it raised (each is listed below as a disagreement "
    "with its reason). `n/a (N unavailable)`: the offline reference cannot score the type "
    "at all; those verdicts are not compared. `-`: the set has no such constraint."
)


def family_report(family: str, comparisons: dict[str, families.Comparison]) -> str:
    """The markdown report of IFBench or MulDimIF."""
    lines = [FAMILY_SETS[family], "", RULES, ""]
    lines += families.agreement_table(family, comparisons)
    lines += ["", "Totals:", ""]
    lines += families.summary_lines(family, comparisons)
    if family == "ifbench":
        lines += ["", "Not checkable offline (excluded from agreement):", ""]
        lines += [f"- `{cid}` {note}." for cid, note in families.UNAVAILABLE_NOTES.items()]
    return "\n".join(lines) + "\n"


def full_report(family: str) -> str:
    """The report of one family, or of all three under one heading each."""
    chosen = FAMILIES if family == "all" else (family,)
    parts = []
    for name in chosen:
        if name == "ifeval":
            results = {
                "fixture": compare(smollm2_pairs()),
                "adversarial": compare(adversarial_pairs()),
            }
            body = report(results)
        else:
            body = family_report(name, family_comparisons(name))
        parts.append(f"## {LABELS[name]}\n\n{body}" if len(chosen) > 1 else body)
    command = COMMAND if family == "ifeval" else f"{COMMAND} --family {family}"
    return f"Command: `{command}`\n\n" + "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--family", choices=(*FAMILIES, "all"), default="ifeval", help="which verifier family"
    )
    args = parser.parse_args()
    text = full_report(args.family)
    print(text)
    if args.out is not None:
        temporary = args.out.with_suffix(args.out.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(args.out)


if __name__ == "__main__":
    from hir_core.allocator import exec_with_allocator

    # The allocator the `hir` command runs on (tcmalloc where installed): figures comparable
    # across benchmarks/ and with BENCHMARKS.md Engines.
    exec_with_allocator()
    main()
