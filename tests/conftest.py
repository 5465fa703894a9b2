"""Shared fixtures: the Quartz oracle, a throwaway PostgreSQL cluster, stores on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gistasks.store import Store
from tests.support.pg import Cluster
from tests.support.quartz.oracle import compile_oracle


@pytest.fixture(scope="session")
def quartz_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled Quartz 2.3.2 oracle; fails (never skips) when Java or Quartz is missing."""
    return compile_oracle(tmp_path_factory.mktemp("quartz-oracle"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the session, stopped and removed at the end."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gistasks.db'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()
