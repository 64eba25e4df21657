"""Agreement of hir_core.constraints with the IFEval reference scorer, per instruction type.

Scores the two sets of tests/test_constraints_parity.py with both scorers, strict and loose:
the 541 IFEval prompts with the committed SmolLM2-135M-Instruct responses, and the
hand-written adversarial responses against IFEval rows covering every type. Prints a
markdown report: per-type agreement, totals, and every disagreement with its explanation.

    .venv/bin/python benchmarks/verifier_parity.py              # print the report
    .venv/bin/python benchmarks/verifier_parity.py --out FILE   # also write it to FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the reference harness and the parity helpers

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    results = {
        "fixture": compare(smollm2_pairs()),
        "adversarial": compare(adversarial_pairs()),
    }
    text = f"Command: `{COMMAND}`\n\n" + report(results)
    print(text)
    if args.out is not None:
        temporary = args.out.with_suffix(args.out.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(args.out)


if __name__ == "__main__":
    main()
