"""Differential tests: gistasks' fire times equal those of the real Quartz 2.3.2.

Quartz runs from Debian's libquartz2-java (``make test`` installs it). gistasks runs with the
Quartz DST policy (``dst_gap="skip"``, ``dst_overlap="later"``) and Quartz's own ``MAX_YEAR``.
Set ``GISTASKS_FUZZ_SEED`` to explore other random cases than the fixed ones.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.quartz.cases import (
    INVALID_EXPRESSIONS,
    SEED_EXPRESSIONS,
    ZONES,
    random_expression,
    random_start,
    special_starts,
)
from tests.support.quartz.compare import Mismatch, compare
from tests.support.quartz.oracle import Case

pytestmark = pytest.mark.quartz

SEED = int(os.environ.get("GISTASKS_FUZZ_SEED", "20261123"))


def _fires(m: Mismatch) -> tuple[list[int], list[int], list[int]]:
    """(ours, extra fires only gistasks has, fires only Quartz has) over the time both cover."""
    ours = [int(x) for x in m.ours.removeprefix("OK [").removesuffix("]").split(", ") if x]
    quartz = list(m.quartz.fires_ms)
    horizon = max(ours + quartz) if not ours or not quartz else min(ours[-1], quartz[-1])
    extra = [t for t in ours if t <= horizon and t not in quartz]
    missing = [t for t in quartz if t <= horizon and t not in ours]
    return ours, extra, missing


def is_short_month_weekday_divergence(m: Mismatch) -> bool:
    """The one difference of gistasks' own search from Quartz: ``nW`` in a month without day n.

    Quartz 2.3.2's lenient calendar rolls day n into the next month and, when that day is a
    Saturday, steps back onto the last day of the short month, so ``31W`` fires on September
    30 in some years only. Outside the Quartz policy gistasks skips a month that has no day n,
    as it does for ``31``. Only such fires may differ.
    """
    dom = m.case.expression.split()[3]
    if m.quartz.kind != "OK" or not dom.endswith("W") or not dom[:-1].isdigit():
        return False
    n = int(dom[:-1])
    _, extra, missing = _fires(m)
    zone = ZoneInfo(m.case.zone)
    for t in missing:
        day = datetime.fromtimestamp(t / 1000, zone)
        next_day = day + timedelta(days=1)
        if next_day.month == day.month or day.day >= n:
            return False
    return not extra and bool(missing)


def check(classes: Path, cases: list[Case]) -> int:
    """With the Quartz DST policy gistasks replays Quartz's walk: every case must be equal."""
    count, mismatches = compare(classes, cases)
    assert not mismatches, f"{len(mismatches)} of {count} cases differ from Quartz:\n" + "\n".join(
        str(m) for m in mismatches[:20]
    )
    return count


def test_seed_expressions_fire_as_quartz_at_leap_days_month_ends_and_dst_transitions(
    quartz_classes: Path,
) -> None:
    rng = random.Random(SEED)
    cases = []
    for expression in SEED_EXPRESSIONS:
        for zone in ZONES:
            starts = special_starts(rng, zone)
            cases += [Case(expression, zone, s, 12) for s in starts[:40]]
            cases += [Case(expression, zone, random_start(rng), 8) for _ in range(4)]
    assert check(quartz_classes, cases) > 10000


def test_random_expressions_fire_as_quartz_from_random_starts_1970_to_2099(
    quartz_classes: Path,
) -> None:
    rng = random.Random(SEED + 1)
    cases = []
    for _ in range(4000):
        zone = rng.choice(ZONES)
        start = rng.choice(special_starts(rng, zone)) if rng.random() < 0.4 else random_start(rng)
        cases.append(Case(random_expression(rng), zone, start, 10))
    check(quartz_classes, cases)


def test_expressions_quartz_rejects_are_rejected(quartz_classes: Path) -> None:
    check(quartz_classes, [Case(e, "UTC", 0, 1) for e in INVALID_EXPRESSIONS])


def test_quartz_hangs_on_zero_w_and_gistasks_rejects_it(quartz_classes: Path) -> None:
    from tests.support.quartz.oracle import run_oracle

    _, answers = run_oracle(quartz_classes, [Case("0 0 0 0W * ?", "UTC", 0, 1)])
    assert answers[0].kind in ("HANG", "ERR")
    check(quartz_classes, [Case("0 0 0 0W * ?", "UTC", 0, 1)])


def test_the_fast_search_in_utc_equals_quartz_but_for_short_month_weekdays(
    quartz_classes: Path,
) -> None:
    """In UTC there is no DST, so the table-driven search used by every other policy must give
    Quartz's fire times too, except for ``nW`` in months without day n."""
    rng = random.Random(SEED + 2)
    cases = [Case(e, "UTC", s, 12) for e in SEED_EXPRESSIONS
             for s in special_starts(rng, "UTC")[:20]]
    cases += [Case(random_expression(rng), "UTC", random_start(rng), 10) for _ in range(3000)]
    count, mismatches = compare(quartz_classes, cases, ("shift", "earlier"))
    real = [m for m in mismatches if not is_short_month_weekday_divergence(m)]
    assert not real, f"{len(real)} of {count} cases differ from Quartz:\n" + "\n".join(
        str(m) for m in real[:20]
    )
