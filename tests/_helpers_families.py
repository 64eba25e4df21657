"""Parity of the IFBench and MulDimIF verifier families with their reference scorers.

Shared by ``tests/test_family_parity.py`` and ``benchmarks/verifier_parity.py`` (and the
parity summary of ``benchmarks/verifiers.py``), as ``_helpers_constraints`` is for IFEval.
Two sets per family:

- the fixture: real SmolLM2-135M-Instruct output, ``tests/fixtures/ifbench_smollm2.jsonl``
  (the 300 IFBench test prompts, one greedy and one sampled response each) and
  ``tests/fixtures/muldimif_smollm2.jsonl`` (one greedy response to each of the 1,200
  MulDimIF test items);
- the adversarial union: the per-module adversarial sets of ``test_ifbench_counts``,
  ``test_ifbench_format`` (IFBench) and ``test_muldimif_length_content``,
  ``test_muldimif_format_language`` (MulDimIF), scored in one comparison.

Each set is scored by this library (``hir_core.constraints.verify_detailed``) and by the
reference (``_reference_runners``), strict and loose (MulDimIF has no loose mode: its loose
verdict is the strict one, so only strict is compared). A verdict the reference cannot give
offline (``ratio:stop_words``, ``words:start_verb``: NLTK data it would download) is
counted apart, not compared. Agreement is over the verdicts the reference gives; where it
raised (null) is a disagreement counted apart (``crashed``), and the agreement with those
counted as disagreements is reported too. Every disagreement, crash or not, must have an
explanation from :func:`explain_ifbench` / :func:`explain_muldimif`, which restate the
documented decisions of the family modules (the lists of their test files).
"""

from __future__ import annotations

import collections
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
IFBENCH_FIXTURE = FIXTURES / "ifbench_smollm2.jsonl"
MULDIMIF_FIXTURE = FIXTURES / "muldimif_smollm2.jsonl"
MIN_AGREEMENT = 0.995
MODES = {"ifbench": ("strict", "loose"), "muldimif": ("strict",)}

# IFBench types the offline reference runner reports "unavailable" (verdict null): the NLTK
# stopword corpus and the averaged-perceptron POS tagger are downloads no PyPI package ships.
UNAVAILABLE = frozenset({"ratio:stop_words", "words:start_verb"})
UNAVAILABLE_NOTES = {
    "ratio:stop_words": (
        "uses NLTK's 179-word English stopword list restated in the project "
        "(`ifbench_text.STOP_WORDS`); verified by unit tests only, since the reference has "
        "no stopword corpus offline"
    ),
    "words:start_verb": (
        "the reference tags the first word with NLTK's averaged-perceptron POS tagger, which "
        "is not available here; the project's rule is an approximation (a verb list and "
        "-ing/-ed endings), unverified"
    ),
}
N_START_REASON = (
    "n_start=0: the reference's `if not n_start` draws a random start word; this library "
    "starts at word 0, as the row asks (IFBench key 286)"
)


@dataclass(frozen=True)
class Disagreement:
    """One verdict of ours that differs from the reference's (None: the reference raised)."""

    set: str
    mode: str
    key: str
    cid: str
    kwargs: dict
    response: str
    ours: bool
    reference: bool | None
    error: str  # the reference's error when it raised, else ""
    reason: str | None  # None: unexplained

    def describe(self) -> str:
        """One markdown list line: where, what, the verdicts and why."""
        args = {
            k: v[:40] + "..." if isinstance(v, str) and len(v) > 40 else v
            for k, v in self.kwargs.items()
            if v is not None
        }
        reference = "null (raised)" if self.reference is None else str(self.reference)
        return (
            f"{self.set}, {self.mode}, `{self.key}`, `{self.cid}` {args}: ours {self.ours}, "
            f"reference {reference}: {self.reason or 'UNEXPLAINED'}. Response starts "
            f"{self.response[:60]!r}."
        )


@dataclass
class Comparison:
    """Per (mode, id): verdicts compared (the reference gave one), agreements, verdicts the
    reference could not give offline (``unavailable``) or because it raised (``crashed``);
    every disagreement (crashes included), and every error our checkers raised."""

    family: str
    agree: collections.Counter = field(default_factory=collections.Counter)
    total: collections.Counter = field(default_factory=collections.Counter)
    unavailable: collections.Counter = field(default_factory=collections.Counter)
    crashed: collections.Counter = field(default_factory=collections.Counter)
    disagreements: list[Disagreement] = field(default_factory=list)
    our_errors: list[str] = field(default_factory=list)

    def totals(self, mode: str) -> tuple[int, int]:
        """(agreements, verdicts compared) over every type in ``mode``."""
        agreed = sum(n for (m, _), n in self.agree.items() if m == mode)
        counted = sum(n for (m, _), n in self.total.items() if m == mode)
        return agreed, counted

    def crashes(self, mode: str) -> int:
        """Verdicts in ``mode`` the reference could not give because it raised."""
        return sum(n for (m, _), n in self.crashed.items() if m == mode)

    def unexplained(self) -> list[Disagreement]:
        return [d for d in self.disagreements if d.reason is None]


# --- the sets ----------------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; see tests/fixtures/make_family_smollm2.py")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def ifbench_fixture() -> list[tuple[dict, str]]:
    """(IFBench test row, response) for the 600 fixture responses: greedy first, then sampled,
    each in the order of the test file."""
    from _reference_runners import ifbench_rows

    rows = {str(row["key"]): row for row in ifbench_rows()}
    pairs = []
    for mode in ("greedy", "sampled"):
        records = [r for r in _jsonl(IFBENCH_FIXTURE) if r["mode"] == mode]
        if {str(r["key"]) for r in records} != set(rows) or len(records) != len(rows):
            raise ValueError(f"{IFBENCH_FIXTURE}: {mode} keys differ from the 300 IFBench rows")
        by_key = {str(r["key"]): r for r in records}
        for key, row in rows.items():
            if by_key[key]["prompt"].strip() != row["prompt"].strip():
                raise ValueError(f"{IFBENCH_FIXTURE}: key {key}: prompt differs from the test row")
            pairs.append((row, by_key[key]["response"]))
    return pairs


def muldimif_fixture() -> list[dict]:
    """``{"id", "constraints", "response"}`` for the 1,200 MulDimIF test items with the
    fixture's greedy responses."""
    from _reference_runners import muldimif_items

    responses = {str(r["id"]): r["response"] for r in _jsonl(MULDIMIF_FIXTURE)}
    items = muldimif_items()
    if set(responses) != {str(item["id"]) for item in items}:
        raise ValueError(f"{MULDIMIF_FIXTURE}: ids differ from the 1,200 MulDimIF items")
    return [
        {
            "id": item["id"],
            "constraints": item["constraints"],
            "response": responses[str(item["id"])],
        }
        for item in items
    ]


def _test_module(name: str):
    # The per-module test files build the adversarial sets; one of them imports
    # ``tests._reference_runners``, which needs the repository root on the path.
    import importlib

    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module(name)


def ifbench_adversarial() -> list[tuple[dict, str]]:
    """The adversarial sets of the IFBench modules' tests, together (unique prompts)."""
    counts = _test_module("test_ifbench_counts")
    formats = _test_module("test_ifbench_format")
    return counts.adversarial_cases() + formats.adversarial_cases()


def muldimif_adversarial() -> list[dict]:
    """The adversarial items of the MulDimIF modules' tests, together."""
    length_content = _test_module("test_muldimif_length_content")
    format_language = _test_module("test_muldimif_format_language")
    return length_content.adversarial_items() + format_language.adversarial_items()


# --- explanations ------------------------------------------------------------------------------

_EXCEPTION = re.compile(r"\b(\w+Error)\b")


def _crash_reason(reason: str, error: str, decided: str = "") -> str | None:
    """``reason`` (+ ``decided``) for a reference crash, when the exception the reason names
    is the one raised (the name itself is dropped from the text: the error shows it)."""
    named = _EXCEPTION.search(reason)
    if named is not None and not error.startswith(named.group(1)):
        return None
    if named is not None and reason.startswith(named.group(1) + ": "):
        reason = reason.removeprefix(named.group(1) + ": ")
    return f"the reference raised `{error[:80]}`; {reason}{decided}"


def explain_ifbench(
    mode: str, cid: str, kwargs: dict, response: str, ours: bool, reference, error: str
) -> str | None:
    """Why an IFBench verdict may differ from the reference's (None: it may not).

    The documented cases: ``repeat:repeat_span`` with ``n_start=0`` (the reference draws a
    random start), and reference crashes that the modules decide instead
    (``test_ifbench_counts.CRASHES``, ``test_ifbench_format.KNOWN_DISAGREEMENTS``), each for
    the exception the documentation names. A crash of a counts type passed here in strict
    mode is not explained (those rules decide False); in loose mode the reference stops at
    the first variant that raises, while this library tries the next variant.
    """
    if cid == "repeat:repeat_span" and kwargs.get("n_start") == 0:
        return N_START_REASON
    counts = _test_module("test_ifbench_counts")
    formats = _test_module("test_ifbench_format")
    if reference is not None:
        return counts.DOCUMENTED.get((cid, mode))
    if cid in counts.CRASHES:
        if mode == "strict" and ours:
            return None
        decided = (
            "; loose: a later variant passes here, the reference stopped at the one that raised"
            if ours
            else "; False here"
        )
        return _crash_reason(counts.CRASHES[cid], error, decided)
    reason = formats.explained(cid, kwargs, response)
    return None if reason is None else _crash_reason(reason, error)


def explain_muldimif(requirement: str, response: str, reference, error: str) -> str | None:
    """Why a MulDimIF verdict may differ from the reference's (None: it may not): only where
    the reference raised and the checker decides (documented in its docstring), or a pair
    listed in ``test_muldimif_format_language.KNOWN_DISAGREEMENTS``."""
    listed = _test_module("test_muldimif_format_language").KNOWN_DISAGREEMENTS
    if (requirement, response) in listed:
        return listed[requirement, response]
    if reference is None:
        reason = _test_module("test_muldimif_length_content").KNOWN_DISAGREEMENTS
        return f"the reference raised `{error[:80]}`; {reason['reference raised']}"
    return None


# --- comparisons -------------------------------------------------------------------------------


def _unique_prompt_batches(pairs: Sequence[tuple[dict, str]]) -> list[list[int]]:
    # The runner matches responses by prompt: a batch may hold each prompt once.
    batches: list[list[int]] = []
    seen: list[set[str]] = []
    for index, (row, _) in enumerate(pairs):
        for batch, prompts in zip(batches, seen):
            if row["prompt"] not in prompts:
                batch.append(index)
                prompts.add(row["prompt"])
                break
        else:
            batches.append([index])
            seen.append({row["prompt"]})
    return batches


def constraints_of(row: dict) -> list[dict]:
    """An IFBench row's ``{"id", "kwargs"}`` constraints (None kwargs are absent)."""
    return [
        {"id": cid, "kwargs": kwargs}
        for cid, kwargs in zip(row["instruction_id_list"], row["kwargs"], strict=True)
    ]


def compare_ifbench(name: str, pairs: Sequence[tuple[dict, str]]) -> Comparison:
    """Score (IFBench row, response) pairs with both scorers, strict and loose."""
    from _reference_runners import ifbench_reference

    from hir_core import constraints

    results: list[dict | None] = [None] * len(pairs)
    for batch in _unique_prompt_batches(pairs):
        scored = ifbench_reference([pairs[i][0] for i in batch], [pairs[i][1] for i in batch])
        for index, result in zip(batch, scored):
            results[index] = result
    comparison = Comparison("ifbench")
    for (row, response), result in zip(pairs, results):
        pairs_of_row = constraints_of(row)
        unavailable = set(result.get("unavailable", ()))
        for mode in MODES["ifbench"]:
            ours = constraints.verify_detailed(
                response, pairs_of_row, prompt=row["prompt"], loose=mode == "loose"
            )
            comparison.our_errors += [e for e in ours.errors if e]
            errors = result.get("errors", {}).get(mode, {})
            for index, (constraint, mine, ref) in enumerate(
                zip(pairs_of_row, ours.verdicts, result[mode], strict=True)
            ):
                cid = constraint["id"]
                if ref is None and cid in unavailable:
                    comparison.unavailable[mode, cid] += 1
                    continue
                if ref is None:
                    comparison.crashed[mode, cid] += 1
                else:
                    comparison.total[mode, cid] += 1
                    if mine == ref:
                        comparison.agree[mode, cid] += 1
                        continue
                error = errors.get(str(index), "")
                kwargs = constraint["kwargs"]
                reason = explain_ifbench(mode, cid, kwargs, response, mine, ref, error)
                comparison.disagreements.append(
                    Disagreement(
                        name, mode, str(row["key"]), cid, kwargs, response, mine, ref, error, reason
                    )
                )
    return comparison


def compare_muldimif(name: str, items: Sequence[dict]) -> Comparison:
    """Score ``{"id", "constraints", "response"}`` items with both scorers (strict only:
    MulDimIF has no loose mode)."""
    from _reference_runners import muldimif_reference

    from hir_core import constraints
    from hir_core.constraints.muldimif import constraint_from_triple

    comparison = Comparison("muldimif")
    for item, result in zip(items, muldimif_reference(items), strict=True):
        pairs = [constraint_from_triple(triple) for triple in item["constraints"]]
        ours = constraints.verify_detailed(item["response"], pairs)
        comparison.our_errors += [e for e in ours.errors if e]
        errors = result.get("errors", {})
        for index, (constraint, mine, ref) in enumerate(
            zip(pairs, ours.verdicts, result["verdicts"], strict=True)
        ):
            cid = constraint["id"]
            if ref is None:
                comparison.crashed["strict", cid] += 1
            else:
                comparison.total["strict", cid] += 1
                if mine == ref:
                    comparison.agree["strict", cid] += 1
                    continue
            error = errors.get(str(index), "")
            requirement = constraint["kwargs"]["requirement"]
            reason = explain_muldimif(requirement, item["response"], ref, error)
            comparison.disagreements.append(
                Disagreement(
                    name,
                    "strict",
                    str(item["id"]),
                    cid,
                    constraint["kwargs"],
                    item["response"],
                    mine,
                    ref,
                    error,
                    reason,
                )
            )
    return comparison


# --- reports -----------------------------------------------------------------------------------


def _cell(comparison: Comparison, mode: str, cid: str) -> str:
    total, agreed = comparison.total[mode, cid], comparison.agree[mode, cid]
    missing, crashed = comparison.unavailable[mode, cid], comparison.crashed[mode, cid]
    if not total and not crashed:
        return f"n/a ({missing} unavailable)" if missing else "-"
    cell = f"{agreed}/{total}" if agreed == total else f"**{agreed}/{total}**"
    return cell + (f" +{crashed} null" if crashed else "")


def agreement_table(family: str, comparisons: dict[str, Comparison]) -> list[str]:
    """Markdown: per type (IFBench) or key (MulDimIF) agreement in each set and mode
    (agreements/verdicts the reference gave, ``+N null`` where it raised), with the totals."""
    from hir_core import constraints

    modes = MODES[family]
    columns = [(name, mode) for name in comparisons for mode in modes]
    header = " | ".join(f"{name} {mode}" for name, mode in columns)
    lines = [f"| {'type' if family == 'ifbench' else 'key'} | {header} |"]
    lines.append("|---|" + "---:|" * len(columns))
    for cid in constraints.ids(family):
        cells = [_cell(comparisons[name], mode, cid) for name, mode in columns]
        label = cid.removeprefix("muldimif:")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    totals = []
    for name, mode in columns:
        agreed, counted = comparisons[name].totals(mode)
        crashed = comparisons[name].crashes(mode)
        nulls = f" +{crashed} null" if crashed else ""
        totals.append(f"**{agreed}/{counted} ({agreed / counted:.2%}){nulls}**")
    lines.append(f"| **all** | {' | '.join(totals)} |")
    return lines


def summary_lines(family: str, comparisons: dict[str, Comparison]) -> list[str]:
    """Markdown: totals per set and mode, the verdicts not compared, every disagreement."""
    lines = []
    for name, comparison in comparisons.items():
        parts = []
        for mode in MODES[family]:
            agreed, counted = comparison.totals(mode)
            part = f"{mode} {agreed:,}/{counted:,} ({agreed / counted:.2%})"
            crashed = comparison.crashes(mode)
            if crashed:
                with_nulls = agreed / (counted + crashed)
                part += (
                    f" plus {crashed} the reference raised on ({with_nulls:.2%} counting "
                    "those as disagreements)"
                )
            parts.append(part)
        missing = {cid: n for (mode, cid), n in comparison.unavailable.items() if mode == "strict"}
        extra = ""
        if missing:
            listed = ", ".join(f"`{cid}` {n}" for cid, n in sorted(missing.items()))
            extra = f"; not compared (reference unavailable offline), per mode: {listed}"
        lines.append(f"- {name}: {', '.join(parts)}{extra}.")
    lines += ["", "Disagreements:", ""]
    for name, comparison in comparisons.items():
        if not comparison.disagreements:
            lines.append(f"- {name}: none.")
        lines += [f"- {d.describe()}" for d in comparison.disagreements]
    return lines


def _shown(verdict: bool | None) -> str:
    return "null" if verdict is None else str(verdict)


def grouped_disagreements(comparisons: dict[str, Comparison]) -> list[str]:
    """Markdown: the disagreements grouped by set, type and reason (modes together), with
    their count and keys: the short form of :func:`summary_lines`' list."""
    groups: dict[tuple[str, str, str], list[Disagreement]] = {}
    for comparison in comparisons.values():
        for d in comparison.disagreements:
            groups.setdefault((d.set, d.cid, d.reason or "UNEXPLAINED"), []).append(d)
    lines = []
    for name, comparison in comparisons.items():
        if not comparison.disagreements:
            lines.append(f"- {name}: none.")
    for (name, cid, reason), found in groups.items():
        modes = collections.Counter(d.mode for d in found)
        counted = ", ".join(f"{mode} {n}" for mode, n in modes.items())
        keys = ", ".join(dict.fromkeys(d.key for d in found))
        verdicts = "/".join(
            sorted({f"ours {d.ours}, reference {_shown(d.reference)}" for d in found})
        )
        lines.append(
            f"- {name}, `{cid}`, {counted} ({verdicts}; keys {keys}): {reason.replace('|', '/')}."
        )
    return lines
