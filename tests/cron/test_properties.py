"""Property tests: invariants that hold for every expression, start time, zone and policy."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gistasks.cron import CronExpression, CronSyntaxError
from tests.support.quartz.cases import ZONES, random_expression

POLICIES = [("shift", "earlier"), ("shift", "later"), ("skip", "earlier"), ("shift", "both"),
            ("skip", "both")]

starts = st.integers(min_value=0, max_value=4102444800).map(
    lambda s: datetime.fromtimestamp(s, UTC)
)
expressions = st.randoms(use_true_random=False).map(random_expression)
cron_alphabet = st.sampled_from([*list("0123456789*/?,-#LWC "), "MON", "JAN", "SUN", "FRI", "\t"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions, start=starts, zone=st.sampled_from(ZONES),
       policy=st.sampled_from(POLICIES))
def test_next_after_is_strictly_increasing_and_every_result_matches(
    expr: str, start: datetime, zone: str, policy: tuple[str, str]
) -> None:
    e = CronExpression(expr, timezone=zone, dst_gap=policy[0], dst_overlap=policy[1])
    t = start
    for _ in range(6):
        nxt = e.next_after(t)
        if nxt is None:
            break
        assert nxt.timestamp() > t.timestamp()
        assert e.matches(nxt)
        t = nxt


@settings(max_examples=300, deadline=None)
@given(expr=expressions, start=starts, zone=st.sampled_from(ZONES),
       policy=st.sampled_from(POLICIES))
def test_previous_before_next_after_is_not_after_the_start(
    expr: str, start: datetime, zone: str, policy: tuple[str, str]
) -> None:
    e = CronExpression(expr, timezone=zone, dst_gap=policy[0], dst_overlap=policy[1])
    nxt = e.next_after(start)
    if nxt is None:
        return
    prev = e.previous_before(nxt)
    assert prev is None or prev.timestamp() <= start.timestamp()
    # Nothing fires strictly between the start and the next fire.
    if prev is not None and (nxt - start) < timedelta(days=400):
        assert not (start.timestamp() < prev.timestamp() < nxt.timestamp())


@settings(max_examples=200, deadline=None)
@given(expr=expressions, start=starts)
def test_quartz_policy_results_increase_and_match(expr: str, start: datetime) -> None:
    e = CronExpression(expr, timezone="America/New_York", dst_gap="skip", dst_overlap="later")
    t = start
    for _ in range(4):
        nxt = e.next_after(t)
        if nxt is None:
            break
        assert nxt.timestamp() > t.timestamp() and e.matches(nxt)
        t = nxt


@settings(max_examples=1500, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.lists(cron_alphabet, max_size=40).map("".join)))
def test_any_string_parses_or_raises_cron_syntax_error_only(text: str) -> None:
    try:
        e = CronExpression(text)
    except CronSyntaxError:
        return
    fire = e.next_after(datetime(2024, 1, 1, tzinfo=UTC))
    assert fire is None or e.matches(fire)


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(st.sampled_from(["*", "?", "0", "7", "1-5", "*/15", "L", "1W", "6#3",
                                        "JAN", "MON", "0-6", "", " ", "x"]),
                       min_size=5, max_size=5))
def test_from_fields_parses_or_raises_cron_syntax_error_only(fields: list[str]) -> None:
    with contextlib.suppress(CronSyntaxError):
        CronExpression.from_fields(minute=fields[0], hour=fields[1], dayOfMonth=fields[2],
                                   month=fields[3], dayOfWeek=fields[4])


def test_random_expression_generator_produces_valid_expressions() -> None:
    rng = random.Random(1)
    for _ in range(500):
        CronExpression(random_expression(rng))
