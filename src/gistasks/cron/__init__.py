"""Quartz 2.3.2 cron expressions: strict parsing, exact fire times, DST policies.

Pure code: no I/O and no clock reads. The public API::

    from gistasks.cron import CronExpression, CronSyntaxError

    e = CronExpression("0 0 4 ? * 7", timezone="UTC")
    e.next_after(dt)        # first fire strictly after the aware datetime dt, or None
    e.previous_before(dt)   # last fire strictly before dt, or None
    e.describe()            # "At 04:00:00 UTC, only on Saturday"
"""

from gistasks.cron._expression import DST_GAP_POLICIES, DST_OVERLAP_POLICIES, CronExpression
from gistasks.cron._parse import FIELD_NAMES, CronSyntaxError

__all__ = [
    "DST_GAP_POLICIES",
    "DST_OVERLAP_POLICIES",
    "FIELD_NAMES",
    "CronExpression",
    "CronSyntaxError",
]
