"""The one clock of the engine, injectable so that schedule tests never sleep."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """The current time in epoch milliseconds."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``event``; True if it was set."""


class SystemClock:
    """Wall-clock time and real waiting."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to; waiting returns at once."""

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = now_ms

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.is_set()
