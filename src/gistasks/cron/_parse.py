"""Strict parser for Quartz 2.3.2 cron expressions.

The grammar is Quartz's (``org.quartz.CronExpression`` of Quartz 2.3.2); the strictness is
gistasks' own. Quartz silently accepts junk after numbers, steps after names, ``W`` after ranges
and lists that mix ``nW`` with other days, and gives them meanings nobody intends; here each of
those is a :class:`CronSyntaxError` whose message names the field, the position and the fix.

Parsing is pure and bounded: the expression length is capped and every loop is over a field's
finite value range.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

MAX_EXPRESSION_LENGTH = 1000
FIRST_YEAR = 1970
LAST_YEAR = 2999

FIELD_NAMES = ("second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek", "year")

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_DAYS = {name: i + 1 for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


class CronSyntaxError(ValueError):
    """A cron expression that gistasks does not accept.

    ``field`` is the ArcGIS name of the offending field (``second`` … ``year``, or
    ``expression`` for whole-expression problems), ``position`` the 0-based character offset in
    the expression text (or ``None``), and the message says what is wrong and how to fix it.
    """

    def __init__(self, message: str, *, field: str = "expression", position: int | None = None):
        where = f" (at position {position})" if position is not None else ""
        super().__init__(f"{field}: {message}{where}")
        self.field = field
        self.position = position
        self.reason = message


class Field(Enum):
    """The seven Quartz fields, each knowing its range, its step limit and its names."""

    SECOND = (0, 0, 59, 59)
    MINUTE = (1, 0, 59, 59)
    HOUR = (2, 0, 23, 23)
    DAY_OF_MONTH = (3, 1, 31, 31)
    MONTH = (4, 1, 12, 12)
    DAY_OF_WEEK = (5, 1, 7, 7)
    YEAR = (6, FIRST_YEAR, LAST_YEAR, LAST_YEAR - FIRST_YEAR)

    def __init__(self, index: int, low: int, high: int, max_step: int) -> None:
        self.index = index
        self.low = low
        self.high = high
        # Quartz 2.3.2 rejects larger increments ("Increment > 60 : 75", issue #58).
        self.max_step = max_step
        self.every = frozenset(range(low, high + 1))

    @property
    def arcgis_name(self) -> str:
        return FIELD_NAMES[self.index]

    @property
    def names(self) -> dict[str, int]:
        if self is Field.MONTH:
            return _MONTHS
        if self is Field.DAY_OF_WEEK:
            return _DAYS
        return {}

    def range_text(self) -> str:
        text = f"{self.low}-{self.high}"
        if self is Field.MONTH:
            text += " or JAN-DEC"
        elif self is Field.DAY_OF_WEEK:
            text += " (SUN-SAT, 1 = Sunday, 7 = Saturday)"
        return text


class DomKind(Enum):
    """How the day-of-month field selects days."""

    NONE = "?"
    SET = "set"
    LAST = "L"  # last day minus ``offset``
    LAST_WEEKDAY = "LW"  # weekday nearest to (last day minus ``offset``)
    NEAREST_WEEKDAY = "W"  # weekday nearest to ``day``


class DowKind(Enum):
    """How the day-of-week field selects days."""

    NONE = "?"
    SET = "set"
    LAST_OF = "L"  # last ``weekday`` of the month
    NTH = "#"  # ``nth`` ``weekday`` of the month


class DomSpec(NamedTuple):
    kind: DomKind
    values: frozenset[int] = frozenset()
    offset: int = 0
    day: int = 0


class DowSpec(NamedTuple):
    kind: DowKind
    values: frozenset[int] = frozenset()
    weekday: int = 0
    nth: int = 0


class YearRule(NamedTuple):
    """Years ``start``, ``start + step``, … up to ``stop`` (``None``: up to the horizon)."""

    start: int
    stop: int | None
    step: int


class ParsedCron(NamedTuple):
    """The parsed expression: value sets for the plain fields, rules for the day and year fields."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: DomSpec
    months: frozenset[int]
    dow: DowSpec
    years: tuple[YearRule, ...]
    has_year_field: bool


_TERM = re.compile(r"(\*|[0-9]+|[A-Z]+)(?:-([0-9]+|[A-Z]+))?(?:/([0-9]*))?")
_TOKEN = re.compile(r"[0-9]+|[A-Z]+|.", re.S)


def parse(expression: str) -> ParsedCron:
    """Parse a Quartz cron expression, or raise :class:`CronSyntaxError`."""
    if not isinstance(expression, str):
        raise CronSyntaxError(f"expected a string, got {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CronSyntaxError(
            f"expression is {len(expression)} characters long; the limit is "
            f"{MAX_EXPRESSION_LENGTH}"
        )
    upper = expression.upper().replace("\t", " ")
    if not (upper.isascii() and upper.isprintable()):
        for i, ch in enumerate(upper):
            if not (ch.isascii() and ch.isprintable()):
                raise CronSyntaxError(
                    f"unexpected character {ch!r}; fields are separated by spaces", position=i
                )
    parts = []
    at = 0
    for word in upper.split(" "):
        if word:
            parts.append((word, at))
        at += len(word) + 1
    if len(parts) < 6:
        hint = (
            "; a Unix 5-field expression needs a seconds field in front, e.g. "
            f"'0 {expression.strip()}'"
            if len(parts) == 5
            else ""
        )
        raise CronSyntaxError(
            "expected 6 or 7 fields (second minute hour dayOfMonth month dayOfWeek [year]), "
            f"got {len(parts)}{hint}"
        )
    if len(parts) > 7:
        raise CronSyntaxError(
            "expected 6 or 7 fields (second minute hour dayOfMonth month dayOfWeek [year]), "
            f"got {len(parts)}; remove the extra fields",
            position=parts[7][1],
        )
    sets: list[frozenset[int]] = []
    for field, (text, pos) in zip(
        (Field.SECOND, Field.MINUTE, Field.HOUR), parts[:3], strict=True
    ):
        sets.append(_parse_plain(field, text, pos))
    months = _parse_plain(Field.MONTH, parts[4][0], parts[4][1])
    dom = _parse_dom(parts[3][0], parts[3][1])
    dow = _parse_dow(parts[5][0], parts[5][1])
    if (dom.kind is DomKind.NONE) == (dow.kind is DowKind.NONE):
        both = dom.kind is DomKind.NONE
        raise CronSyntaxError(
            ("'?' is in both day fields" if both else "neither day field is '?'")
            + "; exactly one of dayOfMonth and dayOfWeek must be '?' "
            "(e.g. '* * ?' for every day, or '? * MON' for Mondays)",
            field="dayOfWeek",
            position=parts[5][1],
        )
    if len(parts) == 7:
        years = _parse_years(parts[6][0], parts[6][1])
    else:
        years = (YearRule(FIRST_YEAR, None, 1),)
    return ParsedCron(
        text=" ".join([p for p, _ in parts]),
        seconds=sets[0],
        minutes=sets[1],
        hours=sets[2],
        dom=dom,
        months=months,
        dow=dow,
        years=years,
        has_year_field=len(parts) == 7,
    )


def _err(field: Field, message: str, position: int) -> CronSyntaxError:
    return CronSyntaxError(message, field=field.arcgis_name, position=position)


def _terms(field: Field, text: str, pos: int) -> list[tuple[str, int]]:
    """Split a field on commas, rejecting empty list items."""
    out: list[tuple[str, int]] = []
    offset = 0
    for term in text.split(","):
        if not term:
            raise _err(field, "empty list item; remove the extra ','", pos + offset)
        out.append((term, pos + offset))
        offset += len(term) + 1
    return out


def _value(field: Field, token: str, pos: int) -> tuple[int, bool]:
    """The number a token stands for, and whether it was a name."""
    if token.isdigit():
        if len(token) > 4:
            raise _err(field, f"{token} is outside {field.range_text()}", pos)
        value = int(token)
        if not field.low <= value <= field.high:
            fix = ""
            if field is Field.DAY_OF_WEEK and value == 0:
                fix = "; Quartz numbers days 1-7 from Sunday, so Sunday is 1 or SUN"
            raise _err(field, f"{token} is outside {field.range_text()}{fix}", pos)
        return value, False
    if token == "C" or (token.endswith("C") and token[:-1].isdigit()):
        raise _err(field, "'C' (calendar) is not supported", pos + len(token) - 1)
    if token in ("L", "LW") and field not in (Field.DAY_OF_MONTH, Field.DAY_OF_WEEK):
        raise _err(field, "'L' is only allowed in dayOfMonth or dayOfWeek", pos)
    if token == "W" and field is not Field.DAY_OF_MONTH:
        raise _err(field, "'W' is only allowed in dayOfMonth", pos)
    names = field.names
    if names and len(token) > 3 and token[:3] in names:
        raise _err(
            field,
            f"{token!r} is not a name; names are three letters ({token[:3]})",
            pos,
        )
    if not names:
        raise _err(
            field,
            f"unexpected {token!r}; this field takes numbers {field.range_text()}",
            pos,
        )
    if token in names:
        return names[token], True
    kind = "month" if field is Field.MONTH else "day"
    raise _err(
        field,
        f"{token!r} is not a {kind} name; use one of {min(names, key=names.__getitem__)}-"
        f"{max(names, key=names.__getitem__)} "
        "(three letters)",
        pos,
    )


def _step(field: Field, raw: str, pos: int) -> int:
    if raw == "":
        raise _err(field, "'/' must be followed by a step, e.g. '0/15'", pos)
    step = int(raw) if len(raw) <= 5 else field.max_step + 1
    if step == 0:
        raise _err(field, "step 0 never advances; use a step of 1 or more", pos)
    if step > field.max_step:
        raise _err(
            field,
            f"step {raw} is larger than the field ({field.low}-{field.high}); use at most "
            f"{field.max_step}",
            pos,
        )
    return step


def _range_values(field: Field, start: int, stop: int, step: int) -> set[int]:
    """Quartz's ``addToSet``: ranges may wrap (``22-2``), steps continue across the wrap."""
    size = field.high - field.low + 1
    if stop < start:
        stop += size
    return {field.low + (v - field.low) % size for v in range(start, stop + 1, step)}


def _plain_term(field: Field, term: str, pos: int) -> tuple[int, int, int]:
    """Parse ``*``, ``a``, ``a-b``, with an optional ``/step``; return (start, stop, step)."""
    m = _TERM.fullmatch(term)
    if m is None:
        _explain_bad_term(field, term, pos)
    assert m is not None
    first, last, raw_step = m.group(1), m.group(2), m.group(3)
    if first == "*":
        if last is not None:
            raise _err(field, "unexpected '-' after '*'; write a range as 'a-b'", pos + 1)
        step = 1 if raw_step is None else _step(field, raw_step, pos + 2)
        return field.low, field.high, step
    start, start_named = _value(field, first, pos)
    if last is None:
        stop = start if raw_step is None else field.high
        end_named = start_named
    else:
        stop, end_named = _value(field, last, pos + len(first) + 1)
        if start_named != end_named:
            raise _err(
                field,
                f"range {term!r} mixes a name and a number; write both ends as names or as numbers",
                pos,
            )
    if raw_step is not None and (start_named or end_named):
        raise _err(
            field,
            f"a step after names ({term!r}) is not supported; list the values instead, "
            "e.g. 'MON,WED,FRI'",
            pos + term.index("/"),
        )
    step = 1 if raw_step is None else _step(field, raw_step, pos + term.index("/") + 1)
    return start, stop, step


def _explain_bad_term(field: Field, term: str, pos: int) -> None:
    """Raise the most helpful error for a term that is not ``a[-b][/s]``."""
    if term == "?" or "?" in term:
        if field in (Field.DAY_OF_MONTH, Field.DAY_OF_WEEK):
            raise _err(field, "'?' must stand alone in the field", pos + term.index("?"))
        raise _err(
            field, "'?' is only allowed in dayOfMonth or dayOfWeek", pos + term.index("?")
        )
    offset = 0
    for tok in _TOKEN.findall(term):
        if tok == "L" and field not in (Field.DAY_OF_MONTH, Field.DAY_OF_WEEK):
            raise _err(field, "'L' is only allowed in dayOfMonth or dayOfWeek", pos + offset)
        if tok == "W" and field is not Field.DAY_OF_MONTH:
            raise _err(field, "'W' is only allowed in dayOfMonth", pos + offset)
        if tok == "#" and field is not Field.DAY_OF_WEEK:
            raise _err(field, "'#' is only allowed in dayOfWeek", pos + offset)
        if tok == "C" or (tok.endswith("C") and tok[:-1].isdigit()):
            raise _err(field, "'C' (calendar) is not supported", pos + offset + len(tok) - 1)
        offset += len(tok)
    if term.startswith("*") and len(term) > 1 and term[1] != "/":
        raise _err(field, f"unexpected {term[1]!r} after '*'", pos + 1)
    m = re.match(r"\*|[0-9]+|[A-Z]+", term)
    if m is not None and m.group().isdigit():
        nxt = term[m.end()] if m.end() < len(term) else ""
        raise _err(
            field,
            f"unexpected {nxt!r} after {m.group()}; a value is a number, a range 'a-b' or a "
            "step 'a/n'",
            pos + m.end(),
        )
    if m is not None and m.group().isalpha() and field.names and len(m.group()) > 3:
        raise _err(
            field,
            f"{m.group()!r} is not a name; names are three letters (e.g. "
            f"{'MON' if field is Field.DAY_OF_WEEK else 'JAN'})",
            pos,
        )
    raise _err(field, f"cannot read {term!r}; expected '*', 'a', 'a-b' or 'a/n'", pos)


def _parse_plain(field: Field, text: str, pos: int) -> frozenset[int]:
    if text == "*":
        return field.every
    if text.isdigit() and len(text) <= 2:
        value = int(text)
        if field.low <= value <= field.high:
            return frozenset((value,))
    values: set[int] = set()
    for term, tpos in _terms(field, text, pos):
        start, stop, step = _plain_term(field, term, tpos)
        values |= _range_values(field, start, stop, step)
    return frozenset(values)


_DOM_LAST = re.compile(r"L(?:-([0-9]*))?(W?)")
_DOM_WEEKDAY = re.compile(r"([0-9]+)W")


def _parse_dom(text: str, pos: int) -> DomSpec:
    field = Field.DAY_OF_MONTH
    if text == "?":
        return DomSpec(DomKind.NONE)
    special = any(c in text for c in "LW")
    if special and "," in text:
        raise _err(
            field,
            f"{text!r}: 'L', 'LW' and 'nW' cannot be combined with other days; schedule them as "
            "separate tasks",
            pos,
        )
    m = _DOM_LAST.fullmatch(text)
    if m is not None:
        raw = m.group(1)
        if raw == "":
            raise _err(field, "'L-' must be followed by a number of days, e.g. 'L-3'", pos + 2)
        offset = 0 if raw is None else int(raw) if len(raw) <= 3 else 99
        if offset > 30:
            raise _err(field, f"offset {raw} from the last day is larger than 30", pos + 2)
        kind = DomKind.LAST_WEEKDAY if m.group(2) else DomKind.LAST
        return DomSpec(kind, offset=offset)
    m = _DOM_WEEKDAY.fullmatch(text)
    if m is not None:
        day, _ = _value(field, m.group(1), pos)
        return DomSpec(DomKind.NEAREST_WEEKDAY, day=day)
    if "W" in text:
        where = text.index("W")
        if re.fullmatch(r"[0-9]+-[0-9]+W|.*/.*W", text):
            raise _err(
                field,
                f"'W' takes a single day ('15W'), not a range or a step ({text!r})",
                pos + where,
            )
        raise _err(
            field, f"cannot read {text!r}; 'W' follows a single day, e.g. '15W'", pos + where
        )
    if "L" in text:
        raise _err(
            field,
            f"cannot read {text!r}; 'L' stands alone, as 'L-n', 'LW' or 'L-nW'",
            pos + text.index("L"),
        )
    return DomSpec(DomKind.SET, values=_parse_plain(field, text, pos))


_DOW_LAST = re.compile(r"([0-9]+|[A-Z]{3})L")
_DOW_NTH = re.compile(r"([0-9]+|[A-Z]{3})#([0-9]*)")


def _parse_dow(text: str, pos: int) -> DowSpec:
    field = Field.DAY_OF_WEEK
    if text == "?":
        return DowSpec(DowKind.NONE)
    if ("L" in text or "#" in text) and "," in text:
        raise _err(
            field,
            f"{text!r}: 'nL' and 'n#m' cannot be combined with other days; schedule them as "
            "separate tasks",
            pos,
        )
    if text == "L":
        # Quartz: a lone 'L' in day-of-week is the last day of the week, Saturday.
        return DowSpec(DowKind.SET, values=frozenset({7}))
    m = _DOW_LAST.fullmatch(text)
    if m is not None:
        weekday, _ = _value(field, m.group(1), pos)
        return DowSpec(DowKind.LAST_OF, weekday=weekday)
    m = _DOW_NTH.fullmatch(text)
    if m is not None:
        weekday, _ = _value(field, m.group(1), pos)
        raw = m.group(2)
        hash_pos = pos + len(m.group(1))
        if not raw or len(raw) > 1 or not 1 <= int(raw) <= 5:
            raise _err(
                field,
                f"'#' must be followed by a week number 1-5 (got {raw or 'nothing'!r}), "
                "e.g. '6#3' for the third Friday",
                hash_pos + 1 if raw else hash_pos,
            )
        return DowSpec(DowKind.NTH, weekday=weekday, nth=int(raw))
    if "#" in text:
        raise _err(
            field,
            f"'#' follows a single day ('6#3'), not a range or a list ({text!r})",
            pos + text.index("#"),
        )
    if "L" in text:
        raise _err(
            field,
            f"cannot read {text!r}; 'L' stands alone (Saturday) or follows one day ('6L')",
            pos + text.index("L"),
        )
    return DowSpec(DowKind.SET, values=_parse_plain(field, text, pos))


def _parse_years(text: str, pos: int) -> tuple[YearRule, ...]:
    field = Field.YEAR
    rules: list[YearRule] = []
    for term, tpos in _terms(field, text, pos):
        start, stop, step = _plain_term(field, term, tpos)
        if stop < start:
            raise _err(field, f"year range {term!r} runs backwards; write 'low-high'", tpos)
        open_ended = term == "*" or term.startswith("*/") or ("/" in term and "-" not in term)
        rules.append(YearRule(start, None if open_ended else stop, step))
    return tuple(rules)
