"""The parser: what it accepts, what it rejects, and what its errors say."""

from __future__ import annotations

import pytest

from gistasks.cron import CronExpression, CronSyntaxError


@pytest.mark.parametrize(
    ("expression", "field", "fragment"),
    [
        ("0 0 0 ? * 7x", "dayOfWeek", "unexpected 'X' after 7"),
        ("0 0 9% * * ?", "hour", "unexpected '%' after 9"),
        ("45! * * * * ?", "second", "unexpected '!' after 45"),
        ("0 0 0 ? * *x", "dayOfWeek", "unexpected 'X' after '*'"),
        ("0 0 0 ?x * *", "dayOfMonth", "'?' must stand alone"),
        ("0 0 0 ? * SUN-SAT/2", "dayOfWeek", "a step after names"),
        ("0 0 0 ? JAN/2 *", "month", "a step after names"),
        ("0 0 0 1-5W * ?", "dayOfMonth", "'W' takes a single day"),
        ("0 0 0 ? * 1-7#2", "dayOfWeek", "'#' follows a single day"),
        ("0 0 0 1W,15 * ?", "dayOfMonth", "cannot be combined with other days"),
        ("0 0 0 15,LW * ?", "dayOfMonth", "cannot be combined with other days"),
        ("0 0 0 5C * ?", "dayOfMonth", "'C' (calendar) is not supported"),
        ("0 0 0 ? * C", "dayOfWeek", "'C' (calendar) is not supported"),
        ("0/0 * * * * ?", "second", "step 0 never advances"),
        ("0 0/61 * * * ?", "minute", "step 61 is larger than the field"),
        ("0 0 0/24 * * ?", "hour", "step 24 is larger than the field"),
        ("0 0 0 ? * 1/8", "dayOfWeek", "step 8 is larger than the field"),
        ("L * * * * ?", "second", "'L' is only allowed in dayOfMonth or dayOfWeek"),
        ("0 L * * * ?", "minute", "'L' is only allowed"),
        ("0 0 L * * ?", "hour", "'L' is only allowed"),
        ("0 0 0 ? L *", "month", "'L' is only allowed"),
        ("0 0 0 0W * ?", "dayOfMonth", "0 is outside 1-31"),
        ("0 0 0 ? * 8#1", "dayOfWeek", "8 is outside 1-7"),
        ("0 0 0 ? * 0", "dayOfWeek", "Sunday is 1 or SUN"),
        ("0 0 0 ? * MONDAY", "dayOfWeek", "names are three letters"),
        ("0 0 0 ? JANUARY *", "month", "names are three letters"),
        ("0 0 0 ? * FOO", "dayOfWeek", "'FOO' is not a day name"),
        ("0 0 0 ? FOO *", "month", "'FOO' is not a month name"),
        ("0 0 0 ? * 1#6", "dayOfWeek", "'#' must be followed by a week number 1-5"),
        ("0 0 0 ? * 1#", "dayOfWeek", "'#' must be followed by a week number 1-5"),
        ("0 0 0 L-31 * ?", "dayOfMonth", "larger than 30"),
        ("0 0 0 L- * ?", "dayOfMonth", "'L-' must be followed by a number"),
        ("0 0 0 ? * L,1", "dayOfWeek", "cannot be combined with other days"),
        ("0 0 0 ? * 2#1,3#2", "dayOfWeek", "cannot be combined with other days"),
        ("0 0 0 * * ? 2030-2020", "year", "runs backwards"),
        ("0 0 0 * * ? 1969", "year", "outside 1970-2999"),
        ("60 * * * * ?", "second", "60 is outside 0-59"),
        ("0 0 24 * * ?", "hour", "24 is outside 0-23"),
        ("0 0 0 32 * ?", "dayOfMonth", "32 is outside 1-31"),
        ("0 0 0 ? 13 *", "month", "13 is outside 1-12"),
        ("0 0 0 1,,2 * ?", "dayOfMonth", "empty list item"),
        ("0 0 0 1- * ?", "dayOfMonth", "unexpected '-' after 1"),
        ("0 0/ * * * ?", "minute", "'/' must be followed by a step"),
        ("0 0 0 ? * MON-5", "dayOfWeek", "mixes a name and a number"),
    ],
)
def test_junk_quartz_would_accept_is_rejected_with_field_position_and_fix(
    expression: str, field: str, fragment: str
) -> None:
    with pytest.raises(CronSyntaxError) as info:
        CronExpression(expression)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert info.value.position is not None
    assert 0 <= info.value.position < len(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 0 0 * * *", "neither day field is '?'"),
        ("0 0 0 ? * ?", "'?' is in both day fields"),
        ("0 0 * * ?", "got 5; a Unix 5-field expression needs a seconds field in front"),
        ("0 0 0 * * ? 2030 1", "got 8; remove the extra fields"),
        ("", "got 0"),
        ("0 0 0 1 * ?" + " " * 1000, "characters long"),
        ("0 0 0 1 * ?\n", "unexpected character"),
    ],
)
def test_whole_expression_mistakes_are_rejected(expression: str, fragment: str) -> None:
    with pytest.raises(CronSyntaxError) as info:
        CronExpression(expression)
    assert fragment in str(info.value)


def test_cron_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        CronExpression("nonsense")


def test_non_string_expression_is_a_cron_syntax_error() -> None:
    with pytest.raises(CronSyntaxError):
        CronExpression(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 4 ? * 7",
        "0 0 4 ? * sat",
        "0 0 0 L * ?",
        "0 0 0 L-3 * ?",
        "0 0 0 LW * ?",
        "0 0 0 L-2W * ?",
        "0 0 0 15W * ?",
        "0 0 0 ? * 6L",
        "0 0 0 ? * FRIL",
        "0 0 0 ? * 6#3",
        "0 0 0 ? * FRI#3",
        "0 0 0 ? * L",
        "0 0 22-2 * * ?",
        "0 0 0 ? NOV-FEB FRI-MON",
        "0 0 0 1 1 ? 2030/5",
        "0\t0\t0 * * ?",
        "  0 0 0 * * ?  ",
    ],
)
def test_plain_quartz_expressions_are_accepted(expression: str) -> None:
    CronExpression(expression)


def test_canonical_text_is_upper_case_with_single_spaces() -> None:
    assert CronExpression("  0 0 4\t? *  sat ").expression == "0 0 4 ? * SAT"


def test_fields_are_exposed_under_arcgis_names() -> None:
    assert CronExpression("1 2 3 ? 5 6 2030").fields == {
        "second": "1",
        "minute": "2",
        "hour": "3",
        "dayOfMonth": "?",
        "month": "5",
        "dayOfWeek": "6",
        "year": "2030",
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(minute="0", hour="0", dayOfMonth="*", month="*", dayOfWeek="0"), "0 0 0 ? * 1"),
        (dict(minute="0", hour="0", dayOfMonth="*", month="*", dayOfWeek="*"), "0 0 0 * * ?"),
        (dict(minute="0", hour="0", dayOfMonth="1", month="*", dayOfWeek="*"), "0 0 0 1 * ?"),
        (dict(minute="*/15", hour="*", dayOfMonth="?", month="*", dayOfWeek="1,2,3,4,5,6,7"),
         "0 */15 * ? * 1,2,3,4,5,6,7"),
        (dict(minute="*/1", hour="*", dayOfMonth="*", month="*", dayOfWeek="?"),
         "0 */1 * * * ?"),
        (dict(minute=30, hour=4, dayOfMonth="?", month="*", dayOfWeek=7), "0 30 4 ? * 7"),
        # Unix numbering throughout once a 0 says so: 0-4 is Sunday-Thursday, Quartz 1-5.
        (dict(minute="0", hour="0", dayOfMonth="*", month="*", dayOfWeek="0-4"), "0 0 0 ? * 1-5"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="0-6"), "0 0 0 ? * 1-7"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="0,6"), "0 0 0 ? * 1,7"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="0-4/2"),
         "0 0 0 ? * 1,3,5"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="0-7"), "0 0 0 ? * 1-7"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="5-7,0"),
         "0 0 0 ? * 1,6,7"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="1-5"), "0 0 0 ? * 1-5"),
        (dict(minute="0", hour="0", dayOfMonth="?", month="*", dayOfWeek="?"), "0 0 0 * * ?"),
        (dict(minute="0", hour="0", dayOfMonth="1", month="1", dayOfWeek="?", year="2030"),
         "0 0 0 1 1 ? 2030"),
    ],
)
def test_from_fields_normalises_what_arcgis_clients_send(
    fields: dict[str, str], expected: str
) -> None:
    assert CronExpression.from_fields(**fields).expression == expected  # type: ignore[arg-type]


def test_from_fields_rejects_both_day_fields_specific_with_the_reason() -> None:
    with pytest.raises(CronSyntaxError, match="neither day field is '\\?'"):
        CronExpression.from_fields(minute="0", hour="0", dayOfMonth="1", month="*", dayOfWeek="2")


@pytest.mark.parametrize("bad", ["", "  ", "1 2", None, True, 1.5])
def test_from_fields_names_the_bad_field(bad: object) -> None:
    with pytest.raises(CronSyntaxError) as info:
        CronExpression.from_fields(minute=bad, hour="0", dayOfMonth="*",  # type: ignore[arg-type]
                                   month="*", dayOfWeek="?")
    assert info.value.field == "minute"


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(CronSyntaxError, match="unknown time zone 'Mars/Olympus'"):
        CronExpression("0 0 0 * * ?", timezone="Mars/Olympus")


@pytest.mark.parametrize(("gap", "overlap"), [("jump", "earlier"), ("skip", "first")])
def test_unknown_dst_policy_is_rejected(gap: str, overlap: str) -> None:
    with pytest.raises(CronSyntaxError, match="must be one of"):
        CronExpression("0 0 0 * * ?", dst_gap=gap, dst_overlap=overlap)
