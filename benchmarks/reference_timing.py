"""CPU seconds of the IFBench or MulDimIF reference scorer on a workload, in its own venv.

Run by ``benchmarks/verifiers.py --family ifbench|muldimif`` under
``.venv-reference/bin/python`` (the reference's pins); it imports nothing of this project.
The reference is loaded at run time from ``../shared/reference`` (``HIR_REFERENCE_DIR``) by
importing that folder's offline runner (``ifbench/run_reference.py``,
``muldimif/run_reference.py``) as a module, so it is set up exactly as the parity tests'
runs are: downloads disabled, the offline Punkt stand-in, spaCy stubbed, the checks whose
NLTK data is missing answering False at once (IFBench ``ratio:stop_words``,
``words:start_verb``).

What is timed, per row, as the reference scores it:

- IFBench: ``evaluation_lib.test_instruction_following_strict`` (or ``_loose``) on the row's
  ``InputExample`` (kwargs without None values, made before the clock starts, fresh each
  pass), after seeding ``random`` with ``"ifbench:<key>"`` as the runner does;
- MulDimIF: the runner's ``judge(constraints, response)``: upstream's ``check()`` dispatch
  (key -> checker instance -> ``check(requirement, response)``), strict only (no loose mode).

    .venv-reference/bin/python benchmarks/reference_timing.py WORKLOAD.json

WORKLOAD.json: ``{"family": "ifbench", "rows": [...], "responses": [...], "passes": N}`` or
``{"family": "muldimif", "items": [{"constraints", "response"}, ...], "passes": N}``. Prints
one JSON object: per mode the least CPU and least wall seconds over the passes
(``{"strict": [cpu, wall], ...}``), the checks per pass, the reference's errors per pass, and
the load time.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("HIR_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))


def _load_runner(family: str):
    """The reference folder's offline runner for ``family``, imported as a module."""
    path = REFERENCE / family / "run_reference.py"
    spec = importlib.util.spec_from_file_location(f"{family}_run_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time_ifbench(runner, rows: list[dict], responses: list[str], passes: int) -> dict:
    evaluation = runner.evaluation_lib
    scorers = {
        "strict": evaluation.test_instruction_following_strict,
        "loose": evaluation.test_instruction_following_loose,
    }
    checks = sum(len(row["instruction_id_list"]) for row in rows)
    result: dict = {"checks": checks, "errors": {}}
    for mode, score in scorers.items():
        best_cpu = best_wall = float("inf")
        for _ in range(passes):
            # The scorers filter the kwargs in place: fresh examples each pass, made untimed.
            work = [
                (
                    f"ifbench:{row['key']}",
                    evaluation.InputExample(
                        key=row["key"],
                        prompt=row["prompt"],
                        instruction_id_list=list(row["instruction_id_list"]),
                        kwargs=[
                            {k: v for k, v in kw.items() if v is not None}
                            for kw in copy.deepcopy(row["kwargs"])
                        ],
                    ),
                    {row["prompt"]: response},
                )
                for row, response in zip(rows, responses, strict=True)
            ]
            errors = 0
            cpu, wall = time.process_time(), time.perf_counter()
            for seed, example, prompt_to_response in work:
                random.seed(seed)
                try:
                    score(example, prompt_to_response)
                except Exception:  # noqa: BLE001 - upstream would abort; counted instead
                    errors += 1
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        result[mode] = [best_cpu, best_wall]
        result["errors"][mode] = errors
    return result


def _time_muldimif(runner, items: list[dict], passes: int) -> dict:
    work = [(item["constraints"], item["response"]) for item in items]
    checks = sum(len(constraints) for constraints, _ in work)
    best_cpu = best_wall = float("inf")
    for _ in range(passes):
        errors = 0
        cpu, wall = time.process_time(), time.perf_counter()
        for constraints, response in work:
            errors += len(runner.judge(constraints, response)[1])
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return {"checks": checks, "strict": [best_cpu, best_wall], "errors": {"strict": errors}}


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    if hasattr(os, "sched_setaffinity"):  # one core, as the caller
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    workload = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    family, passes = workload["family"], int(workload["passes"])
    start = time.perf_counter()
    runner = _load_runner(family)
    loaded = time.perf_counter() - start
    if family == "ifbench":
        result = _time_ifbench(runner, workload["rows"], workload["responses"], passes)
    elif family == "muldimif":
        result = _time_muldimif(runner, workload["items"], passes)
    else:
        raise SystemExit(f"unknown family {family!r}")
    result["load_s"] = loaded
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
