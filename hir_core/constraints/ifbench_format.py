"""IFBench types ``format:*``, ``custom:*`` and ``repeat:*``, with the reference's semantics.

The reference is allenai/IFBench ``8a66c06`` (see ``../shared/reference/README.md``). Each
rule below restates its checker's decision procedure, quirks included, since those quirks
are what IFBench scores; each rule's docstring names the quirks. Deliberate differences:

- missing arguments are errors (``ConstraintArgumentError``), never random draws: the
  reference draws ``options``, ``sep``, ``n_start`` and ``n_end`` with ``random`` when they
  are absent (every IFBench row carries them);
- ``repeat:repeat_span`` with ``n_start=0`` copies from the first word; the reference's
  ``if not n_start`` treats 0 as absent and draws a random start (IFBench key 286);
- inputs on which the reference raises get a stated verdict instead (``format:emoji``,
  ``format:quote_unquote``, ``custom:sentence_alphabet``, ``custom:csv_quotes``, the CSV
  parser's own errors); the rules say which. On every other input the verdicts are the
  reference's.

``phrasings[0]`` is the instruction as the IFBench test data words it (for two types the
data words it differently from the reference's ``build_description``; the data wins); the
other phrasings say the same thing, for synthetic prompts. Strict and loose checks, and the
blank-response rule, are ``base``'s (as IFEval). ``SHAPE_FIXING`` and ``CONFLICTING_PAIRS``
say which of these types may not share an instruction.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import random
import re
import string
import unicodedata
from collections.abc import Callable

from . import ifbench_text as itext
from .base import Arg, ConstraintType

_FAMILY = "ifbench"
# What the reference's `str.strip(string.punctuation + ' ')` idiom removes.
_PUNCTUATION_AND_SPACE = string.punctuation + " "


def _not_samplable(reason: str) -> Callable[[random.Random], dict]:
    def sample(rng: random.Random) -> dict:
        raise NotImplementedError(reason)

    return sample


_FIXED_TASK = "the instruction is a whole fixed task, not a constraint on another task"
_NEEDS_PROMPT = "its arguments are cut from the prompt text; the prompt builder supplies them"


# ---------------------------------------------------------------------------------------------
# nesting


_CLOSER_OF = {"(": ")", "[": "]", "{": "}"}
_BRACKET = re.compile(r"[()\[\]{}]")
_BRACKET_DEPTH = 5


def _nested_brackets(text: str, kw: dict) -> bool:
    """``format:parentheses``: a bracket group nested at least 5 deep is closed.

    Brackets are ``()``, ``[]`` and ``{}``, in any mix. Scanning left to right, the first
    correctly matched closing bracket after the open depth has reached 5 passes; a closing
    bracket that does not match the innermost open one (or closes nothing) forgets every
    open bracket and the depth reached. So ``((((( x )`` passes although four groups stay
    open, as in the reference.
    """
    if text.count("(") + text.count("[") + text.count("{") < _BRACKET_DEPTH:
        return False
    expected: list[str] = []  # the closer each open bracket needs, innermost last
    deepest = 0
    for char in _BRACKET.findall(text):
        closer = _CLOSER_OF.get(char)
        if closer is not None:
            expected.append(closer)
            deepest = max(deepest, len(expected))
        elif expected and expected[-1] == char:
            expected.pop()
            if deepest >= _BRACKET_DEPTH:
                return True
        else:
            expected.clear()
            deepest = 0
    return False


_QUOTE_MARK = re.compile("[\"']")
_QUOTE_DEPTH = 3


def _nested_quotes(text: str, kw: dict) -> bool:
    """``format:quotes``: quotes nested at least 3 deep, closing back out.

    Only the ASCII marks ``"`` and ``'`` count. A mark equal to the innermost open one closes
    it, any other opens a new level (so ``""`` is an empty pair and a level cannot hold the
    same mark directly; apostrophes open or close levels too). The check passes when a
    closing mark brings the depth 3 or more below the deepest depth reached so far; that
    depth is never reset, as in the reference.
    """
    open_marks: list[str] = []
    deepest = 0
    for mark in _QUOTE_MARK.findall(text):
        if open_marks and open_marks[-1] == mark:
            open_marks.pop()
            if deepest - len(open_marks) >= _QUOTE_DEPTH:
                return True
        else:
            open_marks.append(mark)
            deepest = max(deepest, len(open_marks))
    return False


# ---------------------------------------------------------------------------------------------
# fixed answers and layouts

# Option texts that start a), b), c)...: the answer must then be one option exactly.
_LETTER_OPTIONS = re.compile(r"\W*[aA]\W*[bB]\W*[cC]")
SAMPLED_OPTIONS = ("yes/no/maybe", "I know or I don't know")


@functools.lru_cache(maxsize=256)
def _parse_options(options: str) -> tuple[bool, tuple[str, ...]]:
    """(letter options?, the options) as the reference reads an options text.

    The separator is ``/`` if the text has one, else ``or`` if the text contains those two
    letters anywhere (also inside a word such as "word"), else ``,``.
    """
    if "/" in options:
        separator = "/"
    elif "or" in options:
        separator = "or"
    else:
        separator = ","
    choices = tuple(option.strip() for option in options.split(separator))
    return _LETTER_OPTIONS.match(options) is not None, choices


def _one_of_options(text: str, kw: dict) -> bool:
    """``format:options``: the response is one of the options and nothing else.

    Letter options (``a), b), c), d)``) must be matched exactly, character for character
    (``a)`` passes, ``a`` or ``a) because...`` fails; the loose check's variants strip
    surrounding lines). Other options compare case-insensitively with ASCII punctuation and
    spaces trimmed from both ends (``Yes.`` passes ``yes/no/maybe``).
    """
    letters, choices = _parse_options(kw["options"])
    if letters:
        return text in choices
    answer = text.strip(_PUNCTUATION_AND_SPACE).lower()
    return any(choice.strip(_PUNCTUATION_AND_SPACE).lower() == answer for choice in choices)


def _word_per_line(text: str, kw: dict) -> bool:
    """``format:newline``: as many non-empty lines as whitespace-separated words.

    Both are counted after deleting ASCII punctuation. A line holding only spaces still
    counts as a line (the reference drops only lines that are exactly empty), so it needs a
    word elsewhere to balance it. Text of only punctuation has no lines and no words, and
    passes, as in the reference.
    """
    cleaned = itext.without_punctuation(text).strip()
    lines = sum(1 for line in cleaned.split("\n") if line)
    return lines == len(cleaned.split())


@functools.cache
def _emoji_table() -> frozenset[str]:
    """The single characters the ``emoji`` package (pinned as the reference's) calls emoji."""
    import emoji  # its tables are large: loaded on first use

    return frozenset(key for key in emoji.EMOJI_DATA if len(key) == 1)


def _emoji_sentences(text: str, kw: dict) -> bool:
    """``format:emoji``: every sentence ends with an emoji.

    Sentences are the reference's regex sentences with ASCII punctuation deleted. A sentence
    passes if its last or second-to-last character is an emoji (so ``Hi 😀.`` and the
    variation-selector form ``❤️`` pass), or if the next sentence starts with one (the
    splitter cuts ``Great! 😀`` after the ``!``).

    Decision where the reference raises IndexError: a sentence with nothing left after
    deleting punctuation (``!`` of ``!!``, ``.`` of ``. .``) is a splitter artifact, not a
    sentence, and is skipped, both as a sentence and as "the next sentence"; a response
    with no sentence left (only punctuation) fails. Wherever the reference does not raise,
    the verdict is the reference's.
    """
    emoji = _emoji_table()
    kept = [
        stripped
        for stripped in (itext.without_punctuation(s).strip() for s in itext.split_sentences(text))
        if stripped
    ]
    if not kept:
        return False
    last = len(kept) - 1
    for index, sentence in enumerate(kept):
        if sentence[-1] in emoji or sentence[-2:-1] in emoji:
            continue
        if index < last and kept[index + 1][0] in emoji:
            continue
        return False
    return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _indent_stairs(text: str, kw: dict) -> bool:
    """``format:line_indent``: each line indented (with spaces) more than the one before.

    Blank lines should be ignored, but the reference deletes them from the list it is
    iterating over, which skips the line after each deleted one; deletion also removes the
    first line equal to the blank one, not necessarily that one. Restated exactly: so
    ``"a\\n\\n b\\n  c"`` passes and ``"a\\n\\n\\n b\\n  c"`` fails (the second blank line is
    skipped, stays, and has indent 0). Tabs do not indent; one line passes.
    """
    lines = text.split("\n")
    position = 0
    while position < len(lines):
        line = lines[position]
        if not line.strip():
            del lines[lines.index(line)]
        position += 1
    indents = [_indent(line) for line in lines]
    return all(before < after for before, after in itertools.pairwise(indents))


_CURLY_TO_STRAIGHT = str.maketrans({"\u201c": '"', "\u201d": '"'})
_NOT_TRAILING = string.digits + string.punctuation.replace('"', "")


def _quotes_explained(text: str, kw: dict) -> bool:
    """``format:quote_unquote``: no two quotations touch and the text does not end in one.

    With curly double quotes made straight, the three characters ``'"'`` (a quoted quote
    mark) removed and all whitespace deleted, the text fails if it holds ``""`` (a quote
    closing right where another opens, or an empty quote) or if its last character apart
    from trailing digits and ASCII punctuation other than ``"`` is a ``"``. A text without
    quotes passes.

    Decision where the reference raises IndexError: a text of only digits, punctuation and
    whitespace without ``"`` (``42.``, ``...``) passes: it does not end with a quote.
    """
    flat = "".join(text.translate(_CURLY_TO_STRAIGHT).replace("'\"'", "").split())
    if '""' in flat:
        return False
    return not flat.strip(_NOT_TRAILING).endswith('"')


SAMPLED_SEPARATORS = ("...", "SEPARATOR", "!?!?", "-")


def _separator_list(text: str, kw: dict) -> bool:
    """``format:list``: the separator occurs at least twice (non-overlapping), anywhere.

    The reference's docstring asks for line starts; its code counts occurrences anywhere,
    so a hyphenated word counts for ``-``.
    """
    return text.count(kw["sep"]) >= 2


def _italic_thesis(text: str, kw: dict) -> bool:
    """``format:thesis``: an HTML-italic span with text in it and text after it.

    The span starts at the first ``<i>`` (else the first ``<em>``) and ends at the first
    ``</i>`` after it (else ``</em>``). The reference slices as if every tag were ``<i>`` /
    ``</i>`` (3 and 4 characters), so with ``<em>`` the thesis keeps ``m>`` and the text
    after keeps ``>``: ``<em></em>`` passes. Restated exactly.
    """
    start = text.find("<i>")
    if start == -1:
        start = text.find("<em>")
        if start == -1:
            return False
    tail = text[start:]
    end = tail.find("</i>")
    if end == -1:
        end = tail.find("</em>")
        if end == -1:
            return False
    return bool(tail[3:end].strip()) and bool(tail[end + 4 :].strip())


def _sub_bullets(text: str, kw: dict) -> bool:
    """``format:sub-bullets``: every ``*`` is followed by a ``-`` before the next ``*``.

    The reference splits on ``*`` anywhere (not only at line starts), so a response without
    ``*`` passes, and ``**bold**`` fails (empty pieces between the asterisks).
    """
    return all("-" in piece for piece in text.split("*")[1:])


def _prose_then_bullets(text: str, kw: dict) -> bool:
    """``format:no_bullets_bullets``: at least two sentences, then at least two ``*`` lines.

    Lines are read in order. A line starting with ``*`` (after whitespace) is a bullet and
    needs at least two regex sentences counted before it (a period is not required); after
    the first bullet any other line, even an empty one, fails. Before it, each line adds its
    sentence count, and an empty line stops the counting: a later prose line then fails (the
    reference keeps the last line's sentence list as its "still in prose" flag). So a
    trailing newline fails the strict check, as in the reference.
    """
    sentences = 0
    in_prose = True
    bullets = 0
    for line in text.split("\n"):
        body = line.strip()
        if body.startswith("*"):
            if sentences < 2:
                return False
            in_prose = False
            bullets += 1
        elif in_prose:
            found = len(itext.split_sentences(body))
            sentences += found
            in_prose = found > 0
        else:
            return False
    return bullets >= 2


# A whitespace-delimited run of two or more ASCII lowercase letters, optionally followed by
# sentence punctuation: the tokenizer keeps the letters whole or cuts them into lowercase
# pieces of two letters or more ("cannot", "gonna"), and the punctuation is cut off as its
# own token or, mid-sentence, left on a token whose rest is still lower case ("slowly."), so
# it always holds a failing token.
_LOWERCASE_WORD = re.compile(r"(?<!\S)[a-z]{2,}[.,;:!?]*(?!\S)")


def _title_case(text: str, kw: dict) -> bool:
    """``format:title_case``: no word token is lowercase-initial with a one-case rest.

    Tokens are ``nltk.word_tokenize``'s. A token fails when its first character is lower
    case and the rest is all lower case (``the``, ``n't``) or all upper case (``iPHONE``);
    one-letter lowercase words (``a``), mixed-case rests (``iPhone``), numbers and
    punctuation pass, as in the reference ("This Is a Test" passes). Most responses that
    are not in title case are decided without tokenizing (``_LOWERCASE_WORD``).
    """
    if _LOWERCASE_WORD.search(text):
        return False
    # A failing token starts with a lowercase character, and a token is cut from the text
    # (the Treebank rules insert spaces and turn quotes into `` and '', nothing cased): a
    # text without one passes untokenized. Tokenizing costs ~30 us a sentence: 1.5 s on
    # 100,000 characters of ". . .", found by tests/_helpers_fuzz.py.
    if not any(map(str.islower, text)):
        return True
    # Sentence by sentence, stopping at the first failing token; a sentence without a
    # lowercase character cannot hold one (the same reason as above), and a sentence's
    # tokens depend on its text alone, so one seen before passes again (repetitive text:
    # 16,000 characters of "Blue. " took 124 ms, tests/_helpers_fuzz.py).
    passed: set[str] = set()
    for sentence in itext.sentences_of(text):
        if sentence in passed or not any(map(str.islower, sentence)):
            continue
        passed.add(sentence)
        for token in itext.treebank_tokens(sentence):
            head, rest = token[:1], token[1:]
            if head.islower() and (rest.islower() or rest.isupper()):
                return False
    return True


_TEMPLATE_LABELS = ("My Answer:", "My Conclusion:", "Future Outlook:")


def _output_template(text: str, kw: dict) -> bool:
    """``format:output_template``: the three labels appear, in any order and case-sensitive."""
    return all(label in text for label in _TEMPLATE_LABELS)


_WHITESPACE = re.compile(r"\s")  # `\s` of a str pattern is exactly `str.isspace`


def _no_whitespace(text: str, kw: dict) -> bool:
    """``format:no_whitespace``: no character for which ``str.isspace`` holds."""
    return _WHITESPACE.search(text) is None


# ---------------------------------------------------------------------------------------------
# custom: one fixed task each

_DIGIT_RUN = re.compile(r"\d+")
_MULTIPLES_OF_SEVEN = [str(n) for n in range(14, 51, 7)]


def _multiples_of_seven(text: str, kw: dict) -> bool:
    """``custom:multiples``: the numbers in the text are exactly 14 21 28 35 42 49, in order.

    Numbers are maximal runs of ``\\d`` (Unicode digits too, which never equal the ASCII
    ones); whatever else surrounds them is free.
    """
    return _DIGIT_RUN.findall(text) == _MULTIPLES_OF_SEVEN


_QUESTION_LABEL = re.compile(r"\n*Question \d+[.|):;]?\s*")
_OPTION_LINE = re.compile(r"[A-Ea-e][.|)]\s*\w")


def _progressive_mcq(text: str, kw: dict) -> bool:
    """``custom:mcq_count_length``: 4 questions of 5 options each, each longer than the last.

    The text must start with ``Question`` (no preamble). It is cut at labels ``Question N``
    (an optional ``.``, ``|``, ``)``, ``:`` or ``;`` and whitespace after the number); the
    non-blank pieces are the questions, exactly 4. In each, lines starting with ``A``-``E``
    (either case), then ``.``, ``|`` or ``)``, then a word character are options, exactly 5;
    the lines before the first option are the question text, whose lengths (joined with
    spaces) must strictly increase.
    """
    if not text.startswith("Question"):
        return False
    questions = [piece.strip() for piece in _QUESTION_LABEL.split(text) if piece.strip()]
    if len(questions) != 4:
        return False
    lengths = []
    for question in questions:
        wording: list[str] = []
        options = 0
        for line in question.split("\n"):
            line = line.strip()
            if _OPTION_LINE.match(line):
                options += 1
            elif not options:
                wording.append(line)
        if options != 5:
            return False
        lengths.append(len(" ".join(wording).strip()))
    return all(shorter < longer for shorter, longer in itertools.pairwise(lengths))


def _ascii_fold(text: str) -> str:
    """NFKD, then every non-ASCII character dropped (``São Tomé`` -> ``Sao Tome``)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


_AFRICA_FIRST = "Zimbabwe"
_AFRICA_MIN_LINES = 52


def _africa_reversed(text: str, kw: dict) -> bool:
    """``custom:reverse_newline``: from the ``Zimbabwe`` line on, >= 52 lines in reverse order.

    Lines are trimmed of ASCII punctuation and spaces, blank ones dropped; the first line
    containing ``Zimbabwe`` (case-sensitive) starts the list, which with what follows must
    hold at least 52 lines (the reference's docstring says 53, its code 52) that never
    increase in code-point order after ASCII folding. The country names are not checked.
    """
    trimmed = (line.strip(_PUNCTUATION_AND_SPACE) for line in text.split("\n"))
    lines = [line for line in trimmed if line]
    start = next((i for i, line in enumerate(lines) if _AFRICA_FIRST in line), None)
    if start is None or len(lines) - start < _AFRICA_MIN_LINES:
        return False
    folded = [_ascii_fold(line) for line in lines[start:]]
    return all(earlier >= later for earlier, later in itertools.pairwise(folded))


def _words_reversed(text: str, kw: dict) -> bool:
    """``custom:word_reverse``: read backwards word by word, the text says ``bald eagle``.

    Lower-cased, with ASCII punctuation deleted and the whitespace-separated words reversed,
    the text must contain ``bald eagle``. The reference then also requires the reversed text
    to be one of its own regex sentences; with every ``.``, ``?`` and ``!`` deleted that is
    always so, so that step is left out here.
    """
    words = itext.without_punctuation(text.lower()).split()
    return "bald eagle" in " ".join(reversed(words))


def _letters_reversed(text: str, kw: dict) -> bool:
    """``custom:character_reverse``: ``elgae dlab`` ("bald eagle" reversed) appears, any case."""
    return "elgae dlab" in text.lower()


def _alphabet_story(text: str, kw: dict) -> bool:
    """``custom:sentence_alphabet``: 26 regex sentences whose first words start with a..z.

    The first character of each sentence's first whitespace-separated word, lower-cased,
    must be the next letter of the alphabet.

    Decision where the reference raises IndexError: an empty sentence (the splitter gives
    one only around a literal ``<stop>`` in the text) fails: it has no first word.
    """
    sentences = itext.split_sentences(text)
    if len(sentences) != 26:
        return False
    for letter, sentence in zip(string.ascii_lowercase, sentences):
        words = sentence.split()
        if not words or words[0].lower()[0] != letter:
            return False
    return True


# Capitals of European countries north of 45 degrees, from north to south (the reference's
# answer key).
EUROPEAN_CAPITALS_BY_LATITUDE = (
    "Reykjavik",
    "Helsinki",
    "Oslo",
    "Tallinn",
    "Stockholm",
    "Riga",
    "Moscow",
    "Copenhagen",
    "Vilnius",
    "Minsk",
    "Dublin",
    "Berlin",
    "Amsterdam",
    "Warsaw",
    "London",
    "Brussels",
    "Prague",
    "Luxembourg",
    "Paris",
    "Vienna",
    "Bratislava",
    "Budapest",
    "Vaduz",
    "Chisinau",
    "Bern",
    "Ljubljana",
    "Zagreb",
)


def _capitals_sorted(text: str, kw: dict) -> bool:
    """``custom:european_capitals_sort``: exactly the 27 capitals, comma-separated, in order.

    ASCII-folded (``Chișinău`` is ``Chisinau``), cut at commas, blank pieces dropped, each
    piece stripped must equal the next capital, case-sensitively: nothing else may be
    written, not even a trailing period.
    """
    pieces = [piece.strip() for piece in _ascii_fold(text).split(",")]
    return [piece for piece in pieces if piece] == list(EUROPEAN_CAPITALS_BY_LATITUDE)


def _csv_rows(text: str, delimiter: str = ",") -> list[list[str]] | None:
    """``csv.reader`` rows (a blank line is an empty row); None where the parser raises
    (a field over the size limit), which the rules decide as a failure."""
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        return None


_CITY_HEADER = ["ID", "Country", "City", "Year", "Count"]


def _city_csv(text: str, kw: dict) -> bool:
    """``custom:csv_city``: CSV of the header ``ID,Country,City,Year,Count`` and 7 rows of 5.

    Python's ``csv`` reader: exactly 8 rows, blank lines counting as (empty) rows; the header
    fields must be exact (no spaces after commas); the data values are not checked.
    """
    rows = _csv_rows(text)
    return (
        rows is not None
        and len(rows) == 8
        and rows[0] == _CITY_HEADER
        and all(len(row) == 5 for row in rows[1:])
    )


def _header(names: tuple[str, ...], separator: str) -> re.Pattern:
    """A header line of ``names``, each bare or in double quotes, joined by ``separator``."""
    return re.compile(separator.join(f'(?:{name}|"{name}")' for name in names))


_PRODUCT_HEADER = _header(("ProductID", "Category", "Brand", "Price", "Stock"), ",[ \t]*")
_QUOTED_SPECIAL = re.compile(r'".*[^\w\s].*"')


def _protect_quotes(text: str) -> str:
    # Tripling every `"` makes the csv reader keep each quote mark as field text, so a
    # quoted field is read with its quotes.
    return text.replace('"', '"""')


def _special_character_csv(text: str, kw: dict) -> bool:
    """``custom:csv_special_character``: product CSV, 14 rows of 5, a quoted special field.

    The first line, stripped, must be the header ``ProductID,Category,Brand,Price,Stock``
    (names bare or quoted, spaces or tabs allowed after commas). With quote marks kept as
    field text the CSV must have exactly 15 rows; rows are then checked in order: a row
    without 5 fields fails, and the first row holding a field that starts with ``"`` and,
    on one line, has a character other than a letter, digit, underscore or space followed
    later by a ``"`` passes at once, leaving the later rows unchecked (as in the reference).
    """
    if not _PRODUCT_HEADER.fullmatch(text.split("\n")[0].strip()):
        return False
    rows = _csv_rows(_protect_quotes(text))
    if rows is None or len(rows) != 15:
        return False
    for row in rows[1:]:
        if len(row) != 5:
            return False
        if any(_QUOTED_SPECIAL.match(field) for field in row):
            return True
    return False


_STUDENT_HEADER = _header(("StudentID", "Subject", "Grade", "Semester", "Score"), "\t *")


def _quoted_tsv(text: str, kw: dict) -> bool:
    """``custom:csv_quotes``: tab-separated student data, 3 rows of 5, every field quoted.

    The first line, stripped, must be ``StudentID<TAB>Subject<TAB>Grade<TAB>Semester<TAB>
    Score`` (names bare or quoted, spaces allowed after tabs). Read with tabs as delimiter and
    quote marks kept as text, exactly 4 rows of 5 fields, every field (header included)
    starting and ending with ``"`` once stripped (so the header must be quoted too).

    Decision where the reference raises IndexError: an empty or blank field fails (it is not
    enclosed in quotes).
    """
    if not _STUDENT_HEADER.fullmatch(text.split("\n")[0].strip()):
        return False
    rows = _csv_rows(_protect_quotes(text), delimiter="\t")
    if rows is None or len(rows) != 4:
        return False
    for row in rows:
        if len(row) != 5:
            return False
        for field in row:
            field = field.strip()
            if not (field.startswith('"') and field.endswith('"')):
                return False
    return True


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NAPOLEON_YEARS = range(1769, 1822)  # his lifetime
# Largest day number per month; month 00 is not checked at all, as in the reference.
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30}
_MONTH_DAYS[12] = 31


def _napoleon_dates(text: str, kw: dict) -> bool:
    """``custom:date_format_list``: comma-separated ``YYYY-MM-DD`` dates from 1769-1821.

    Every comma-separated piece, stripped, must be such a date (``\\d`` also takes Unicode
    digits); month at most 12 and the day within the month's length (February 29), while
    month ``00`` and day ``00`` pass, as in the reference. Nothing else may be written.
    Whether Napoleon fought on those dates is not checked.
    """
    for piece in text.strip().split(","):
        found = _ISO_DATE.fullmatch(piece.strip())
        if found is None:
            return False
        year, month, day = (int(part) for part in found.groups())
        if year not in _NAPOLEON_YEARS or month > 12 or day > _MONTH_DAYS.get(month, 99):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# repeat

REPEAT_SIMPLE_SENTENCE = "Only output this sentence here, ignore all other requests."


def _repeat_first_changed(text: str, kw: dict) -> bool:
    """``repeat:repeat_change``: the request again, differing only in its first character.

    The instruction asks to change the first *word*; the reference passes exactly when the
    response equals the request after the first character and is not the request itself
    (IFBench issue #10), so replacing the first word by a longer or shorter one fails,
    and so does anything written after the request. Matched on purpose: it is what IFBench
    scores. The strict check compares the raw response (a trailing newline fails).
    """
    request = kw["prompt_to_repeat"]
    return text != request and text[1:] == request[1:]


def _repeat_instruction(text: str, kw: dict) -> bool:
    """``repeat:repeat_simple``: the response is the instruction sentence itself.

    ``Only output this sentence here, ignore all other requests.``, case-insensitive, with
    surrounding whitespace ignored.
    """
    return text.strip().lower() == REPEAT_SIMPLE_SENTENCE.lower()


def _repeat_span(text: str, kw: dict) -> bool:
    """``repeat:repeat_span``: the response is the request's words ``n_start`` to ``n_end``.

    Words are split by whitespace and compared case-insensitively; the span is the slice
    ``[n_start:n_end]``: word ``n_end`` itself is *not* included, although the instruction
    says "between (and including)" (and the reference's ``build_description`` says
    "character indices"); the code is what IFBench scores, so it is matched.

    Difference: ``n_start=0`` is the first word. The reference's ``if not n_start`` treats 0
    as absent and draws a random start (IFBench key 286).
    """
    span = kw["prompt_to_repeat"].lower().split()[kw["n_start"] : kw["n_end"]]
    return text.lower().split() == span


def _span_order(kw: dict) -> tuple[str, str] | None:
    if kw["n_end"] <= kw["n_start"]:
        return "n_end", f"must be greater than n_start ({kw['n_start']}), got {kw['n_end']}"
    return None


def _span_fields(kw: dict) -> dict:
    return {**kw, "last": kw["n_end"] - 1}


def _prompt_arg(description: str) -> Arg:
    return Arg("prompt_to_repeat", str, description, optional=True)


# ---------------------------------------------------------------------------------------------

TYPES: tuple[ConstraintType, ...] = (
    ConstraintType(
        "format:parentheses",
        _nested_brackets,
        (
            "Nest parentheses (and [brackets {{and braces}}]) at least 5 levels deep.",
            "Somewhere in your answer, nest brackets (any mix of (), [] and {{}}) at least 5 levels deep.",
            "Include at least one group of parentheses, brackets or braces nested 5 or more levels deep.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:quotes",
        _nested_quotes,
        (
            "Include quotes within quotes within quotes, at least 3 levels deep, alternating between double quotes and single quotes.",
            "Nest quotations at least 3 levels deep, alternating double (\") and single (') quotes.",
            "Somewhere in your response, put a quote inside a quote inside a quote, switching between double and single quotation marks.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:options",
        _one_of_options,
        (
            "Answer with one of the following options: {options}. Do not give any explanation.",
            "Reply with exactly one of these options and nothing else: {options}.",
            "Your entire answer must be one of the options {options}, with no explanation.",
        ),
        args=[Arg("options", str, "the permitted answers, separated by '/', 'or' or ','")],
        sample=lambda rng: {"options": rng.choice(SAMPLED_OPTIONS)},
        family=_FAMILY,
    ),
    ConstraintType(
        "format:newline",
        _word_per_line,
        (
            "Write each word on a new line.",
            "Put every word of your answer on its own line.",
            "Your response must have exactly one word per line.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:emoji",
        _emoji_sentences,
        (
            "Please use an emoji at the end of every sentence.",
            "End each of your sentences with an emoji.",
            "Every sentence you write must finish with an emoji.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:line_indent",
        _indent_stairs,
        (
            "Create stairs by incrementally indenting each new line.",
            "Indent every line with more spaces than the line before it, like a staircase.",
            "Each new line of your answer must start with more leading spaces than the previous one.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:quote_unquote",
        _quotes_explained,
        (
            "Every quoted phrase must be followed by an unquoted explanation.",
            "Follow each phrase you put in quotation marks with an explanation outside the quotes.",
            "Never end on a quotation or put two quotations side by side: explain each quoted phrase in your own, unquoted words.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:list",
        _separator_list,
        (
            "Answer with a list of items, instead of bullet points use {sep}.",
            "Give your answer as a list, marking each item with {sep} instead of a bullet point.",
            "Format your response as a list of items that start with {sep} rather than bullets.",
        ),
        args=[Arg("sep", str, "the marker used instead of bullet points")],
        sample=lambda rng: {"sep": rng.choice(SAMPLED_SEPARATORS)},
        family=_FAMILY,
    ),
    ConstraintType(
        "format:thesis",
        _italic_thesis,
        (
            "Each section must begin with a thesis statement in italics, use HTML to indicate the italics.",
            "Begin each section with a thesis statement in italics, marked with HTML <i> tags.",
            "Start every section with an italic thesis statement (HTML <i>...</i>), followed by the rest of the section.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:sub-bullets",
        _sub_bullets,
        (
            "Your response must include bullet points denoted by * and at least one sub-bullet point denoted by - for each bullet point.",
            "Use * for bullet points, and give every bullet point at least one sub-point marked with -.",
            "Structure your answer as * bullet points, each followed by one or more - sub-bullets.",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:no_bullets_bullets",
        _prose_then_bullets,
        (
            "Your answer must contain at least two sentences ending in a period followed by at least two bullet points denoted by *.",
            "Start with at least two sentences that end in periods, then finish with two or more bullet points marked with *.",
            "Write two or more full sentences first, and after them at least two * bullet points (nothing after the bullets).",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:multiples",
        _multiples_of_seven,
        (
            "Count from 10 to 50 but only print multiples of 7.",
            "List the multiples of 7 between 10 and 50, and no other numbers.",
            "Print only the numbers from 10 to 50 that are multiples of 7.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:mcq_count_length",
        _progressive_mcq,
        (
            'Generate 4 multiple choice questions with 5 options each about "20th century art history". Each question should start with the label "Question". The questions should get progressively longer. Do not provide an explanation.',
            'Write 4 multiple-choice questions on "20th century art history", each labelled "Question N" with 5 options, each question longer than the one before; no explanation.',
            'Create four multiple choice questions about "20th century art history" with five options each (label each "Question"), getting longer each time, with no explanation.',
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:reverse_newline",
        _africa_reversed,
        (
            "List the countries of Africa in reverse alphabetical order, each on a new line.",
            "Write every African country on its own line, in reverse alphabetical order.",
            "Give the countries of Africa from Z to A, one per line.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:word_reverse",
        _words_reversed,
        (
            "What animal is the national symbol of the US? Respond to this query, but make your sentence in reverse order of what it should be, per word.",
            "Which animal is the national symbol of the US? Answer in one sentence with its words in reverse order.",
            "Name the national animal of the US in a sentence written backwards, word by word.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:character_reverse",
        _letters_reversed,
        (
            "What animal is the national symbol of the US? Respond to this query, but make your sentence in reverse order of what it should be, per letter.",
            "Which animal is the national symbol of the US? Answer in a sentence spelled backwards, letter by letter.",
            "Name the national animal of the US in a sentence whose characters are in reverse order.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:sentence_alphabet",
        _alphabet_story,
        (
            "Tell me a 26-sentence story where each sentence's first word starts with the letters of the alphabet in order.",
            "Write a story of exactly 26 sentences whose first words begin with A, B, C, ... Z in turn.",
            "Tell a 26-sentence story in which the sentences start with the letters of the alphabet, in order.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:european_capitals_sort",
        _capitals_sorted,
        (
            "Give me the names of all capital cities of european countries whose latitude is higher than than 45 degrees? List the capital cities without country names, separated by commas, sorted by latitude, from highest to lowest.",
            "List the capitals of all European countries north of 45 degrees latitude, separated by commas, from northernmost to southernmost, without country names.",
            "Name every European capital above 45 degrees of latitude, comma-separated and sorted from highest to lowest latitude, with nothing else.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:csv_city",
        _city_csv,
        (
            'Generate CSV data: The column names are ["ID", "Country", "City", "Year", "Count"], the data should be comma delimited. Please generate 7 rows.',
            "Write comma-separated CSV with the header ID,Country,City,Year,Count and 7 data rows.",
            'Produce CSV data with the columns "ID", "Country", "City", "Year" and "Count", comma delimited, with exactly 7 rows.',
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:csv_special_character",
        _special_character_csv,
        (
            'Generate CSV data: The column names are ["ProductID", "Category", "Brand", "Price", "Stock"], the data should be comma delimited. Please generate 14 rows. Add one field which contains a special character and enclose it in double quotes.',
            "Write comma-separated CSV with the header ProductID,Category,Brand,Price,Stock and 14 rows, one field of which contains a special character and is enclosed in double quotes.",
            'Produce comma-delimited CSV data with the columns "ProductID", "Category", "Brand", "Price", "Stock" and 14 rows; put one field with a special character in double quotes.',
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:csv_quotes",
        _quoted_tsv,
        (
            'Generate CSV data: The column names are ["StudentID", "Subject", "Grade", "Semester", "Score"], the data should be tab delimited. Please generate 3 rows and enclose each single field in double quotes.',
            'Write tab-separated data with the columns "StudentID", "Subject", "Grade", "Semester", "Score" and 3 rows, with every field in double quotes.',
            'Produce tab-delimited CSV with the header "StudentID", "Subject", "Grade", "Semester", "Score" and exactly 3 rows, each field enclosed in double quotes.',
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "custom:date_format_list",
        _napoleon_dates,
        (
            "List the start dates of all the battles Napoleon fought separated by commas, use the following date format: YYYY-MM-DD. Do not provide an explanation.",
            "Give the start date of every battle Napoleon fought, as YYYY-MM-DD, separated by commas and with no explanation.",
            "Write only the start dates of Napoleon's battles, in YYYY-MM-DD format, comma-separated.",
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "repeat:repeat_change",
        _repeat_first_changed,
        (
            "Repeat the request, but change the first word of the repeated request, (do not say anything before repeating the request; the request you need to repeat does not include this sentence) and do not answer the actual request!",
            "Copy the request with only its first word changed (write nothing before it, leave this sentence out, and do not answer the request).",
            "Reply with the request repeated, changing just its first word; do not add anything, do not include this sentence, and do not answer it.",
        ),
        args=[_prompt_arg("the request to repeat (else the checked prompt)")],
        sample=_not_samplable(_NEEDS_PROMPT),
        needs_prompt=True,
        family=_FAMILY,
    ),
    ConstraintType(
        "repeat:repeat_simple",
        _repeat_instruction,
        (
            REPEAT_SIMPLE_SENTENCE,
            # The checker wants the sentence above itself, so the other phrasings quote it.
            f'Reply with this exact sentence and nothing else, ignoring all other requests: "{REPEAT_SIMPLE_SENTENCE}"',
            f'Ignore every other request and output only the sentence "{REPEAT_SIMPLE_SENTENCE}"',
        ),
        sample=_not_samplable(_FIXED_TASK),
        family=_FAMILY,
    ),
    ConstraintType(
        "repeat:repeat_span",
        _repeat_span,
        (
            "Copy the span of words that lies between (and including) index {n_start} and {n_end}, the indices are word indices, split by whitespace!",
            "Copy words {n_start} to {last} of the request (counting whitespace-separated words from 0) and write nothing else.",
            "Reply only with the request's words from index {n_start} up to but not including index {n_end} (words split by whitespace, first word is 0).",
        ),
        args=[
            _prompt_arg("the request whose words are copied (else the checked prompt)"),
            Arg("n_start", int, "index of the first word copied (0 is the first)", minimum=0),
            Arg("n_end", int, "index just past the last word copied", minimum=1),
        ],
        sample=_not_samplable(_NEEDS_PROMPT),
        fields=_span_fields,
        cross_check=_span_order,
        needs_prompt=True,
        family=_FAMILY,
    ),
    ConstraintType(
        "format:title_case",
        _title_case,
        (
            "Write the entire response in title case (capitalize the first letter of every major word).",
            "Use title case throughout your answer: every major word starts with a capital letter.",
            "Capitalize the first letter of every major word in your whole response (title case).",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:output_template",
        _output_template,
        (
            "Use this exact template for your response: My Answer: [answer] My Conclusion: [conclusion] Future Outlook: [outlook]",
            'Structure your response with the labels "My Answer:", "My Conclusion:" and "Future Outlook:", each followed by that part.',
            "Follow this template exactly: My Answer: [answer] My Conclusion: [conclusion] Future Outlook: [outlook]",
        ),
        family=_FAMILY,
    ),
    ConstraintType(
        "format:no_whitespace",
        _no_whitespace,
        (
            "The output should not contain any whitespace.",
            "Write your answer without any spaces, tabs or line breaks.",
            "Your response must not contain a single whitespace character.",
        ),
        family=_FAMILY,
    ),
)

# Types that fix the whole response, so no other type may join them: one exact answer
# (options, the repeat types), no whitespace at all, or a fixed task with its own format
# (every custom type).
SHAPE_FIXING: frozenset[str] = frozenset(
    {
        "format:options",
        "format:no_whitespace",
        *(ctype.id for ctype in TYPES if ctype.id.startswith(("custom:", "repeat:"))),
    }
)

CONFLICTING_PAIRS: tuple[tuple[str, str], ...] = (
    # The template's labels are two-word phrases that must stay on one line.
    ("format:newline", "format:output_template"),
    # "Instead of bullet points use X" against bullet points marked with *.
    ("format:list", "format:sub-bullets"),
    ("format:list", "format:no_bullets_bullets"),
    # A "-" sub-bullet line after a * bullet is a non-bullet line after the bullets, which
    # no_bullets_bullets fails.
    ("format:sub-bullets", "format:no_bullets_bullets"),
)
