"""Engine settings, with the ArcGIS defaults where ArcGIS has one."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gistasks.config import ConfigError

MAX_SETTING = 2_000_000
"""The largest value of a numeric setting (seconds or counts; 2,000,000 s is 23 days, the
longest misfire grace a task may have too)."""


@dataclass(frozen=True)
class EngineSettings:
    misfire_grace_ms: int = 60_000
    """A fire later than this is a misfire: coalesced into one run now, the rest recorded."""
    failed_runs_to_disable: int = 5
    """ArcGIS ``FailedRunsToDisableTask``: consecutive failures that stop a task."""
    history_user: int = 30
    """Runs kept per user task."""
    history_system: int = 100
    """Runs kept per system task."""
    lease_ms: int = 30_000
    """How long a run stays leased to a node without a heartbeat."""
    workers: int = 8
    """Runs executed at once by one node."""
    prefetch: int = 2
    """Runs leased per worker beyond the one it executes (more: fewer claims, longer holds)."""
    lookahead_ms: int = 500
    """Fires are recorded up to this long before they are due, then started on time. Half a
    second puts the recording between the whole seconds at which cron fires happen."""
    claim_batch: int = 500
    """Due tasks claimed per transaction."""
    shutdown_grace_s: float = 30.0
    """On SIGTERM, how long running work may take to finish before it is released."""
    max_sleep_s: float = 5.0
    """The longest the firing loop sleeps without looking at the database (other nodes)."""
    misfire_count_limit: int = 100_000
    """At most this many missed fires are counted one by one (the rest are summarised)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        """Defaults overridden by ``GISTASKS_LEASE_SECONDS``, ``GISTASKS_MISFIRE_GRACE_SECONDS``,
        ``GISTASKS_HISTORY_USER``, ``GISTASKS_HISTORY_SYSTEM``, ``GISTASKS_WORKERS``,
        ``GISTASKS_FAILED_RUNS_TO_DISABLE`` and ``GISTASKS_SHUTDOWN_GRACE_SECONDS``."""
        env = os.environ if environ is None else environ
        s = cls()
        pairs = {
            "GISTASKS_LEASE_SECONDS": ("lease_ms", 1000),
            "GISTASKS_MISFIRE_GRACE_SECONDS": ("misfire_grace_ms", 1000),
            "GISTASKS_HISTORY_USER": ("history_user", 1),
            "GISTASKS_HISTORY_SYSTEM": ("history_system", 1),
            "GISTASKS_WORKERS": ("workers", 1),
            "GISTASKS_PREFETCH": ("prefetch", 1),
            "GISTASKS_LOOKAHEAD_SECONDS": ("lookahead_ms", 1000),
            "GISTASKS_FAILED_RUNS_TO_DISABLE": ("failed_runs_to_disable", 1),
        }
        for var, (name, scale) in pairs.items():
            if env.get(var):
                s = replace(s, **{name: int(positive(env, var) * scale)})
        if env.get("GISTASKS_SHUTDOWN_GRACE_SECONDS"):
            s = replace(s, shutdown_grace_s=positive(env, "GISTASKS_SHUTDOWN_GRACE_SECONDS"))
        return s


ENGINE_LIMITS: dict[str, str] = {
    "FailedRunsToDisableTask": "failed_runs_to_disable",
    "TaskRunHistoryCount": "history_user",
}
"""The ArcGIS ``system/limits`` that are engine settings: limitName -> EngineSettings field.
A value stored through ``system/limits`` overrides the node's setting."""


def positive(env: Mapping[str, str], var: str, zero: bool = False) -> float:
    """``env[var]`` as a positive finite number (``zero`` allows 0); ConfigError naming
    ``var`` otherwise."""
    try:
        value = float(env[var])
    except ValueError:
        value = math.nan
    low_ok = value >= 0 if zero else value > 0
    if not (math.isfinite(value) and low_ok and value <= MAX_SETTING):
        raise ConfigError(f"{var}: {env[var]!r} must be a positive number (at most "
                          f"{MAX_SETTING:,})")
    return value
