"""Fire times: Quartz semantics, the horizon, and the DST policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gistasks.cron import CronExpression

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def fires(expr: CronExpression, start: datetime, count: int) -> list[datetime]:
    out = []
    for fire in expr.iter_after(start):
        out.append(fire)
        if len(out) == count:
            break
    return out


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_dayofweek_7_is_saturday() -> None:
    e = CronExpression("0 0 4 ? * 7")
    assert e.next_after(utc(2026, 11, 23)) == utc(2026, 11, 28, 4)
    assert e.next_after(utc(2026, 11, 23)).strftime("%A") == "Saturday"  # type: ignore[union-attr]


def test_dayofweek_1_and_sun_are_sunday() -> None:
    assert CronExpression("0 0 0 ? * 1").next_after(utc(2026, 11, 23)) == utc(2026, 11, 29)
    assert CronExpression("0 0 0 ? * SUN").next_after(utc(2026, 11, 23)) == utc(2026, 11, 29)


def test_lone_l_in_dayofweek_is_saturday() -> None:
    assert CronExpression("0 0 0 ? * L").next_after(utc(2026, 11, 23)) == utc(2026, 11, 28)


def test_l_is_the_last_day_of_the_month_including_leap_february() -> None:
    e = CronExpression("0 0 0 L * ?")
    assert fires(e, utc(2024, 1, 15), 3) == [utc(2024, 1, 31), utc(2024, 2, 29), utc(2024, 3, 31)]
    assert e.next_after(utc(2023, 2, 1)) == utc(2023, 2, 28)


def test_l_minus_3_in_leap_february_is_the_26th() -> None:
    assert CronExpression("0 0 0 L-3 * ?").next_after(utc(2024, 2, 1)) == utc(2024, 2, 26)


def test_lw_on_a_month_ending_sunday_is_the_friday_before() -> None:
    # 2024-03-31 is a Sunday.
    assert CronExpression("0 0 0 LW * ?").next_after(utc(2024, 3, 1)) == utc(2024, 3, 29)


def test_1w_on_a_saturday_is_monday_the_3rd_never_the_previous_month() -> None:
    # 2024-06-01 is a Saturday.
    assert CronExpression("0 0 0 1W * ?").next_after(utc(2024, 5, 31)) == utc(2024, 6, 3)


@pytest.mark.parametrize(
    ("month_start", "expected"),
    [
        (utc(2024, 6, 1), utc(2024, 6, 14)),  # the 15th is a Saturday -> Friday 14th
        (utc(2024, 9, 1), utc(2024, 9, 16)),  # the 15th is a Sunday -> Monday 16th
        (utc(2024, 5, 1), utc(2024, 5, 15)),  # a Wednesday stays
    ],
)
def test_15w_is_the_nearest_weekday(month_start: datetime, expected: datetime) -> None:
    assert CronExpression("0 0 0 15W * ?").next_after(month_start) == expected


def test_the_31st_skips_months_without_one_and_is_never_moved() -> None:
    e = CronExpression("0 0 0 31 * ?")
    assert fires(e, utc(2024, 1, 31), 3) == [utc(2024, 3, 31), utc(2024, 5, 31), utc(2024, 7, 31)]


def test_fifth_monday_skips_months_without_one() -> None:
    e = CronExpression("0 0 0 ? * 2#5")
    assert fires(e, utc(2024, 1, 1), 3) == [utc(2024, 1, 29), utc(2024, 4, 29), utc(2024, 7, 29)]


def test_6l_is_the_last_friday() -> None:
    e = CronExpression("0 0 0 ? * 6L")
    assert fires(e, utc(2024, 1, 1), 2) == [utc(2024, 1, 26), utc(2024, 2, 23)]


def test_2_hash_3_is_the_third_monday() -> None:
    assert CronExpression("0 0 0 ? * 2#3").next_after(utc(2026, 11, 1)) == utc(2026, 11, 16)


def test_hour_ranges_wrap_around_midnight() -> None:
    e = CronExpression("0 0 22-2 * * ?")
    hours = [f.hour for f in fires(e, utc(2024, 1, 1, 12), 5)]
    assert hours == [22, 23, 0, 1, 2]


def test_month_names_wrap_around_the_year() -> None:
    e = CronExpression("0 0 0 1 NOV-FEB ?")
    months = [f.month for f in fires(e, utc(2024, 3, 1), 4)]
    assert months == [11, 12, 1, 2]


def test_steps_start_at_the_given_value() -> None:
    e = CronExpression("5/20 * * * * ?")
    assert [f.second for f in fires(e, utc(2024, 1, 1), 3)] == [5, 25, 45]


def test_year_field_limits_the_years() -> None:
    e = CronExpression("0 0 0 1 1 ? 2030,2032")
    assert fires(e, utc(2024, 1, 1), 5) == [utc(2030, 1, 1), utc(2032, 1, 1)]


def test_next_after_is_strictly_after_even_at_a_fire_time() -> None:
    e = CronExpression("0 0 * * * ?")
    assert e.next_after(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 6)
    assert e.next_after(utc(2024, 1, 1, 4, 59, 59, 999999)) == utc(2024, 1, 1, 5)


def test_previous_before_is_strictly_before() -> None:
    e = CronExpression("0 0 * * * ?")
    assert e.previous_before(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 4)
    assert e.previous_before(utc(2024, 1, 1, 5, 0, 0, 1)) == utc(2024, 1, 1, 5)
    assert CronExpression("0 0 0 ? * 6L").previous_before(utc(2024, 2, 1)) == utc(2024, 1, 26)


def test_previous_before_1970_is_none() -> None:
    assert CronExpression("0 0 0 1 1 ?").previous_before(utc(1970, 1, 1)) is None


def test_matches_truncates_to_the_second_like_quartz() -> None:
    e = CronExpression("0 0 * * * ?")
    assert e.matches(utc(2024, 1, 1, 5))
    assert e.matches(utc(2024, 1, 1, 5, 0, 0, 500000))
    assert not e.matches(utc(2024, 1, 1, 5, 0, 1))


def test_results_are_in_the_expressions_zone_whatever_the_input_zone() -> None:
    e = CronExpression("0 0 9 * * ?", timezone="America/New_York")
    fire = e.next_after(utc(2024, 1, 1))
    assert fire == datetime(2024, 1, 1, 9, tzinfo=NEW_YORK)
    assert fire is not None and fire.tzinfo is NEW_YORK


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        CronExpression("0 0 * * * ?").next_after(datetime(2024, 1, 1))


def test_max_year_is_the_horizon() -> None:
    e = CronExpression("0 0 0 1 1 ? 2200", max_year=2126)
    assert e.next_after(utc(2026, 1, 1)) is None
    assert CronExpression("0 0 0 1 1 ? 2200").next_after(utc(2026, 1, 1)) == utc(2200, 1, 1)


def test_a_schedule_that_never_fires_returns_none_instead_of_looping() -> None:
    assert CronExpression("0 0 0 30 2 ?").next_after(utc(2024, 1, 1)) is None
    assert CronExpression("0 0 0 30 2 ?").previous_before(utc(2024, 1, 1)) is None
    assert list(CronExpression("0 0 0 1 1 ? 2999").iter_after(utc(2998, 6, 1))) == [
        utc(2999, 1, 1)
    ]


# --- DST: Europe/Berlin springs forward 2024-03-31 02:00 -> 03:00, falls back 10-27 03:00 -> 02:00.


def test_default_policy_fires_a_gap_wall_time_at_the_end_of_the_gap() -> None:
    e = CronExpression("0 30 2 * * ?", timezone="Europe/Berlin")
    got = fires(e, datetime(2024, 3, 30, tzinfo=BERLIN), 3)
    assert [f.isoformat() for f in got] == [
        "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]


def test_quartz_gap_policy_skips_the_day() -> None:
    e = CronExpression("0 30 2 * * ?", timezone="Europe/Berlin", dst_gap="skip")
    got = fires(e, datetime(2024, 3, 30, tzinfo=BERLIN), 2)
    assert [f.isoformat() for f in got] == ["2024-03-30T02:30:00+01:00",
                                            "2024-04-01T02:30:00+02:00"]


def test_hourly_job_fires_once_at_the_end_of_the_gap() -> None:
    e = CronExpression("0 0 * * * ?", timezone="Europe/Berlin")
    got = fires(e, datetime(2024, 3, 31, 0, 30, tzinfo=BERLIN), 3)
    assert [f.isoformat() for f in got] == [
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T04:00:00+02:00",
    ]


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [
        ("earlier", ["2024-10-27T00:30:00+00:00"]),
        ("later", ["2024-10-27T01:30:00+00:00"]),
        ("both", ["2024-10-27T00:30:00+00:00", "2024-10-27T01:30:00+00:00"]),
    ],
)
def test_repeated_wall_time_fires_per_overlap_policy(overlap: str, expected: list[str]) -> None:
    e = CronExpression("0 30 2 * * ?", timezone="Europe/Berlin", dst_overlap=overlap)
    got = fires(e, datetime(2024, 10, 26, 12, tzinfo=BERLIN), len(expected) + 1)
    assert [f.astimezone(UTC).isoformat() for f in got[:-1]] == expected
    assert got[-1].date().isoformat() == "2024-10-28"


def test_quartz_policy_fires_the_repeated_hour_once_at_the_later_pass() -> None:
    e = CronExpression("0 */30 * * * ?", timezone="Europe/Berlin", dst_gap="skip",
                       dst_overlap="later")
    got = fires(e, datetime(2024, 10, 27, 1, 0, tzinfo=BERLIN), 4)
    assert [f.astimezone(UTC).strftime("%H:%M") for f in got] == ["23:30", "01:00", "01:30",
                                                                   "02:00"]


def test_daily_midnight_in_new_york_never_loses_a_day_across_dst() -> None:
    e = CronExpression("0 0 0 * * ?", timezone="America/New_York")
    got = fires(e, datetime(2024, 3, 8, 12, tzinfo=NEW_YORK), 5)
    assert [f.day for f in got] == [9, 10, 11, 12, 13]
    assert all(f.hour == 0 for f in got)


def test_lord_howe_half_hour_gap_shifts_to_its_end() -> None:
    # Lord Howe springs forward 2024-10-06 02:00 -> 02:30.
    e = CronExpression("0 15 2 * * ?", timezone="Australia/Lord_Howe")
    got = e.next_after(datetime(2024, 10, 5, 12, tzinfo=LORD_HOWE))
    assert got is not None and got.isoformat() == "2024-10-06T02:30:00+11:00"


def test_iteration_is_strictly_increasing_through_a_both_overlap() -> None:
    e = CronExpression("0 */20 * * * ?", timezone="America/New_York", dst_overlap="both")
    got = fires(e, datetime(2024, 11, 3, 0, 30, tzinfo=NEW_YORK), 12)
    stamps = [f.timestamp() for f in got]
    assert stamps == sorted(set(stamps))
    assert [f.strftime("%H:%M") for f in got].count("01:20") == 2


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("0 0 4 ? * 7", "At 04:00:00 UTC, only on Saturday"),
        ("0 0 * * * ?", "At minute 0 of every hour (UTC)"),
        ("0 0/5 * * * ?", "Every 5 minutes (UTC)"),
        ("0/15 * * * * ?", "Every 15 seconds (UTC)"),
        ("0 0 0 L * ?", "At 00:00:00 UTC, on the last day of the month"),
        ("0 0 0 ? * 6L", "At 00:00:00 UTC, on the last Friday of the month"),
        ("0 0 12 15W * ?", "At 12:00:00 UTC, on the weekday nearest day 15 of the month"),
        ("0 0 0 ? * 2#3", "At 00:00:00 UTC, on the third Monday of the month"),
        ("0 30 9 ? * MON-FRI", "At 09:30:00 UTC, only on Monday through Friday"),
        ("0 0 0 1 JAN,JUL ? 2030", "At 00:00:00 UTC, on day 1 of the month, only in January "
         "and July, in 2030"),
    ],
)
def test_describe_reads_as_english(expression: str, text: str) -> None:
    assert CronExpression(expression).describe() == text


def test_describe_names_the_time_zone() -> None:
    e = CronExpression("0 0 4 ? * 7", timezone="Europe/Berlin")
    assert e.describe() == "At 04:00:00 Europe/Berlin, only on Saturday"


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("0 0 4 ? * 7", 604800),
        ("0 0 * * * ?", 3600),
        ("0 */1 * * * ?", 60),
        ("0/15 * * * * ?", 15),
        ("0 0 0 L * ?", 28 * 86400),
        ("0 0 9,17 ? * MON-FRI", 8 * 3600),
        ("0 0 0 1 1 ? 2030", 0),
    ],
)
def test_interval_seconds_is_the_shortest_gap(expression: str, seconds: int) -> None:
    assert CronExpression(expression).interval_seconds() == seconds


def test_equal_expressions_compare_and_hash_equal() -> None:
    a = CronExpression("0 0 4 ? * sat")
    b = CronExpression("0  0 4 ? * SAT")
    assert a == b and hash(a) == hash(b)
    assert a != CronExpression("0 0 4 ? * SAT", timezone="Europe/Berlin")


def test_iter_after_stops_at_the_horizon() -> None:
    e = CronExpression("0 0 0 1 1 ?", max_year=2030)
    got = list(e.iter_after(utc(2026, 6, 1)))
    assert got[0] == utc(2027, 1, 1) and got[-1] == utc(2030, 1, 1) and len(got) == 4


def test_previous_before_agrees_with_next_after_across_a_year() -> None:
    e = CronExpression("0 15 10 ? * 6L", timezone="Europe/Berlin")
    start = datetime(2024, 1, 1, tzinfo=BERLIN)
    forward = fires(e, start, 12)
    backward = []
    t = forward[-1] + timedelta(seconds=1)
    for _ in range(12):
        prev = e.previous_before(t)
        assert prev is not None
        backward.append(prev)
        t = prev
    assert backward[::-1] == forward


def test_under_the_quartz_policy_a_start_still_in_1969_locally_first_fires_in_1970() -> None:
    # Quartz knows no year before 1970: one minute after the epoch it is 1969 in New York.
    expr = CronExpression("50-10 * * * * ?", timezone="America/New_York", dst_gap="skip",
                          dst_overlap="later")
    assert expr.next_after_epoch(59) == 5 * 3600  # 1970-01-01T00:00:00-05:00
