"""langdetect's language detector, restated for speed, with langdetect's exact answers.

langdetect (a port of Nakatani Shuyo's language-detection) scores a text by sampling its
1-3 character n-grams at random and multiplying per-language n-gram probabilities until one
language dominates, seven times with seeded randomness. Its pure-Python loops cost 10-40 ms
per text, which made language checks most of a verifier's time. This module runs the same
procedure on langdetect's own profiles, in the same order, with the same random draws and the
same floating-point operations (vectorised over the 55 languages with numpy: element-wise
products and quotients round exactly as the scalar ones do; the one sum is taken by Python's
``sum``, as langdetect does), so for a given seed it returns what langdetect returns.
``tests/test_constraints.py`` checks that on a corpus of texts.

Kept as in langdetect, including its quirks: URLs and e-mail addresses are blanked, runs of
spaces collapse, only the first 10,000 characters count, and a text whose characters from
U+0300 upwards outnumber twice its ASCII letters has its ASCII letters dropped (langdetect
means to exclude Latin Extended Additional from that count, but compares a block number with
a block name, so it never does).
"""

from __future__ import annotations

import functools
import random
import re
import sys

import numpy as np
from langdetect.detector import Detector
from langdetect.utils.ngram import NGram

_ASCII_LETTERS = re.compile("[A-z]")  # langdetect's 'A' <= ch <= 'z', brackets and all
_FROM_U0300 = re.compile("[\u0300-\U0010ffff]")
_SPACE_RUNS = re.compile(" {2,}")


@functools.cache
def _upper_case_character() -> re.Pattern:
    """Matches any character for which str.isupper() holds. A word can only enter
    langdetect's "capital word" state (whose n-grams are skipped) at such a character after
    its first. Built on first use: it scans all of Unicode once (about 0.2 s)."""
    uppers = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isupper())
    return re.compile(f"[{re.escape(uppers)}]")


class _Normaliser(dict):
    """str.translate table applying NGram.normalize, filled on demand."""

    def __missing__(self, code: int) -> str:
        self[code] = NGram.normalize(chr(code))
        return self[code]


class LanguageDetector:
    """Detects the language of a text with langdetect's profiles and procedure.

    Args:
        word_lang_prob_map: n-gram -> per-language probabilities (a loaded
            ``langdetect.DetectorFactory``'s map).
        langlist: language codes in the map's order.
        seed: the random seed (langdetect's ``DetectorFactory.seed``).
    """

    def __init__(self, word_lang_prob_map: dict[str, list[float]], langlist: list[str], seed: int):
        self._probabilities = word_lang_prob_map
        self._languages = list(langlist)
        self._seed = seed
        self._row_of: dict[str, int] = {}
        self._matrix = np.empty((1024, len(self._languages)))
        self._normaliser = _Normaliser()

    def detect(self, text: str) -> str | None:
        """The most probable language code, "unknown" when none clears langdetect's 0.1
        threshold, or None when the text has no known n-gram (langdetect raises there)."""
        ngrams = self._ngrams(self._clean(text))
        if not ngrams:
            return None
        probabilities = self._average_trials(ngrams)
        ranked = [
            (p, lang)
            for lang, p in zip(self._languages, probabilities.tolist())
            if p > Detector.PROB_THRESHOLD
        ]
        if not ranked:
            return Detector.UNKNOWN_LANG
        # Highest probability first, ties in profile order (langdetect's stable reverse sort).
        return max(ranked, key=lambda pair: pair[0])[1]

    def _clean(self, text: str) -> str:
        text = Detector.URL_RE.sub(" ", text)
        text = Detector.MAIL_RE.sub(" ", text)
        text = NGram.normalize_vi(text)
        text = _SPACE_RUNS.sub(" ", text[:10_000])
        ascii_letters = len(_ASCII_LETTERS.findall(text))
        if ascii_letters * 2 < len(_FROM_U0300.findall(text)):
            text = _ASCII_LETTERS.sub("", text)
        return text

    def _ngrams(self, text: str) -> list[str]:
        """The known n-grams in langdetect's order: per character, its 1-, 2- and 3-gram
        within the current word (a leading space marks the word start, a trailing one its
        end), skipping characters inside a run of capitals."""
        known = self._probabilities
        result: list[str] = []
        normalised = text.translate(self._normaliser)
        words = normalised.split(" ")
        upper = _upper_case_character()
        for index, word in enumerate(words):
            if not word:
                continue
            ends_with_space = index < len(words) - 1
            if upper.search(word, 1) is None:
                padded = " " + word + (" " if ends_with_space else "")
                for end in range(1, len(padded)):
                    char = padded[end]
                    if char != " " and char in known:
                        result.append(char)
                    for gram in (
                        padded[end - 1 : end + 1],
                        padded[end - 2 : end + 1] if end >= 2 else "",
                    ):
                        if gram in known:
                            result.append(gram)
            else:
                result.extend(_capital_aware_ngrams(word, ends_with_space, known))
        return result

    def _rows(self, ngrams: list[str]) -> tuple[np.ndarray, list[int]]:
        """The distinct n-grams' probability vectors (one row each, from a matrix that grows
        as new n-grams are met) and, per n-gram occurrence, its row in that block."""
        distinct: dict[str, int] = {}
        occurrences = [distinct.setdefault(ngram, len(distinct)) for ngram in ngrams]
        rows = []
        for ngram in distinct:
            row = self._row_of.get(ngram)
            if row is None:
                row = self._add_row(ngram)
            rows.append(row)
        return self._matrix[rows], occurrences

    def _add_row(self, ngram: str) -> int:
        if len(self._row_of) == len(self._matrix):
            grown = np.empty((2 * len(self._matrix), len(self._languages)))
            grown[: len(self._matrix)] = self._matrix
            self._matrix = grown
        row = self._row_of[ngram] = len(self._row_of)
        self._matrix[row] = self._probabilities[ngram]
        return row

    def _average_trials(self, ngrams: list[str]) -> np.ndarray:
        rows, occurrences = self._rows(ngrams)
        rng = random.Random(self._seed)
        count = len(self._languages)
        average = np.zeros(count)
        trials = 7  # langdetect's n_trial
        for _ in range(trials):
            probability = np.full(count, 1.0 / count)
            alpha = Detector.ALPHA_DEFAULT + rng.gauss(0.0, 1.0) * Detector.ALPHA_WIDTH
            # langdetect adds the weight to an n-gram's vector at each draw; once per trial for
            # all of them gives the same numbers.
            factors = alpha / Detector.BASE_FREQ + rows
            step = 0
            while True:
                # rng.choice over a list as long as the n-gram list: the same draw as langdetect
                probability *= factors[rng.choice(occurrences)]
                if step % 5 == 0:
                    probability /= sum(probability.tolist())
                    if (
                        probability.max() > Detector.CONV_THRESHOLD
                        or step >= Detector.ITERATION_LIMIT
                    ):
                        break
                step += 1
            average += probability / trials
        return average


def _capital_aware_ngrams(word: str, ends_with_space: bool, known) -> list[str]:
    """langdetect's character-by-character n-gram state machine for one word."""
    result = []
    grams, capital = " ", False
    for char in word + (" " if ends_with_space else ""):
        last = grams[-1]
        if last == " ":
            grams, capital = " ", False
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += char
        if char.isupper():
            capital = capital or last.isupper()
        else:
            capital = False
        if capital:
            continue
        for n in (1, 2, 3):
            if len(grams) < n:
                break
            gram = grams[-n:]
            if gram != " " and gram in known:
                result.append(gram)
    return result
