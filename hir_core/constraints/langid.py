"""langdetect's language detector, restated for speed, with langdetect's exact answers.

langdetect (a port of Nakatani Shuyo's language-detection) scores a text by sampling its
1-3 character n-grams at random and multiplying per-language n-gram probabilities until one
language dominates, seven times with seeded randomness. Its pure-Python loops cost 10-40 ms
per text, which made language checks most of a verifier's time. This module runs the same
procedure on langdetect's own profiles, with the same random draws and the same floating-point
operations in the same order, so for a given seed it returns what langdetect returns.
``tests/test_constraints_analysers.py`` checks that on a corpus of texts: the random draws,
the full probability vectors bit for bit, and the answers. What changes is only how the work
is organised:

- n-grams: langdetect's character-by-character state machine is a function of each
  character and the one before it, so the n-grams of a whole text are found with array
  operations on its code points and looked up as integers: directly in a table over the
  ASCII alphabet (space and letters, what a normalised English text is made of), by binary
  search in the profile's sorted n-gram codes otherwise; every n-gram's 55 probabilities are
  one float64 row of a matrix built once;
- random draws: ``random.Random(seed)`` always produces the same 32-bit words, so they are
  materialised once; ``Random.choice`` (rejection sampling on ``getrandbits``) and
  ``Random.gauss`` (two ``random()`` calls, the second result kept for the next trial) are
  replayed from those words, for all draws of a text at once;
- products: langdetect multiplies the 55 probabilities by one n-gram's vector per draw and
  normalises every fifth draw. Each block between normalisations is one numpy reduction over
  the stacked vectors, row after row, which rounds exactly as the scalar loop does; the sum is
  Python's ``sum`` of the same list of floats, as in langdetect;
- early answer: a trial ends normalised, so it adds at most 1/7 to any language's average.
  Once the leader's lead exceeds what the remaining trials could add to another language,
  the answer cannot change and the remaining trials are skipped (at the earliest after four
  trials that agree).

Kept as in langdetect, including its quirks: URLs and e-mail addresses are blanked, runs of
spaces collapse, only the first 10,000 characters count, and a text whose characters from
U+0300 upwards outnumber twice its ASCII letters has its ASCII letters dropped (langdetect
means to exclude Latin Extended Additional from that count, but compares a block number with
a block name, so it never does).
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
import sys
import threading

import numpy as np
from langdetect.detector import Detector
from langdetect.utils.ngram import NGram

_FROM_U0300 = re.compile("[\u0300-\U0010ffff]")
_SPACE_RUNS = re.compile(" {2,}")
_VIETNAMESE_MARK = re.compile(f"[{NGram.DMARK_CLASS}]")
_DELETE_ASCII_LETTERS = dict.fromkeys(range(ord("A"), ord("z") + 1))  # str.translate: delete

TRIALS = 7  # langdetect's n_trial
_SPACE = ord(" ")
_BITS = 21  # code points fit in 21 bits: an n-gram of up to 3 characters is one uint64
_INITIAL_BLOCKS = 16  # blocks of five draws prepared per step of a trial (most need ~13)


def ngram_code(gram: str) -> int:
    """An n-gram of 1-3 characters as an integer (code points in 21-bit fields). No
    character of a normalised text is U+0000, so codes of different n-grams differ."""
    code = 0
    for char in gram:
        code = (code << _BITS) | ord(char)
    return code


class _Normaliser(dict):
    """str.translate table applying NGram.normalize, filled on demand."""

    def __missing__(self, code: int) -> str:
        self[code] = NGram.normalize(chr(code))
        return self[code]


class SeededWords:
    """The 32-bit outputs of ``random.Random(seed)``, in order, materialised on demand.

    ``Random.getrandbits(32 * n)`` returns the next ``n`` outputs as one integer, the first in
    the lowest 32 bits; ``choice``, ``random`` and ``gauss`` are functions of these outputs.
    Extending is locked (detectors may be shared by threads); reading needs no lock, since
    the array only ever grows by replacement with a longer copy.
    """

    def __init__(self, seed: int):
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.words = np.empty(0, dtype=np.uint32)
        self.ensure(16384)  # enough for almost every text (a typical one uses ~500)

    def ensure(self, count: int) -> np.ndarray:
        """The outputs, at least ``count`` of them."""
        words = self.words
        if count <= len(words):
            return words
        with self._lock:
            have = len(self.words)
            if count > have:
                extra = max(count - have, have, 4096)
                raw = self._rng.getrandbits(32 * extra).to_bytes(4 * extra, "little")
                self.words = np.concatenate([self.words, np.frombuffer(raw, dtype="<u4")])
            return self.words

    def uniform(self, index: int) -> float:
        """``Random.random()`` computed from outputs ``index`` and ``index + 1``."""
        words = self.ensure(index + 2)
        high, low = int(words[index]) >> 5, int(words[index + 1]) >> 6
        return (high * 67108864.0 + low) * (1.0 / 9007199254740992.0)

    def gauss_pair(self, index: int) -> tuple[float, float]:
        """The two normal deviates ``Random.gauss`` makes from outputs ``index`` to
        ``index + 3``: the one it returns and the one it keeps for its next call."""
        x2pi = self.uniform(index) * random.TWOPI
        g2rad = math.sqrt(-2.0 * math.log(1.0 - self.uniform(index + 2)))
        return math.cos(x2pi) * g2rad, math.sin(x2pi) * g2rad


class _Draws:
    """A text's ``Random.choice`` draws over its n-gram list, for every start in the stream.

    ``choice`` takes ``getrandbits(k)`` (the top ``k`` bits of one output, ``k`` the list
    length's bit length) and retries while it is out of range, so whether an output yields a
    draw, and which, does not depend on where a trial starts: the draws from output ``c`` on
    are the accepted outputs from ``c`` on.
    """

    def __init__(self, words: SeededWords, occurrences: np.ndarray):
        self._words = words
        self._occurrences = occurrences
        self._count = len(occurrences)
        self._shift = 32 - self._count.bit_length()
        self.positions = np.empty(0, dtype=np.intp)  # stream index of each accepted output
        self.rows = np.empty(0, dtype=np.intp)  # the drawn n-gram's profile row
        self._scanned = 0
        self._extend(1024)

    def _extend(self, outputs: int) -> None:
        start, stop = self._scanned, self._scanned + outputs
        candidates = self._words.ensure(stop)[start:stop] >> self._shift
        accepted = np.flatnonzero(candidates < self._count)
        self.positions = np.concatenate([self.positions, accepted + start])
        self.rows = np.concatenate([self.rows, self._occurrences[candidates[accepted]]])
        self._scanned = stop

    def first_at(self, position: int) -> int:
        """Index of the first draw taken at stream index ``position`` or later."""
        while self._scanned <= position:
            self._extend(max(1024, self._scanned))
        return int(np.searchsorted(self.positions, position))

    def rows_from(self, first: int, count: int) -> np.ndarray:
        """Profile rows of draws ``first`` .. ``first + count - 1``."""
        while first + count > len(self.rows):
            self._extend(max(1024, self._scanned))
        return self.rows[first : first + count]


class LanguageDetector:
    """Detects the language of a text with langdetect's profiles and procedure.

    Args:
        word_lang_prob_map: n-gram -> per-language probabilities (a loaded
            ``langdetect.DetectorFactory``'s map). Copied into arrays; not kept.
        langlist: language codes in the map's order.
        seed: the random seed (langdetect's ``DetectorFactory.seed``).
    """

    def __init__(self, word_lang_prob_map: dict[str, list[float]], langlist: list[str], seed: int):
        self._languages = list(langlist)
        codes = np.array([ngram_code(gram) for gram in word_lang_prob_map], dtype=np.uint64)
        order = np.argsort(codes)
        self._codes = codes[order]
        if len(codes) > 1 and not (self._codes[1:] > self._codes[:-1]).all():
            raise ValueError("n-gram codes collide")  # impossible for distinct 1-3 char grams
        # Row i holds the probabilities of the n-gram whose code is self._codes[i].
        probabilities = list(word_lang_prob_map.values())
        self._matrix = np.array([probabilities[i] for i in order.tolist()], dtype=np.float64)
        self._ascii_rows = _ascii_row_table(self._codes)
        self._words = SeededWords(seed)
        self._normaliser = _Normaliser()
        self._is_upper = upper_case_table()

    @property
    def languages(self) -> list[str]:
        return list(self._languages)

    def detect(self, text: str) -> str | None:
        """The most probable language code, "unknown" when none clears langdetect's 0.1
        threshold, or None when the text has no known n-gram (langdetect raises there)."""
        occurrences = self.occurrences(self.clean(text))
        if not len(occurrences):
            return None
        return self.detect_occurrences(occurrences)

    def detect_occurrences(self, occurrences: np.ndarray) -> str:
        """The answer for a text whose n-grams (as profile rows, in order) are given."""
        probabilities, decided = self._average_trials(occurrences)
        if decided is not None:
            return self._languages[decided]
        ranked = [
            (p, lang)
            for lang, p in zip(self._languages, probabilities.tolist())
            if p > Detector.PROB_THRESHOLD
        ]
        if not ranked:
            return Detector.UNKNOWN_LANG
        # Highest probability first, ties in profile order (langdetect's stable reverse sort).
        return max(ranked, key=lambda pair: pair[0])[1]

    def clean(self, text: str) -> str:
        """The text langdetect extracts n-grams from (its ``append`` and ``cleaning_text``).

        Each step is skipped when the text lacks a character it needs to change anything
        (an e-mail needs "@", a Vietnamese mark a combining character, a run two spaces, the
        Latin rule a character from U+0300 on)."""
        if "://" in text:
            text = Detector.URL_RE.sub(" ", text)
        if "@" in text:
            text = Detector.MAIL_RE.sub(" ", text)
        if _VIETNAMESE_MARK.search(text):
            text = NGram.normalize_vi(text)
        text = text[:10_000]
        if "  " in text:
            text = _SPACE_RUNS.sub(" ", text)
        if not text.isascii():
            ascii_letters = len(text) - len(text.translate(_DELETE_ASCII_LETTERS))
            if ascii_letters * 2 < len(_FROM_U0300.findall(text)):
                text = text.translate(_DELETE_ASCII_LETTERS)
        return text

    def occurrences(self, text: str) -> np.ndarray:
        """The profile rows of the known n-grams of a cleaned text, in langdetect's order.

        langdetect normalises each character, resets at a space (a run of spaces counts once)
        and, after each character, offers its 1-gram (unless a space), its 2-gram and, from
        the second character of a word on, its 3-gram; none while the character and the one
        before it are both upper case (its "capital word" state). Over the text with one
        leading space and space runs collapsed, that is a rule on each position and the one
        before it.
        """
        normalised = _SPACE_RUNS.sub(" ", text.translate(self._normaliser)).lstrip(" ")
        if not normalised:
            return np.empty(0, dtype=np.intp)
        if normalised.isascii():
            return self._ascii_occurrences(" " + normalised)
        # surrogatepass: a lone surrogate (a Python string can hold one) is a code point
        # like any other, as it is to langdetect; strict encoding would raise on it.
        points = np.frombuffer((" " + normalised).encode("utf-32-le", "surrogatepass"), dtype="<u4")
        upper = self._is_upper[points]
        symbols = np.where(points < 128, _ASCII_SYMBOL[np.minimum(points, 127)], 0)
        current, previous = points[1:].astype(np.uint64), points[:-1].astype(np.uint64)
        count = len(current)
        # Per position: its 1-gram, 2-gram and 3-gram, in that order (row-major), as indices
        # in the ASCII table where all their characters are ASCII, else as codes.
        index = np.empty((count, 3), dtype=np.intp)
        index[:, 0] = symbols[1:]
        np.add(symbols[:-1] * _ASCII_BASE, symbols[1:], out=index[:, 1])
        index[0, 2] = 0  # position 1 has no 3-gram (the character before it is a space)
        np.add(symbols[:-2] * _ASCII_BASE**2, index[1:, 1], out=index[1:, 2])
        ascii_only = np.empty((count, 3), dtype=bool)
        ascii_only[:, 0] = symbols[1:] > 0
        np.logical_and(ascii_only[:, 0], symbols[:-1] > 0, out=ascii_only[:, 1])
        ascii_only[0, 2] = True
        np.logical_and(ascii_only[1:, 1], symbols[:-2] > 0, out=ascii_only[1:, 2])
        keep = np.empty((count, 3), dtype=bool)
        np.logical_not(upper[1:] & upper[:-1], out=keep[:, 1])
        np.logical_and(keep[:, 1], current != _SPACE, out=keep[:, 0])
        np.logical_and(keep[:, 1], previous != _SPACE, out=keep[:, 2])
        index, ascii_only = index[keep], ascii_only[keep]
        rows = self._ascii_rows[index].astype(np.intp)
        others = np.flatnonzero(~ascii_only)
        if len(others):
            codes = np.empty((count, 3), dtype=np.uint64)
            codes[:, 0] = current
            np.bitwise_or(previous << _BITS, current, out=codes[:, 1])
            codes[0, 2] = 0
            np.bitwise_or(
                points[:-2].astype(np.uint64) << (2 * _BITS), codes[1:, 1], out=codes[1:, 2]
            )
            rows[others] = self._code_rows(codes[keep][others])
        return rows[rows >= 0]

    def _ascii_occurrences(self, text: str) -> np.ndarray:
        """``occurrences`` for a normalised text of ASCII letters and spaces (most texts):
        the same n-grams, indexed directly in a table over that alphabet."""
        points = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        symbols = _ASCII_SYMBOL[points]
        upper = (points >= 65) & (points <= 90)  # "A" to "Z"
        current, previous = symbols[1:], symbols[:-1]
        count = len(current)
        index = np.empty((count, 3), dtype=np.intp)
        index[:, 0] = current
        np.add(previous * _ASCII_BASE, current, out=index[:, 1])
        index[0, 2] = 0  # position 1 has no 3-gram
        np.add(symbols[:-2] * _ASCII_BASE**2, index[1:, 1], out=index[1:, 2])
        keep = np.empty((count, 3), dtype=bool)
        np.logical_not(upper[1:] & upper[:-1], out=keep[:, 1])
        np.logical_and(keep[:, 1], current != _ASCII_SPACE, out=keep[:, 0])
        np.logical_and(keep[:, 1], previous != _ASCII_SPACE, out=keep[:, 2])
        rows = self._ascii_rows[index[keep]]
        return rows[rows >= 0].astype(np.intp)

    def _code_rows(self, codes: np.ndarray) -> np.ndarray:
        """The profile row of each code, -1 for unknown ones (a binary search)."""
        rows = np.searchsorted(self._codes, codes)
        np.minimum(rows, len(self._codes) - 1, out=rows)
        rows[self._codes[rows] != codes] = -1
        return rows

    def probabilities(self, text: str) -> list[float] | None:
        """langdetect's averaged per-language probabilities after all seven trials (its
        ``langprob``, before thresholding), or None without known n-grams."""
        occurrences = self.occurrences(self.clean(text))
        if not len(occurrences):
            return None
        return self._average_trials(occurrences, early=False)[0].tolist()

    def _average_trials(
        self, occurrences: np.ndarray, early: bool = True
    ) -> tuple[np.ndarray, int | None]:
        """langdetect's averaged trial probabilities, or (partial average, winner index) as
        soon as the remaining trials cannot change the winner (when ``early``)."""
        draws = _Draws(self._words, occurrences)
        count = len(self._languages)
        average = np.zeros(count)
        cursor = 0  # next unused output of the seeded stream
        kept_gauss = None  # Random.gauss's second deviate, used by the next trial
        for trial in range(TRIALS):
            if kept_gauss is None:
                deviate, kept_gauss = self._words.gauss_pair(cursor)
                cursor += 4
            else:
                deviate, kept_gauss = kept_gauss, None
            alpha = Detector.ALPHA_DEFAULT + (0.0 + deviate * 1.0) * Detector.ALPHA_WIDTH
            first = draws.first_at(cursor)
            probability, used = self._trial(draws, first, alpha / Detector.BASE_FREQ)
            cursor = int(draws.positions[first + used - 1]) + 1
            average += probability / TRIALS
            winner = self._decided(average, TRIALS - trial - 1) if early else None
            if winner is not None:
                return average, winner
        return average, None

    def _trial(self, draws: _Draws, first: int, weight: float) -> tuple[np.ndarray, int]:
        """One trial from draw ``first``: the final probabilities and the draws used.

        ``blocks[b, 0]`` holds the probabilities before block ``b``; ``blocks[b, 1:]`` the
        factors (weight + n-gram probabilities) it multiplies in, one draw each: block 0 has
        one draw (langdetect normalises after its first draw), later blocks five.
        """
        count = len(self._languages)
        blocks = self._prepare_blocks(draws, first, weight, 0, _INITIAL_BLOCKS)
        blocks[0, 0] = 1.0 / count
        reduce, divide = np.multiply.reduce, np.divide
        threshold, limit = Detector.CONV_THRESHOLD, Detector.ITERATION_LIMIT
        reduce(blocks[0, :2], axis=0, out=blocks[1, 0])
        block, used, witness = 1, 1, 0
        while True:
            row = blocks[block, 0]
            values = row.tolist()
            total = sum(values)  # langdetect's normalisation: Python's sum of the list
            divide(row, total, out=row)
            # langdetect stops when the largest normalised value exceeds 0.99999. Division
            # by a positive total keeps the order, so that value is max(values) / total.
            # Normalised values sum to 1 (within 1e-13), so while some language (the
            # witness) holds 2e-5 or more, no other can exceed the threshold and the test
            # is on the witness alone, which spares the scan.
            share = values[witness] / total
            if share < 2e-5:
                top = max(values)
                witness, share = values.index(top), top / total
            if share > threshold or used - 1 >= limit:
                return row, used
            if block + 1 == len(blocks):
                blocks = self._grow_blocks(blocks, draws, first, weight)
            reduce(blocks[block], axis=0, out=blocks[block + 1, 0])
            block += 1
            used += 5

    def _prepare_blocks(
        self, draws: _Draws, first: int, weight: float, start: int, stop: int
    ) -> np.ndarray:
        """Blocks ``start`` .. ``stop - 1`` (see ``_trial``) with their factors filled in."""
        blocks = np.empty((stop - start + 1, 6, len(self._languages)))
        # Draw numbers (0-based within the trial) of the first factor of block `start`.
        begin = 0 if start == 0 else 1 + 5 * (start - 1)
        end = 1 + 5 * (stop - 1)
        factors = np.add(weight, self._matrix[draws.rows_from(first + begin, end - begin)])
        if start == 0:
            blocks[0, 1] = factors[0]
            factors = factors[1:]
            blocks[1:-1, 1:] = factors.reshape(stop - 1, 5, -1)
        else:
            blocks[:-1, 1:] = factors.reshape(stop - start, 5, -1)
        return blocks

    def _grow_blocks(
        self, blocks: np.ndarray, draws: _Draws, first: int, weight: float
    ) -> np.ndarray:
        have = len(blocks) - 1  # blocks with factors
        more = self._prepare_blocks(draws, first, weight, have, 2 * have)
        more[0, 0] = blocks[have, 0]
        return np.concatenate((blocks[:have], more))

    def _decided(self, average: np.ndarray, remaining: int) -> int | None:
        """The winner's index if ``remaining`` more trials cannot change it, else None.

        Each trial adds its normalised probabilities / 7, at most 1/7 (plus rounding) to any
        language; the leader only gains. A lead over the runner-up larger than what the
        remaining trials can add (with a margin for rounding) fixes the answer; it also puts
        the leader above langdetect's 0.1 threshold.
        """
        if remaining == 0 or remaining * 2 >= TRIALS:  # a lead of more than 3/7 needs 4 trials
            return None
        values = average.tolist()
        leader = max(range(len(values)), key=values.__getitem__)
        lead = values[leader]
        runner_up = max(v for i, v in enumerate(values) if i != leader)
        if lead - runner_up > remaining / TRIALS + 1e-9:
            return leader
        return None


# Symbols of the ASCII alphabet a normalised ASCII text is made of: 0 for "no character" (the
# missing leading characters of a 1- or 2-gram), then the space and the letters.
_ASCII_ALPHABET = " " + string.ascii_uppercase + string.ascii_lowercase
_ASCII_BASE = len(_ASCII_ALPHABET) + 1
_ASCII_SPACE = 1
_ASCII_SYMBOL = np.zeros(128, dtype=np.intp)
_ASCII_SYMBOL[[ord(char) for char in _ASCII_ALPHABET]] = np.arange(1, _ASCII_BASE)


def _ascii_row_table(codes: np.ndarray) -> np.ndarray:
    """Profile row (-1 if none) of every n-gram over ``_ASCII_ALPHABET``, indexed by its
    symbols in base ``_ASCII_BASE`` (157,464 entries; ``codes`` are the sorted n-gram codes)."""
    table = np.full(_ASCII_BASE**3, -1, dtype=np.int32)
    mask = np.uint64((1 << _BITS) - 1)
    index = np.zeros(len(codes), dtype=np.intp)
    inside = np.ones(len(codes), dtype=bool)
    for shift in (2 * _BITS, _BITS, 0):
        points = ((codes >> np.uint64(shift)) & mask).astype(np.intp)
        symbol = np.where(points < 128, _ASCII_SYMBOL[np.minimum(points, 127)], 0)
        inside &= (points == 0) | (symbol > 0)  # absent, or a character of the alphabet
        index = index * _ASCII_BASE + symbol
    table[index[inside]] = np.flatnonzero(inside)
    return table


@functools.cache
def upper_case_table() -> np.ndarray:
    """Whether each code point's character is upper case (``str.isupper``), as an array
    indexed by code point. Built on first use: it scans all of Unicode (~0.2 s)."""
    flags = np.zeros(sys.maxunicode + 1, dtype=bool)
    flags[[code for code in range(sys.maxunicode + 1) if chr(code).isupper()]] = True
    return flags
