"""Loading what plugins name: ``module:attribute`` (task types, GP tools, pygeoapi processors).

A leaf: anyone may import it.
"""

from __future__ import annotations

import importlib


def load_object(spec: str) -> object:
    """The object named by ``module:attribute`` (``attribute`` may be dotted); ValueError for
    a spec of another shape, ImportError or AttributeError when it does not exist."""
    module, _, attr = spec.strip().partition(":")
    if not module or not attr:
        raise ValueError(f"{spec!r} is not module:attribute")
    value: object = importlib.import_module(module)
    for part in attr.split("."):
        value = getattr(value, part)
    return value
