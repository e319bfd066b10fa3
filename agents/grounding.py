"""Grounding: attach and check an answer's citations in code, and drop what cannot be checked.

A small local model answering from numbered passages ([1], [2], ...) rarely writes the
markers, sometimes states numbers or names that no passage holds, and sometimes repeats its
own prompt. `ground` makes such an answer trustworthy without another model call: it drops
echoed prompt text, splits the rest into statements, and for each statement that states
facts (numbers, dates, names) cites the passage, or pair of passages, that holds all of
them. A statement whose facts no shown passage holds is removed and reported. Statements
without facts are kept, and cited only where they clearly paraphrase one passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import combinations
from typing import Literal

# --- vocabulary -------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
    # German too: documents are often German, and "14. März" must not end a sentence.
    "januar": 1, "februar": 2, "märz": 3, "mai": 5, "juni": 6, "juli": 7, "oktober": 10,
    "dezember": 12,
}  # fmt: skip
# Abbreviations like "Jan" double as first names, so only full month names are never names.
_MONTH_NAMES = frozenset(name for name in _MONTHS if len(name) > 3 or name == "mai")
_WEEKDAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
_CURRENCIES = "USD|EUR|GBP|CHF|JPY|CAD|AUD|SEK|NOK|DKK|PLN"
_CURRENCY_CODES = frozenset(_CURRENCIES.lower().split("|"))
_SCALES = {"k": 10**3, "thousand": 10**3, "m": 10**6, "mn": 10**6, "million": 10**6,
           "b": 10**9, "bn": 10**9, "billion": 10**9}  # fmt: skip

_STOPWORDS = _words(
    """a an the this that these those it its it's they them their there here he him his she
    her we us our you your i me my mine who whom whose which what when where why how and or
    nor but if then than so as at by for from in into of off on onto out over to under up
    with within without about above after against along among around before behind below
    between beyond during except inside near since through throughout till until upon via
    is are was were be been being am has have had having do does did doing can could will
    would shall should may might must not no yes all any both each either neither every few
    more most much many other some such only own same too very also just even still yet
    however therefore thus hence although though because while whereas whether per"""
)
# Words about the answer itself ("Based on the provided passages, ..."), not its content.
_NOT_CONTENT = _STOPWORDS | _words(
    "according based provided given passage passages document documents text context source"
)
# Words that start sentences, or are capitalised for emphasis, without being names.
_COMMON = (
    _STOPWORDS
    | _words(
        """according based overall total summary note please answer response question result
        results first second third fourth fifth last next finally additionally furthermore
        moreover unfortunately currently today tomorrow yesterday now sure okay ok hello hi
        dear thanks thank regards one two three four five six seven eight nine ten key main
        important details detail information document documents passage passages source
        sources file files page pages section sections paragraph clause article chapter table
        figure appendix context text excerpt quote reference references citation citations
        pdf docs doc none nothing something everything someone anyone everyone another
        example examples step steps part parts item items point points date dates deadline
        deadlines amount amounts price prices cost costs fee fees rent payment payments invoice
        invoices contract contracts agreement agreements lease tenant tenants landlord
        landlords party parties term terms termination notice period periods policy policies
        report reports revenue revenues budget budgets meeting meetings project projects
        employee employees customer customers client clients company companies team teams
        manager managers owner owners user users start end begin beginning subtotal tax taxes
        vat net gross monthly annual annually yearly weekly daily mr mrs ms dr prof sir madam
        late early overdue due full partial new old current previous following standard
        minimum maximum interest rate rates balance account order orders delivery shipping
        service services product products sales income expenses profit loss salary bonus
        insurance deposit penalty discount renewal liability warranty signature approval
        request data access security privacy support training office building property
        address phone email website name title role position department board staff line
        number value level size type status version plan goal risk issue problem solution
        option change time day days week weeks month months year years hour hours quarter
        percent rule law right condition requirement process procedure review decision
        overview background purpose scope conclusion recommendation unless once several
        various certain otherwise instead meanwhile later earlier usually generally"""
    )
    | _WEEKDAYS
    | _MONTH_NAMES
)
# Sentence-initial words with these endings are ordinary nouns, adjectives or adverbs far
# more often than names ("Termination requires...", "Unfortunately, ...").
_COMMON_ENDING = re.compile(
    r"(tion|sion|ment|ness|ity|ance|ence|ing|ed|ly|ive|ous|ful|less|able|ible|ship|ies)s?$"
)
# A name written short in the answer is supported by its long form in a passage.
_EXPANSIONS = {"corp": "corporation", "inc": "incorporated", "ltd": "limited",
               "co": "company", "intl": "international", "dept": "department",
               "univ": "university", "assoc": "association"}  # fmt: skip
_CONNECTORS = _words("of de del der den van von du da la le y")
# "No." and "Dr." are abbreviations, not sentence ends; "etc." and "Inc." usually do end one.
_ABBREVIATIONS = _words(
    """e.g i.e eg ie vs cf ca approx appr no nr nos mr mrs ms dr prof st jr sr fig figs
    art sec para vol ch p pp incl excl est min max dept z.b bzw"""
)

# --- patterns ---------------------------------------------------------------------------

_MARKER_SRC = (
    r"(?:\[\s*(?:passage|source)?\s*\d{1,3}(?:\s*(?:[,;]|[-–])\s*\d{1,3})*\s*\]"
    r"|【\s*\d{1,3}\s*】)"
)
_MARKER = re.compile(_MARKER_SRC, re.IGNORECASE)
# Told to put [n] after each fact, a small model sometimes brackets the fact itself
# ("ends on [31/05/2029] [2]"): a bracketed value that is not a marker or a link is unwrapped.
_BRACKETED_VALUE = re.compile(rf"(?!{_MARKER_SRC})\[([^\[\]\n]*\d[^\[\]\n]*)\](?!\()", re.I)
_PLACEHOLDER = re.compile(
    rf"\b(?:is|are|was|were|be|on|in|at|of|to|by|from|after|before|the|and|or|with)"
    rf"\s*(?:{_MARKER_SRC}\s*)+[.!?…]*$",
    re.IGNORECASE,
)
"""A marker where the answer should be: "The release after Lunar Lobster is [6]."."""
_AFTER = re.compile(r"\b(?:after|next|follow\w*|succee\w*|successor)\b", re.IGNORECASE)
_BEFORE = re.compile(r"\b(?:before|previous|preceding|preced\w*|predecessor|prior)\b", re.I)
"""A question about the row beside the one it names: "Which release came after Bionic?"."""
# Markers with the space before them, and "(see [1])" wrappers, which would be left empty.
_MARKER_WITH_SPACE = re.compile(
    rf"\s*\(\s*(?:see|cf\.?|source:?)?\s*(?:{_MARKER_SRC}[\s,;]*)+\)|\s*{_MARKER_SRC}",
    re.IGNORECASE,
)
# "passage 2" in prose names a passage; its number is not a fact of the statement.
_REFERENCE = re.compile(r"\b(?:passage|source|excerpt|page|p\.)s?\s*#?\d{1,4}\b", re.IGNORECASE)
# A Markdown table's rule row; the row above it is a header of column titles, not a claim.
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*•+]|\d{1,3}[.)])\s+")
_QUOTED = re.compile(r"^\s*>")
_PASSAGE_LABEL = re.compile(
    r"^\s*(?:\[\d{1,3}\]|【\d{1,3}】|passage\s+\d{1,3})"
    r"(?:[\s,]*(?:\"[^\"\n]*\"|“[^”\n]*”|\(?(?:(?:page|p\.|part|chunk)\s*\d+"
    r"|section\s*(?:\"[^\"\n]*\"|[\w.]+))\)?))*"
    r"(?:\s*:\s*|\s*$)",
    re.IGNORECASE,
)
_ANSWER_LABEL = re.compile(
    r"^(\s*)[*_]*(?:final\s+answer|answer|response|reply|assistant)[*_]*\s*:[*_]*\s*",
    re.IGNORECASE,
)
_SOURCES_LINE = re.compile(r"^\W*(?:sources?|references?|citations?)\W*$", re.IGNORECASE)
_STOP = re.compile(rf"[.!?…]+[\"'”’)*_]*(?:\s*{_MARKER_SRC})*", re.IGNORECASE)
_FINAL = re.compile(r"[.!?…:;]+[\"'”’*_]*$")
_ABSTAIN = re.compile(
    r"\b(?:do|does|did)(?:\s+not|n['’]t)\s+(?:say|mention|state|specify|contain|include"
    r"|provide|cover|give|list|show)"
    r"|\bno\s+(?:information|mention|details?|data|reference)\b"
    r"|\b(?:could|can)(?:\s*not|n['’]t)\s+(?:find|locate|determine|tell)\b"
    r"|\b(?:not|isn['’]t|aren['’]t)\s+(?:mentioned|stated|specified|given|provided|listed"
    r"|included|found|available)\b"
    r"|\bunable to\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*[^\W_])?")
_TOKEN = re.compile(r"\w+")
_CLITIC = re.compile(r"(?:['’](?:s|m|ll|re|ve|d)|n['’]t)$")

_MONTH_SRC = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    r"(?<!\d)(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d)"
    r"|(?<![\d.])(?P<na>\d{1,2})(?P<sep>[./])(?P<nb>\d{1,2})(?P=sep)(?P<ny>\d{4}|\d{2})(?!\d)"
    rf"|(?<!\d)(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:day\s+)?(?:of\s+)?(?P<dm>{_MONTH_SRC})"
    r"\b\.?(?:,?\s+(?P<dy>\d{4})(?!\d))?"
    rf"|\b(?P<mm>{_MONTH_SRC})\b\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"
    r"(?:,?\s+(?P<my>\d{4})(?!\d))?"
    rf"|\b(?P<ym>{_MONTH_SRC})\b\.?,?\s+(?P<yy>\d{{4}})(?!\d)"
    r"|\bQ(?P<q>[1-4])\s*[/-]?\s*(?P<qy>\d{4})(?!\d)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    rf"(?:(?:[$€£¥]|\b(?:{_CURRENCIES})\b)\s?)?"
    # Not after a letter ("A4", "Q3"), except straight after a currency code ("EUR1,200").
    rf"(?:(?<![^\W\d_])|(?<={_CURRENCIES}))"
    r"(?P<num>\d{1,3}(?:[,.'\u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
    r"(?:st|nd|rd|th)?"
    r"(?P<scale>[kKmMbB]n?\b|\s?(?:%|percent\b|per cent\b|million\b|billion\b|thousand\b"
    rf"|[$€£¥]|(?:{_CURRENCIES})\b))?"
)


# --- public types -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """A passage as the model was shown it."""

    number: int
    """The `[n]` the passage was shown to the model with."""
    text: str
    """The passage text, with the document name and section it was shown under."""
    rows: tuple[str, ...] = ()
    """For a passage of table rows, each row: a value read from one row and stated about
    something named in another ("20.04 reaches end of life on <26.04's date>") is refused."""


@dataclass(frozen=True, slots=True)
class GroundedAnswer:
    """An answer whose statements were checked against the shown passages and cited."""

    text: str
    """The cleaned answer with `[n]` markers attached ("" when nothing was left)."""
    cited: tuple[int, ...] = ()
    """Passage numbers cited in `text`, in first-cited order."""
    removed: tuple[str, ...] = ()
    """Statements dropped because their facts are not in any shown passage."""
    unsupported: tuple[str, ...] = ()
    """The facts (numbers, dates, names) that no shown passage holds, as written."""
    echoed: int = 0
    """Lines and sentences dropped as echoed prompt scaffolding."""
    repeated: int = 0
    """Statements dropped because the answer had already made them (a small model looping)."""
    checked: int = 0
    """Statements checked (kept or removed), not counting echoed ones."""
    supported: int = 0
    """Kept statements that carry a citation."""

    @property
    def verified(self) -> bool:
        """Whether every checked statement held up (nothing was removed)."""
        return not self.removed

    @property
    def mostly_removed(self) -> bool:
        """Whether more statements were removed than kept: what is left is fragments."""
        return len(self.removed) > self.checked - len(self.removed)

    @property
    def note(self) -> str | None:
        """A sentence for the user about removed statements, or `None` when none were."""
        count = len(self.removed)
        if not count:
            return None
        verb = "was" if count == 1 else "were"
        return (
            f"{_plural(count, 'statement')} could not be verified against the documents "
            f"and {verb} removed."
        )

    def report(self) -> str:
        """One or two sentences for the agent's step: what was checked, cited and dropped."""
        echo = f"{_plural(self.echoed, 'echoed prompt line')}"
        if not self.checked:
            if self.echoed:
                return f"Nothing left to check after dropping {echo}."
            return "Nothing to check: the answer was empty."
        parts = []
        if self.supported:
            sources = ", ".join(f"[{n}]" for n in self.cited)
            parts.append(f"{self.supported} supported by {sources}")
        uncited = self.checked - self.supported - len(self.removed)
        if uncited:
            parts.append(f"{uncited} without a citation")
        if self.removed:
            failed = f" (unsupported: {', '.join(self.unsupported)})" if self.unsupported else ""
            parts.append(f"{len(self.removed)} removed{failed}")
        summary = f"Checked {_plural(self.checked, 'statement')}: {'; '.join(parts)}."
        dropped = [echo] if self.echoed else []
        if self.repeated:
            dropped.append(_plural(self.repeated, "repeated statement"))
        return f"{summary} Dropped {' and '.join(dropped)}." if dropped else summary


def rows_about(
    question: str, evidence: Sequence[Evidence], limit: int = 2
) -> list[tuple[int, str]]:
    """The table rows shown that hold everything `question` names that any row holds.

    ("When does 20.04 reach end of life?": the one row of 20.04.) With `[n]` of each;
    none when the question names nothing a row holds, or more than `limit` rows match.
    """
    rows = [(item.number, row, _Index.of(row)) for item in evidence for row in item.rows]
    named = _row_anchors(_facts(question), [index for _, _, index in rows])
    if not named:
        return []
    found = [(n, row) for n, row, index in rows if all(_holds(f, [index]) for f in named)]
    return found if len(found) <= limit else []


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The row beside the one a question names, in that row's passage."""

    number: int
    """The `[n]` of the passage."""
    row: str
    of: str
    """What the question named, as it wrote it ("Bionic Beaver")."""
    after: bool
    """The row after it in the file; else the one before."""


def asks_beside(question: str) -> bool:
    """Whether `question` asks about what comes after or before something it names."""
    return bool(_AFTER.search(question) or _BEFORE.search(question))


def row_step(question: str) -> int:
    """1 for a question about what comes after what it names, -1 for before, else 0."""
    after, before = bool(_AFTER.search(question)), bool(_BEFORE.search(question))
    return 0 if after == before else 1 if after else -1


def row_beside(question: str, evidence: Sequence[Evidence]) -> Neighbour | None:
    """For a question about the row after (or before) the one it names ("Which Ubuntu
    release came right after Bionic Beaver?"), that neighbour in the named row's passage;
    `None` for any other question, or at the passage's edge.

    Shown the whole passage, the bundled model answered with the named row's own release
    date; a table's order in its file (releases, ledger entries) is what "after" means.
    """
    step = row_step(question)
    about = rows_about(question, evidence, limit=1) if step else []
    if not about:
        return None
    number, row = about[0]
    rows = next(item.rows for item in evidence if item.number == number)
    at = rows.index(row) + step
    if not 0 <= at < len(rows):
        return None
    named = " and ".join(named_in_rows(question, [row])) or "the one the question names"
    return Neighbour(number, rows[at], named, after=step > 0)


def names_row(answer: str, row: str) -> bool:
    """Whether `answer` names `row` by one of its first two cells (a version, a codename):
    "Which release followed Buster?" answered "2021-08-14" names no release."""
    values = [cell.partition(": ")[2].strip() for cell in row.split("; ")[:2]]
    return any(
        re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", answer, re.IGNORECASE)
        for value in values
        if value
    )


def named_in_rows(question: str, rows: Sequence[str]) -> list[str]:
    """The names and version numbers in `question` that some of `rows` hold, as written.

    ("When did Debian Stretch reach end of life?" over `debian.csv`: "Debian Stretch", as its
    "Stretch" is a row's codename.) Plain counts and amounts do not name a row: "15" and "80"
    in "What is 15% of 80?" are in some row of most ledgers.
    """
    indexes = [_Index.of(row) for row in rows]
    named = _row_anchors(_facts(question), indexes)
    return [f.text for f in named if f.kind == "name" or re.search(r"\d[.]\d", f.text)]


def _row_anchors(asked: Sequence[_Fact], rows: Sequence[_Index]) -> list[_Fact]:
    """The facts of `asked` that some row holds, each name cut to the words rows hold.

    "Debian Stretch" is bound by a row's "Stretch"; "Debian" is only in the file name.
    """
    vocabulary = _vocabulary(rows)
    held = (_in_table(fact, vocabulary) for fact in asked)
    return [fact for fact in held if fact and any(_holds(fact, [row]) for row in rows)]


def _vocabulary(rows: Sequence[_Index]) -> frozenset[str]:
    return frozenset().union(*(row.words for row in rows))


def _in_table(fact: _Fact, vocabulary: frozenset[str]) -> _Fact | None:
    """`fact` as rows can hold it: a name cut to the words of the table's `vocabulary`
    (`None` if it has none of them)."""
    if fact.kind != "name":
        return fact
    held = {w for w in fact.keys if w in vocabulary or _EXPANSIONS.get(w) in vocabulary}
    return replace(fact, keys=frozenset(held)) if held else None


def facts(sentence: str) -> list[str]:
    """The checkable facts of a sentence (numbers, dates, names), as written, in order.

    Citation markers, list numbering and references such as "passage 2" or "page 3" are
    not facts.
    """
    return list(dict.fromkeys(fact.text for fact in _facts(sentence)))


def ground(
    answer: str,
    evidence: Sequence[Evidence],
    *,
    scaffolding: Sequence[str] = (),
    question: str = "",
) -> GroundedAnswer:
    """Check `answer` against the passages it was written from, cite them, drop the rest.

    Args:
        answer: The model's answer, with or without `[n]` markers.
        evidence: The passages the model was shown, with the numbers it saw.
        scaffolding: Prompt text the model may echo (its instructions); sentences that
            mostly repeat it, and add no facts of their own, are dropped.
        question: The question asked. Answers restate questions all the time ("The Shiloh
            Shepherd is a dog breed…"), so only a sentence that repeats it nearly word for
            word, or asks it back, counts as an echo of it.

    Returns:
        The cleaned, cited answer and an account of what was removed and why.
    """
    work = _Grounding(
        passages={item.number: _Index.of(item.text) for item in evidence},
        rows={item.number: tuple(map(_Row.of, item.rows)) for item in evidence if item.rows},
        asked=_Index.of(question),
        named=_facts(question),
        beside=asks_beside(question),
        scaffolds=[
            *(_Scaffold.of(text) for text in scaffolding if text.strip()),
            *([_Scaffold.of(question, strict=True)] if question.strip() else []),
        ],
    )
    raw = answer.splitlines()
    grounded = (
        line if _TABLE_RULE.match(following) else work.line(line)
        for line, following in zip(raw, [*raw[1:], ""], strict=True)
    )
    lines = [line for line in grounded if line is not None]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not _TOKEN.search(_MARKER_WITH_SPACE.sub("", text)):
        text = ""  # markers alone ("[1]", a small model's whole answer at times) say nothing
    return GroundedAnswer(
        text=text,
        cited=tuple(work.cited),
        removed=tuple(work.removed),
        unsupported=tuple(dict.fromkeys(work.unsupported)),
        echoed=work.echoed,
        repeated=work.repeated,
        checked=work.checked,
        supported=work.supported,
    )


# --- facts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Date:
    day: int | None = None
    month: int | None = None
    year: int | None = None
    quarter: int | None = None

    def held_by(self, other: _Date) -> bool:
        if self.quarter is not None:
            month = other.month
            quarter = other.quarter or (None if month is None else (month + 2) // 3)
            return quarter == self.quarter and self.year == other.year
        pairs = ((self.day, other.day), (self.month, other.month), (self.year, other.year))
        return all(mine is None or mine == theirs for mine, theirs in pairs)


@dataclass(frozen=True, slots=True)
class _Fact:
    text: str
    kind: Literal["number", "date", "name"]
    keys: frozenset[str] = frozenset()
    """Readings of a number, or the words of a name, normalised."""
    dates: tuple[_Date, ...] = ()
    """Readings of a date (a numeric date may be day-first or month-first)."""


def _facts(sentence: str) -> list[_Fact]:
    text = _ITEM.sub(lambda m: " " * len(m.group()), sentence, count=1)
    for pattern in (_MARKER, _REFERENCE):
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    found: list[tuple[int, _Fact]] = []
    # Dates first, then numbers, then names, each on what the earlier ones left, so
    # "14 March 2027" is one fact and "EUR" in "1.200 EUR" is not a name.
    for match in _DATE.finditer(text):
        readings = _date_readings(match)
        if readings:
            found.append((match.start(), _Fact(match.group().strip(" ,."), "date", dates=readings)))
            text = _blank(text, match.start(), match.end())
    for match in _NUMBER.finditer(text):
        keys = _number_keys(match["num"], match["scale"] or "")
        found.append((match.start(), _Fact(match.group().strip(), "number", keys=keys)))
        text = _blank(text, match.start(), match.end())
    for start, name in _names(text):
        # Initials and connectors are not checked: "J." may stand for any J.
        words = frozenset(
            _plain(w) for w in _WORD.findall(name) if len(w) > 1 and w.lower() not in _CONNECTORS
        )
        if words:
            found.append((start, _Fact(name, "name", keys=words)))
    return [fact for _, fact in sorted(found, key=lambda pair: pair[0])]


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _date_readings(match: re.Match[str]) -> tuple[_Date, ...]:
    def num(group: str) -> int | None:
        value = match[group]
        return None if value is None else int(value)

    def month(group: str) -> int:
        return _MONTHS[match[group].lower()]

    if match["iy"]:
        candidates = [_Date(num("id"), num("im"), num("iy"))]
    elif match["na"]:
        year = int(match["ny"]) + (2000 if len(match["ny"]) == 2 else 0)
        first, second = int(match["na"]), int(match["nb"])
        candidates = [_Date(first, second, year), _Date(second, first, year)]
    elif match["dd"]:
        candidates = [_Date(num("dd"), month("dm"), num("dy"))]
    elif match["mm"]:
        candidates = [_Date(num("md"), month("mm"), num("my"))]
    elif match["ym"]:
        candidates = [_Date(None, month("ym"), num("yy"))]
    else:
        candidates = [_Date(year=num("qy"), quarter=num("q"))]
    valid = (
        d
        for d in candidates
        if (d.day is None or 1 <= d.day <= 31) and (d.month is None or 1 <= d.month <= 12)
    )
    return tuple(dict.fromkeys(valid))


def _number_keys(digits: str, scale: str) -> frozenset[str]:
    """Every plausible value of a written number, as canonical decimal strings."""
    digits = re.sub(r"['\u00a0\u202f]", "", digits)
    commas, dots = digits.count(","), digits.count(".")
    if commas and dots:  # the later separator is the decimal one: 1,200.50 or 1.200,50
        decimal = "," if digits.rfind(",") > digits.rfind(".") else "."
        readings = [digits.replace("." if decimal == "," else ",", "").replace(",", ".")]
    elif commas + dots == 1 and len(re.split(r"[.,]", digits)[1]) == 3:
        # "1.200" is 1200 in Europe and 1.2 elsewhere: either reading may match.
        readings = [re.sub(r"[.,]", "", digits), digits.replace(",", ".")]
    elif commas + dots == 1:
        readings = [digits.replace(",", ".")]
    else:
        readings = [re.sub(r"[.,]", "", digits)]
    multiplier = _SCALES.get(scale.strip().lower(), 1)
    values = {Decimal(r) for r in readings} | {Decimal(r) * multiplier for r in readings}
    return frozenset(format(value.normalize(), "f") for value in values)


def _names(text: str) -> Iterator[tuple[int, str]]:
    """Proper names: runs of capitalised words that are not common words, with positions."""
    run: list[re.Match[str]] = []
    for match in _WORD.finditer(text):
        word = match.group()
        if not _is_name(word, initial=_starts_statement(text[: match.start()])):
            if word.lower() in _CONNECTORS and run:
                run.append(match)  # kept only if another name word follows
                continue
            yield from _close(text, run)
            run = []
            continue
        # "J. Smith": an initial's full stop does not break the name.
        if run:
            gap = r"\.?\s+" if len(run[-1].group()) == 1 else r"\s+"
            if not re.fullmatch(gap, text[run[-1].end() : match.start()]):
                yield from _close(text, run)
                run = []
        run.append(match)
    yield from _close(text, run)


def _close(text: str, run: list[re.Match[str]]) -> Iterator[tuple[int, str]]:
    while run and run[-1].group().lower() in _CONNECTORS:
        run = run[:-1]
    if run:
        name = text[run[0].start() : run[-1].end()]
        yield run[0].start(), re.sub(r"['’]s$", "", name)


def _starts_statement(before: str) -> bool:
    stripped = before.rstrip(" \t\"'“‘([*_")
    return not stripped or stripped[-1] in ".!?:;|"  # "|" starts a table cell


def _is_name(word: str, *, initial: bool) -> bool:
    if not word[0].isupper():
        return False
    plain = _plain(word)
    if plain in _COMMON or plain in _CURRENCY_CODES:
        return False
    return not (initial and not word.isupper() and len(plain) > 4 and _COMMON_ENDING.search(plain))


def _plain(word: str) -> str:
    return _CLITIC.sub("", word.casefold())


def _stem(word: str) -> str:
    plain = _plain(word)
    return plain[:-1] if len(plain) > 3 and plain.endswith("s") else plain


def _content(text: str) -> frozenset[str]:
    """Stems of the words that carry meaning, for overlap between a statement and a passage."""
    words = (_stem(w) for w in _WORD.findall(text) if _plain(w) not in _NOT_CONTENT)
    return frozenset(w for w in words if len(w) > 2)


@dataclass(frozen=True, slots=True)
class _Index:
    """What a passage holds, normalised for checking facts against it."""

    words: frozenset[str]
    numbers: frozenset[str]
    dates: tuple[_Date, ...]
    content: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Index:
        words: set[str] = set()
        for word in _WORD.findall(text):
            plain = _plain(word)
            words.add(plain)
            words.update(part for part in plain.split("-") if part)
        words.update(long for short, long in _EXPANSIONS.items() if short in words)
        numbers: set[str] = set()
        for match in _NUMBER.finditer(text):
            numbers.update(_number_keys(match["num"], match["scale"] or ""))
        # Whole digit runs inside identifiers and dates ("v2", "2027-03-14") count too; the
        # digits of "3.5" or "1,200" do not, or "5" would be found in every "3.5".
        numbers.update(str(int(d)) for d in re.findall(r"(?<![\d.,])\d+(?!\d|[.,]\d)", text))
        dates = tuple(d for m in _DATE.finditer(text) for d in _date_readings(m))
        return cls(frozenset(words), frozenset(numbers), dates, _content(text))


@dataclass(frozen=True, slots=True)
class _Row:
    """A table row (`column: value; …`), whole and cell by cell under its column's name."""

    whole: _Index
    cells: tuple[tuple[frozenset[str], _Index], ...]
    """Each cell: the words of its column's name, and what the cell holds."""

    @classmethod
    def of(cls, text: str) -> _Row:
        cells = []
        for cell in text.split("; "):
            column, colon, value = cell.partition(": ")
            if colon:
                words = (part for w in _WORD.findall(column) for part in _plain(w).split("-"))
                cells.append((frozenset(filter(None, words)), _Index.of(value)))
        return cls(_Index.of(text), tuple(cells))

    def states(self, fact: _Fact, before: Sequence[str], after: Sequence[str]) -> bool:
        """Whether this row holds `fact` under the column the words next to it name, if they
        name a column of this row: the nearest naming before it counts, else after it
        ("Until 2024-08-14, Bullseye gets extended LTS")."""
        if not _holds(fact, [self.whole]):
            return False
        before_parts = _parts(before)
        after_parts = _parts(after)
        spans = [before_parts[:end] for end in range(len(before_parts), 0, -1)]
        spans += [after_parts[:end] for end in range(1, len(after_parts) + 1)]
        # A column named beside a value of another kind is not about it ("Debian 11 LTS ends
        # …": `eol-lts` holds dates, and 11 is the version).
        cells = [(column, cell) for column, cell in self.cells if _same_kind(fact, cell)]
        for span in spans:
            naming = {id(cell): _naming(span, column) for column, cell in cells}
            most = max(naming.values(), default=0)
            if most:
                # "extended LTS" names `eol-elts` (two words), not `eol-lts` ("LTS" alone).
                return _holds(fact, [cell for _, cell in cells if naming[id(cell)] == most])
        return True


def _same_kind(fact: _Fact, cell: _Index) -> bool:
    if fact.kind == "date":
        return bool(cell.dates)
    if fact.kind == "number":
        return bool(cell.numbers) and not cell.dates
    return bool(cell.words)


def _parts(words: Sequence[str]) -> list[str]:
    return [part for word in words for part in word.split("-") if part]


def _naming(words: Sequence[str], column: frozenset[str]) -> int:
    """How many of the last `words` name a column whose name has the words `column` (0: it
    is not named): "released" names `release`; "long-term support" names `eol-lts` by its
    initials and "extended LTS" `eol-elts`, a short word counting whole or by its initial."""
    last = words[-1]
    most = 0
    for name in column:
        common = min(5, len(last), len(name))
        if last == name or (common >= 4 and last[:common] == name[:common]):
            most = max(most, 1)
        if not 3 <= len(name) <= 4:
            continue
        forms = {""}
        for taken, word in enumerate(reversed(words[-len(name) :]), start=1):
            starts = {word[0], word} if len(word) <= len(name) else {word[0]}
            forms = {start + form for form in forms for start in starts}
            if name in forms:
                most = max(most, taken)
    return most


def _words_around(sentence: str, fact: _Fact, limit: int = 4) -> tuple[list[str], list[str]]:
    """The few words before `fact` in `sentence` (after any comma or figure before it), and
    those after it (up to the next figure)."""
    at = sentence.find(fact.text)
    if at < 0:
        return [], []
    before = re.split(r"[,;:()]|\d", sentence[:at])[-1]
    after = re.split(r"[;:()]|\d", sentence[at + len(fact.text) :])[0]
    words = [[_plain(word) for word in _WORD.findall(text)] for text in (before, after)]
    return words[0][-limit:], words[1][:limit]


def _holds(fact: _Fact, passages: Sequence[_Index]) -> bool:
    if fact.kind == "number":
        return any(fact.keys & passage.numbers for passage in passages)
    if fact.kind == "date":
        return any(
            mine.held_by(theirs)
            for passage in passages
            for theirs in passage.dates
            for mine in fact.dates
        )
    return all(
        any(word in p.words or _EXPANSIONS.get(word, "\0") in p.words for p in passages)
        for word in fact.keys
    )


# --- echoes -----------------------------------------------------------------------------


_VERDICTS = frozenset({"yes", "no", "correct", "incorrect", "true", "false", "neither", "both"})
"""First words of a sentence that answers a yes/no question, however much it then restates."""


@dataclass(frozen=True, slots=True)
class _Scaffold:
    """Prompt text the model might echo: its words, their 6-word runs, and what it holds."""

    words: tuple[str, ...]
    runs: frozenset[tuple[str, ...]]
    index: _Index
    strict: bool = False
    """The question: echoed only when asked back or repeated nearly word for word."""

    @classmethod
    def of(cls, text: str, *, strict: bool = False) -> _Scaffold:
        words = tuple(_TOKEN.findall(text.casefold()))
        runs = frozenset(words[i : i + 6] for i in range(len(words) - 5))
        return cls(words, runs, _Index.of(text), strict)

    def echoed_by(self, sentence: str) -> bool:
        words = _TOKEN.findall(sentence.casefold())
        if len(words) < 5 or words[0] in _VERDICTS:
            # "Yes, Verdi and Thomas were both opera composers" answers by restating.
            return False
        # A sentence that adds facts of its own is an answer, even if it reuses the question's
        # wording ("Margaret Court won the singles title at a 1973 tournament held at ...").
        if any(not _holds(fact, [self.index]) for fact in _facts(sentence)):
            return False
        if self.strict:
            repeated = _in_order(words, self.words)
            asked_back = sentence.rstrip().endswith("?") and repeated >= 0.7 * len(self.words)
            verbatim = repeated >= 0.9 * len(words) and len(words) <= len(self.words) + 2
            return asked_back or verbatim
        # So is one that adds content words ("The notice period for ... is three months").
        if len(_content(sentence) - self.index.content) >= 2:
            return False
        if any(tuple(words[i : i + 6]) in self.runs for i in range(len(words) - 5)):
            return True
        return _in_order(words, self.words) >= 0.7 * len(words)


def _in_order(words: Sequence[str], scaffold: Sequence[str]) -> int:
    """How many of `words` appear in `scaffold` in the same order (longest common subsequence)."""
    previous = [0] * (len(scaffold) + 1)
    for word in words:
        current = [0]
        for j, other in enumerate(scaffold):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


# --- statements -------------------------------------------------------------------------


def _split(text: str) -> list[tuple[str, str]]:
    """Sentences of one line, each with the whitespace after it, so they join back exactly."""
    pieces: list[tuple[str, str]] = []
    start = 0
    for stop in _STOP.finditer(text):
        end = stop.end()
        following = text[end:]
        gap = len(following) - len(following.lstrip())
        if not gap or end + gap == len(text):
            continue  # "3.5", "e.g.x", or the end of the line
        if _continues(text[start : stop.start()], stop.group(), following[gap:]):
            continue
        pieces.append((text[start:end], text[end : end + gap]))
        start = end + gap
    rest = text[start:]
    pieces.append((rest.rstrip(), rest[len(rest.rstrip()) :]))
    return pieces


def _continues(before: str, stop: str, after: str) -> bool:
    """Whether the sentence goes on past this stop (an abbreviation, an initial, "14. März")."""
    if not (after[0].isupper() or after[0].isdigit() or after[0] in "\"'“‘([*【_"):
        return True
    if not stop.startswith(".") or stop.startswith(".."):
        return False
    last = re.search(r"[\w.]+$", before)
    word = last.group() if last else ""
    if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
        return True
    following = re.match(r"\w+", after)
    return (
        word.isdigit()
        and len(word) <= 2
        and following is not None
        and following.group().lower() in _MONTHS
    )


def _markers(text: str) -> list[int]:
    numbers: list[int] = []
    for marker in _MARKER.findall(text):
        for first, last in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", marker):
            low, high = int(first), int(last or first)
            numbers.extend(range(low, high + 1) if 0 <= high - low <= 20 else (low, high))
    return list(dict.fromkeys(numbers))


def _cite(text: str, numbers: Sequence[int]) -> str:
    """`text` with `[n]` markers before its final punctuation: "... 2027 [1]."."""
    if not numbers:
        return text
    markers = " " + "".join(f"[{n}]" for n in numbers)
    final = _FINAL.search(text)
    cut = final.start() if final else len(text)
    if text.endswith("|"):  # a table row: cite inside its last cell
        cut = len(text[:-1].rstrip())
    return text[:cut].rstrip() + markers + text[cut:]


@dataclass(slots=True)
class _Grounding:
    """One `ground` call: the passages, the prompt text, and the running account."""

    passages: dict[int, _Index]
    rows: dict[int, tuple[_Row, ...]]
    """Each table passage's rows, indexed one by one."""
    asked: _Index
    """What the question itself names: restating it is not a claim to check."""
    named: list[_Fact]
    """The question's facts: the rows an answer is about when its sentence names none."""
    beside: bool
    """The question asks about a neighbour of the row it names: the rows beside it count."""
    scaffolds: list[_Scaffold]
    cited: dict[int, None] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    echoed: int = 0
    repeated: int = 0
    checked: int = 0
    supported: int = 0
    said: set[str] = field(default_factory=set)
    """The statements kept so far, as words: a statement made again is dropped."""

    def line(self, line: str) -> str | None:
        """The grounded line, "" for a blank one, or `None` when nothing of it is left."""
        if not line.strip():
            return ""
        if _QUOTED.match(line):
            self.echoed += 1
            return None
        for label, keep in ((_PASSAGE_LABEL, ""), (_ANSWER_LABEL, r"\1")):
            stripped = label.sub(keep, line, count=1)
            if stripped != line:
                self.echoed += 1
                line = stripped
                if not line.strip():
                    return None
        item = _ITEM.match(line)
        if item:  # a list item stays one unit, so the list keeps its shape
            lead, pieces = item.group(), [(line[item.end() :].rstrip(), "")]
        else:
            lead = line[: len(line) - len(line.lstrip())]
            pieces = _split(line.strip())
        kept = [
            grounded + tail
            for sentence, tail in pieces
            if (grounded := self.statement(sentence)) is not None
        ]
        return lead + "".join(kept).rstrip() if kept else None

    def statement(self, sentence: str) -> str | None:
        """The statement with its citations, or `None` when it is dropped."""
        sentence = _BRACKETED_VALUE.sub(r"\1", sentence)
        claimed = _markers(sentence)
        bare = _MARKER_WITH_SPACE.sub("", sentence).strip()
        if _SOURCES_LINE.match(bare) or (claimed and not re.search(r"\w", bare)):
            self.echoed += 1  # a citation list or bare markers: our own markers replace them
            return None
        if not re.search(r"\w", bare):
            return bare or None  # a rule ("---") or other markup: nothing to check
        if _PLACEHOLDER.search(sentence.strip()):
            self.removed.append(bare)  # it says nothing, and cites a passage for it
            return None
        if any(scaffold.echoed_by(bare) for scaffold in self.scaffolds):
            self.echoed += 1
            return None
        words = " ".join(_TOKEN.findall(bare.casefold()))
        if words in self.said:
            self.repeated += 1
            return None
        self.said.add(words)
        self.checked += 1
        valid = [n for n in claimed if n in self.passages]
        abstains = bool(_ABSTAIN.search(bare))
        # An abstention names what is missing (often the question's own names): no citation.
        found = [f for f in _facts(bare) if not (abstains and f.kind == "name")]
        restated: list[_Fact] = []
        if _first_word(bare) not in _VERDICTS:
            # "The King who made the 1925 Birthday Honours was born in 1865": only 1865 is
            # the answer's claim; the rest is the question's own, whichever passage holds it.
            # A yes/no verdict is different: confirming the question's figures is the claim.
            restated = [f for f in found if _holds(f, [self.asked])]
            found = [f for f in found if f not in restated]
        if found:
            numbers, missing = self._cover(found, valid, bare)
            if not missing:
                missing = self._off_row(found, restated, numbers, bare)
            if missing:
                self.removed.append(bare)
                self.unsupported.extend(fact.text for fact in missing)
                return None
        elif abstains:
            numbers = []
        else:
            numbers = valid or self._paraphrased(bare)
        self.cited.update(dict.fromkeys(numbers))
        self.supported += bool(numbers)
        return _cite(bare, numbers)

    def _cover(
        self, found: Sequence[_Fact], valid: Sequence[int], text: str
    ) -> tuple[list[int], list[_Fact]]:
        """The passages that together hold every fact, or the facts that none can."""
        if valid and all(_holds(f, [self.passages[n] for n in valid]) for f in found):
            return list(valid), []
        content = _content(text)

        def overlap(group: Iterable[int]) -> int:
            return sum(len(content & self.passages[n].content) for n in group)

        fewest = list(found)
        for size in (1, 2, 3):  # an answer may join facts from up to three passages
            complete: list[Iterable[int]] = []
            for group in combinations(sorted(self.passages), size):
                shown = [self.passages[n] for n in group]
                missing = [fact for fact in found if not _holds(fact, shown)]
                if not missing:
                    complete.append(group)
                elif len(missing) < len(fewest):
                    fewest = missing
            if complete:
                return list(max(complete, key=overlap)), []
        return [], fewest

    def _off_row(
        self,
        found: Sequence[_Fact],
        restated: Sequence[_Fact],
        numbers: Sequence[int],
        sentence: str,
    ) -> list[_Fact]:
        """The answer's facts that no table row holds beside what the question named, or
        holds under another column than the one the sentence names.

        A table passage holds many rows, so "Ubuntu 20.04 reaches end of life on
        2031-05-29" finds both in one passage when 2031-05-29 is 26.04's date. Each fact
        the answer adds must share a shown row with one of the question's names that rows
        hold ("20.04", not the file's "Ubuntu"); a question naming nothing in a row binds
        nothing. A value right after a column's name ("released on 12/10/2023") must be that
        column's, not the row's `created` date.
        """
        if not numbers or any(n not in self.rows for n in numbers):
            return []  # not (only) table passages: checked as wholes
        rows = [row for table in self.rows.values() for row in table]
        wholes = [row.whole for row in rows]
        # "Its long-term support ends on …" names no row: it is about the question's.
        anchors = _row_anchors(restated, wholes) or _row_anchors(self.named, wholes)
        if not anchors:
            return []
        bound: list[_Row] = []
        for table in self.rows.values():
            for at, row in enumerate(table):
                if any(_holds(a, [row.whole]) for a in anchors):
                    # "Cosmic Cuttlefish came after Bionic Beaver": a neighbour's values.
                    bound.extend(table[max(at - 1, 0) : at + 2] if self.beside else [row])
        vocabulary = _vocabulary(wholes)
        missing = []
        for fact in found:
            # A name's words that no row has ("Debian" of debian.csv) were checked against
            # the passage with its file name; the rest must be in the row.
            held = _in_table(fact, vocabulary)
            around = _words_around(sentence, fact)
            if held and not any(row.states(held, *around) for row in bound):
                missing.append(fact)
        return missing

    def _paraphrased(self, text: str) -> list[int]:
        """The passage a fact-free statement clearly paraphrases, if any."""
        content = _content(text)
        if len(content) < 3 or not self.passages:
            return []
        number, passage = max(
            self.passages.items(), key=lambda item: (len(content & item[1].content), -item[0])
        )
        shared = len(content & passage.content)
        return [number] if shared >= 3 and shared >= 0.5 * len(content) else []


def _first_word(text: str) -> str:
    words = _WORD.findall(text)
    return words[0].lower() if words else ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
