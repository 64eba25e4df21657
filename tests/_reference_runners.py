"""The IFBench and MulDimIF reference scorers of ``../shared/reference``, run as subprocesses.

They run in their own venv (``.venv-reference``, made by ``make reference``, which ``make
test`` calls) with the pins that folder's README names; nothing of theirs is imported here.
Tests that need them call :func:`require_reference` first: without ``../shared/reference`` or
the venv they are skipped, with the reason.

    verdicts = ifbench_reference(rows, responses)      # rows: IFBench JSONL rows
    verdicts = muldimif_reference(items)               # items: {"id", "constraints", "response"}
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("HIR_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))
REFERENCE_PYTHON = ROOT / ".venv-reference" / "bin" / "python"
IFBENCH_DATA = REFERENCE / "ifbench" / "data" / "IFBench_test.jsonl"
MULDIMIF_DATA = REFERENCE / "muldimif" / "Data" / "test.json"


def reference_available() -> str | None:
    """None when the reference scorers can run here, else why not."""
    if not REFERENCE.is_dir():
        return f"{REFERENCE} not found (CI has it at ../shared/reference)"
    if not REFERENCE_PYTHON.exists():
        return f"{REFERENCE_PYTHON} missing: run `make reference`"
    return None


def require_reference() -> None:
    why = reference_available()
    if why is not None:
        pytest.skip(why)


def _run(args: Sequence[str], timeout: float = 600) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["NLTK_DATA"] = env.get("NLTK_DATA", "/nonexistent")  # offline: the runners' stand-ins
    done = subprocess.run(
        [str(REFERENCE_PYTHON), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reference runner failed ({done.returncode}):\n{done.stderr[-3000:]}")


def ifbench_rows() -> list[dict]:
    """The 300 IFBench test rows of the reference folder."""
    with IFBENCH_DATA.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def muldimif_items() -> list[dict]:
    """The 1,200 MulDimIF test items of the reference folder."""
    return json.loads(MULDIMIF_DATA.read_text(encoding="utf-8"))


def ifbench_reference(rows: Sequence[dict], responses: Sequence[str]) -> list[dict]:
    """Reference verdicts for ``responses[i]`` to IFBench row ``rows[i]``.

    Returns one ``{"key", "ids", "strict", "loose", ...}`` per row (see the runner's
    docstring; verdicts are None where the reference crashed or lacks NLTK data). Rows are
    sent with unique prompts, so two responses to one IFBench prompt need two calls.
    """
    if len(rows) != len(responses):
        raise ValueError("one response per row")
    prompts = [row["prompt"] for row in rows]
    if len(set(prompts)) != len(prompts):
        raise ValueError("rows repeat a prompt: the runner matches responses by prompt")
    with tempfile.TemporaryDirectory() as tmp:
        data, answers, out = (Path(tmp) / name for name in ("in.jsonl", "resp.jsonl", "out.json"))
        data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        answers.write_text(
            "".join(
                json.dumps({"prompt": row["prompt"], "response": response}) + "\n"
                for row, response in zip(rows, responses)
            ),
            encoding="utf-8",
        )
        _run([str(REFERENCE / "ifbench" / "run_reference.py"), str(data), str(answers), str(out)])
        results = json.loads(out.read_text(encoding="utf-8"))
    if len(results) != len(rows):
        raise RuntimeError(f"reference scored {len(results)} of {len(rows)} rows")
    return results


def muldimif_reference(items: Sequence[dict]) -> list[dict]:
    """Reference verdicts for ``{"id", "constraints": [[cat, sub, req], ...], "response"}``
    items: one ``{"id", "verdicts": [True|False|None, ...], "errors"?}`` each, same order."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "items.jsonl", Path(tmp) / "out.jsonl"
        data.write_text(
            "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
            encoding="utf-8",
        )
        _run([str(REFERENCE / "muldimif" / "run_reference.py"), str(data), str(out)])
        results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    if len(results) != len(items):
        raise RuntimeError(f"reference scored {len(results)} of {len(items)} items")
    return results
