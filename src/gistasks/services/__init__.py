"""The use cases: every rule of gistasks, as plain Python (no HTTP, no SQL).

``Services`` (``services.deployment``) gathers them for one deployment; the API receives it
whole and hands each route the service it needs. A Python caller uses the same objects and
meets the same rules. ``Services`` is imported on first use, so that a command needing one
service (``gistasks backup``) does not load them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gistasks.services.deployment import Services

__all__ = ["Services"]


def __getattr__(name: str) -> Any:
    if name == "Services":
        from gistasks.services.deployment import Services

        return Services
    raise AttributeError(f"module 'gistasks.services' has no attribute {name!r}")
