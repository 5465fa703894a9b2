"""Engines and task services for tests: each with its own registry (the built-in types and
the test types of ``tests.support.tasktypes``) and its own secret key; nothing global."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gistasks.config import Settings
from gistasks.engine import Engine
from gistasks.engine.jobs import JobRunner, JobSettings
from gistasks.gp import Catalog
from gistasks.security.secretbox import SecretBox
from gistasks.services import Services
from gistasks.services.tasks import TaskService
from gistasks.store import Store
from gistasks.tasktypes import Registry
from tests.support.tasktypes import ENGINE_TYPES


def test_registry() -> Registry:
    """The built-in task types and the test types."""
    registry = Registry.default(environ={})
    for task_type in ENGINE_TYPES:
        registry.register(task_type)
    return registry


def engine_for(store: Store, *args: Any, **kwargs: Any) -> Engine:
    """An engine over ``store`` with the test registry and a secret key of its own; the
    other arguments are the Engine's."""
    kwargs.setdefault("types", test_registry())
    kwargs.setdefault("secrets", SecretBox(os.urandom(32)))
    if args:
        kwargs["settings"] = args[0]
    return Engine(store, **kwargs)


def services_for(engine: Engine, data_dir: Path | None = None,
                 catalog: Catalog | None = None) -> Services:
    """Every service over the engine's store, signing tokens with a key of their own; GP jobs
    (not started) keep their folders under ``data_dir``."""
    where = data_dir or Path("unused")
    runner = JobRunner(engine.store, catalog or Catalog.default(), where, engine.node,
                       JobSettings(workers=2))
    return Services.build(engine.store, engine, os.urandom(32), Settings(data_dir=where),
                          runner)


def tasks_for(engine: Engine) -> TaskService:
    """The task service over the engine's store."""
    return services_for(engine).tasks
