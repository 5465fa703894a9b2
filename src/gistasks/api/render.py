"""The one place where answers are rendered: ``f=json|pjson|html`` and the error envelopes.

Two error families, as ArcGIS has them, both with HTTP 200 because ArcGIS clients read the body:

* Sharing API and services: ``{"error": {"code": 404, "message": "...", "details": []}}``
* Administrator API: ``{"status": "error", "messages": ["..."], "code": 404}``
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

FORMATS = ("json", "pjson", "html")


class ApiError(Exception):
    """An error answer; ``family`` picks the envelope (``sharing`` or ``admin``)."""

    def __init__(self, code: int, message: str, details: list[str] | None = None,
                 family: str = "sharing") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.family = family

    def payload(self) -> dict[str, Any]:
        if self.family == "admin":
            return {"status": "error", "messages": [self.message, *self.details],
                    "code": self.code}
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


async def params(request: Request) -> dict[str, str]:
    """Query and form parameters together (form values win), for GET and POST alike."""
    values = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        for key, value in form.items():
            if isinstance(value, str):
                values[key] = value
    # The error handlers cannot read the body again: they find the format here.
    request.state.f = values.get("f", "")
    for key, value in values.items():
        if "\x00" in value or "\x00" in key:
            # PostgreSQL cannot store NUL in text; no ArcGIS parameter needs it.
            raise ApiError(400, f"Invalid '{key.replace(chr(0), '')}'",
                           ["Parameters may not contain NUL characters."])
    return values


def output_format(values: dict[str, str], default: str = "html") -> str:
    """The requested ``f``; html by default, as ArcGIS. Raises for an unknown value."""
    f = values.get("f", "").strip().lower() or default
    if f not in FORMATS:
        raise ApiError(400, f"Invalid 'f' parameter {values.get('f')!r}",
                       ["'f' must be one of json, pjson, html"])
    return f


def parse_bool(values: dict[str, str], name: str) -> bool | None:
    """``true``/``false`` (any case) or 1/0; None when absent; an error naming it otherwise."""
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"Invalid '{name}'", [f"'{name}' must be true or false"])


def finite(raw: str) -> float | None:
    """``raw`` as a finite number, or None (not a number, NaN or infinite)."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_int(values: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer from ``low`` to ``high``, ``default`` when absent; an error naming it."""
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid '{name}'", [f"'{name}' must be an integer"]) from None
    if not low <= value <= high:
        raise ApiError(400, f"Invalid '{name}'", [f"'{name}' must be from {low} to {high}"])
    return value


def render(payload: dict[str, Any], f: str, title: str = "gistasks") -> Response:
    """Render ``payload`` as JSON, pretty JSON, or a plain HTML property page."""
    if f == "json":
        return Response(json.dumps(payload, separators=(",", ":")),
                        media_type="application/json")
    if f == "pjson":
        return Response(json.dumps(payload, indent=2), media_type="application/json")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><pre>{html.escape(_pretty(v))}</pre></td></tr>"
        for k, v in payload.items()
    )
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><table>{rows}</table></body></html>"
    )
    return HTMLResponse(body)


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2)
