"""The one place where answers are rendered: ``f=json|pjson|html`` and the error envelopes.

Two error families, as ArcGIS has them, both with HTTP 200 because ArcGIS clients read the body:

* Sharing API and services: ``{"error": {"code": 404, "message": "...", "details": []}}``
* Administrator API: ``{"status": "error", "messages": ["..."], "code": 404}``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, Response

from gistasks.api.params import FORMATS


class Family(StrEnum):
    """An API family, which decides the error envelope."""

    SHARING = "sharing"
    ADMIN = "admin"
    OGC = "ogc"
    """OGC API: RFC 7807 problem details, with the HTTP status."""


class ApiError(Exception):
    """An error answer; ``family`` picks the envelope."""

    def __init__(self, code: int, message: str, details: list[str] | None = None,
                 family: Family = Family.SHARING, close: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.family = family
        self.close = close
        """Close the connection after the answer (a refused body is not read to its end)."""

    def payload(self) -> dict[str, Any]:
        if self.family == Family.OGC:
            kinds = [d for d in self.details if d.startswith(OGC_EXCEPTIONS)]
            rest = [d for d in self.details if not d.startswith(OGC_EXCEPTIONS)]
            return {"type": kinds[0] if kinds else "about:blank", "title": self.message,
                    "status": self.http_status, "detail": " ".join(rest) or self.message}
        if self.family == Family.ADMIN:
            return {"status": "error", "messages": [self.message, *self.details],
                    "code": self.code}
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


    @property
    def http_status(self) -> int:
        """The HTTP status of the error where real statuses are used (OGC API): ArcGIS's
        498 and 499 are 401."""
        if self.code in (498, 499):
            return 401
        return self.code if 400 <= self.code <= 599 else 500


OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/"


def output_format(values: Mapping[str, str], default: str = "html") -> str:
    """The requested ``f``; html by default, as ArcGIS. Raises for an unknown value."""
    f = values.get("f", "").strip().lower() or default
    if f not in FORMATS:
        raise ApiError(400, f"Invalid 'f' parameter {values.get('f')!r}",
                       ["'f' must be one of json, pjson, html"])
    return f


def render(payload: dict[str, Any], f: str, title: str = "gistasks",
           sections: Callable[[], dict[str, tuple[str, Any]]] | None = None,
           error: bool = False) -> Response:
    """Render ``payload`` as JSON, pretty JSON, or the resource's page in the browser
    directory (:class:`gistasks.api.pages.Page`: its properties, links, operation forms).

    ``sections`` adds to the page only (not to the JSON): titled lists, each with the child
    path its rows link under (a task's latest runs under ``runs``); it is called only when
    the page is rendered. ``error``: the payload is an error envelope."""
    if f == "json":
        return Response(json.dumps(payload, separators=(",", ":")),
                        media_type="application/json")
    if f == "pjson":
        return Response(json.dumps(payload, indent=2), media_type="application/json")
    from gistasks.api.pages import Page  # the pages import the declarations, which import this

    return Page(payload, title, sections=sections, error=error)


NOTEBOOK_OUTPUTS = {"notebook.html": "text/html; charset=utf-8",
                    "notebook.ipynb": "application/x-ipynb+json"}
"""What a notebook run keeps, and the media type each is served with."""


def notebook_output(path: Path, name: str, download_as: str, policy: str) -> Response:
    """An executed notebook kept by a run or a job: the page with ``policy`` as its
    ``Content-Security-Policy`` (it must not run anything), the ``.ipynb`` as an attachment
    named ``download_as``."""
    media = NOTEBOOK_OUTPUTS[name]
    if name.endswith(".html"):
        return FileResponse(path, media_type=media, headers={"Content-Security-Policy": policy})
    return FileResponse(path, media_type=media, filename=download_as,
                        content_disposition_type="attachment")
