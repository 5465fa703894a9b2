"""Shared fixtures: the Quartz oracle, compiled once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quartz.oracle import compile_oracle


@pytest.fixture(scope="session")
def quartz_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled Quartz 2.3.2 oracle; fails (never skips) when Java or Quartz is missing."""
    return compile_oracle(tmp_path_factory.mktemp("quartz-oracle"))
