"""The engine: turns due schedules into run records and run records into executions."""

from gistasks.engine.clock import Clock, ManualClock, SystemClock
from gistasks.engine.engine import Engine
from gistasks.engine.settings import EngineSettings

__all__ = ["Clock", "Engine", "EngineSettings", "ManualClock", "SystemClock"]
