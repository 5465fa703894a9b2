"""Compares gistasks' cron engine with Quartz 2.3.2 on a batch of cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gistasks.cron import CronExpression, CronSyntaxError
from tests.support.quartz.oracle import Answer, Case, run_oracle


@dataclass(frozen=True)
class Mismatch:
    case: Case
    quartz: Answer
    ours: str

    def __str__(self) -> str:
        q = self.quartz.message if self.quartz.kind != "OK" else list(self.quartz.fires_ms)
        return (f"{self.case.expression!r} in {self.case.zone} after {self.case.start_ms}: "
                f"quartz {self.quartz.kind} {q} / gistasks {self.ours}")


QUARTZ_POLICY = ("skip", "later")


def ours(case: Case, max_year: int,
         policy: tuple[str, str] = QUARTZ_POLICY) -> tuple[str, tuple[int, ...]]:
    """('OK', fires in ms) or ('ERR', ()) for gistasks with the given DST policy."""
    try:
        e = CronExpression(case.expression, timezone=case.zone, max_year=max_year,
                           dst_gap=policy[0], dst_overlap=policy[1])
    except CronSyntaxError:
        return "ERR", ()
    fires: list[int] = []
    t: int | None = case.start_ms // 1000
    for _ in range(case.count):
        assert t is not None
        t = e.next_after_epoch(t)
        if t is None:
            break
        fires.append(t * 1000)
    return "OK", tuple(fires)


def compare(classes: Path, cases: list[Case],
            policy: tuple[str, str] = QUARTZ_POLICY) -> tuple[int, list[Mismatch]]:
    """Run ``cases`` through Quartz and gistasks; return the number compared and the mismatches.

    A case counts when Quartz gives fire times or a parse error; a Quartz HANG (its ``0W``
    loop) needs only a gistasks rejection.
    """
    max_year, answers = run_oracle(classes, cases)
    mismatches: list[Mismatch] = []
    for case, answer in zip(cases, answers, strict=True):
        kind, fires = ours(case, max_year, policy)
        if answer.kind == "OK":
            if kind != "OK" or fires != answer.fires_ms:
                mismatches.append(Mismatch(case, answer, f"{kind} {list(fires)}"))
        elif kind == "OK":
            mismatches.append(Mismatch(case, answer, f"accepted it: {list(fires)}"))
    return len(cases), mismatches
