"""IFBench ``count:*``, ``ratio:*``, ``words:*`` and ``sentence:*`` types (30 ids).

Each rule restates the decision procedure of the IFBench reference checker (allenai/IFBench
``8a66c06``, ``instructions.py``; see ``../shared/reference/README.md``), on the analysers of
:mod:`.ifbench_text`. The reference's quirks define the measured benchmark, so they are kept
and each rule's docstring names them: substring matching (``count:keywords_multiple``,
``count:person_names``, ``sentence:keyword``), punctuation tokens counting as words
(``words:keywords_specific_position``, ``words:words_position``), vacuous passes
(``ratio:sentence_type``, ``ratio:sentence_balance``), checks that never look at what the
instruction says (``ratio:sentence_words`` never compares words), character trigrams
(``ratio:overlap``).

Deliberate differences from the reference:

- **Crashes are failures.** Where the reference raises on short or odd text
  (``ratio:stop_words`` with no word character and ``ratio:overlap`` under three characters
  divide by zero; ``words:alphabet`` with no word, ``words:last_first`` with a sentence of
  punctuation alone and ``words:paragraph_last_first`` with a line of punctuation alone,
  such as ``---`` or ``**``, index an empty list), the verdict here is False: a crash is
  never a silent pass. In the loose check the reference's crash in any variant voids the
  whole verdict; here that variant fails and the others are still tried.
  ``sentence:increment`` also indexes its first sentence unguarded, which cannot fail on a
  non-blank text; the rule says False there anyway.
- **Arguments are required and checked.** The reference draws a random value for a missing
  or negative argument (unseeded, separately for its strict and loose passes); here a missing
  argument is a ``ConstraintArgumentError`` naming it. The 300-row test set gives every
  argument. Values the reference would crash on (``count:words_japanese`` with ``N=0``) or
  treat inconsistently (a position of 0) are rejected by a minimum; ``min_words`` above
  ``max_words`` is rejected, since no response could pass.
- **``words:start_verb`` is an approximation.** The reference asks NLTK's averaged-perceptron
  POS tagger whether the first word token is a verb; that tagger is an NLTK download no PyPI
  package ships. The rule here is a verb-form word list (see ``_starts_with_verb``): not the
  reference's tagger, and unverified against it (the parity runner reports this type as
  unavailable).
- **``ratio:stop_words`` restates NLTK's English stopword list** (``ifbench_text.STOP_WORDS``)
  instead of loading the corpus; the parity runner, which has no corpus either, reports this
  type as unavailable, so it is checked against hand-computed cases only.
- The ``count:words_japanese`` phrasing uses correct ordinals ("Every 21st word ..."); the
  reference's description drops the word "word" for numbers ending in 1, 2 or 3 and writes
  "11st", "12nd", "13rd".
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import string
from collections import Counter

from . import ifbench_text as tx
from .base import Arg, ConstraintType
from .vocabulary import KEYWORDS

_FAMILY = "ifbench"


def _strip(value: str) -> str:
    return value.strip()


def _count(name: str, description: str, minimum: int = 0) -> Arg:
    return Arg(name, int, description, minimum=minimum)


def _no_sampling(what: str):
    def sample(rng: random.Random) -> dict:
        raise NotImplementedError(what)

    return sample


def _ints(**ranges):
    """A sampler drawing each named integer uniformly from its (low, high) range."""

    def sample(rng: random.Random) -> dict:
        return {name: rng.randint(low, high) for name, (low, high) in ranges.items()}

    return sample


# ---------------------------------------------------------------------------------------------
# counts of words


def _word_count_range(text: str, kw: dict) -> bool:
    """``min_words <= n <= max_words`` for n the runs of ``\\w`` (``"don't"`` is two words)."""
    return kw["min_words"] <= tx.count_regex_words(text) <= kw["max_words"]


def _min_not_above_max(kw: dict) -> tuple[str, str] | None:
    if kw["min_words"] > kw["max_words"]:
        return "max_words", f"must be >= min_words ({kw['min_words']}), got {kw['max_words']}"
    return None


def _sample_word_range(rng: random.Random) -> dict:
    # The reference's own draw: a minimum in 100..500 and a range of 5-10% of it.
    low = rng.randint(100, 500)
    return {"min_words": low, "max_words": low + rng.randint(int(low * 0.05), int(low * 0.1))}


def _unique_word_count(text: str, kw: dict) -> bool:
    """At least N distinct lower-cased whitespace-separated chunks, each trimmed of ASCII
    punctuation. A chunk of punctuation alone (``--``) trims to the empty string, which the
    reference counts as one more unique word; so does this rule."""
    unique = {tx.strip_punctuation(word) for word in text.lower().split()}
    return len(unique) >= kw["N"]


_CONJUNCTIONS = frozenset(("and", "but", "for", "nor", "or", "so", "yet"))


def _conjunctions(text: str, kw: dict) -> bool:
    """At least ``small_n`` distinct coordinating conjunctions (and, but, for, nor, or, so,
    yet). As in the reference, a chunk counts when its punctuation-trimmed lower case is a
    conjunction, but chunks are told apart as written: ``and``, ``And`` and ``and,`` are
    three different conjunctions."""
    found = {word for word in text.split() if tx.strip_punctuation(word).lower() in _CONJUNCTIONS}
    return len(found) >= kw["small_n"]


PERSON_NAMES = (
    "Emma", "Liam", "Sophia", "Jackson", "Olivia", "Noah", "Ava", "Lucas", "Isabella", "Mason",
    "Mia", "Ethan", "Charlotte", "Alexander", "Amelia", "Benjamin", "Harper", "Leo", "Zoe",
    "Daniel", "Chloe", "Samuel", "Lily", "Matthew", "Grace", "Owen", "Abigail", "Gabriel",
    "Ella", "Jacob", "Scarlett", "Nathan", "Victoria", "Elijah", "Layla", "Nicholas", "Audrey",
    "David", "Hannah", "Christopher", "Penelope", "Thomas", "Nora", "Andrew", "Aria", "Joseph",
    "Claire", "Ryan", "Stella", "Jonathan",
)  # fmt: skip


def _person_names(text: str, kw: dict) -> bool:
    """At least N of the 50 listed first names occur, case-sensitively, as substrings: as in
    the reference, ``Mia`` counts in "Miami", ``Ava`` in "Available", ``Leo`` in "Leonardo"."""
    return sum(name in text for name in PERSON_NAMES) >= kw["N"]


_DIGIT_RUN = re.compile(r"\d+")


def _numbers(text: str, kw: dict) -> bool:
    """Exactly N runs of digits once ASCII punctuation is deleted: ``3.14`` and ``1,000`` are
    one number each, ``3 - 4`` two; any Unicode decimal digit counts (``\\d``)."""
    return len(_DIGIT_RUN.findall(tx.without_punctuation(text))) == kw["N"]


_PRONOUNS = frozenset(
    tx.word_list(
        "i me my mine myself we us our ours ourselves you your yours yourself yourselves he him "
        "his himself she her hers herself it its itself they them their theirs themselves"
    )
)


def _pronouns(text: str, kw: dict) -> bool:
    """At least N pronouns from the reference's 31-word list, counted over whitespace chunks
    after ``/`` becomes a space and ASCII punctuation is deleted (``I'm`` becomes ``im``, not
    a pronoun)."""
    words = tx.without_punctuation(text.replace("/", " ").lower()).split()
    return sum(word in _PRONOUNS for word in words) >= kw["N"]


_PUNCTUATION_MARKS = frozenset(".,!?;:")


def _punctuation_cover(text: str, kw: dict) -> bool:
    """An interrobang (``?!``, ``!?`` or ``‽``) and each of ``. , ! ? ; :``. As in the
    reference, one ``?!`` (else one ``!?``) is removed before the marks are looked for, so the
    interrobang does not supply its own ``?`` and ``!``; a ``‽`` removes nothing."""
    if "?!" not in text and "!?" not in text and "‽" not in text:
        return False
    rest = text.replace("?!", "", 1)
    if len(rest) == len(text):
        rest = text.replace("!?", "", 1)
    return _PUNCTUATION_MARKS <= set(rest)


def _keywords_multiple(text: str, kw: dict) -> bool:
    """keyword1 once, keyword2 twice, keyword3 three, keyword4 five and keyword5 seven times,
    counted case-insensitively as non-overlapping substrings (``str.count``): as in the
    reference, ``art`` also counts in "start" and "smart"."""
    lowered = text.lower()
    return all(
        lowered.count(kw[name].lower()) == times
        for name, times in (("keyword1", 1), ("keyword2", 2), ("keyword3", 3))
        + (("keyword4", 5), ("keyword5", 7))
    )


def _sample_five_keywords(rng: random.Random) -> dict:
    words = rng.sample(KEYWORDS, 5)
    return {f"keyword{i}": word for i, word in enumerate(words, start=1)}


_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and CJK ideographs


def _words_japanese(text: str, kw: dict) -> bool:
    """Every N-th whitespace chunk (counting from 1) holds a kana or CJK character, unless
    it is empty once trimmed of ASCII punctuation or is all digits (then it is skipped)."""
    n = kw["N"]
    for word in text.split()[n - 1 :: n]:
        word = tx.strip_punctuation(word)
        if word and not word.isdigit() and _JAPANESE.search(word) is None:
            return False
    return True


def _ordinal(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


# ---------------------------------------------------------------------------------------------
# ratios


def _stop_words(text: str, kw: dict) -> bool:
    """Stop words (NLTK's English list, ``ifbench_text.STOP_WORDS``) are at most
    ``percentage``% of the runs of ``\\w``, compared by the reference's own float expression.
    A text without a ``\\w`` run is False (the reference divides by zero)."""
    words = tx.regex_words(text)
    if not words:
        return False
    stop = sum(word.lower() in tx.STOP_WORDS for word in words)
    return (stop / len(words)) * 100 <= kw["percentage"]


def _sentence_ends(text: str) -> tuple[int, int, int]:
    sentences = tx.split_sentences(text)
    return (
        sum(sentence.endswith(".") for sentence in sentences),
        sum(sentence.endswith("?") for sentence in sentences),
        sum(sentence.endswith("!") for sentence in sentences),
    )


def _sentence_type(text: str, kw: dict) -> bool:
    """Regex sentences ending in ``.`` are exactly twice those ending in ``?``. As in the
    reference this passes vacuously with neither (a text without ``.`` or ``?``)."""
    declarative, interrogative, _ = _sentence_ends(text)
    return declarative == 2 * interrogative


def _sentence_balance(text: str, kw: dict) -> bool:
    """As many regex sentences end in ``.`` as in ``?`` and in ``!``. As in the reference this
    passes vacuously with none of them."""
    declarative, interrogative, exclamatory = _sentence_ends(text)
    return declarative == interrogative == exclamatory


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


@functools.lru_cache(maxsize=256)
def _reference_trigrams(reference: str) -> frozenset[str]:
    return frozenset(_trigrams(reference))


def _overlap(text: str, kw: dict) -> bool:
    """The share of the response's distinct *character* trigrams (raw text, case and spaces
    included; the reference runs ``nltk.ngrams`` on the string, not on words) that also occur
    in ``reference_text`` is within 2 points of ``percentage``. A response under three
    characters is False (the reference divides by zero)."""
    own = _trigrams(text)
    if not own:
        return False
    shared = len(own & _reference_trigrams(kw["reference_text"]))
    percentage = kw["percentage"]
    return percentage - 2 <= (shared / len(own)) * 100 <= percentage + 2


def _sentence_words(text: str, kw: dict) -> bool:
    """Exactly three regex sentences, all of the same length in characters. As in the
    reference, the words are never compared: ``"Cat. Cat. Cat."`` passes."""
    sentences = tx.split_sentences(text)
    return len(sentences) == 3 and len({len(sentence) for sentence in sentences}) == 1


# ---------------------------------------------------------------------------------------------
# words


def _alphabet(text: str, kw: dict) -> bool:
    """The whitespace words (ASCII punctuation deleted) start with consecutive letters of
    the alphabet, wrapping from z to a, case-insensitively; the first must start with an
    ASCII letter. A text with no word left is False (the reference raises)."""
    words = tx.without_punctuation(text).strip(" ").split()
    if not words:
        return False
    letter = words[0][0].lower()
    if len(letter) != 1 or letter not in string.ascii_lowercase:
        return False
    position = ord(letter) - ord("a")
    for word in words[1:]:
        position = (position + 1) % 26
        # The reference lower-cases the whole word before taking its first character.
        if word.lower()[0] != string.ascii_lowercase[position]:
            return False
    return True


_VOWELS = frozenset("aeiou")


def _vowel(text: str, kw: dict) -> bool:
    """One line (no ``\\n`` once the text is stripped) using at most three of the vowels
    a, e, i, o, u (case-insensitive; ``y`` and accented vowels do not count)."""
    stripped = text.strip()
    if "\n" in stripped:
        return False
    return len(_VOWELS.intersection(stripped.lower())) <= 3


_CONSONANT_PAIR = re.compile(r"[bcdfghjklmnpqrstvwxyz]{2}")


def _consonants(text: str, kw: dict) -> bool:
    """Every lower-cased whitespace chunk holds two ASCII consonants in a row (``y`` is a
    consonant); punctuation stays in the chunk, so a chunk of only punctuation fails."""
    return all(_CONSONANT_PAIR.search(word) for word in text.lower().split())


def _palindrome(text: str, kw: dict) -> bool:
    """At least 10 whitespace words (ASCII punctuation deleted, lower-cased) that read the
    same backwards and have at least 5 characters; a repeated palindrome counts each time."""
    words = tx.without_punctuation(text).lower().split()
    return sum(len(word) >= 5 and word == word[::-1] for word in words) >= 10


# The reference's list: a prime length above 97 does not count as prime.
_PRIMES = frozenset((2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71))
_PRIMES |= {73, 79, 83, 89, 97}


def _prime_lengths(text: str, kw: dict) -> bool:
    """Every whitespace word (ASCII punctuation deleted) has a prime length in characters
    (up to 97, the reference's list). Words of length 1 fail (``a``, ``I``)."""
    return all(len(word) in _PRIMES for word in tx.without_punctuation(text).split())


def _repeats(text: str, kw: dict) -> bool:
    """No lower-cased whitespace word (ASCII punctuation deleted) occurs more than
    ``small_n`` times."""
    counts = Counter(tx.without_punctuation(text.lower()).split())
    return not counts or max(counts.values()) <= kw["small_n"]


@functools.lru_cache(maxsize=4096)
def _whitespace_syllable_parities(text: str) -> tuple[int, ...]:
    return tuple(_syllables(word) % 2 for word in tx.without_punctuation(text).lower().split())


@functools.cache
def _syllable_counter():
    import syllapy  # loads its word list (about 140,000 rows) on import

    return syllapy.count


def _syllables(word: str) -> int:
    return _syllable_counter()(word)


def _odd_even_syllables(text: str, kw: dict) -> bool:
    """Consecutive whitespace words (ASCII punctuation deleted, lower-cased) alternate
    between odd and even syllable counts, as ``syllapy.count`` gives them (the reference's
    library; a word it cannot count, such as one with a digit, has 0 syllables: even)."""
    parities = _whitespace_syllable_parities(text)
    return all(a != b for a, b in itertools.pairwise(parities))


def _last_first(text: str, kw: dict) -> bool:
    """The last whitespace word of each regex sentence (trailing ASCII punctuation removed)
    equals, case-insensitively, the first word of the next (leading punctuation removed).
    A sentence that has no word there (``". "``) makes it False (the reference raises)."""
    sentences = tx.split_sentences(text)
    for current, following in itertools.pairwise(sentences):
        last = tx.rstrip_punctuation(current).split()
        first = tx.lstrip_punctuation(following).split()
        if not last or not first or last[-1].lower() != first[0].lower():
            return False
    return True


def _paragraph_last_first(text: str, kw: dict) -> bool:
    """Each non-blank line starts and ends with the same lower-cased whitespace word, once
    the line is trimmed of ASCII punctuation at its ends (``"Hello, world hello"`` fails:
    ``hello,`` is not ``hello``). A line of punctuation alone is False (the reference
    raises)."""
    for line in text.split("\n"):
        line = line.strip().lower()
        if not line:
            continue
        words = tx.strip_punctuation(line).split()
        if not words or words[0] != words[-1]:
            return False
    return True


def _no_consecutive(text: str, kw: dict) -> bool:
    """No two consecutive whitespace words (lower-cased, ASCII punctuation deleted) start
    with the same character."""
    words = tx.without_punctuation(text.lower()).split()
    return all(a[0] != b[0] for a, b in itertools.pairwise(words))


def _keyword_position(text: str, kw: dict) -> bool:
    """The ``m``-th NLTK word token of the ``n``-th regex sentence is exactly ``keyword``
    (case-sensitive). Punctuation marks are tokens, so they count as words, as in the
    reference (``"Hi, giggle"``: ``giggle`` is the third word)."""
    if not _may_be_a_token(kw["keyword"], text):
        return False
    sentences = tx.split_sentences(text)
    if len(sentences) < kw["n"]:
        return False
    tokens = tx.word_tokens(sentences[kw["n"] - 1])
    return len(tokens) >= kw["m"] and tokens[kw["m"] - 1] == kw["keyword"]


def _sample_keyword_position(rng: random.Random) -> dict:
    return {"keyword": rng.choice(KEYWORDS), "n": rng.randint(1, 5), "m": rng.randint(1, 8)}


def _may_be_a_token(keyword: str, text: str) -> bool:
    """False when no word token of ``text`` can equal ``keyword``: a token is a piece of the
    text (the Treebank rules insert spaces, and turn double quotes into `` and ''), so a
    keyword without quotes that is not in the text is no token of it. Saves tokenizing the
    text, up to half a second on 100,000 characters (tests/_helpers_fuzz.py)."""
    return keyword in text or any(mark in keyword for mark in "`'")


def _words_position(text: str, kw: dict) -> bool:
    """The second and the second-to-last NLTK word tokens of the whole response are exactly
    ``keyword`` (case-sensitive). Punctuation marks are tokens, so a final period makes the
    last word the second to last token, as in the reference."""
    if not _may_be_a_token(kw["keyword"], text):
        return False
    head = tx.word_tokens_head(text, 2)  # fewer than 2 here: fewer than 2 in all
    return len(head) == 2 and head[1] == tx.word_tokens_tail(text, 2)[0] == kw["keyword"]


# Verb forms for `words:start_verb`. Not NLTK's tagger: a list of words that usually are
# verbs when they open a response (imperatives, auxiliaries, common past and -ing forms).
_VERBS = frozenset(
    tx.word_list(
        """
    accept achieve act add address adjust adopt aim allow analyse analyze answer apply
    appreciate approach arrange ask assess assume attach attempt avoid bake be become begin
    believe boil bring build buy calculate call calm capture care carry catch celebrate change
    check choose clarify clean click close collect combine come compare compile complete
    compose compute conduct configure confirm connect consider contact continue convert cook
    count craft create cut deal decide define delete deliver demonstrate describe design
    determine develop dig discover discuss dive do draft draw drink drive eat edit eliminate
    embrace emphasize enable encourage engage enhance enjoy ensure enter establish estimate
    evaluate examine exercise expand expect experience explain explore express extract feel
    fill find finish fix focus follow forget format gather generate get give go grab grow
    guess handle have hear help highlight hire hold identify ignore illustrate imagine
    implement improve include incorporate increase indicate install integrate introduce
    investigate invite join jump keep kill know label launch lead learn leave let lift limit
    link list listen live locate look love maintain make manage map mark measure meet mention
    mix modify monitor move name navigate need note notice obtain offer open optimize order
    organize outline paint pay perform pick picture place plan plant play pour practice
    predict prefer prepare present preserve press prevent print prioritize proceed produce
    promote protect prove provide publish pull purchase push put raise rank rate reach read
    recall receive recognize recommend record reduce refer reflect refine regard relax
    release remember remind remove rename repeat rephrase replace reply report request
    research reset resolve respond rest restore retain return reveal review revise rewrite
    ride rinse rise run save say search see seek select sell send separate serve set share
    shift show sign simplify sing sit sketch skip sleep slice solve sort speak spend split
    spread start stay step stick stir stop store strengthen stretch study submit suggest
    summarise summarize support suppose surround swap switch take talk taste teach tell test
    thank think throw track train transform translate travel treat try turn type uncover
    understand unlock update upgrade use utilize validate verify view visit visualize wait
    wake walk want warm wash watch wear welcome win wish wonder work worry wrap write
    am are is was were been being has had does did done doing
    began begun bought brought built came chose chosen drew drawn drove felt found gave given
    got gone grew held kept knew known led left lost made meant met paid ran said sat saw
    seen sent spoke spent stood taken thought told took understood went wore wrote written
    based given
    """
    )
)
# -ing and -ed words that are rarely verbs at the start of a text.
_NOT_VERBS = frozenset(
    tx.word_list(
        """
    anything bring building ceiling during everything evening king morning nothing ring
    something spring sing sting string thing wing feeling meaning painting wedding
    bed hundred indeed red sacred seed shed speed need united naked wicked
    """
    )
)
_VERB_ENDINGS = re.compile(r"[a-z]{3,}(?:ing|ed)")


def _starts_with_verb(text: str, kw: dict) -> bool:
    """The first NLTK word token looks like a verb. NOT the reference's procedure, which
    tags the tokens with NLTK's averaged-perceptron tagger (an NLTK download that no PyPI
    package ships) and passes when the first tag contains ``VB``. The approximation: the
    lower-cased first token is in a list of common verbs and verb forms (``_VERBS``), or ends
    in ``-ing`` / ``-ed`` after at least three letters and is not a listed exception
    (``_NOT_VERBS``: "morning", "hundred", ...). A first token that is punctuation (``**``,
    ``#``, a quote) is not a verb. Unverified against the tagger: expect disagreements on
    words that are nouns and verbs alike ("Use", "Plan", "Answer" are taken as verbs here).
    """
    # Every listed verb and every -ing/-ed form is ASCII letters, and the first token starts
    # at the first non-space character (Treebank only inserts spaces and turns quotes into
    # quote tokens): a response opening with anything else is decided without tokenizing
    # (0.3 s for one 100,000-character sentence of backticks, tests/_helpers_fuzz.py).
    opening = text.lstrip()[:1].lower()
    if not (opening.isascii() and opening.isalpha()):
        return False
    first = tx.first_word_token(text)
    if first is None:
        return False
    first = first.lower()
    if first in _VERBS:
        return True
    return first not in _NOT_VERBS and _VERB_ENDINGS.fullmatch(first) is not None


# ---------------------------------------------------------------------------------------------
# sentences


def _first_letters_run(sentence: str) -> int:
    words = [tx.lstrip_punctuation(word) for word in sentence.lower().split()]
    words = [word for word in words if word]
    score, in_run = 0, False
    for a, b in itertools.pairwise(words):
        if a[0] == b[0]:
            score += 1 if in_run else 2
            in_run = True
        else:
            in_run = False
    return score


def _alliteration_increment(text: str, kw: dict) -> bool:
    """Each regex sentence has strictly more alliterative words than the one before, where a
    sentence's count is the number of words in runs of consecutive words (lower-cased,
    leading ASCII punctuation trimmed) sharing their first character, summed over runs. The
    first sentence may have none; a single sentence passes."""
    previous = -1
    for sentence in tx.split_sentences(text):
        score = _first_letters_run(sentence)
        if score <= previous:
            return False
        previous = score
    return True


def _sentence_keyword(text: str, kw: dict) -> bool:
    """The ``N``-th regex sentence contains ``word`` as a case-insensitive substring (as in
    the reference, ``art`` is found in "start"; the word is not stripped)."""
    sentences = tx.split_sentences(text)
    return len(sentences) >= kw["N"] and kw["word"].lower() in sentences[kw["N"] - 1].lower()


def _sentence_increment(text: str, kw: dict) -> bool:
    """Each regex sentence has exactly ``small_n`` more whitespace words (ASCII punctuation
    deleted) than the one before. A text with no sentence is False (the reference raises)."""
    sentences = tx.split_sentences(text)
    if not sentences:
        return False
    counts = [len(tx.without_punctuation(sentence).split()) for sentence in sentences]
    step = kw["small_n"]
    return all(b == a + step for a, b in itertools.pairwise(counts))


# ---------------------------------------------------------------------------------------------
# the types


def _type(type_id: str, rule, phrasings, args=(), sample=None, **options) -> ConstraintType:
    if sample is not None:
        options["sample"] = sample
    return ConstraintType(type_id, rule, phrasings, args=args, family=_FAMILY, **options)


_PERSON_LIST = ", ".join(PERSON_NAMES)

TYPES: tuple[ConstraintType, ...] = (
    _type(
        "count:word_count_range",
        _word_count_range,
        (
            "The response must contain between {min_words} and {max_words} words.",
            "Write between {min_words} and {max_words} words.",
        ),
        args=[
            _count("min_words", "the fewest words allowed"),
            _count("max_words", "the most words allowed"),
        ],
        sample=_sample_word_range,
        cross_check=_min_not_above_max,
    ),
    _type(
        "count:unique_word_count",
        _unique_word_count,
        (
            "Use at least {N} unique words in the response.",
            "Your answer must contain at least {N} different words.",
        ),
        args=[_count("N", "the fewest distinct words", minimum=1)],
        sample=_ints(N=(20, 300)),
    ),
    _type(
        "ratio:stop_words",
        _stop_words,
        (
            (
                "Ensure that stop words constitute no more than {percentage}% of the total words "
                "in your response."
            ),
            "At most {percentage}% of the words in your answer may be stop words.",
        ),
        args=[_count("percentage", "the largest share of stop words, in percent")],
        sample=_ints(percentage=(20, 60)),
    ),
    _type(
        "ratio:sentence_type",
        _sentence_type,
        ("Maintain a 2:1 ratio of declarative to interrogative sentences.",),
    ),
    _type(
        "ratio:sentence_balance",
        _sentence_balance,
        (
            (
                "Ensure that the ratio of sentence types (declarative, interrogative, exclamatory) "
                "is balanced."
            ),
        ),
    ),
    _type(
        "count:conjunctions",
        _conjunctions,
        (
            "Use at least {small_n} different coordinating conjunctions in the response.",
            (
                "Your answer must use at least {small_n} different coordinating conjunctions "
                "(and, but, for, nor, or, so, yet)."
            ),
        ),
        args=[_count("small_n", "the fewest distinct conjunctions", minimum=1)],
        sample=_ints(small_n=(2, 6)),
    ),
    _type(
        "count:person_names",
        _person_names,
        (
            "Mention at least {N} different person names in the response, from this list of "
            "person names: " + _PERSON_LIST + " .",
        ),
        args=[_count("N", "the fewest distinct names from the list", minimum=1)],
        sample=_ints(N=(1, 10)),
    ),
    _type(
        "ratio:overlap",
        _overlap,
        ("Maintain a trigram overlap of {percentage}% (±2%) with the provided reference text.",),
        args=[
            Arg("reference_text", str, "the text whose character trigrams are compared"),
            _count("percentage", "the target share of shared trigrams, in percent"),
        ],
        sample=_no_sampling("ratio:overlap needs a reference text from the prompt"),
    ),
    _type(
        "count:numbers",
        _numbers,
        ("Include exactly {N} numbers in the response.",),
        args=[_count("N", "the exact count of numbers")],
        sample=_ints(N=(1, 6)),
    ),
    _type(
        "words:alphabet",
        _alphabet,
        (
            (
                "Each word must start with the next letter of the alphabet, looping back to 'A' "
                "after 'Z'."
            ),
            (
                "Each word in your response must start with the next letter of the alphabet, "
                "looping back to 'A' after 'Z'."
            ),
        ),
    ),
    _type(
        "words:vowel",
        _vowel,
        ("Write a paragraph using words that contain only three types of vowels.",),
    ),
    _type(
        "words:consonants",
        _consonants,
        (
            (
                "Ensure each word in your response has at least one consonant cluster (two or "
                "more consonants together)."
            ),
        ),
    ),
    _type(
        "sentence:alliteration_increment",
        _alliteration_increment,
        (
            (
                "Each sentence must have a longer sequence of consecutive alliterative words than "
                "the previous one."
            ),
        ),
    ),
    _type(
        "words:palindrome",
        _palindrome,
        ("Include at least 10 single-word palindromes, each at least 5 characters long.",),
    ),
    _type(
        "count:punctuation",
        _punctuation_cover,
        (
            (
                "Use every standard punctuation mark at least once, including semicolons, colons, "
                "and the interrobang (?!)."
            ),
        ),
    ),
    _type(
        "words:prime_lengths",
        _prime_lengths,
        ("Use only words with lengths that are prime numbers.",),
    ),
    _type(
        "ratio:sentence_words",
        _sentence_words,
        (
            (
                "Respond with three sentences, all containing the same number of characters but "
                "using all different words."
            ),
        ),
    ),
    _type(
        "count:words_japanese",
        _words_japanese,
        ("Every {nth} word of your response must be in Japanese.",),
        args=[_count("N", "the period: every N-th word must be Japanese", minimum=1)],
        sample=_ints(N=(2, 30)),
        fields=lambda kw: {**kw, "nth": _ordinal(kw["N"])},
    ),
    _type(
        "words:start_verb",
        _starts_with_verb,
        ("The response must start with a verb.",),
    ),
    _type(
        "words:repeats",
        _repeats,
        (
            "The response should not repeat any word more than {small_n} times.",
            "Do not use any word more than {small_n} times in your answer.",
        ),
        args=[_count("small_n", "the most times one word may occur", minimum=1)],
        sample=_ints(small_n=(1, 5)),
    ),
    _type(
        "sentence:keyword",
        _sentence_keyword,
        ('The response must include keyword "{word}" in the {N}-th sentence.',),
        args=[
            Arg("word", str, "the keyword the sentence must contain"),
            _count("N", "which sentence (from 1)", minimum=1),
        ],
        sample=lambda rng: {"word": rng.choice(KEYWORDS), "N": rng.randint(1, 8)},
    ),
    _type(
        "count:pronouns",
        _pronouns,
        ("The response should include at least {N} pronouns.",),
        args=[_count("N", "the fewest pronouns", minimum=1)],
        sample=_ints(N=(1, 25)),
    ),
    _type(
        "words:odd_even_syllables",
        _odd_even_syllables,
        ("Alternate between words with odd and even numbers of syllables.",),
    ),
    _type(
        "words:last_first",
        _last_first,
        ("The last word of each sentence must become the first word of the next sentence.",),
    ),
    _type(
        "words:paragraph_last_first",
        _paragraph_last_first,
        (
            (
                "Each paragraph must end with the same word it started with, separate paragraphs "
                "with a newline."
            ),
        ),
    ),
    _type(
        "sentence:increment",
        _sentence_increment,
        ("Each sentence must contain exactly {small_n} more words than the previous one.",),
        args=[_count("small_n", "the increase in words from one sentence to the next")],
        sample=_ints(small_n=(1, 5)),
    ),
    _type(
        "words:no_consecutive",
        _no_consecutive,
        ("No two consecutive words can share the same first letter.",),
    ),
    _type(
        "count:keywords_multiple",
        _keywords_multiple,
        (
            (
                "Include keyword {keyword1} once in your response, keyword {keyword2} twice in "
                "your response, keyword {keyword3} three times in your response, keyword "
                "{keyword4} five times in your response, and keyword {keyword5} seven times in "
                "your response."
            ),
        ),
        args=[
            Arg(f"keyword{i}", str, f"the keyword that must occur {times}", normalise=_strip)
            for i, times in enumerate(("once", "twice", "3 times", "5 times", "7 times"), 1)
        ],
        sample=_sample_five_keywords,
    ),
    _type(
        "words:keywords_specific_position",
        _keyword_position,
        ("Include keyword {keyword} in the {n}-th sentence, as the {m}-th word of that sentence.",),
        args=[
            Arg("keyword", str, "the word expected at that position", normalise=_strip),
            _count("n", "which sentence (from 1)", minimum=1),
            _count("m", "which word of that sentence (from 1)", minimum=1),
        ],
        sample=_sample_keyword_position,
    ),
    _type(
        "words:words_position",
        _words_position,
        (
            (
                "The second word in your response and the second to last word in your response "
                "should be the word {keyword}."
            ),
        ),
        args=[Arg("keyword", str, "the word expected at both positions", normalise=_strip)],
        sample=lambda rng: {"keyword": rng.choice(KEYWORDS)},
    ),
)

# Pairs of types that contradict each other (or leave only degenerate responses).
CONFLICTING_PAIRS: tuple[tuple[str, str], ...] = (
    # Both hold together only with no sentence ending in '.', '?' or '!'.
    ("ratio:sentence_type", "ratio:sentence_balance"),
    # Alliteration needs consecutive words with one first letter; these forbid it.
    ("sentence:alliteration_increment", "words:alphabet"),
    ("sentence:alliteration_increment", "words:no_consecutive"),
    # The repeated word makes two consecutive words share a first letter.
    ("words:last_first", "words:alphabet"),
    ("words:last_first", "words:no_consecutive"),
    # Japanese words have no ASCII consonant cluster and no next letter of the alphabet.
    ("count:words_japanese", "words:consonants"),
    ("count:words_japanese", "words:alphabet"),
    ("count:words_japanese", "words:prime_lengths"),
    # A keyword seven times against a word repeated at most small_n (1-5) times.
    ("count:keywords_multiple", "words:repeats"),
    # One paragraph (no line break) against layouts that need several lines.
    ("words:vowel", "format:newline"),
    ("words:vowel", "format:line_indent"),
    ("words:vowel", "format:list"),
    ("words:vowel", "format:sub-bullets"),
    ("words:vowel", "format:no_bullets_bullets"),
    ("words:vowel", "words:paragraph_last_first"),
    # Every word starts with the next letter: nothing else can choose the first word.
    ("words:alphabet", "words:start_verb"),
    ("words:alphabet", "words:words_position"),
    ("words:alphabet", "words:keywords_specific_position"),
    ("words:alphabet", "count:keywords_multiple"),
)

# Types that fix the whole response, so that no other type is combined with them: every word
# is dictated by the alphabet, or the response is three sentences of one length.
SHAPE_FIXING: frozenset[str] = frozenset({"words:alphabet", "ratio:sentence_words"})
